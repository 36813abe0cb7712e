package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/strata-build/strata/internal/fixtures"
	"github.com/strata-build/strata/recipes"
)

func load(t *testing.T, src string) *recipes.Recipe {
	t.Helper()
	r, err := recipes.Load("r.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const webRecipe = `name: web
base:
  repos: [{id: l, baseurl: file:///r, gpgcheck: false}]
  packages:
    - python3dist(requests)>=2
    - busybox
    - python3-devel
  exclude: [python3-devel]
`

func TestPlanRecipe(t *testing.T) {
	p := planRecipe(load(t, webRecipe))
	want := []recipes.Requirement{
		{Dep: "busybox", From: []string{"r.yaml:6"}},
		{Dep: "python3dist(requests) >= 2", From: []string{"r.yaml:5"}},
	}
	if diff := cmp.Diff(want, p.Base.Packages); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]recipes.Requirement{{Dep: "python3-devel", From: []string{"r.yaml:7"}}}, p.Base.Excluded); diff != "" {
		t.Errorf("excluded (-want +got):\n%s", diff)
	}
	if p.Target != "fedora-43" || p.Base.From != "scratch" || p.Base.Install != "installroot" {
		t.Errorf("plan %+v", p)
	}
	if !strings.HasPrefix(p.Base.Image, "localhost/web-base:") || len(p.Base.Key) != 64 {
		t.Errorf("image %q key %q", p.Base.Image, p.Base.Key)
	}
	var b bytes.Buffer
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"base key:  " + p.Base.Key, "  busybox  ", "excluded by base.exclude (1)"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("text plan lacks %q:\n%s", line, b.String())
		}
	}
}

// TestBaseKey: the key ignores the order of packages and repositories and
// the spelling of operators, and changes with every real change.
func TestBaseKey(t *testing.T) {
	key := func(src string) string { return planRecipe(load(t, src)).Base.Key }
	base := key(webRecipe)
	same := map[string]string{
		"packages reordered": strings.Replace(webRecipe, "    - python3dist(requests)>=2\n    - busybox\n", "    - busybox\n    - python3dist(requests) >= 2\n", 1),
		"excluded changed":   strings.Replace(webRecipe, "    - python3-devel\n  exclude: [python3-devel]\n", "", 1),
	}
	for name, src := range same {
		if got := key(src); got != base {
			t.Errorf("%s: key changed", name)
		}
	}
	different := map[string]string{
		"package added":     strings.Replace(webRecipe, "    - busybox\n", "    - busybox\n    - git-core\n", 1),
		"version changed":   strings.Replace(webRecipe, ">=2", ">=3", 1),
		"target changed":    "target: rhel-9\n" + webRecipe,
		"repo changed":      strings.Replace(webRecipe, "file:///r", "file:///s", 1),
		"install mode":      strings.Replace(webRecipe, "base:\n", "base:\n  from: quay.io/fedora/fedora:43\n  install: container\n", 1),
		"base image":        strings.Replace(webRecipe, "base:\n", "base:\n  from: quay.io/fedora/fedora:43\n", 1),
		"repo gpg settings": strings.Replace(webRecipe, "gpgcheck: false", "gpgcheck: false, gpgkey: file:///k", 1),
	}

	seen := map[string]string{base: "original"}
	for name, src := range different {
		k := key(src)
		if prev, dup := seen[k]; dup {
			t.Errorf("%s: same key as %s", name, prev)
		}
		seen[k] = name
	}
	// The digest base.from resolves to and the lock are in the key too.
	r := load(t, webRecipe)
	for name, change := range map[string]func(*Plan){
		"base image digest": func(p *Plan) { p.planBase(nil, nil, nil, "sha256:1111") },
		"other digest":      func(p *Plan) { p.planBase(nil, nil, nil, "sha256:2222") },
	} {
		p := &Plan{recipe: r}
		change(p)
		if prev, dup := seen[p.Base.Key]; dup {
			t.Errorf("%s: same key as %s", name, prev)
		}
		seen[p.Base.Key] = name
	}
}

// TestBaseKeyGolden pins the key document: a change of its format must be
// deliberate (and bump keyVersion).
func TestBaseKeyGolden(t *testing.T) {
	doc := `{"version":5,"target":"fedora-43","from":"scratch","install":"installroot",` +
		`"repos":[{"id":"l","baseurl":"file:///r","gpgcheck":false}],` +
		`"packages":["busybox","python3dist(requests) >= 2"],"layers":40}`
	sum := sha256.Sum256([]byte(doc))
	want := hex.EncodeToString(sum[:])
	if got := planRecipe(load(t, webRecipe)).Base.Key; got != want {
		t.Errorf("key = %s, want %s", got, want)
	}
}

// TestFileDigestCache: an archive's digest is remembered, and read again
// when the file changes.
func TestFileDigestCache(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "base.tar")
	if err := os.WriteFile(file, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return "sha256:" + hex.EncodeToString(h[:]) }
	for i := 0; i < 2; i++ {
		if d, err := fileDigest(file, cache); err != nil || d != sum("one") {
			t.Fatalf("digest %s, %v", d, err)
		}
	}
	if err := os.WriteFile(file, []byte("two!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, _ := fileDigest(file, cache); d != sum("two!") {
		t.Errorf("after a change: %s, want %s", d, sum("two!"))
	}
}

// TestLocalRepoKey: two checkouts of one project, each with its own copy
// of a local repository (indexed at another time), plan one base key; a
// repository that serves other packages gives another; a repository that
// is gone keeps the key recorded for it.
func TestLocalRepoKey(t *testing.T) {
	if _, err := exec.LookPath("rpmbuild"); err != nil {
		t.Skip("rpmbuild not installed (make deps installs it)")
	}
	pkgs := []fixtures.Package{{Name: "demo-a", Version: "1.0", Files: map[string]string{"/usr/share/demo/a": "a\n"}}}
	plan := func(clone string, pkgs []fixtures.Package, cache string) string {
		t.Helper()
		if pkgs != nil {
			if err := fixtures.BuildRepo(filepath.Join(clone, "repo"), pkgs, 1700000000); err != nil {
				t.Fatal(err)
			}
		}
		file := filepath.Join(clone, "recipes", "r.yaml")
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		src := "name: web\nbase:\n  repos: [{id: l, baseurl: ../repo, gpgcheck: false}]\n  packages: [demo-a]\n"
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := recipes.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Prepare(context.Background(), r, PlanOptions{CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		return p.Base.Key
	}
	dir := t.TempDir()
	one := plan(filepath.Join(dir, "one"), pkgs, filepath.Join(dir, "cache-one"))
	time.Sleep(1100 * time.Millisecond) // another repomd.xml revision
	two := plan(filepath.Join(dir, "two"), pkgs, filepath.Join(dir, "cache-two"))
	if one != two {
		t.Errorf("two clones of one recipe and repository: keys %s and %s, want one", one, two)
	}
	other := plan(filepath.Join(dir, "three"), append(pkgs, fixtures.Package{Name: "demo-b", Version: "1.0"}), filepath.Join(dir, "cache-three"))
	if other == one {
		t.Errorf("a repository with another package set has the same key %s", one)
	}
	if err := os.RemoveAll(filepath.Join(dir, "one", "repo")); err != nil {
		t.Fatal(err)
	}
	if gone := plan(filepath.Join(dir, "one"), nil, filepath.Join(dir, "cache-one")); gone != one {
		t.Errorf("the repository is gone: key %s, want the recorded %s", gone, one)
	}
}
