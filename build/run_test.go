package build

import (
	"context"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/internal/fixtures"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/buildah"
)

// TestMain lets the test binary act as buildah's re-executed helpers
// (chroot isolation), as strata's main does.
func TestMain(m *testing.M) {
	if buildah.InitReexec() {
		return
	}
	os.Exit(m.Run())
}

// uploads counts what clients write to an in-process registry.
type uploads struct {
	mu    sync.Mutex
	blobs int // blob uploads started (POST .../blobs/uploads/)
	puts  int // manifests put
}

func (u *uploads) reset() (blobs, manifests int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	blobs, manifests = u.blobs, u.puts
	u.blobs, u.puts = 0, 0
	return
}

// countingRegistry starts go-containerregistry's in-process registry on
// 127.0.0.1 (plain HTTP) and returns its host:port and upload counts.
func countingRegistry(t *testing.T) (string, *uploads) {
	t.Helper()
	u := &uploads{}
	h := registry.New(registry.Logger(stdlog.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		switch {
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.URL.Query().Get("mount") == "":
			u.blobs++
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/"):
			u.puts++
		}
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), u
}

func needPipeline(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("storage and dnf --installroot need root here (make test-unit runs as root)")
	}
	for _, tool := range []string{"dnf", "rpm", "rpmbuild", "createrepo_c", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: run make deps", tool)
		}
	}
	if _, err := os.Stat(fixtures.BusyboxPath); err != nil {
		t.Skip("busybox-static not installed: run make deps")
	}
}

// pipeline is one recipe's inputs and the options that build it into a
// store of its own.
type pipeline struct {
	t      *testing.T
	dir    string
	recipe string
	opts   Options
}

func (p *pipeline) run(ctx context.Context, storeName string, push bool) *Result {
	p.t.Helper()
	r, err := recipes.LoadFile(p.recipe)
	if err != nil {
		p.t.Fatal(err)
	}
	opts := p.opts
	opts.Recipe, opts.Push = r, push
	opts.Store.Root = filepath.Join(p.dir, storeName, "root")
	opts.Store.RunRoot = filepath.Join(p.dir, storeName, "run")
	res, err := Run(ctx, opts)
	if err != nil {
		p.t.Fatalf("build into %s: %v", storeName, err)
	}
	return res
}

func (p *pipeline) openStore(name string) *stores.Store {
	p.t.Helper()
	o := p.opts.Store
	o.Root, o.RunRoot = filepath.Join(p.dir, name, "root"), filepath.Join(p.dir, name, "run")
	s, err := stores.Open(o, p.opts.Log)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// TestRunPipeline builds the demo with the real pipeline, as root, into
// stores of its own and pushes to an in-process registry: a first build
// makes and shares the base; a runner with an empty store and nothing
// changed moves no blob; after a code change only that source's layers
// move; the same store again reuses everything.
func TestRunPipeline(t *testing.T) {
	needPipeline(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := fixtures.MakeDemo(dir); err != nil {
		t.Fatal(err)
	}
	host, up := countingRegistry(t)
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	recipe := filepath.Join(dir, "demo.yaml")
	yaml := `name: demo
target: fedora-43
base:
  from: scratch
  install: installroot
  repos:
    - {id: strata-demo, baseurl: repo, gpgcheck: false}
  packages: [busybox]
sources:
  - name: hello-app
    git: src/hello-app
    deps: [hello-app.spec]
    install: [sh, -c, "cp app.sh /usr/bin/hello-app && chmod 755 /usr/bin/hello-app"]
  - name: docs
    git: src/hello-app
    path: /src/docs
profiles:
  stg: {branch: main, tags: [stg]}
image:
  cmd: [sh, -c, "hello && hello-app"]
push:
  repository: ` + host + `/team/demo
  immutable_tag: "{branch}-{commit}"
`
	if err := os.WriteFile(recipe, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	if testing.Verbose() {
		log.SetOutput(os.Stderr)
	}
	epoch := time.Unix(1700000000, 0).UTC()
	p := &pipeline{t: t, dir: dir, recipe: recipe, opts: Options{
		Store:     stores.Options{Driver: "vfs", Policy: policy},
		Isolation: "chroot",
		Log:       log,
		PlanOptions: PlanOptions{
			Epoch:    &epoch,
			Git:      GitOptions{CacheDir: filepath.Join(dir, "git")},
			CacheDir: filepath.Join(dir, "cache"),
			Registry: RegistryOptions{BlobInfoCache: filepath.Join(dir, "bic")},
		},
		IIDFile:    filepath.Join(dir, "iid"),
		DigestFile: filepath.Join(dir, "digest"),
		SBOMFile:   filepath.Join(dir, "sbom.json"),
	}}

	// 1. A first build: the base is built and shared through the
	// registry cache, the image pushed with every tag.
	first := p.run(ctx, "one", true)
	if first.BaseCached || first.FinalCached {
		t.Errorf("first build: base cached %v, final cached %v", first.BaseCached, first.FinalCached)
	}
	if len(first.Pushed) != 2 {
		t.Errorf("pushed %v, want the profile's tag and the immutable tag", first.Pushed)
	}
	if b, _ := os.ReadFile(p.opts.IIDFile); string(b) != "sha256:"+first.ImageID {
		t.Errorf("--iidfile holds %q, want sha256:%s", b, first.ImageID)
	}
	if b, _ := os.ReadFile(p.opts.DigestFile); len(first.Pushed) == 0 || !strings.HasSuffix(first.Pushed[0], "@"+string(b)) {
		t.Errorf("--digestfile holds %q, pushed %v", b, first.Pushed)
	}
	if b, _ := os.ReadFile(p.opts.SBOMFile); !strings.Contains(string(b), `"name": "busybox"`) && !strings.Contains(string(b), `"name":"busybox"`) {
		t.Errorf("--sbom has no busybox: %.300s", b)
	}
	if blobs, _ := up.reset(); blobs < 8 {
		t.Errorf("the first build uploaded %d blobs, want the base's, the final's and the attestations", blobs)
	}

	// 2. An empty store, nothing changed: the image is found in the
	// registry by its final key; no blob moves.
	second := p.run(ctx, "two", true)
	if second.FinalKey != first.FinalKey || second.BaseKey != first.BaseKey {
		t.Errorf("keys moved: final %s -> %s, base %s -> %s", first.FinalKey, second.FinalKey, first.BaseKey, second.BaseKey)
	}
	if blobs, _ := up.reset(); blobs != 0 {
		t.Errorf("an unchanged build from an empty store uploaded %d blobs", blobs)
	}

	// 3. A code change, another empty store: only the changed source's
	// layers are uploaded (its checkout and its install; the docs source
	// is the same repository, so its checkout moves too), plus the config
	// and the attestations.
	g, err := fixtures.NewGitRepo(filepath.Join(dir, "src", "hello-app"), 1700090000) // (git init again: harmless)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Commit("main", "typo", map[string]string{"app.sh": "#!/bin/sh\necho fixed\n"}); err != nil {
		t.Fatal(err)
	}
	third := p.run(ctx, "three", true)
	if third.BaseKey != first.BaseKey || third.FinalKey == first.FinalKey {
		t.Errorf("a code change: base key %s -> %s (want the same), final key %s (want a new one)", first.BaseKey, third.BaseKey, third.FinalKey)
	}
	blobs, _ := up.reset()
	t.Logf("a code change uploaded %d blobs", blobs)
	// Two checkouts, the install, the config, the SBOM and the
	// provenance (their empty config is there already): never a layer of
	// the base.
	if blobs == 0 || blobs > 6 {
		t.Errorf("a code change uploaded %d blobs, want the changed layers only", blobs)
	}

	// 4. The first store again, without push: everything is reused.
	again := p.run(ctx, "one", false)
	if !again.BaseCached {
		t.Error("the first store built its base again")
	}
	if blobs, manifests := up.reset(); blobs != 0 || manifests != 0 {
		t.Errorf("a build without --push wrote %d blobs and %d manifests", blobs, manifests)
	}
	p.run(ctx, "one", false)
	store := p.openStore("one")
	defer store.Close()
	list, err := ListBases(ctx, store)
	if err != nil || len(list) != 1 || list[0].Key != first.BaseKey {
		t.Fatalf("ListBases: %v, %+v", err, list)
	}
	removed, err := PruneBases(ctx, store, 0, 0)
	if err != nil || len(removed) != 1 {
		t.Errorf("PruneBases(keep 0): %v, %+v", err, removed)
	}
	if list, _ := ListBases(ctx, store); len(list) != 0 {
		t.Errorf("after the prune: %+v", list)
	}
	if _, err := layers.ImageLabels(ctx, store, again.ImageID); err != nil {
		t.Errorf("the final image went with its base: %v", err)
	}
}
