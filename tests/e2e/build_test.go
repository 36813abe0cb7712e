package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestInstallrootFromScratch builds the demo image from scratch with the
// host's dnf, then checks it with other tools: buildah runs it, skopeo
// reads its labels, and rpm lists exactly the requested packages and
// their dependencies.
func TestInstallrootFromScratch(t *testing.T) {
	s := newStore(t)
	rec := writeRecipe(t, recipe("demo", "demo-hello"))
	iid := filepath.Join(t.TempDir(), "iid")
	id := mustBuild(t, s, nil, "--iidfile", iid, rec)
	if data, _ := os.ReadFile(iid); string(data) != "sha256:"+id {
		t.Errorf("--iidfile holds %q, want sha256:%s", data, id)
	}
	s.assertClean(t)

	// buildah sees the image and runs it with runc.
	ctr := strings.TrimSpace(s.buildah(t, "from", "--pull-never", "--quiet", "localhost/demo"))
	out := s.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "/usr/bin/hello")
	s.buildah(t, "rm", ctr)
	if !strings.Contains(out, "hello from strata") {
		t.Errorf("running the image printed %q", out)
	}

	// skopeo reads the configuration and labels.
	inspect := tool(t, "skopeo", "inspect", "--config", "containers-storage:[overlay@"+s.root+"+"+s.runroot+"]localhost/demo:latest")
	for _, want := range []string{`"io.strata.base.key"`, `"org.opencontainers.image.created": "2023-11-14T22:13:20Z"`, `"team": "e2e"`, `"GREETING=hi"`, `"/usr/bin/hello"`, `demo-hello`} {
		if !strings.Contains(inspect, want) {
			t.Errorf("skopeo inspect --config lacks %s:\n%s", want, inspect)
		}
	}

	// The layer content: exactly the packages and their dependencies, no
	// dnf cache, log or history.
	oci := filepath.Join(t.TempDir(), "oci")
	mustBuild(t, s, nil, "-o", "oci:"+oci+":latest", rec)
	img := readOCI(t, oci)
	// The base by package: the fixtures are one source RPM (one group)
	// and the rpm database layer.
	if len(img.manifest.Layers) != 2 {
		t.Errorf("image has %d layers, want 2 (the base's package group and its rpm database layer)", len(img.manifest.Layers))
	}
	root, paths := img.unpack(t)
	if got, want := rpmNames(t, root, "/usr/lib/sysimage/rpm"), []string{"busybox", "demo-hello", "fixture-filesystem"}; !slices.Equal(got, want) {
		t.Errorf("rpm database lists %v, want %v", got, want)
	}
	for _, p := range paths {
		if regexp.MustCompile(`^var/(cache/dnf|lib/dnf|log/dnf|log/hawkey)|\.rpm\.lock$|-shm$`).MatchString(p) {
			t.Errorf("layer holds %s: dnf caches and logs must not be in the image", p)
		}
	}
	hist := img.config.History
	if len(hist) < 2 || !strings.Contains(hist[0].CreatedBy, "rpm files of busybox demo-hello fixture-filesystem (source strata-fixtures)") ||
		!strings.Contains(hist[1].CreatedBy, "dnf install") || !strings.Contains(hist[1].CreatedBy, "demo-hello") {
		t.Errorf("history does not name the packages: %+v", hist)
	}
}

// TestReproducible builds the same recipe in two fresh stores: the layer
// and manifest digests are the same.
func TestReproducible(t *testing.T) {
	rec := writeRecipe(t, recipe("repro", "demo-hello", "demo-lib"))
	var digests []string
	var layers [][]string
	for i := 0; i < 2; i++ {
		s := newStore(t)
		oci := filepath.Join(t.TempDir(), "oci")
		mustBuild(t, s, nil, "-o", "oci:"+oci, rec)
		img := readOCI(t, oci)
		digests = append(digests, img.manifestDigest)
		var ls []string
		for _, l := range img.manifest.Layers {
			ls = append(ls, l.Digest)
		}
		layers = append(layers, ls)
		if i == 0 {
			time.Sleep(1100 * time.Millisecond) // a different second on the clock
		}
	}
	if diff := cmp.Diff(layers[0], layers[1]); diff != "" {
		t.Errorf("layer digests differ between two builds (-first +second):\n%s", diff)
	}
	if digests[0] != digests[1] {
		t.Errorf("manifest digests differ: %s and %s", digests[0], digests[1])
	}
}

// TestBaseReused: a second build with the same base set reuses the base
// image from the local store, without running dnf.
func TestBaseReused(t *testing.T) {
	s := newStore(t)
	rec := writeRecipe(t, recipe("reuse", "demo-hello"))
	plan := func() map[string]any {
		r := strata(t, s, nil, "plan", "--format", "json", rec)
		var p struct {
			Base struct {
				Key   string         `json:"key"`
				Cache map[string]any `json:"cache"`
			} `json:"base"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &p) != nil || len(p.Base.Key) != 64 {
			t.Fatalf("strata plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		return p.Base.Cache
	}
	if c := plan(); c["decision"] != "miss" {
		t.Errorf("plan before the first build: cache %v, want a miss", c)
	}
	first := strata(t, s, nil, "build", rec)
	if first.code != 0 || !strings.Contains(first.stderr, "built base image") {
		t.Fatalf("first build: exit %d\n%s", first.code, first.stderr)
	}
	if c := plan(); c["decision"] != "hit" || c["where"] != "local" {
		t.Errorf("plan after the first build: cache %v, want a local hit", c)
	}
	second := strata(t, s, nil, "build", rec)
	if second.code != 0 || !strings.Contains(second.stderr, "reusing base image") || strings.Contains(second.stderr, "Installing") {
		t.Fatalf("second build did not reuse the base: exit %d\n%s", second.code, second.stderr)
	}
	if first.stdout != second.stdout {
		t.Errorf("image IDs differ: %s vs %s", first.stdout, second.stdout)
	}
}

// TestContainerMode runs dnf inside a real base image (Debian with dnf)
// with runc, and checks the result with rpm inside the image.
func TestContainerMode(t *testing.T) {
	if dnfImage == "" {
		t.Skip("STRATA_DNF_IMAGE is not set (make test sets it)")
	}
	s := newStore(t)
	rec := writeRecipe(t, `name: inside
target: fedora-43
base:
  from: oci-archive:`+dnfImage+`
  install: container
  repos:
    - {id: local, baseurl: "file://`+repoDir+`", gpgcheck: false}
  packages: [demo-lib]
image:
  cmd: ["/bin/cat", "/usr/lib/demo-lib/lib.txt"]
`)
	id := mustBuild(t, s, nil, rec)
	s.assertClean(t)
	// base.from's layers stay as they are; what dnf added is split: one
	// package group (the fixtures' source RPM) and the rpm database
	// layer.
	var from struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal([]byte(tool(t, "skopeo", "inspect", "--config", "oci-archive:"+dnfImage)), &from); err != nil {
		t.Fatal(err)
	}
	got := s.diffIDs(t, id)
	if n := len(from.RootFS.DiffIDs); len(got) != n+fixtureBaseLayers || !slices.Equal(got[:n], from.RootFS.DiffIDs) {
		t.Errorf("layers %v, want base.from's %v and %d more", got, from.RootFS.DiffIDs, fixtureBaseLayers)
	}
	ctr := strings.TrimSpace(s.buildah(t, "from", "--pull-never", "--quiet", id))
	defer s.buildah(t, "rm", ctr)
	got = strings.Fields(s.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "rpm", "-qa", "--qf", "%{NAME}\n"))
	slices.Sort(got)
	if want := []string{"demo-data", "demo-lib"}; !slices.Equal(got, want) {
		t.Errorf("rpm -qa in the image: %v, want %v", got, want)
	}
	out := s.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "sh", "-c", "ls /run/strata /etc/yum.repos.d/local.repo /var/cache/dnf 2>&1; true")
	// All three are absent: the repo files were there for the dnf step
	// only, and the dnf cache was removed.
	if n := strings.Count(out, "No such file or directory"); n != 3 {
		t.Errorf("the recipe's repositories or dnf's cache are in the image:\n%s", out)
	}
	// The SBOM lists the same packages, read by the host's rpm.
	r := strata(t, s, nil, "sbom", id)
	if r.code != 0 {
		t.Fatalf("strata sbom: %s", r.stderr)
	}
	bom := parseCDX(t, []byte(r.stdout))
	var names []string
	for _, c := range bom.Components {
		if strings.HasPrefix(c.Purl, "pkg:rpm/") {
			names = append(names, c.Name)
		}
	}
	if !slices.Equal(names, got) {
		t.Errorf("the SBOM lists the RPMs %v, rpm -qa in the image %v", names, got)
	}
	if c := bom.Components[0]; c.Type != "container" || !strings.HasPrefix(c.Name, "oci-archive:") {
		t.Errorf("the SBOM's base is %+v, want the oci-archive the base was built from", c)
	}
}

// TestSIGTERM stops a build while dnf runs a package scriptlet: strata
// exits 130 and leaves no working container, mount or tagged image.
func TestSIGTERM(t *testing.T) {
	s := newStore(t)
	rec := writeRecipe(t, recipe("stopped", "fixture-slow"))
	cmd := exec.Command(strataBin, append(s.flags(), "build", rec)...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(stderr.String(), "Running scriptlet: fixture-slow") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the scriptlet never started:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 130 {
			t.Errorf("exit: %v, want code 130\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("strata did not stop within 60s of SIGTERM\n%s", stderr.String())
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	s.assertClean(t)
	if out := s.buildah(t, "images", "--noheading"); strings.Contains(out, "stopped") {
		t.Errorf("a tagged image was left behind:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say the build was interrupted:\n%s", stderr.String())
	}
}

// TestFailures: each bad input fails with its message and exit code, and
// leaves nothing behind.
func TestFailures(t *testing.T) {
	noDNF := t.TempDir()
	for _, tool := range []string{"rpm", "newuidmap", "newgidmap", "runc"} {
		if p, err := exec.LookPath(tool); err == nil {
			_ = os.Symlink(p, filepath.Join(noDNF, tool))
		}
	}
	corrupt := filepath.Join(t.TempDir(), "repo")
	if err := os.MkdirAll(filepath.Join(corrupt, "repodata"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "repodata", "repomd.xml"), []byte("<repomd>truncat"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		recipe string
		args   []string
		env    []string
		code   int
		want   string
	}{
		{name: "unknown package", recipe: recipe("bad", "demo-hello", "no-such-package"), code: 1,
			want: `building the base layer: package "no-such-package" not found in the repositories "local": check the name in base.packages`},
		{name: "unreachable repository", recipe: strings.Replace(recipe("bad", "demo-hello"), repoDir, "/nonexistent/repo", 1), code: 1,
			want: `repository "local" (file:///nonexistent/repo) is unreachable: check the URL in base.repos and the network`},
		{name: "corrupt repository", recipe: strings.Replace(recipe("bad", "demo-hello"), repoDir, corrupt, 1), code: 1,
			want: `repository "local" (file://` + corrupt + `) has corrupt metadata: dnf said "repomd.xml parser error`},
		{name: "invalid recipe", recipe: "name: bad\nbase:\n  install: chroot\n  packages: [a]\n", code: 2,
			want: `recipe.yaml:3:12: base.install: unknown install mode "chroot": want "installroot" or "container"`},
		{name: "bad output", recipe: recipe("bad", "demo-hello"), args: []string{"-o", "docker-daemon:x:1"}, code: 2,
			want: `invalid --output "docker-daemon:x:1": unknown transport "docker-daemon"`},
		{name: "unknown flag", recipe: recipe("bad", "demo-hello"), args: []string{"--colour"}, code: 2,
			want: `flag provided but not defined: -colour`},
		{name: "no dnf on the host", recipe: recipe("bad", "demo-hello"), env: []string{"PATH=" + noDNF}, code: 1,
			want: `dnf not found on this host: install it`},
		{name: "bad SOURCE_DATE_EPOCH", recipe: recipe("bad", "demo-hello"), env: []string{"SOURCE_DATE_EPOCH=yesterday"}, code: 2,
			want: `invalid SOURCE_DATE_EPOCH "yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			rec := writeRecipe(t, tt.recipe)
			r := strata(t, s, tt.env, append(append([]string{"build"}, tt.args...), rec)...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\n%s", r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout must stay empty on failure, got %q", r.stdout)
			}
			if _, err := os.Stat(s.root); err == nil {
				s.assertClean(t)
				if out := s.buildah(t, "images", "--noheading"); strings.Contains(out, "localhost/bad") {
					t.Errorf("an image was tagged:\n%s", out)
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestOutputs writes the image to each destination transport and reads it
// back with skopeo; a second build reuses the base, and --log-format json
// emits one JSON object per event with the phase and its decision.
func TestOutputs(t *testing.T) {
	s := newStore(t)
	rec := writeRecipe(t, recipe("outputs", "demo-hello"))
	id := mustBuild(t, s, nil, rec)
	dir := t.TempDir()
	for _, dest := range []string{
		"oci-archive:" + filepath.Join(dir, "img.oci.tar"),
		"docker-archive:" + filepath.Join(dir, "img.docker.tar"),
		"oci:" + filepath.Join(dir, "layout") + ":v1",
		"containers-storage:example.com/team/outputs:v2",
	} {
		t.Run(strings.SplitN(dest, ":", 2)[0], func(t *testing.T) {
			r := strata(t, s, nil, "--log-format", "json", "build", "-o", dest, rec)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			var sawBase bool
			for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				var ev map[string]any
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("stderr line is not JSON: %q", line)
				}
				if ev["phase"] == "base" && ev["decision"] == "hit" && ev["duration"] != nil {
					sawBase = true
				}
			}
			if !sawBase {
				t.Errorf("no base event with decision hit:\n%s", r.stderr)
			}
			ref := dest
			if strings.HasPrefix(dest, "containers-storage:") {
				ref = "containers-storage:[overlay@" + s.root + "+" + s.runroot + "]example.com/team/outputs:v2"
			}
			out := tool(t, "skopeo", "inspect", "--config", ref)
			if !strings.Contains(out, `"io.strata.base.key"`) || !strings.Contains(out, "/usr/bin/hello") {
				t.Errorf("skopeo inspect --config %s:\n%s", ref, out)
			}
			if strings.HasPrefix(dest, "containers-storage:") && strings.TrimSpace(r.stdout) != id {
				t.Errorf("the same inputs gave another image: %s vs %s", r.stdout, id)
			}
		})
	}
}

// TestContainerModeNeedsRuntime: a missing OCI runtime is reported before
// any work.
func TestContainerModeNeedsRuntime(t *testing.T) {
	s := newStore(t)
	rec := writeRecipe(t, "name: rt\nbase:\n  from: oci-archive:/nonexistent.tar\n  install: container\n  packages: [demo-hello]\n")
	r := strata(t, s, nil, "build", "--runtime", "no-such-runtime", rec)
	if r.code != 1 || !strings.Contains(r.stderr, `OCI runtime "no-such-runtime" (from --runtime) not found: install it`) {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(s.root); err == nil {
		t.Errorf("the store was created although nothing could be built")
	}
}

// TestCompletion: the bash completion script, loaded in a real bash,
// completes commands, subcommands and flags from strata itself.
func TestCompletion(t *testing.T) {
	script := filepath.Join(t.TempDir(), "strata.bash")
	out, err := exec.Command(strataBin, "completion", "bash").Output()
	if err != nil {
		t.Fatalf("strata completion bash: %v", err)
	}
	if err := os.WriteFile(script, out, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		words []string
		want  []string
	}{
		{[]string{"bu"}, []string{"build"}},
		{[]string{"cache", ""}, []string{"gc", "ls", "prune"}},
		{[]string{"push", "--tls"}, []string{"--tls-verify"}},
	} {
		words := append([]string{strataBin}, tt.words...)
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, fmt.Sprintf("%q", w))
		}
		cmd := exec.Command("bash", "-c", fmt.Sprintf(`source %q; COMP_WORDS=(%s); COMP_CWORD=%d; _strata; printf '%%s\n' "${COMPREPLY[@]}"`,
			script, strings.Join(quoted, " "), len(words)-1))
		got, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", tt.words, err)
		}
		for _, w := range tt.want {
			if !slices.Contains(strings.Fields(string(got)), w) {
				t.Errorf("completing %v: got %q, want %q among them", tt.words, got, w)
			}
		}
	}
	for _, sh := range []string{"zsh", "fish"} {
		if out, err := exec.Command(strataBin, "completion", sh).Output(); err != nil || !strings.Contains(string(out), "strata") {
			t.Errorf("strata completion %s: %v\n%s", sh, err, out)
		}
	}
}

// TestLabelsAndAnnotations: --label goes into the image's labels (a value
// may hold commas), --annotation into its manifest; both are in the final
// key: the same flags again reuse the image, none make another.
func TestLabelsAndAnnotations(t *testing.T) {
	s := newStore(t)
	rec := writeRecipe(t, recipe("labelled", "demo-hello"))
	plain := mustBuild(t, s, nil, rec)
	flags := []string{rec, "--label", "team=web,api", "--label", "tier=1", "--annotation", "org.example.ticket=OPS-7"}
	labelled := mustBuild(t, s, nil, flags...)
	if labelled == plain {
		t.Fatalf("--label and --annotation did not change the image")
	}
	ref := "containers-storage:[overlay@" + s.root + "+" + s.runroot + "]localhost/labelled:latest"
	var cfg struct{ Labels map[string]string }
	if err := json.Unmarshal([]byte(tool(t, "skopeo", "inspect", ref)), &cfg); err != nil || cfg.Labels["team"] != "web,api" || cfg.Labels["tier"] != "1" {
		t.Errorf("labels %v (%v), want team=web,api and tier=1", cfg.Labels, err)
	}
	var m struct{ Annotations map[string]string }
	if err := json.Unmarshal([]byte(tool(t, "skopeo", "inspect", "--raw", ref)), &m); err != nil || m.Annotations["org.example.ticket"] != "OPS-7" {
		t.Errorf("manifest annotations %v (%v), want org.example.ticket=OPS-7", m.Annotations, err)
	}
	r := strata(t, s, nil, append([]string{"build"}, flags...)...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != labelled || !strings.Contains(r.stderr, "nothing changed") {
		t.Errorf("the same flags again: exit %d, %s (want %s, nothing changed)\n%s", r.code, r.stdout, labelled, r.stderr)
	}
	if r := strata(t, s, nil, "build", rec, "--label", "novalue"); r.code != 2 || !strings.Contains(r.stderr, `invalid --label "novalue": want KEY=VALUE`) {
		t.Errorf("a label without =: exit %d\n%s", r.code, r.stderr)
	}
}

// TestQuiet: -q (before or after the command) leaves stderr empty on a
// cold build, dnf's output included; stdout still has the image ID.
func TestQuiet(t *testing.T) {
	rec := writeRecipe(t, recipe("quiet", "demo-hello"))
	for _, args := range [][]string{{"-q", "build", rec}, {"build", rec, "-q"}} {
		r := strata(t, newStore(t), nil, args...)
		if r.code != 0 || r.stderr != "" || !digestRE.MatchString("sha256:"+strings.TrimSpace(r.stdout)) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q: want only the image ID", args, r.code, r.stdout, r.stderr)
		}
	}
}

// TestIsolationChroot: --isolation chroot (or BUILDAH_ISOLATION=chroot)
// runs the install commands without an OCI runtime, and the image is the
// one the default isolation makes.
func TestIsolationChroot(t *testing.T) {
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	rec := sourcesRecipe(t, p.repo.Dir)
	oci := mustBuild(t, newStore(t), cacheEnv(t), rec)
	// No runc on the PATH: chroot isolation must not need it.
	noRuntime := t.TempDir()
	for _, tool := range []string{"dnf", "rpm", "newuidmap", "newgidmap"} {
		if p, err := exec.LookPath(tool); err == nil {
			_ = os.Symlink(p, filepath.Join(noRuntime, tool))
		}
	}
	// containers.conf's runtimes are found by absolute path: name none.
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[engine]\nruntime = \"runc\"\n\n[engine.runtimes]\nrunc = [\"/nonexistent/runc\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noRunc := append(cacheEnv(t), "PATH="+noRuntime, "CONTAINERS_CONF="+conf)
	if r := strata(t, newStore(t), noRunc, "build", rec); r.code != 1 || !strings.Contains(r.stderr, `OCI runtime "runc"`) {
		t.Fatalf("without a runtime the default isolation should fail: exit %d\n%s", r.code, r.stderr)
	}
	for _, how := range [][]string{{"--isolation", "chroot"}, {"env"}} {
		env := slices.Clone(noRunc)
		args := append([]string{"build", rec}, how...)
		if how[0] == "env" {
			env, args = append(env, "BUILDAH_ISOLATION=chroot"), []string{"build", rec}
		}
		s := newStore(t)
		r := strata(t, s, env, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s", how, r.code, r.stderr)
		}
		if got := strings.TrimSpace(r.stdout); got != oci {
			t.Errorf("%v: image %s, the default isolation made %s", how, got, oci)
		}
		s.assertClean(t)
	}
	if r := strata(t, newStore(t), nil, "build", rec, "--isolation", "vm"); r.code != 2 || !strings.Contains(r.stderr, `invalid --isolation "vm": want oci or chroot`) {
		t.Errorf("--isolation vm: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRuntimeFromContainersConf: without --runtime, the OCI runtime is the
// one containers.conf names (engine.runtime at its engine.runtimes path);
// one that is not installed is named in the error with where it came from.
func TestRuntimeFromContainersConf(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("no runc")
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "called")
	wrapper := filepath.Join(dir, "my-runtime")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\nexec %s \"$@\"\n", marker, runc)), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "containers.conf")
	write := func(body string) {
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("[engine]\nruntime = \"mine\"\n\n[engine.runtimes]\nmine = [%q]\n", wrapper))
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	rec := sourcesRecipe(t, p.repo.Dir)
	env := append(cacheEnv(t), "CONTAINERS_CONF="+conf)
	mustBuild(t, newStore(t), env, rec)
	if b, err := os.ReadFile(marker); err != nil || !strings.Contains(string(b), "create") && !strings.Contains(string(b), "run") {
		t.Errorf("the runtime containers.conf names was not used (%v): %q", err, b)
	}
	write("[engine]\nruntime = \"nosuch-runtime\"\n")
	if r := strata(t, newStore(t), env, "build", rec); r.code != 1 || !strings.Contains(r.stderr, `OCI runtime "nosuch-runtime" (from containers.conf (engine.runtime)) not found`) {
		t.Errorf("a missing runtime: exit %d\n%s", r.code, r.stderr)
	}
}
