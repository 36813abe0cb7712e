package e2e

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/fixtures"
)

// project is a source repository with branches main and stable.
type project struct {
	repo    *fixtures.GitRepo
	commits map[string]string // branch -> commit
}

// newProject makes the webapp repository the source tests build: its
// spec and setup.cfg need fixture packages, and each branch has its own
// app.py.
func newProject(t *testing.T, dir string) *project {
	t.Helper()
	g, err := fixtures.NewGitRepo(dir, 1750000000)
	if err != nil {
		t.Fatal(err)
	}
	p := &project{repo: g, commits: map[string]string{}}
	p.commit(t, "main", "first", map[string]string{
		"webapp.spec": "Name: webapp\nVersion: 1\nRelease: 1\nSummary: w\nLicense: MIT\nRequires: demo-lib\n%description\nw\n",
		"setup.cfg":   "[metadata]\nname = webapp\n[options]\ninstall_requires =\n    requests >= 2  # the HTTP client\n",
		"app.py":      "VERSION = 'stable-1'\n",
	})
	if _, err := g.Git("branch", "stable"); err != nil {
		t.Fatal(err)
	}
	p.commits["stable"] = p.commits["main"]
	p.commit(t, "main", "main work", map[string]string{"app.py": "VERSION = 'main-1'\n"})
	return p
}

func (p *project) commit(t *testing.T, branch, msg string, files map[string]string) {
	t.Helper()
	c, err := p.repo.Commit(branch, msg, files)
	if err != nil {
		t.Fatal(err)
	}
	p.commits[branch] = c
}

// sourcesRecipe builds webapp's image: busybox and webapp's dependencies
// in the base, webapp from git with an install command that records what
// it saw.
func sourcesRecipe(t *testing.T, git string) string {
	t.Helper()
	return writeRecipe(t, fmt.Sprintf(`name: webapp
base:
  repos:
    - {id: local, baseurl: "file://%s", gpgcheck: false}
  packages: [busybox]
sources:
  - name: webapp
    git: %q
    deps: [webapp.spec, setup.cfg]
    install: [sh, -c, "cat app.py > /usr/share/webapp-installed && ls -a > /usr/share/webapp-files"]
profiles:
  stg: {branch: main, tags: [stg, latest]}
  prod: {branch: stable, tags: [prod]}
image:
  cmd: [cat, /usr/share/webapp-installed]
`, repoDir, git))
}

// inspected is what buildah inspect says about an image.
type inspected struct {
	FromImageID string
	OCIv1       struct {
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
}

func (s store) inspect(t *testing.T, image string) inspected {
	t.Helper()
	var i inspected
	if err := json.Unmarshal([]byte(s.buildah(t, "inspect", image)), &i); err != nil {
		t.Fatal(err)
	}
	return i
}

// labels returns an image's labels as buildah sees them.
func (s store) labels(t *testing.T, image string) map[string]string {
	t.Helper()
	return s.inspect(t, image).OCIv1.Config.Labels
}

func (s store) diffIDs(t *testing.T, image string) []string {
	t.Helper()
	return s.inspect(t, image).OCIv1.RootFS.DiffIDs
}

// cacheEnv gives a test its own clone cache.
func cacheEnv(t *testing.T) []string {
	return []string{"STRATA_GIT_CACHE_DIR=" + t.TempDir()}
}

// TestSourcesProfiles builds the stg and prod profiles: each puts its
// branch's commit in the image, named by the labels and sources/NAME.json, with
// the install command run in the image; both share one base layer.
func TestSourcesProfiles(t *testing.T) {
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	file := sourcesRecipe(t, p.repo.Dir)
	s := newStore(t)
	env := cacheEnv(t)
	stg := mustBuild(t, s, env, "--profile", "stg", file)
	prod := mustBuild(t, s, env, "--profile", "prod", file)
	if stg == prod {
		t.Fatalf("stg and prod built the same image %s", stg)
	}
	for _, tc := range []struct {
		profile, image, branch string
		tags                   []string
	}{
		{"stg", stg, "main", []string{"stg", "latest"}},
		{"prod", prod, "stable", []string{"prod"}},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			commit := p.commits[tc.branch]
			for _, tag := range tc.tags {
				if id := s.inspect(t, "localhost/webapp:"+tag).FromImageID; id != tc.image {
					t.Errorf("localhost/webapp:%s is %s, want %s", tag, id, tc.image)
				}
			}
			l := s.labels(t, tc.image)
			wantSources := fmt.Sprintf(`[{"name":"webapp","git":%q,"branch":%q,"commit":%q,"path":"/src/webapp"}]`, p.repo.Dir, tc.branch, commit)
			if l["io.strata.sources"] != wantSources {
				t.Errorf("io.strata.sources = %s\nwant %s", l["io.strata.sources"], wantSources)
			}
			if l["org.opencontainers.image.revision"] != commit || l["org.opencontainers.image.source"] != p.repo.Dir {
				t.Errorf("source labels %q %q", l["org.opencontainers.image.source"], l["org.opencontainers.image.revision"])
			}
			out := t.TempDir()
			if r := strata(t, s, env, "build", "--profile", tc.profile, "--output", "oci:"+out, file); r.code != 0 {
				t.Fatalf("build to oci: %s", r.stderr)
			}
			root, _ := readOCI(t, out).unpack(t)
			read := func(name string) string {
				data, err := os.ReadFile(filepath.Join(root, name))
				if err != nil {
					t.Fatal(err)
				}
				return strings.TrimSpace(string(data))
			}
			wantRecord := fmt.Sprintf("{\n  \"name\": \"webapp\",\n  \"git\": %q,\n  \"branch\": %q,\n  \"commit\": %q,\n  \"path\": \"/src/webapp\"\n}", p.repo.Dir, tc.branch, commit)
			if got := read("usr/share/strata/sources/webapp.json"); got != wantRecord {
				t.Errorf("sources/webapp.json = %s\nwant %s", got, wantRecord)
			}
			if got, want := read("usr/share/webapp-installed"), fmt.Sprintf("VERSION = '%s-1'", tc.branch); got != want {
				t.Errorf("the install command saw app.py %q, want %q", got, want)
			}
			if files := read("usr/share/webapp-files"); !strings.Contains(files, ".git") {
				t.Errorf("no .git beside the source in the image: %s", files)
			}
			if head := read("src/webapp/.git/shallow"); head != commit {
				t.Errorf(".git/shallow names %q, want the commit %s", head, commit)
			}
		})
	}
	// Both profiles have the same dependencies: one base layer, then the
	// checkout and install layers of webapp.
	if a, b := s.diffIDs(t, stg), s.diffIDs(t, prod); len(a) != fixtureBaseLayers+2 || len(b) != fixtureBaseLayers+2 ||
		!slices.Equal(a[:fixtureBaseLayers], b[:fixtureBaseLayers]) || a[fixtureBaseLayers] == b[fixtureBaseLayers] {
		t.Errorf("layers: stg %v prod %v, want the same base and a checkout and install layer each", a, b)
	}
	// The base has the spec's and setup.cfg's dependencies, never webapp.
	pkgs := s.labels(t, stg)["io.strata.base.packages"]
	if pkgs != "busybox demo-lib python3dist(requests) >= 2" {
		t.Errorf("base packages %q", pkgs)
	}
	s.assertClean(t)
}

// TestSourcesRebuild: the same inputs give the same digest, even from
// another clone cache and store; nothing changed reuses the image; a new
// commit rebuilds only the final layer.
func TestSourcesRebuild(t *testing.T) {
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	file := sourcesRecipe(t, p.repo.Dir)
	digest := func(env []string) string {
		out := t.TempDir()
		s := newStore(t)
		mustBuild(t, s, env, "--output", "oci:"+out, file)
		return readOCI(t, out).manifestDigest
	}
	if a, b := digest(cacheEnv(t)), digest(cacheEnv(t)); a != b {
		t.Errorf("two builds of the same inputs: %s and %s", a, b)
	}

	s := newStore(t)
	env := cacheEnv(t)
	first := mustBuild(t, s, env, file)
	r := strata(t, s, env, "--log-format", "json", "build", file)
	if r.code != 0 || strings.TrimSpace(r.stdout) != first {
		t.Fatalf("no-change rebuild: exit %d, id %q, want %s\n%s", r.code, r.stdout, first, r.stderr)
	}
	if ev := events(t, r.stderr); ev["base"] != "hit" || ev["final"] != "hit" {
		t.Errorf("no-change rebuild decisions %v, want base and final hits:\n%s", ev, r.stderr)
	}
	before := s.diffIDs(t, first)

	p.commit(t, "main", "typo fix", map[string]string{"app.py": "VERSION = 'main-2'\n"})
	r = strata(t, s, env, "build", file)
	if r.code != 0 {
		t.Fatalf("rebuild after a commit: %s", r.stderr)
	}
	second := strings.TrimSpace(r.stdout)
	after := s.diffIDs(t, second)
	n := fixtureBaseLayers
	if second == first || len(after) != n+2 || !slices.Equal(after[:n], before[:n]) || after[n] == before[n] || after[n+1] == before[n+1] {
		t.Errorf("after a code change: layers %v, before %v: want the same base, a new checkout layer and a new install layer (app.py changed)", after, before)
	}
	if !strings.Contains(r.stderr, "reusing base image") {
		t.Errorf("the base was not reused:\n%s", r.stderr)
	}
	if l := s.labels(t, second); l["org.opencontainers.image.revision"] != p.commits["main"] {
		t.Errorf("revision %q, want %s", l["org.opencontainers.image.revision"], p.commits["main"])
	}
}

// events returns the decision of each phase from --log-format json logs.
func events(t *testing.T, stderr string) map[string]string {
	t.Helper()
	ev := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var e struct{ Phase, Decision string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Errorf("a log line is not JSON: %q", line)
			continue
		}
		if e.Phase != "" && e.Decision != "" {
			ev[e.Phase] = e.Decision
		}
	}
	return ev
}

// TestSourcesMissingBranch: an error naming source, remote and branch,
// with the branches that exist; nothing built.
func TestSourcesMissingBranch(t *testing.T) {
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	file := sourcesRecipe(t, p.repo.Dir)
	s := newStore(t)
	r := strata(t, s, cacheEnv(t), "build", "--branch", "nope", file)
	want := fmt.Sprintf(`source "webapp": branch "nope" not found in %q; branches: main, stable`, p.repo.Dir)
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant %q", r.code, r.stderr, want)
	}
	if out := s.buildah(t, "images", "--quiet"); strings.TrimSpace(out) != "" {
		t.Errorf("images made: %s", out)
	}
}

// gitServer serves the repositories under root over smart HTTPS with the
// real git http-backend, requiring the password token. It returns the
// server's URL and a CA file that trusts it (for SSL_CERT_FILE).
func gitServer(t *testing.T, root, token string) (string, string) {
	t.Helper()
	backend := &cgi.Handler{
		Path: "/usr/lib/git-core/git-http-backend",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL, ca
}

// TestSourcesToken clones over HTTPS with basic auth from a real git
// server: the token from the environment opens it and appears nowhere in
// the output, the logs or the image.
func TestSourcesToken(t *testing.T) {
	if _, err := os.Stat("/usr/lib/git-core/git-http-backend"); err != nil {
		t.Skip("git http-backend is not installed")
	}
	const token = "strata-e2e-secret-token-9f8e7d"
	root := t.TempDir()
	p := newProject(t, filepath.Join(root, "webapp.git"))
	url, ca := gitServer(t, root, token)
	url += "/webapp.git"
	file := sourcesRecipe(t, url)
	s := newStore(t)
	env := append(cacheEnv(t), "SSL_CERT_FILE="+ca)

	r := strata(t, s, env, "build", file)
	if r.code == 0 || !strings.Contains(r.stderr, url) {
		t.Errorf("without a token: exit %d\n%s", r.code, r.stderr)
	}
	out := t.TempDir()
	env = append(env, "STRATA_GIT_TOKEN="+token)
	r = strata(t, s, env, "--log-level", "debug", "build", "--output", "oci:"+out, file)
	if r.code != 0 {
		t.Fatalf("with the token: %s", r.stderr)
	}
	r2 := strata(t, s, env, "--log-level", "debug", "build", "--branch", "nope", file)
	for name, text := range map[string]string{"stdout": r.stdout + r2.stdout, "stderr": r.stderr + r2.stderr} {
		if strings.Contains(text, token) {
			t.Errorf("the token appears in %s", name)
		}
	}
	img := readOCI(t, out)
	if l := img.config.Config.Labels["org.opencontainers.image.revision"]; l != p.commits["main"] {
		t.Errorf("revision %q", l)
	}
	err := filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(data), token) {
			t.Errorf("the token appears in %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	root2, _ := img.unpack(t)
	err = filepath.Walk(root2, func(path string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(data), token) {
			t.Errorf("the token appears in the image at %s", strings.TrimPrefix(path, root2))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSourcesInstallFails: a failing install command stops the build with
// its source, command and output named; nothing is left behind or tagged.
func TestSourcesInstallFails(t *testing.T) {
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	body, err := os.ReadFile(sourcesRecipe(t, p.repo.Dir))
	if err != nil {
		t.Fatal(err)
	}
	file := writeRecipe(t, strings.Replace(string(body), `install: [sh, -c, "cat app.py`, `install: [sh, -c, "echo setup.py is broken >&2; exit 3; cat app.py`, 1))
	s := newStore(t)
	r := strata(t, s, cacheEnv(t), "build", file)
	if r.code != 1 || !strings.Contains(r.stderr, `running the install command of source "webapp" (sh -c echo setup.py is broken`) || !strings.Contains(r.stderr, "setup.py is broken") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	if out := s.buildah(t, "images", "--format", "{{.Name}}:{{.Tag}}"); strings.Contains(out, "localhost/webapp:") {
		t.Errorf("a failed build tagged an image:\n%s", out)
	}
	s.assertClean(t)
}
