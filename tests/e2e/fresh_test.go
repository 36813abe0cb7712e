package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// TestDoctor: strata doctor says a build can run here (exit 0), and names
// the missing piece with its fix (exit 1) where runc or the subordinate id
// ranges are missing.
func TestDoctor(t *testing.T) {
	s := newStore(t)
	r := strata(t, s, nil, "doctor")
	if r.code != 0 || !strings.Contains(r.stdout, "ok") {
		t.Fatalf("doctor on the test machine: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"runtime", "storage ", "signature policy", "network"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("doctor does not report %q:\n%s", want, r.stdout)
		}
	}

	// No runc on PATH: a directory with every tool but runc.
	bin := t.TempDir()
	for _, tool := range []string{"newuidmap", "newgidmap", "dnf", "rpm"} {
		if p, err := exec.LookPath(tool); err == nil {
			if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// (containers.conf's engine.runtimes list absolute paths, which are
	// found without PATH, as podman finds them: name one that is not.)
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[engine]\nruntime = \"runc\"\n\n[engine.runtimes]\nrunc = [\"/nonexistent/runc\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = strata(t, s, []string{"PATH=" + bin, "CONTAINERS_CONF=" + conf}, "doctor")
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL  runtime") || !strings.Contains(r.stdout, "apt-get install runc") {
		t.Errorf("doctor without runc: exit %d, want 1 and the runtime named with its fix\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A user without subordinate ids (nobody) cannot build rootless.
	if rootless || os.Geteuid() != 0 {
		return
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip("no user nobody")
	}
	dir, err := os.MkdirTemp("", "strata-e2e-nobody-") // t.TempDir's parent is private
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin2 := filepath.Join(dir, "strata")
	if out, err := exec.Command("install", "-m", "0755", strataBin, bin2).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	cmd := exec.Command("runuser", "-u", "nobody", "--", "env", "-i", "PATH="+os.Getenv("PATH"), "HOME="+dir, "XDG_RUNTIME_DIR="+dir, bin2, "doctor")
	out, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "FAIL  /etc/subuid") || !strings.Contains(string(out), "usermod --add-subuids") {
		t.Errorf("doctor as nobody: %v, want exit 1 naming /etc/subuid and its fix\n%s", err, out)
	}
}

// TestNoNetworkBackend: a build whose install steps run without a network
// needs no network backend, even where containers.conf names one that is
// not installed (netavark, or CNI without its plugins).
func TestNoNetworkBackend(t *testing.T) {
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	rec := sourcesRecipe(t, p.repo.Dir)
	for _, conf := range []string{
		"[network]\nnetwork_backend = \"netavark\"\n[engine]\nhelper_binaries_dir = [\"/nonexistent\"]\n",
		"[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"/nonexistent\"]\nnetwork_config_dir = \"/nonexistent\"\n",
	} {
		file := filepath.Join(t.TempDir(), "containers.conf")
		if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		s := newStore(t)
		id := mustBuild(t, s, []string{"CONTAINERS_CONF=" + file}, rec)
		ctr := strings.TrimSpace(s.buildah(t, "from", "--pull-never", "--quiet", id))
		out := s.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "cat", "/usr/share/webapp-installed")
		s.buildah(t, "rm", ctr)
		if !strings.Contains(out, "main-1") {
			t.Errorf("with %q: the install step did not run: %q", conf, out)
		}
		s.assertClean(t)
	}
}

// TestSignaturePolicy: base.from is pulled under the user's signature
// policy, as podman pulls it: a policy that rejects everything refuses the
// image and the error names the policy file and the image; nothing is
// tagged. --signature-policy names another file.
func TestSignaturePolicy(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	dir, _ := tinyOCI(t)
	tool(t, "skopeo", append(append([]string{"copy", "--quiet"}, reg.destFlags()...), "oci:"+dir+":latest", reg.Ref("e2e/tiny:v1"))...)
	rec := writeRecipe(t, "name: signed\nbase:\n  from: "+reg.Host+"/e2e/tiny:v1\n  repos:\n    - {id: local, baseurl: \"file://"+repoDir+"\", gpgcheck: false}\n  packages: [busybox]\n")

	cfg := t.TempDir()
	policy := filepath.Join(cfg, "containers", "policy.json")
	if err := os.MkdirAll(filepath.Dir(policy), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"reject"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	r := strata(t, s, []string{"XDG_CONFIG_HOME=" + cfg}, "build", "--tls-verify=false", rec)
	if r.code != 1 || !strings.Contains(r.stderr, "refused by the signature policy "+policy) || !strings.Contains(r.stderr, "e2e/tiny:v1") {
		t.Errorf("reject-all user policy: exit %d, want 1 with an error naming %s and the image\n%s", r.code, policy, r.stderr)
	}
	if out := s.buildah(t, "images", "--quiet"); strings.TrimSpace(out) != "" {
		t.Errorf("images left after a refused pull:\n%s", out)
	}
	s.assertClean(t)

	accept := filepath.Join(t.TempDir(), "accept.json")
	if err := os.WriteFile(accept, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = strata(t, s, []string{"XDG_CONFIG_HOME=" + cfg}, "--signature-policy", accept, "build", "--tls-verify=false", rec)
	if r.code != 0 {
		t.Errorf("--signature-policy accepting the image: exit %d\n%s", r.code, r.stderr)
	}
	r = strata(t, s, nil, "--signature-policy", filepath.Join(cfg, "missing.json"), "build", "--tls-verify=false", rec)
	if r.code == 0 || !strings.Contains(r.stderr, "--signature-policy") {
		t.Errorf("a missing --signature-policy file: exit %d\n%s", r.code, r.stderr)
	}
}

// TestOutputsCheckedFirst: an output that cannot be written is a usage
// error before any work (nothing built, no tag), and an archive that
// fails midway (a full file system) leaves no file.
func TestOutputsCheckedFirst(t *testing.T) {
	rec := writeRecipe(t, recipe("outs", "demo-hello"))
	s := newStore(t)
	for _, args := range [][]string{
		{"build", "--iidfile", "/nonexistent/dir/iid", rec},
		{"build", "-o", "oci-archive:/nonexistent/dir/img.tar", rec},
	} {
		r := strata(t, s, nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "/nonexistent/dir") {
			t.Errorf("%v: exit %d, want 2 naming the path\n%s", args, r.code, r.stderr)
		}
	}
	if out := s.buildah(t, "images", "--quiet"); strings.TrimSpace(out) != "" {
		t.Errorf("images made before the outputs were checked:\n%s", out)
	}
	if rootless || os.Geteuid() != 0 {
		return
	}
	full := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", full).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	defer func() {
		if out, err := exec.Command("umount", full).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", full, err, out)
		}
	}()
	r := strata(t, s, nil, "build", "-o", "oci-archive:"+filepath.Join(full, "img.tar"), rec)
	if r.code == 0 {
		t.Fatalf("an archive larger than its file system was written")
	}
	if entries, _ := os.ReadDir(full); len(entries) != 0 {
		t.Errorf("left on the full file system: %v", entries)
	}
	s.assertClean(t)
}
