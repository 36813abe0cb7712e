package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoCopy copies the fixture RPM repository, so that a test can make it
// unreachable.
func repoCopy(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("cp", "-a", repoDir, dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the repository: %v\n%s", err, out)
	}
	return dir
}

// cachedRecipe is webapp's recipe over the repository repo, with extra
// YAML appended and base packages replaced when packages is not empty.
func cachedRecipe(t *testing.T, git, repo, extra, packages string) string {
	t.Helper()
	body, err := os.ReadFile(sourcesRecipe(t, git))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(body), "file://"+repoDir, "file://"+repo, 1)
	if packages != "" {
		src = strings.Replace(src, "packages: [busybox]", "packages: ["+packages+"]", 1)
	}
	return writeRecipe(t, src+extra)
}

// TestCacheCodeChangeOffline: a code change reuses the local base without
// touching the RPM repository, which is gone.
func TestCacheCodeChangeOffline(t *testing.T) {
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	repo := repoCopy(t)
	file := cachedRecipe(t, p.repo.Dir, repo, "", "")
	s := newStore(t)
	env := cacheEnv(t)
	mustBuild(t, s, env, file)
	if err := os.RemoveAll(repo); err != nil {
		t.Fatal(err)
	}
	p.commit(t, "main", "fix", map[string]string{"app.py": "VERSION = 'main-2'\n"})
	r := strata(t, s, env, "--log-format", "json", "build", file)
	if r.code != 0 {
		t.Fatalf("build after a code change without the repository: %s", r.stderr)
	}
	if ev := events(t, r.stderr); ev["base"] != "hit" || ev["final"] != "committed" {
		t.Errorf("decisions %v, want a base hit and a new final image", ev)
	}
}

// TestCacheRegistry: a fresh store finds the base in the registry cache,
// with the RPM repository gone, and builds the same image.
func TestCacheRegistry(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	repo := repoCopy(t)
	file := cachedRecipe(t, p.repo.Dir, repo, fmt.Sprintf("push:\n  repository: %s/e2e/app\n  cache: %s/e2e/cache\n", reg.Host, reg.Host), "")
	env := cacheEnv(t)

	first := newStore(t)
	r := strata(t, first, env, "--log-format", "json", "build", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("first build: %s", r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if ev := events(t, r.stderr); ev["base"] != "built" {
		t.Errorf("first build: base %q, want built", ev["base"])
	}
	plan := planJSON(t, first, env, "--tls-verify=false", file)
	key := plan.Base.Key
	if !reg.exists(t, "e2e/cache:base-"+key[:16]) {
		t.Fatalf("the base was not shared as e2e/cache:base-%s\n%s", key[:16], r.stderr)
	}

	if err := os.RemoveAll(repo); err != nil {
		t.Fatal(err)
	}
	fresh := newStore(t)
	plan = planJSON(t, fresh, env, "--tls-verify=false", file)
	if c := plan.Base.Cache; c.Decision != "hit" || c.Where != "registry" || !strings.Contains(c.Ref, "e2e/cache:base-"+key[:16]+"@sha256:") {
		t.Errorf("plan in a fresh store: %+v, want a registry hit", c)
	}
	r = strata(t, fresh, env, "--log-format", "json", "build", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("build in a fresh store without the RPM repository: %s", r.stderr)
	}
	if ev := events(t, r.stderr); ev["base"] != "pulled" {
		t.Errorf("fresh store: base %q, want pulled\n%s", ev["base"], r.stderr)
	}
	if got := strings.TrimSpace(r.stdout); got != id {
		t.Errorf("the fresh store built %s, the first %s: same inputs, same image wanted", got, id)
	}
	fresh.assertClean(t)
}

type planOut struct {
	Base struct {
		Key   string
		Cache struct {
			Decision, Where, Ref, Reason string
		}
		KeyDocument json.RawMessage `json:"key_document"`
	}
	Final struct {
		Cache struct{ Decision, Reason string }
	}
}

func planJSON(t *testing.T, s store, env []string, args ...string) planOut {
	t.Helper()
	r := strata(t, s, env, append([]string{"plan", "--format", "json"}, args...)...)
	var p planOut
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &p) != nil {
		t.Fatalf("strata plan %v: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
	}
	return p
}

// TestCacheMiss: adding a package changes the key; the miss is explained
// against the cached base; the build rebuilds.
func TestCacheMiss(t *testing.T) {
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	s := newStore(t)
	env := cacheEnv(t)
	mustBuild(t, s, env, cachedRecipe(t, p.repo.Dir, repoDir, "", ""))
	more := cachedRecipe(t, p.repo.Dir, repoDir, "", "busybox, demo-data")
	plan := planJSON(t, s, env, "--explain", more)
	if c := plan.Base.Cache; c.Decision != "miss" || !strings.Contains(c.Reason, "packages added: demo-data") {
		t.Errorf("plan after adding a package: %+v", c)
	}
	if !strings.Contains(string(plan.Base.KeyDocument), `"demo-data"`) {
		t.Errorf("--explain key document: %s", plan.Base.KeyDocument)
	}
	r := strata(t, s, env, "--log-format", "json", "build", more)
	if ev := events(t, r.stderr); r.code != 0 || ev["base"] != "built" {
		t.Errorf("build with a package added: exit %d, decisions %v", r.code, ev)
	}
}

// TestCacheMaxAge: a base older than base.max_age is rebuilt, and so is
// one under --refresh.
func TestCacheMaxAge(t *testing.T) {
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	s := newStore(t)
	env := cacheEnv(t)
	body, err := os.ReadFile(cachedRecipe(t, p.repo.Dir, repoDir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	file := writeRecipe(t, strings.Replace(string(body), "  packages: [busybox]\n", "  packages: [busybox]\n  max_age: 6s\n", 1))
	mustBuild(t, s, env, file)
	r := strata(t, s, env, "--log-format", "json", "build", file)
	if ev := events(t, r.stderr); r.code != 0 || ev["base"] != "hit" {
		t.Fatalf("immediate rebuild: exit %d, decisions %v", r.code, ev)
	}
	time.Sleep(6500 * time.Millisecond)
	plan := planJSON(t, s, env, file)
	if c := plan.Base.Cache; c.Decision != "miss" || !strings.Contains(c.Reason, "expired") {
		t.Errorf("plan after max_age: %+v", c)
	}
	r = strata(t, s, env, "--log-format", "json", "build", file)
	if ev := events(t, r.stderr); r.code != 0 || ev["base"] != "built" {
		t.Errorf("build after max_age: exit %d, decisions %v\n%s", r.code, ev, r.stderr)
	}
	r = strata(t, s, env, "--log-format", "json", "build", "--refresh", file)
	if ev := events(t, r.stderr); r.code != 0 || ev["base"] != "built" {
		t.Errorf("build --refresh: exit %d, decisions %v", r.code, ev)
	}
}

// TestCacheConcurrent: two builds of one recipe on one store: dnf runs
// once, both succeed with the same image.
func TestCacheConcurrent(t *testing.T) {
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	s := newStore(t)
	env := cacheEnv(t)
	file := cachedRecipe(t, p.repo.Dir, repoDir, "", "busybox, fixture-big")
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = strata(t, s, env, "build", file)
		}()
	}
	wg.Wait()
	installs := 0
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("build %d: exit %d\n%s", i, r.code, r.stderr)
		}
		installs += strings.Count(r.stderr, "with dnf (installroot)")
	}
	if installs != 1 {
		t.Errorf("dnf ran %d times for two concurrent builds of one base", installs)
	}
	if results[0].stdout != results[1].stdout {
		t.Errorf("the builds made %q and %q", results[0].stdout, results[1].stdout)
	}
	s.assertClean(t)
}

// TestCacheLsPrune lists the cached bases and prunes them; the images
// built on them keep their layers.
func TestCacheLsPrune(t *testing.T) {
	s := newStore(t)
	id := mustBuild(t, s, nil, writeRecipe(t, recipe("prune", "demo-hello")))
	r := strata(t, s, nil, "cache", "ls", "--format", "json")
	var list []struct{ Key, Image, ID string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 1 || !strings.HasPrefix(list[0].Image, "localhost/prune-base:") {
		t.Fatalf("cache ls: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := strata(t, s, nil, "cache", "prune"); r.code != 2 {
		t.Errorf("prune without limits: exit %d, want 2", r.code)
	}
	r = strata(t, s, nil, "cache", "prune", "--keep", "0")
	if r.code != 0 || !strings.Contains(r.stdout, list[0].ID) {
		t.Errorf("prune --keep 0: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := strata(t, s, nil, "cache", "ls", "--format", "json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("cache ls after prune: %s", r.stdout)
	}
	ctr := strings.TrimSpace(s.buildah(t, "from", "--pull-never", "--quiet", id))
	if out := s.buildah(t, "run", "--runtime", "runc", "--network", "none", ctr, "/usr/bin/hello"); !strings.Contains(out, "hello from strata") {
		t.Errorf("the image built on the pruned base printed %q", out)
	}
}

// TestCacheRegistryRace: two fresh runners build the same new base at
// once and share it through one registry: both succeed with one image.
func TestCacheRegistryRace(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	file := cachedRecipe(t, p.repo.Dir, repoDir, fmt.Sprintf("push:\n  cache: %s/e2e/race\n", reg.Host), "busybox, demo-data")
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		s := newStore(t)
		env := cacheEnv(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = strata(t, s, env, "build", "--tls-verify=false", file)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("runner %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	if results[0].stdout != results[1].stdout {
		t.Errorf("the runners made %q and %q", results[0].stdout, results[1].stdout)
	}
	plan := planJSON(t, newStore(t), cacheEnv(t), "--tls-verify=false", file)
	if c := plan.Base.Cache; c.Decision != "hit" || c.Where != "registry" {
		t.Errorf("after the race the registry has no usable base: %+v", c)
	}
}
