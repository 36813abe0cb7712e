package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-build/strata/internal/fixtures"
)

// threeSources makes three source repositories (alpha, beta, gamma), each
// with a VERSION file, and a recipe that checks each out and runs an
// install command that copies VERSION and records a random run ID: an
// install layer that keeps its digest was not run again.
func threeSources(t *testing.T, noInstall ...string) (map[string]*fixtures.GitRepo, string) {
	t.Helper()
	dir := t.TempDir()
	repos := map[string]*fixtures.GitRepo{}
	var sources strings.Builder
	for i, name := range []string{"alpha", "beta", "gamma"} {
		g, err := fixtures.NewGitRepo(filepath.Join(dir, name), int64(1750000000+i*1000))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Commit("main", "first", map[string]string{"VERSION": name + "-1\n", "lib/" + name + ".py": "x = 1\n"}); err != nil {
			t.Fatal(err)
		}
		repos[name] = g
		fmt.Fprintf(&sources, "  - name: %s\n    git: %q\n", name, g.Dir)
		if !slices.Contains(noInstall, name) {
			fmt.Fprintf(&sources, `    install: [sh, -c, "cat VERSION > /usr/share/%s-installed && cat /proc/sys/kernel/random/uuid > /usr/share/%s-run"]
`, name, name)
		}
	}
	return repos, writeRecipe(t, fmt.Sprintf(`name: three
base:
  repos:
    - {id: local, baseurl: "file://%s", gpgcheck: false}
  packages: [busybox]
sources:
%sprofiles:
  stg: {branch: main}
`, repoDir, sources.String()))
}

// layerDecisions reads the "final: KIND layer of SOURCE ...: HOW" lines.
func layerDecisions(t *testing.T, stderr string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var e struct{ Msg string }
		if json.Unmarshal([]byte(line), &e) != nil || !strings.HasPrefix(e.Msg, "final: ") {
			continue
		}
		f := strings.Fields(e.Msg) // final: KIND layer of SOURCE [at C]: HOW (ID)
		if len(f) >= 6 && f[2] == "layer" && f[3] == "of" {
			out[strings.TrimSuffix(f[4], ":")+"/"+f[1]] = f[len(f)-2]
		}
	}
	return out
}

// TestLayersPerSource: each source has its own checkout and install
// layers. A commit in the middle source gives new layers for it only: the
// first source's layers are reused, the last's are restacked with the same
// digests, and the last's install command is not run again. The image runs
// and shows every source's files and install output.
func TestLayersPerSource(t *testing.T) {
	repos, file := threeSources(t)
	s := newStore(t)
	env := cacheEnv(t)
	first := mustBuild(t, s, env, file)
	before := s.diffIDs(t, first)
	if len(before) != fixtureBaseLayers+6 {
		t.Fatalf("layers %v: want the base's and a checkout and an install layer for each of three sources", before)
	}

	if _, err := repos["beta"].Commit("main", "typo", map[string]string{"VERSION": "beta-2\n"}); err != nil {
		t.Fatal(err)
	}
	r := strata(t, s, env, "--log-format", "json", "build", file)
	if r.code != 0 {
		t.Fatalf("build after a commit in beta: %s", r.stderr)
	}
	second := strings.TrimSpace(r.stdout)
	after := s.diffIDs(t, second)
	for i, what := range []string{"base rpms", "base rpmdb", "alpha checkout", "alpha install", "beta checkout", "beta install", "gamma checkout", "gamma install"} {
		changed := after[i] != before[i]
		if want := strings.HasPrefix(what, "beta"); changed != want {
			t.Errorf("%s layer: changed %v, want %v (%s -> %s)", what, changed, want, before[i], after[i])
		}
	}
	got := layerDecisions(t, r.stderr)
	want := map[string]string{
		"alpha/checkout": "reused", "alpha/install": "reused",
		"beta/checkout": "built", "beta/install": "built",
		"gamma/checkout": "restacked", "gamma/install": "restacked",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if strings.Count(r.stderr, "running the install command") != 1 {
		t.Errorf("install commands run after a commit in beta: want only beta's\n%s", r.stderr)
	}
	// The restacked gamma checkout layer's files are the stored layer's,
	// hard-linked: the same inodes, not written again.
	if ids := s.layersWithDiff(t, after[fixtureBaseLayers+4]); len(ids) != 2 {
		t.Errorf("storage layers with gamma's checkout diff: %v, want the first one and the restacked one", ids)
	} else {
		var a, b syscall.Stat_t
		f := "diff/src/gamma/lib/gamma.py"
		if err := syscall.Stat(filepath.Join(s.root, "overlay", ids[0], f), &a); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Stat(filepath.Join(s.root, "overlay", ids[1], f), &b); err != nil {
			t.Fatal(err)
		}
		if a.Ino != b.Ino {
			t.Errorf("the restacked gamma checkout layer wrote its files again (inodes %d, %d)", a.Ino, b.Ino)
		}
	}

	// The manifest, as skopeo reads it, lists the same layers.
	raw := tool(t, "skopeo", "inspect", "--raw", "containers-storage:["+"overlay@"+s.root+"+"+s.runroot+"]"+second)
	var m struct{ Layers []struct{ Digest string } }
	if err := json.Unmarshal([]byte(raw), &m); err != nil || len(m.Layers) != fixtureBaseLayers+6 || m.Layers[fixtureBaseLayers+5].Digest != after[fixtureBaseLayers+5] {
		t.Errorf("manifest layers %v (%v), want %v", m.Layers, err, after)
	}

	ctr := strings.TrimSpace(s.buildah(t, "from", "--pull-never", "--quiet", second))
	out := s.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "sh", "-c",
		"cat /usr/share/alpha-installed /usr/share/beta-installed /usr/share/gamma-installed /src/gamma/lib/gamma.py; ls /usr/share/strata/sources")
	s.buildah(t, "rm", ctr)
	for _, w := range []string{"alpha-1", "beta-2", "gamma-1", "x = 1", "alpha.json", "beta.json", "gamma.json"} {
		if !strings.Contains(out, w) {
			t.Errorf("the image does not show %q:\n%s", w, out)
		}
	}
	s.assertClean(t)
}

// TestLayersSamePath: two sources that write one path are a recipe error
// naming both.
func TestLayersSamePath(t *testing.T) {
	rec := writeRecipe(t, "name: clash\nbase:\n  packages: [busybox]\nsources:\n  - {name: one, git: /g/one, path: /srv/app}\n  - {name: two, git: /g/two, path: /srv/app}\nprofiles:\n  stg: {branch: main}\n")
	r := strata(t, newStore(t), nil, "build", rec)
	if r.code != 2 || !strings.Contains(r.stderr, `sources "one" and "two" both write /srv/app`) {
		t.Errorf("exit %d, want 2 naming both sources and the path\n%s", r.code, r.stderr)
	}
}

// TestComposedInRegistry: a fresh runner (empty store, empty clone
// cache) building with --push what the registry holds already moves no
// blob: no upload, no download; every tag keeps its digest, and the store
// stays empty.
func TestComposedInRegistry(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	_, file := threeSources(t)
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	file = writeRecipe(t, string(body)+fmt.Sprintf("push:\n  repository: %s/e2e/three\n  cache: %s/e2e/cache\n", reg.Host, reg.Host))
	first := strata(t, newStore(t), cacheEnv(t), "build", "--push", "--tls-verify=false", file)
	if first.code != 0 {
		t.Fatalf("first build --push: %s", first.stderr)
	}
	digest := reg.Digest(t, "e2e/three:stg")

	fresh := newStore(t)
	// strata plan on the fresh runner: every layer is in the registry.
	if got, want := planLayers(t, fresh, file), []string{"alpha/checkout=hit:registry", "alpha/install=hit:registry", "beta/checkout=hit:registry", "beta/install=hit:registry", "gamma/checkout=hit:registry", "gamma/install=hit:registry"}; !slices.Equal(got, want) {
		t.Errorf("plan layers %v, want %v", got, want)
	}
	reg.ResetLog(t)
	r := strata(t, fresh, cacheEnv(t), "--log-format", "json", "build", "--push", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("fresh runner build --push: %s", r.stderr)
	}
	if got, want := strings.TrimSpace(r.stdout), strings.TrimSpace(first.stdout); got != want {
		t.Errorf("the fresh runner printed %s, the first %s", got, want)
	}
	if ev := events(t, r.stderr); ev["final"] != "hit" || ev["push"] != "pushed" {
		t.Errorf("decisions %v, want a final hit in the registry", ev)
	}
	for _, line := range reg.Requests(t) {
		if strings.Contains(line, "/blobs/") && !strings.HasPrefix(line, "HEAD ") {
			t.Errorf("a blob moved: %s", line)
		}
	}
	if up := reg.BlobUploads(t); len(up) != 0 {
		t.Errorf("uploads %v, want none", up)
	}
	if now := reg.Digest(t, "e2e/three:stg"); now != digest {
		t.Errorf("the tag moved: %s -> %s", digest, now)
	}
	if out := fresh.buildah(t, "images", "--quiet"); strings.TrimSpace(out) != "" {
		t.Errorf("the fresh runner pulled images:\n%s", out)
	}
	fresh.assertClean(t)
}

// TestComposedAfterChange: a fresh runner building with --push after a
// commit in a source composes the image in the registry. A commit in a
// source without an install command uploads that source's checkout layer
// and the configuration only, pulls nothing (the store stays empty), and
// gives the image a local build makes (same ID), which runs with the new
// files. A commit in a source with an install command pulls the base to
// run it and uploads that source's two layers and the configuration.
func TestComposedAfterChange(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	repos, file := threeSources(t, "beta")
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	file = writeRecipe(t, string(body)+fmt.Sprintf("push:\n  repository: %s/e2e/three\n  cache: %s/e2e/cache\n", reg.Host, reg.Host))
	firstStore, firstCache := newStore(t), cacheEnv(t)
	if r := strata(t, firstStore, firstCache, "build", "--push", "--tls-verify=false", file); r.code != 0 {
		t.Fatalf("first build --push: %s", r.stderr)
	}
	before := reg.manifest(t, "e2e/three:stg")
	if len(before.Layers) != fixtureBaseLayers+5 {
		t.Fatalf("manifest layers %v: want the base's, three checkouts and two installs", before.Layers)
	}

	// The layers over the base: alpha checkout, install; beta checkout;
	// gamma checkout, install.
	if _, err := repos["beta"].Commit("main", "typo", map[string]string{"VERSION": "beta-2\n"}); err != nil {
		t.Fatal(err)
	}
	fresh := newStore(t)
	// strata plan on the fresh runner: every layer but beta's checkout is
	// in the registry.
	if got, want := planLayers(t, fresh, file), []string{"alpha/checkout=hit:registry", "alpha/install=hit:registry", "beta/checkout=miss:", "gamma/checkout=hit:registry", "gamma/install=hit:registry"}; !slices.Equal(got, want) {
		t.Errorf("plan layers %v, want %v", got, want)
	}
	reg.ResetLog(t)
	r := strata(t, fresh, cacheEnv(t), "--log-format", "json", "build", "--push", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("fresh runner build --push after a commit in beta: %s", r.stderr)
	}
	if ev := events(t, r.stderr); ev["final"] != "composed" || ev["push"] != "pushed" {
		t.Errorf("decisions %v, want the image composed in the registry", ev)
	}
	after := reg.manifest(t, "e2e/three:stg")
	for i, what := range []string{"base rpms", "base rpmdb", "alpha checkout", "alpha install", "beta checkout", "gamma checkout", "gamma install"} {
		changed := after.Layers[i].Digest != before.Layers[i].Digest
		if want := what == "beta checkout"; changed != want {
			t.Errorf("%s layer: changed %v, want %v", what, changed, want)
		}
	}
	ups := reg.BlobUploads(t)
	slices.Sort(ups)
	want := append([]string{after.Layers[fixtureBaseLayers+2].Digest, after.Config.Digest}, reg.attachmentBlobs(t, "e2e/three", reg.Digest(t, "e2e/three:stg"))...)
	slices.Sort(want)
	if !slices.Equal(ups, want) {
		t.Errorf("uploads %v, want beta's checkout layer, the configuration and the attachments %v", ups, want)
	}
	for _, line := range reg.Requests(t) {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "GET" && strings.Contains(f[1], "/blobs/") {
			for _, l := range after.Layers {
				if strings.HasSuffix(f[1], l.Digest) {
					t.Errorf("a layer was downloaded: %s", line)
				}
			}
		}
	}
	if out := fresh.buildah(t, "images", "--quiet"); strings.TrimSpace(out) != "" {
		t.Errorf("the fresh runner pulled images:\n%s", out)
	}
	fresh.assertClean(t)
	composed := strings.TrimPrefix(after.Config.Digest, "sha256:")

	// A local build of the same inputs on the first store (whose install
	// layers, which record a random run ID, the registry has) makes the
	// same image.
	if id := mustBuild(t, firstStore, firstCache, file); id != composed {
		t.Errorf("a local build made %s, the registry composition %s:\n%s\n%s", id, composed,
			tool(t, "skopeo", "inspect", "--config", "--raw", "containers-storage:[overlay@"+firstStore.root+"+"+firstStore.runroot+"]"+id),
			tool(t, "skopeo", append(append([]string{"inspect", "--config", "--raw"}, reg.skopeoFlags()...), reg.Ref("e2e/three:stg"))...))
	}
	// The composed image, pulled by buildah, runs and shows the change.
	pulled := newStore(t)
	pulled.buildah(t, "pull", "--tls-verify=false", reg.Ref("e2e/three:stg"))
	ctr := strings.TrimSpace(pulled.buildah(t, "from", "--pull-never", "--quiet", reg.Host+"/e2e/three:stg"))
	out := pulled.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "sh", "-c",
		"cat /usr/share/alpha-installed /src/beta/VERSION /usr/share/gamma-installed; ls /usr/share/strata/sources")
	pulled.buildah(t, "rm", ctr)
	for _, w := range []string{"alpha-1", "beta-2", "gamma-1", "beta.json"} {
		if !strings.Contains(out, w) {
			t.Errorf("the composed image does not show %q:\n%s", w, out)
		}
	}
	if id := strings.TrimSpace(pulled.buildah(t, "images", "--no-trunc", "--quiet", reg.Host+"/e2e/three:stg")); !strings.HasSuffix(id, composed) {
		t.Errorf("the pulled image is %s, want %s", id, composed)
	}

	// A commit in gamma, which has an install command: the base is pulled
	// to run it, and gamma's two layers are uploaded.
	if _, err := repos["gamma"].Commit("main", "fix", map[string]string{"VERSION": "gamma-2\n"}); err != nil {
		t.Fatal(err)
	}
	reg.ResetLog(t)
	fresh = newStore(t)
	r = strata(t, fresh, cacheEnv(t), "--log-format", "json", "build", "--push", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("fresh runner build --push after a commit in gamma: %s", r.stderr)
	}
	if ev := events(t, r.stderr); ev["final"] != "composed" {
		t.Errorf("decisions %v, want the image composed in the registry", ev)
	}
	last := reg.manifest(t, "e2e/three:stg")
	ups = reg.BlobUploads(t)
	slices.Sort(ups)
	want = append([]string{last.Layers[fixtureBaseLayers+3].Digest, last.Layers[fixtureBaseLayers+4].Digest, last.Config.Digest}, reg.attachmentBlobs(t, "e2e/three", reg.Digest(t, "e2e/three:stg"))...)
	slices.Sort(want)
	if !slices.Equal(ups, want) {
		t.Errorf("uploads %v, want gamma's two layers, the configuration and the attachments %v", ups, want)
	}
	if strings.Count(r.stderr, "running the install command") != 1 {
		t.Errorf("install commands run after a commit in gamma: want only gamma's\n%s", r.stderr)
	}
	fresh.assertClean(t)
	pulled.buildah(t, "pull", "--policy=always", "--tls-verify=false", reg.Ref("e2e/three:stg"))
	ctr = strings.TrimSpace(pulled.buildah(t, "from", "--pull-never", "--quiet", reg.Host+"/e2e/three:stg"))
	out = pulled.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "cat", "/usr/share/gamma-installed", "/src/beta/VERSION", "/src/gamma/VERSION")
	pulled.buildah(t, "rm", ctr)
	if out != "gamma-2\nbeta-2\ngamma-2\n" {
		t.Errorf("the composed image shows %q, want gamma-2 installed and beta-2", out)
	}
}

// planLayers runs strata plan and returns SOURCE/KIND=DECISION:WHERE for
// each layer over the base.
func planLayers(t *testing.T, s store, file string) []string {
	t.Helper()
	pr := strata(t, s, cacheEnv(t), "plan", "--format", "json", "--tls-verify=false", file)
	if pr.code != 0 {
		t.Fatalf("plan: %s", pr.stderr)
	}
	var plan struct {
		Final struct {
			Layers []struct {
				Source, Kind string
				Cache        struct{ Decision, Where, Reason string }
			}
		}
	}
	if err := json.Unmarshal([]byte(pr.stdout), &plan); err != nil {
		t.Fatalf("plan: %v\n%s", err, pr.stdout)
	}
	var states []string
	for _, l := range plan.Final.Layers {
		states = append(states, l.Source+"/"+l.Kind+"="+l.Cache.Decision+":"+l.Cache.Where)
	}
	return states
}

// layersWithDiff returns the IDs of the storage layers whose diff is
// diffID, from containers/storage's layers.json.
func (s store) layersWithDiff(t *testing.T, diffID string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.root, "overlay-layers", "layers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		ID     string `json:"id"`
		DiffID string `json:"diff-digest"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range list {
		if l.DiffID == diffID {
			ids = append(ids, l.ID)
		}
	}
	return ids
}

// TestLayersNeeds: an install command sees the files of the sources it
// names in needs, earlier or later in the recipe, and runs again when one
// of them changes; a source that needs an unchanged one keeps its layer.
// The checkouts under an install command that the image has already are
// reused or made of hard links to the image's (restacked), not written
// again.
func TestLayersNeeds(t *testing.T) {
	dir := t.TempDir()
	repos := map[string]*fixtures.GitRepo{}
	for i, name := range []string{"alpha", "beta", "gamma"} {
		g, err := fixtures.NewGitRepo(filepath.Join(dir, name), int64(1750000000+i*1000))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Commit("main", "first", map[string]string{"VERSION": name + "-1\n"}); err != nil {
			t.Fatal(err)
		}
		repos[name] = g
	}
	// alpha needs a later source, beta an earlier one; gamma needs none.
	file := writeRecipe(t, fmt.Sprintf(`name: needs
base:
  repos:
    - {id: local, baseurl: "file://%s", gpgcheck: false}
  packages: [busybox]
sources:
  - name: alpha
    git: %q
    needs: [gamma]
    install: [sh, -c, "cat ../gamma/VERSION > /usr/share/alpha-saw"]
  - name: beta
    git: %q
    needs: [alpha]
    install: [sh, -c, "cat ../alpha/VERSION > /usr/share/beta-saw; test ! -e ../gamma"]
  - name: gamma
    git: %q
    install: [sh, -c, "test ! -e ../alpha && cat VERSION > /usr/share/gamma-saw"]
profiles:
  stg: {branch: main}
`, repoDir, repos["alpha"].Dir, repos["beta"].Dir, repos["gamma"].Dir))
	s := newStore(t)
	env := cacheEnv(t)
	r := strata(t, s, env, "--log-level", "debug", "build", file)
	if r.code != 0 {
		t.Fatalf("first build: exit %d\n%s", r.code, r.stderr)
	}
	// The checkouts an install command runs over: its own and those it
	// needs, over the base. One that is already in the image is reused
	// (the first source's checkout is over the base there too) or
	// restacked by links; a later one, not in the image yet, is written.
	for _, want := range []string{
		"install of alpha: checkout of gamma over the base: built",
		"install of alpha: checkout of alpha over the base: restacked",
		"install of beta: checkout of alpha over the base: reused",
		"install of beta: checkout of beta over the base: restacked",
		"install of gamma: checkout of gamma over the base: reused",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	see := func(id string) string {
		ctr := strings.TrimSpace(s.buildah(t, "from", "--pull-never", "--quiet", id))
		defer s.buildah(t, "rm", ctr)
		return s.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "cat", "/usr/share/alpha-saw", "/usr/share/beta-saw", "/usr/share/gamma-saw")
	}
	if got := see(strings.TrimSpace(r.stdout)); got != "gamma-1\nalpha-1\ngamma-1\n" {
		t.Errorf("the install commands saw %q, want gamma-1, alpha-1, gamma-1", got)
	}

	if _, err := repos["gamma"].Commit("main", "bump", map[string]string{"VERSION": "gamma-2\n"}); err != nil {
		t.Fatal(err)
	}
	r = strata(t, s, env, "--log-format", "json", "build", file)
	if r.code != 0 {
		t.Fatalf("build after a commit in gamma: exit %d\n%s", r.code, r.stderr)
	}
	got := layerDecisions(t, r.stderr)
	for k, v := range map[string]string{
		"alpha/checkout": "reused", "alpha/install": "built",
		"beta/checkout": "restacked", "beta/install": "restacked",
		// written once, by alpha's install, and linked into the image
		"gamma/checkout": "restacked", "gamma/install": "built",
	} {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if got := see(strings.TrimSpace(r.stdout)); got != "gamma-2\nalpha-1\ngamma-2\n" {
		t.Errorf("after the commit the install commands saw %q, want gamma-2, alpha-1, gamma-2", got)
	}
	s.assertClean(t)
}
