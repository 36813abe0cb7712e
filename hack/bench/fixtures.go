package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/strata-build/strata/internal/fixtures"
)

// The fixture layout. Changing any of these changes the fixture version,
// so cached fixtures of another layout are never reused.
const (
	numApps           = 10 // bench-app-N, each over a tree of libraries
	libsPerApp        = 15 // bench-aN-lib-0..14, a binary tree under the app
	numCore           = 10 // bench-core-0..9, a chain shared by every app
	numPy             = 20 // python3-benchpyN providing python3dist(benchpyN)
	numExtra          = 10 // bench-extra-N: the "dependency added" candidates
	smallFiles        = 8  // small files per package besides the payload
	filesPerRepo      = 2500
	payloadCompressor = "w3.zstdio" // zstd level 3: fast to build, as Fedora's zstd payloads to install
	repoEpoch         = 1700000000
	gitEpoch          = 1750000000
	// The recipe's own packages; the sources' deps add apps 6 and 7 and
	// benchpy0..15.
	recipeApps = 6
)

// sourceDef is one git source of the benchmark.
type sourceDef struct {
	Name string
	Deps []string          // files of the repository with dependencies
	Meta map[string]string // those files
}

// sources are the three git repositories: each declares some fixture
// packages as dependencies, as its spec, setup.cfg or pyproject.toml.
func sources() []sourceDef {
	pyDeps := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("benchpy%d >= 1", i))
		}
		return out
	}
	cfg := func(name string, deps []string) string {
		return "[metadata]\nname = " + name + "\nversion = 1.0\n\n[options]\npackages = find:\ninstall_requires =\n    " + strings.Join(deps, "\n    ") + "\n"
	}
	return []sourceDef{
		{Name: "api", Deps: []string{"setup.cfg"}, Meta: map[string]string{
			"setup.cfg": cfg("api", pyDeps(0, 6)),
		}},
		{Name: "worker", Deps: []string{"worker.spec", "setup.cfg"}, Meta: map[string]string{
			"worker.spec": "Name: worker\nVersion: 1.0\nRelease: 1\nSummary: worker\nLicense: MIT\nRequires: bench-app-6\n%description\nworker\n",
			"setup.cfg":   cfg("worker", pyDeps(6, 12)),
		}},
		{Name: "web", Deps: []string{"pyproject.toml", "web.spec"}, Meta: map[string]string{
			"pyproject.toml": "[project]\nname = \"web\"\nversion = \"1.0\"\ndependencies = [\n" + quoteList(pyDeps(12, 16)) + "]\n",
			"web.spec":       "Name: web\nVersion: 1.0\nRelease: 1\nSummary: web\nLicense: MIT\nRequires: bench-app-7\n%description\nweb\n",
		}},
	}
}

func quoteList(items []string) string {
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "  %q,\n", it)
	}
	return b.String()
}

// recipePackages are base.packages of the benchmark recipe.
func recipePackages() []string {
	var out []string
	for i := range recipeApps {
		out = append(out, fmt.Sprintf("bench-app-%d", i))
	}
	return out
}

// extraPackage is the package repetition i adds in the "dependency added"
// scenario.
func extraPackage(i int) string { return fmt.Sprintf("bench-extra-%d", i%numExtra) }

// mib is n mebibytes.
func mib(n float64) int { return int(n * (1 << 20)) }

// benchPackages describes the fixture repository: about 200 packages
// with real dependency chains and a few hundred MB of incompressible
// payload, built from source RPMs as a distribution's are: each core
// library and each extra its own, each app with its libraries, each
// Python distribution as python-NAME.
func benchPackages() []fixtures.Package {
	// A filesystem layout and busybox as /bin/sh, for the installroot
	// variant (from scratch): the sources' install commands need a shell.
	pkgs := fixtures.Base()
	add := func(name, source string, requires, provides []string, payload int) {
		files := map[string]string{}
		for j := range smallFiles {
			files[fmt.Sprintf("/usr/lib/bench/%s/mod%d.py", name, j)] = fmt.Sprintf("# %s module %d\nNAME = %q\nINDEX = %d\n\ndef run():\n    return NAME, INDEX\n", name, j, name, j)
		}
		pkgs = append(pkgs, fixtures.Package{Name: name, Requires: requires, Provides: provides, Files: files, Payload: payload, Source: source})
	}
	// A chain of core libraries: core-i needs core-(i-1).
	for i := range numCore {
		var req []string
		if i > 0 {
			req = []string{fmt.Sprintf("bench-core-%d", i-1)}
		}
		name := fmt.Sprintf("bench-core-%d", i)
		add(name, name, req, nil, mib(4))
	}
	// Each app: a binary tree of libraries whose leaves need a core lib.
	for a := range numApps {
		for j := range libsPerApp {
			var req []string
			for _, c := range []int{2*j + 1, 2*j + 2} {
				if c < libsPerApp {
					req = append(req, fmt.Sprintf("bench-a%d-lib-%d", a, c))
				}
			}
			if len(req) == 0 {
				req = []string{fmt.Sprintf("bench-core-%d", a%numCore)}
			}
			add(fmt.Sprintf("bench-a%d-lib-%d", a, j), fmt.Sprintf("bench-app-%d", a), req, nil, mib(0.6+0.1*float64((a+j)%9)))
		}
		add(fmt.Sprintf("bench-app-%d", a), fmt.Sprintf("bench-app-%d", a), []string{fmt.Sprintf("bench-a%d-lib-0", a)}, nil, mib(3))
	}
	// Python distributions, as Fedora names them.
	for i := range numPy {
		add(fmt.Sprintf("python3-benchpy%d", i), fmt.Sprintf("python-benchpy%d", i),
			[]string{fmt.Sprintf("bench-core-%d", i%numCore), fmt.Sprintf("bench-a%d-lib-3", i%numApps)},
			[]string{fmt.Sprintf("python3dist(benchpy%d) = 1.%d", i, i)}, mib(1.5))
	}
	// Leaves for the "dependency added" scenario.
	for i := range numExtra {
		name := fmt.Sprintf("bench-extra-%d", i)
		add(name, name, []string{"bench-core-0"}, nil, mib(2))
	}
	return pkgs
}

// fixtureVersion names the fixture layout: a hash of every description.
func fixtureVersion() string {
	h := sha256.New()
	data, _ := json.Marshal(struct {
		Pkgs    []fixtures.Package
		Sources []sourceDef
		N       int
		Payload string
	}{benchPackages(), sources(), filesPerRepo, payloadCompressor})
	h.Write(data)
	return "v1-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// fixtureSet is the generated (or cached) fixtures.
type fixtureSet struct {
	Dir       string // ~/.cache/strata-bench/VERSION
	Repo      string // the RPM repository
	Git       map[string]string
	Packages  int
	PayloadMB float64 // payload of all packages, MiB
	RepoMB    float64 // size of the .rpm files, MiB
	Files     map[string]int
}

// prepareFixtures makes the fixtures under cacheRoot/VERSION, or reuses
// them when a previous run left them complete.
func prepareFixtures(cacheRoot string) (*fixtureSet, error) {
	version := fixtureVersion()
	dir := filepath.Join(cacheRoot, version)
	fs := &fixtureSet{Dir: dir, Repo: filepath.Join(dir, "repo"), Git: map[string]string{}, Files: map[string]int{}}
	pkgs := benchPackages()
	fs.Packages = len(pkgs)
	for _, p := range pkgs {
		fs.PayloadMB += float64(p.Payload) / (1 << 20)
	}
	for _, s := range sources() {
		fs.Git[s.Name] = filepath.Join(dir, "git", s.Name)
	}
	done := filepath.Join(dir, "complete")
	if _, err := os.Stat(done); err != nil {
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		start := time.Now()
		progress("fixtures: building %d RPMs (%.0f MiB payload) with rpmbuild (%s payloads)...", len(pkgs), fs.PayloadMB, payloadCompressor)
		if err := fixtures.BuildRepoWith(fs.Repo, pkgs, repoEpoch, fixtures.RepoOptions{BinaryPayload: payloadCompressor}); err != nil {
			return nil, fmt.Errorf("building the fixture repository: %w", err)
		}
		progress("fixtures: RPM repository made in %s", round(time.Since(start)))
		for _, s := range sources() {
			start := time.Now()
			if err := makeGitRepo(fs.Git[s.Name], s); err != nil {
				return nil, fmt.Errorf("making git repository %s: %w", s.Name, err)
			}
			progress("fixtures: git repository %s made in %s", s.Name, round(time.Since(start)))
		}
		if err := os.WriteFile(done, []byte(version+"\n"), 0o644); err != nil {
			return nil, err
		}
	} else {
		progress("fixtures: reusing %s", dir)
	}
	rpms, err := filepath.Glob(filepath.Join(fs.Repo, "*", "*.rpm"))
	if err != nil {
		return nil, err
	}
	for _, r := range rpms {
		if st, err := os.Stat(r); err == nil {
			fs.RepoMB += float64(st.Size()) / (1 << 20)
		}
	}
	if len(rpms) != len(pkgs) {
		return nil, fmt.Errorf("the fixture repository %s has %d RPMs, want %d: remove %s", fs.Repo, len(rpms), len(pkgs), dir)
	}
	for name, g := range fs.Git {
		out, err := exec.Command("git", "-C", g, "ls-files").Output()
		if err != nil {
			return nil, fmt.Errorf("git ls-files in %s: %w", g, err)
		}
		fs.Files[name] = strings.Count(string(out), "\n")
	}
	return fs, nil
}

// makeGitRepo writes a Python project of filesPerRepo small files plus
// the source's dependency files, commits it on main and packs it.
func makeGitRepo(dir string, s sourceDef) error {
	g, err := fixtures.NewGitRepo(dir, gitEpoch)
	if err != nil {
		return err
	}
	files := projectFiles(s)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(files[n]), 0o644); err != nil {
			return err
		}
	}
	if _, err := g.Git("add", "-A"); err != nil {
		return err
	}
	// Commit with no files of its own commits what is staged.
	if _, err := g.Commit("main", "initial import of "+s.Name, nil); err != nil {
		return err
	}
	_, err = g.Git("gc", "--quiet", "--aggressive", "--prune=now")
	return err
}

// projectFiles returns a source's files: filesPerRepo Python modules,
// tests and data files of a few hundred bytes to a few KB, and its
// dependency files.
func projectFiles(s sourceDef) map[string]string {
	files := map[string]string{}
	for k, v := range s.Meta {
		files[k] = v
	}
	files["README.md"] = "# " + s.Name + "\n\nA benchmark fixture of strata.\n"
	n := filesPerRepo - len(files)
	x := uint64(len(s.Name)) * 2654435761
	for i := range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		pkg := fmt.Sprintf("%s/pkg%02d", s.Name, i%40)
		var path string
		switch i % 10 {
		case 8:
			path = fmt.Sprintf("tests/%s/test_mod%04d.py", pkg, i)
		case 9:
			path = fmt.Sprintf("data/%s/fixture%04d.json", pkg, i)
		default:
			path = fmt.Sprintf("%s/mod%04d.py", pkg, i)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# %s: generated module %d\n\"\"\"Module %d of %s.\"\"\"\n\n", path, i, i, s.Name)
		for f := range 3 + int(x%25) {
			fmt.Fprintf(&b, "def func_%d_%d(a, b=%d):\n    \"\"\"Return a combination of a and b.\"\"\"\n    return (a * %d + b) %% %d\n\n", i, f, x%97, f+1, 1+(x>>8)%1000)
		}
		files[path] = b.String()
	}
	return files
}

// changeModule is the file a code change edits, in every source.
const changeModule = "pkg00/mod0000.py"

// changeSource commits a one-line change to a module of the source in
// dir (its working tree changes too) and returns the commit.
func changeSource(dir, name string, rep int) (string, error) {
	probe := &fixtures.GitRepo{Dir: dir}
	n, err := probe.Git("rev-list", "--count", "HEAD")
	if err != nil {
		return "", err
	}
	count, err := strconv.Atoi(n)
	if err != nil {
		return "", fmt.Errorf("git rev-list --count in %s: %q: %w", dir, n, err)
	}
	// An hour after the previous commit, as fixtures.GitRepo dates them.
	g, err := fixtures.NewGitRepo(dir, gitEpoch+int64(count)*3600)
	if err != nil {
		return "", err
	}
	path := name + "/" + changeModule
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(path)))
	if err != nil {
		return "", err
	}
	line := fmt.Sprintf("FIX_%d = %d  # a one-line fix (repetition %d)\n", count, count, rep)
	return g.Commit("main", fmt.Sprintf("fix %d", count), map[string]string{path: string(data) + line})
}
