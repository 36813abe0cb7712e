package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/strata-build/strata/internal/fixtures"
	"github.com/strata-build/strata/internal/gitsrc"
	"github.com/strata-build/strata/recipes"
)

const webappSpec = `Name: webapp
Version: 1.0
Release: 1%{?dist}
Summary: web
License: MIT

BuildRequires: python3-devel
Requires: demo-lib, python3dist(requests) >= 2
Requires(post): coreutils
%if 0%{?fedora}
Requires: fedora-only
%endif

%package -n webapp-worker
Summary: the worker
Requires: webapp

%description
web
%description -n webapp-worker
worker
`

// sourceRepos makes the two source repositories of the tests: webapp
// (main needs flask, stable does not) and worker, which needs webapp.
func sourceRepos(t *testing.T) (webapp, worker *fixtures.GitRepo, commits map[string]string) {
	t.Helper()
	dir := t.TempDir()
	var err error
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	commits = map[string]string{}
	webapp, err = fixtures.NewGitRepo(filepath.Join(dir, "webapp"), 1750000000)
	if err != nil {
		t.Fatal(err)
	}
	commits["webapp/stable"] = must(webapp.Commit("main", "stable base", map[string]string{
		"webapp.spec": webappSpec,
		"setup.cfg":   "[metadata]\nname = webapp\n[options]\ninstall_requires =\n    requests>=2.31  # the HTTP client\n",
		"app.py":      "VERSION = 'stable'\n",
	}))
	must(webapp.Git("branch", "stable"))
	commits["webapp/main"] = must(webapp.Commit("main", "add flask", map[string]string{
		"setup.cfg": "[metadata]\nname = webapp\n[options]\ninstall_requires =\n    requests>=2.31  # the HTTP client\n    flask\n",
		"app.py":    "VERSION = 'main'\n",
	}))
	worker, err = fixtures.NewGitRepo(filepath.Join(dir, "worker"), 1750000000)
	if err != nil {
		t.Fatal(err)
	}
	commits["worker/main"] = must(worker.Commit("main", "worker", map[string]string{
		"pyproject.toml": "[project]\nname = \"Worker\"\nversion = \"1\"\ndependencies = [\"webapp[tasks]\", \"celery>=5\"]\n",
	}))
	must(worker.Git("branch", "stable"))
	commits["worker/stable"] = commits["worker/main"]
	return webapp, worker, commits
}

func sourcesRecipe(t *testing.T, webapp, worker string) *recipes.Recipe {
	t.Helper()
	src := fmt.Sprintf(`name: web
base:
  repos: [{id: l, baseurl: file:///r, gpgcheck: false}]
  packages: [busybox, "python3dist(requests) >= 2"]
  exclude: [python3-devel]
sources:
  - {name: webapp, git: %q, deps: [webapp.spec, setup.cfg], install: [sh, -c, "true"]}
  - {name: worker, git: %q, deps: [pyproject.toml]}
profiles:
  stg: {branch: main, tags: [stg, latest]}
  prod: {branch: stable}
`, webapp, worker)
	r, err := recipes.Load(filepath.Join(t.TempDir(), "web.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPrepareSources(t *testing.T) {
	webapp, worker, commits := sourceRepos(t)
	r := sourcesRecipe(t, webapp.Dir, "file://"+worker.Dir)
	opts := PlanOptions{Git: GitOptions{CacheDir: t.TempDir()}}
	stg, err := Prepare(context.Background(), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	if stg.Profile != "stg" || stg.Branch != "main" || !cmp.Equal(stg.Tags, []string{"stg", "latest"}) {
		t.Errorf("profile %q branch %q tags %q", stg.Profile, stg.Branch, stg.Tags)
	}
	for i, name := range []string{"webapp", "worker"} {
		if got := stg.Sources[i].Commit; got != commits[name+"/main"] {
			t.Errorf("source %s at %s, want %s", name, got, commits[name+"/main"])
		}
	}
	if want := "2025-06-15T16:06:40Z"; stg.Epoch.Format("2006-01-02T15:04:05Z") != want {
		t.Errorf("epoch %v, want the newest commit %s", stg.Epoch, want)
	}
	want := []recipes.Requirement{
		{Dep: "busybox", From: []string{r.File + ":4"}},
		{Dep: "demo-lib", From: []string{"webapp:webapp.spec:8"}},
		{Dep: "fedora-only", From: []string{"webapp:webapp.spec:11"}},
		{Dep: "python3dist(celery) >= 5", From: []string{"worker:pyproject.toml:4"}},
		{Dep: "python3dist(flask)", From: []string{"webapp:setup.cfg:6"}},
		{Dep: "python3dist(requests) >= 2", From: []string{r.File + ":4", "webapp:webapp.spec:8"}},
		{Dep: "python3dist(requests) >= 2.31", From: []string{"webapp:setup.cfg:5"}},
	}
	if diff := cmp.Diff(want, stg.Base.Packages); diff != "" {
		t.Errorf("base set (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]recipes.Requirement{{Dep: "python3-devel", From: []string{"webapp:webapp.spec:7"}}}, stg.Base.Excluded); diff != "" {
		t.Errorf("excluded (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]recipes.Requirement{{Dep: "coreutils", From: []string{"webapp:webapp.spec:9"}}}, stg.Base.Scriptlet); diff != "" {
		t.Errorf("scriptlet (-want +got):\n%s", diff)
	}
	internal := map[string]bool{}
	for _, i := range stg.Base.Internal {
		internal[i.Name] = true
	}
	for _, name := range []string{"webapp", "webapp-worker", "worker", "python3dist(webapp)", "python3dist(worker)"} {
		if !internal[name] {
			t.Errorf("%q is not reported internal: %+v", name, stg.Base.Internal)
		}
	}

	// The prod profile takes stable, where webapp has no flask: another
	// base set, another key.
	opts.Profile = "prod"
	prod, err := Prepare(context.Background(), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	if prod.Sources[0].Commit != commits["webapp/stable"] || !cmp.Equal(prod.Tags, []string{"prod"}) {
		t.Errorf("prod: webapp at %s, tags %q", prod.Sources[0].Commit, prod.Tags)
	}
	for _, p := range prod.Base.Packages {
		if p.Dep == "python3dist(flask)" {
			t.Errorf("prod base set has flask from %v", p.From)
		}
	}
	if prod.Base.Key == stg.Base.Key {
		t.Errorf("stg and prod have the same base key %s", stg.Base.Key)
	}

	// --branch overrides the profile.
	opts.Branch = "main"
	if p, err := Prepare(context.Background(), r, opts); err != nil || p.Base.Key != stg.Base.Key {
		t.Errorf("--branch main with --profile prod: key %v, err %v", p, err)
	}

	var b bytes.Buffer
	if err := stg.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"profile:   stg (branch main, tags stg, latest)", "  webapp     main    " + commits["webapp/main"][:12] + "  2025-06-15 16:06  /src/webapp", "webapp:setup.cfg:6", "internal, never installed as RPMs"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("text plan lacks %q:\n%s", line, b.String())
		}
	}
}

func TestPrepareErrors(t *testing.T) {
	webapp, worker, _ := sourceRepos(t)
	r := sourcesRecipe(t, webapp.Dir, worker.Dir)
	cache := t.TempDir()
	tests := []struct {
		name  string
		opts  PlanOptions
		want  string
		usage bool
	}{
		{"unknown profile", PlanOptions{Profile: "dev"}, `--profile: unknown profile "dev": want one of stg, prod`, true},
		{"bad branch", PlanOptions{Branch: "a..b"}, `--branch: invalid branch name "a..b"`, true},
		{"bad network", PlanOptions{Network: "bridge"}, `invalid --network "bridge": want none or host`, true},
		{"missing branch", PlanOptions{Branch: "nope"}, `source "webapp": branch "nope" not found in "` + webapp.Dir + `"; branches: main, stable`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Git.CacheDir = cache
			_, err := Prepare(context.Background(), r, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if errors.Is(err, ErrUsage) != tt.usage {
				t.Errorf("errors.Is(err, ErrUsage) = %v", !tt.usage)
			}
		})
	}

	// A deps file that the branch does not have.
	r.Sources[1].Deps = []string{"setup.cfg"}
	_, err := Prepare(context.Background(), r, PlanOptions{Git: GitOptions{CacheDir: cache}})
	if err == nil || !strings.Contains(err.Error(), `source "worker": deps file "setup.cfg" is not in `+worker.Dir) {
		t.Errorf("missing deps file: %v", err)
	}
	// A bad deps file is reported as SOURCE:FILE:LINE.
	if _, err := webapp.Commit("main", "break", map[string]string{"setup.cfg": "[options]\ninstall_requires =\n    requests >>= 2\n"}); err != nil {
		t.Fatal(err)
	}
	r.Sources[1].Deps = []string{"pyproject.toml"}
	_, err = Prepare(context.Background(), r, PlanOptions{Git: GitOptions{CacheDir: cache}})
	if err == nil || !strings.HasPrefix(err.Error(), "webapp:setup.cfg:3: ") {
		t.Errorf("bad requirement: %v", err)
	}
}

func TestPrepareOffline(t *testing.T) {
	webapp, _, _ := sourceRepos(t)
	r := sourcesRecipe(t, webapp.Dir, "https://git.invalid/worker")
	opts := PlanOptions{Offline: true, Git: GitOptions{CacheDir: t.TempDir()}}
	if _, err := Prepare(context.Background(), r, opts); !errors.Is(err, gitsrc.ErrOffline) {
		t.Fatalf("offline build with an uncached remote: %v, want ErrOffline", err)
	}
	opts.Partial = true
	p, err := Prepare(context.Background(), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sources[0].Commit == "" || p.Sources[1].Commit != "" || p.Sources[1].Problem == "" {
		t.Errorf("sources %+v", p.Sources)
	}
	if p.Base.Key != "" || !strings.Contains(p.Base.Incomplete, "worker") {
		t.Errorf("base key %q incomplete %q", p.Base.Key, p.Base.Incomplete)
	}
}
