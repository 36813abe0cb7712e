package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/fixtures"
)

// splitPackages are eight packages from six source RPMs: split-c and
// split-c-libs share one, and split-user's %post adds a user to the
// /etc/passwd split-setup owns and writes a file no package owns.
func splitPackages() []fixtures.Package {
	return append(fixtures.Base(),
		fixtures.Package{Name: "split-setup", Source: "split-setup", Requires: []string{"fixture-filesystem"},
			Files: map[string]string{"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "/etc/split-setup.conf": "setup\n"}},
		fixtures.Package{Name: "split-a", Source: "split-a", Payload: 256 << 10},
		fixtures.Package{Name: "split-b", Source: "split-b", Payload: 128 << 10,
			Files: map[string]string{"/usr/share/split-b/VERSION": "1.0\n"}},
		fixtures.Package{Name: "split-c", Source: "split-c", Requires: []string{"split-c-libs"},
			Files: map[string]string{"/usr/lib/split-c/c.txt": "c\n"}},
		fixtures.Package{Name: "split-c-libs", Source: "split-c",
			Files: map[string]string{"/usr/lib64/libsplitc.txt": "libc\n"}},
		fixtures.Package{Name: "split-user", Source: "split-user", Requires: []string{"busybox", "split-setup"},
			Files: map[string]string{"/usr/bin/split-user": "#!/bin/sh\necho split user\n"}, Exec: []string{"/usr/bin/split-user"},
			Post: "echo 'app:x:1000:1000::/:/bin/sh' >> /etc/passwd\nmkdir -p /var/lib/split-user\necho state > /var/lib/split-user/state"},
	)
}

// verifyRPMs runs the host's rpm -qa and rpm -Va over the image mounted
// (in the user namespace of a rootless store) and returns their output.
func (s store) verifyRPMs(t *testing.T, image string) (names []string, verify string) {
	t.Helper()
	flags := strings.Join(s.flags(), " ")
	script := fmt.Sprintf(`ctr=$(buildah %[1]s from --pull-never --quiet %[2]s) || exit 1
mnt=$(buildah %[1]s mount "$ctr") || exit 1
rpm --root "$mnt" --dbpath /usr/lib/sysimage/rpm -qa --qf '%%{NAME}\n' | sort | tr '\n' ' '
echo '|'
rpm --root "$mnt" --dbpath /usr/lib/sysimage/rpm -Va 2>&1
echo "rc=$?"
buildah %[1]s umount "$ctr" >/dev/null; buildah %[1]s rm "$ctr" >/dev/null`, flags, image)
	var out string
	if rootless {
		out = tool(t, "buildah", "unshare", "sh", "-c", script)
	} else {
		out = tool(t, "sh", "-c", script)
	}
	list, verify, ok := strings.Cut(out, "|")
	if !ok {
		t.Fatalf("verifying the RPMs of %s: %s", image, out)
	}
	return strings.Fields(list), strings.TrimSpace(verify)
}

// TestBaseSplit: the base is split into a layer per source RPM and the
// rpm database layer; nothing is lost or duplicated (rpm -Va passes but
// for the file the scriptlet changed); a new release of one package
// changes that package's layer and the last one only, and only those are
// uploaded; the scriptlet's files are in the last layer.
func TestBaseSplit(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	repo := filepath.Join(t.TempDir(), "repo")
	if err := fixtures.BuildRepo(repo, splitPackages(), 1700000000); err != nil {
		t.Fatal(err)
	}
	file := writeRecipe(t, fmt.Sprintf(`name: split
base:
  repos:
    - {id: local, baseurl: "file://%s", gpgcheck: false}
  packages: [split-a, split-b, split-c, split-user]
push:
  repository: %s/e2e/split
  cache: %s/e2e/split-cache
image:
  cmd: ["/usr/bin/split-user"]
`, repo, reg.Host, reg.Host))
	s := newStore(t)
	r := strata(t, s, nil, "build", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("first build: %s", r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	s.assertClean(t)
	key := planJSON(t, s, nil, "--tls-verify=false", file).Base.Key
	oldTag := "e2e/split-cache:base-" + key[:16]
	old := reg.manifest(t, oldTag)
	if len(old.Layers) != 7 {
		t.Fatalf("the base has %d layers, want 7 (6 source RPMs and the rpm database layer)\n%s", len(old.Layers), r.stderr)
	}
	if !strings.Contains(r.stderr, "base: 7 layers by package (6 package groups and the rpm database layer): 0 reused, 7 written") {
		t.Errorf("the build log does not say how the base was split:\n%s", r.stderr)
	}

	// The image runs (runc over the split layers), and sees the user the
	// scriptlet added, from the last layer.
	ctr := strings.TrimSpace(s.buildah(t, "from", "--pull-never", "--quiet", id))
	out := s.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "sh", "-c", "/usr/bin/split-user && grep ^app: /etc/passwd && cat /var/lib/split-user/state")
	s.buildah(t, "rm", ctr)
	if want := "split user\napp:x:1000:1000::/:/bin/sh\nstate\n"; out != want {
		t.Errorf("running the image printed %q, want %q", out, want)
	}

	// Every package is there, as rpm installed it: only the file the
	// scriptlet rewrote differs from its package.
	names, verify := s.verifyRPMs(t, id)
	if want := []string{"busybox", "fixture-filesystem", "split-a", "split-b", "split-c", "split-c-libs", "split-setup", "split-user"}; !slices.Equal(names, want) {
		t.Errorf("rpm -qa in the image: %v, want %v", names, want)
	}
	t.Logf("rpm -Va in the image:\n%s", verify)
	lines := strings.Split(verify, "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], " /etc/passwd") || lines[1] != "rc=1" {
		t.Errorf("rpm -Va in the image: want only /etc/passwd changed (by the scriptlet), got:\n%s", verify)
	}

	// The layers: each source's files in its own layer, the scriptlet's
	// output and the rpm database in the last one.
	oci := filepath.Join(t.TempDir(), "oci")
	if r := strata(t, s, nil, "build", "--tls-verify=false", "--output", "oci:"+oci, file); r.code != 0 {
		t.Fatalf("build to oci: %s", r.stderr)
	}
	img := readOCI(t, oci)
	layerPaths := func(i int) []string {
		one := *img
		one.manifest.Layers = img.manifest.Layers[i : i+1]
		_, paths := one.unpack(t)
		return paths
	}
	where := map[string]int{}
	for i := range img.manifest.Layers {
		for _, p := range layerPaths(i) {
			if j, dup := where[p]; dup {
				t.Errorf("%s is in layers %d and %d", p, j, i)
			}
			where[p] = i
		}
	}
	last := len(img.manifest.Layers) - 1
	for _, p := range []string{"etc/passwd", "var/lib/split-user/state", "usr/lib/sysimage/rpm/rpmdb.sqlite", "usr/share/strata/sbom/base.cdx.json"} {
		if i, ok := where[p]; !ok || i != last {
			t.Errorf("%s: in layer %d (present %v), want the last layer %d", p, i, ok, last)
		}
	}
	if where["usr/lib/split-c/c.txt"] != where["usr/lib64/libsplitc.txt"] || where["usr/lib/split-c/c.txt"] == last {
		t.Errorf("split-c and split-c-libs (one source RPM) are in layers %d and %d", where["usr/lib/split-c/c.txt"], where["usr/lib64/libsplitc.txt"])
	}
	if where["etc/split-setup.conf"] == last || where["usr/share/split-a/payload"] == where["usr/share/split-b/payload"] {
		t.Errorf("package files not in layers of their own: %v", where)
	}

	// A new release of split-b: its layer and the last one change, the
	// others are reused and not uploaded again.
	addToRepo(t, repo, fixtures.Package{Name: "split-b", Version: "1.1", Source: "split-b", Payload: 128 << 10,
		Files: map[string]string{"/usr/share/split-b/VERSION": "1.1\n"}})
	reg.ResetLog(t)
	r = strata(t, s, nil, "build", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("build after the update: %s", r.stderr)
	}
	key2 := planJSON(t, s, nil, "--tls-verify=false", file).Base.Key
	if key2 == key {
		t.Fatal("the base key did not change with the repository")
	}
	cur := reg.manifest(t, "e2e/split-cache:base-"+key2[:16])
	if len(cur.Layers) != 7 {
		t.Fatalf("the new base has %d layers, want 7", len(cur.Layers))
	}
	var changed []string
	for i := range cur.Layers {
		if cur.Layers[i].Digest != old.Layers[i].Digest {
			changed = append(changed, cur.Layers[i].Digest)
			if i != where["usr/share/split-b/payload"] && i != last {
				t.Errorf("layer %d changed; only split-b's (%d) and the last (%d) should", i, where["usr/share/split-b/payload"], last)
			}
		}
	}
	if len(changed) != 2 {
		t.Errorf("%d layers changed, want 2 (split-b's and the last)", len(changed))
	}
	uploaded := slices.DeleteFunc(reg.BlobUploads(t), func(d string) bool { return d == cur.Config.Digest })
	slices.Sort(uploaded)
	slices.Sort(changed)
	if !slices.Equal(uploaded, changed) {
		t.Errorf("uploaded %v, want only the changed layers %v", uploaded, changed)
	}
	for _, want := range []string{"5 reused, 2 written", "split-b 1.0-1.x86_64 -> 1.1-1.x86_64"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the build log lacks %q:\n%s", want, r.stderr)
		}
	}

	// Another store builds the same set: the same layers.
	other := newStore(t)
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	noPush := writeRecipe(t, strings.Split(string(body), "push:")[0])
	id2 := mustBuild(t, other, nil, noPush)
	got := other.diffIDs(t, id2)
	if want := s.diffIDs(t, strings.TrimSpace(r.stdout)); !slices.Equal(got, want) {
		t.Errorf("another store's base layers:\n%v\nthe first store's:\n%v", got, want)
	}

	// With a lock, strata plan says which layer the next build changes,
	// before anything is built.
	if r := strata(t, s, nil, "lock", file); r.code != 0 {
		t.Fatalf("lock: %s", r.stderr)
	}
	addToRepo(t, repo, fixtures.Package{Name: "split-b", Version: "1.2", Source: "split-b", Payload: 128 << 10,
		Files: map[string]string{"/usr/share/split-b/VERSION": "1.2\n"}})
	if r := strata(t, s, nil, "lock", "--update", file); r.code != 0 || !strings.Contains(r.stdout, "split-b 1.1-1 -> 1.2-1") {
		t.Fatalf("lock --update: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = strata(t, s, nil, "plan", "--tls-verify=false", file)
	want := regexp.MustCompile(fmt.Sprintf(`(?m)^base layers: +layer %d \(split-b\): split-b 1\.1-1\.x86_64 -> 1\.2-1\.x86_64$`, where["usr/share/split-b/payload"]+1))
	if r.code != 0 || !want.MatchString(r.stdout) {
		t.Errorf("plan with a lock: exit %d, want %s in\n%s\n%s", r.code, want, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "not in the registry cache") || strings.Contains(r.stderr, "warning") {
		t.Errorf("plan with a lock: the registry cache not checked:\n%s\n%s", r.stdout, r.stderr)
	}
	if n := strings.Count(r.stdout, ".x86_64 -> "); n != 1 {
		t.Errorf("plan with a lock: %d changes, want one:\n%s\n%s", n, r.stdout, r.stderr)
	}
}

// TestBaseSplitLayoutFromRegistry: a runner whose store has no earlier
// base keeps the grouping of the newest base in the registry cache. With
// base.layers 4 (one dedicated layer, two hashed buckets), busybox's
// source is the largest and has the dedicated layer; a new release makes
// split-b the largest, which would take that layer from it and regroup
// the rest on a runner grouping by size alone; kept from the registry,
// only split-b's bucket and the last layer change.
func TestBaseSplitLayoutFromRegistry(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	repo := filepath.Join(t.TempDir(), "repo")
	if err := fixtures.BuildRepo(repo, splitPackages(), 1700000000); err != nil {
		t.Fatal(err)
	}
	file := writeRecipe(t, fmt.Sprintf(`name: regsplit
base:
  layers: 4
  repos:
    - {id: local, baseurl: "file://%s", gpgcheck: false}
  packages: [split-a, split-b, split-c, split-user]
push:
  repository: %s/e2e/regsplit
image:
  cmd: ["/usr/bin/split-user"]
`, repo, reg.Host))
	first := newStore(t)
	r := strata(t, first, nil, "build", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("first build: %s", r.stderr)
	}
	old := first.diffIDs(t, strings.TrimSpace(r.stdout))
	if len(old) != 4 {
		t.Fatalf("the base has %d layers, want 4", len(old))
	}

	addToRepo(t, repo, fixtures.Package{Name: "split-b", Version: "1.1", Source: "split-b", Payload: 4 << 20,
		Files: map[string]string{"/usr/share/split-b/VERSION": "1.1\n"}})
	fresh := newStore(t)
	r = strata(t, fresh, nil, "build", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("build on a fresh store: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "base: keeping the layout of the previous base "+reg.Host+"/e2e/regsplit-cache:base-") {
		t.Errorf("the build does not say it keeps the registry's layout:\n%s", r.stderr)
	}
	cur := fresh.diffIDs(t, strings.TrimSpace(r.stdout))
	if len(cur) != len(old) {
		t.Fatalf("the new base has %d layers, want %d", len(cur), len(old))
	}
	var changed []int
	for i := range cur {
		if cur[i] != old[i] {
			changed = append(changed, i)
		}
	}
	if len(changed) != 2 || changed[1] != len(cur)-1 || changed[0] == 0 {
		t.Errorf("layers %v changed, want split-b's bucket (not the dedicated layer 0) and the last one\n%s", changed, r.stderr)
	}
}
