package layers

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
	"github.com/strata-build/strata/internal/gitsrc"
	"github.com/strata-build/strata/recipes"
)

func finalSpec() *FinalSpec {
	return &FinalSpec{
		Name: "web", BaseID: "b1", BaseKey: "k1", Network: "none",
		Epoch: time.Unix(1750000000, 0).UTC(),
		Image: recipes.Image{Cmd: []string{"web"}, Env: map[string]string{"A": "1", "B": "2"}},
		Sources: []Source{
			{Name: "web", Git: "https://example.com/web", Branch: "main", Commit: "c1", Path: "/src/web", Install: []string{"pip3", "install", "."}, Dir: "/cache/a"},
			{Name: "lib", Git: "https://example.com/lib", Branch: "main", Commit: "c2", Path: "/src/lib", Dir: "/cache/b"},
		},
	}
}

// TestFinalKey: the key depends on what makes the image, and on nothing
// else (where the checkout sits on the host, the order of env entries).
func TestFinalKey(t *testing.T) {
	base := finalSpec().Key()
	same := finalSpec()
	same.Sources[0].Dir = "/elsewhere"
	same.Image.Env = map[string]string{"B": "2", "A": "1"}
	if got := same.Key(); got != base {
		t.Errorf("the checkout directory or env order changed the key")
	}
	for name, change := range map[string]func(*FinalSpec){
		"base image":      func(s *FinalSpec) { s.BaseID = "b2" },
		"commit":          func(s *FinalSpec) { s.Sources[1].Commit = "c3" },
		"branch":          func(s *FinalSpec) { s.Sources[0].Branch = "stable" },
		"install command": func(s *FinalSpec) { s.Sources[0].Install = []string{"pip3", "install", "-e", "."} },
		"path":            func(s *FinalSpec) { s.Sources[1].Path = "/opt/lib" },
		"source order":    func(s *FinalSpec) { s.Sources[0], s.Sources[1] = s.Sources[1], s.Sources[0] },
		"image config":    func(s *FinalSpec) { s.Image.Cmd = []string{"worker"} },
		"network":         func(s *FinalSpec) { s.Network = "host" },
		"date":            func(s *FinalSpec) { s.Epoch = s.Epoch.Add(time.Second) },
		"name":            func(s *FinalSpec) { s.Name = "web2" },
	} {
		s := finalSpec()
		change(s)
		if s.Key() == base {
			t.Errorf("changing the %s kept the key", name)
		}
	}
}

func TestFinalLabels(t *testing.T) {
	s := finalSpec()
	l := s.Labels()
	var sources []map[string]string
	if err := json.Unmarshal([]byte(l[LabelSources]), &sources); err != nil {
		t.Fatal(err)
	}
	if len(sources) != 2 || sources[1]["name"] != "lib" || sources[1]["commit"] != "c2" || sources[0]["path"] != "/src/web" || len(sources[0]) != 5 {
		t.Errorf("io.strata.sources = %s", l[LabelSources])
	}
	if l[LabelSource] != "https://example.com/web" || l[LabelRevision] != "c1" || l[LabelFinalKey] != s.Key() || l[LabelBaseKey] != "k1" {
		t.Errorf("labels %v", l)
	}
	if l[LabelCreated] != "2025-06-15T15:06:40Z" {
		t.Errorf("created %q", l[LabelCreated])
	}
}

// TestLayerKeys: a source's layers change with what goes into them and
// with nothing else: another source's commit changes neither, unless the
// install command needs that source.
func TestLayerKeys(t *testing.T) {
	ref := finalSpec()
	web, lib := ref.Sources[0], ref.Sources[1]
	ck, ik, libck := ref.CheckoutKey(web), ref.InstallKey(web), ref.CheckoutKey(lib)
	other := finalSpec()
	other.Sources[1].Commit = "c9"
	other.Sources[1].Time = time.Unix(1760000000, 0)
	if other.CheckoutKey(other.Sources[0]) != ck || other.InstallKey(other.Sources[0]) != ik {
		t.Errorf("a commit of lib changed the layers of web")
	}
	if other.CheckoutKey(other.Sources[1]) == libck {
		t.Errorf("a commit of lib kept its checkout key")
	}
	newBase := finalSpec()
	newBase.BaseID = "b2"
	if newBase.CheckoutKey(web) != ck {
		t.Errorf("a new base changed a checkout layer's key (its bytes do not depend on the base)")
	}
	if newBase.InstallKey(web) == ik {
		t.Errorf("a new base kept the install key (the command runs over the base)")
	}
	for name, change := range map[string]func(*FinalSpec){
		"own commit":      func(s *FinalSpec) { s.Sources[0].Commit = "c5" },
		"install command": func(s *FinalSpec) { s.Sources[0].Install = []string{"make"} },
		"network":         func(s *FinalSpec) { s.Network = "host" },
		"own date":        func(s *FinalSpec) { s.Sources[0].Time = time.Unix(1760000000, 0) },
		"needed source":   func(s *FinalSpec) { s.Sources[0].Needs = []string{"lib"}; s.Sources[1].Commit = "c9" },
	} {
		s := finalSpec()
		change(s)
		if s.InstallKey(s.Sources[0]) == ik {
			t.Errorf("changing the %s kept the install key", name)
		}
	}
	sde := finalSpec()
	e := time.Unix(1700000000, 0).UTC()
	sde.SourceDateEpoch = &e
	sde.Sources[0].Time = time.Unix(1760000000, 0)
	if got := sde.epoch(sde.Sources[0]); !got.Equal(e) {
		t.Errorf("epoch with SOURCE_DATE_EPOCH = %v, want %v", got, e)
	}
	own := finalSpec()
	own.Sources[0].Time = time.Unix(1760000000, 0)
	if got := own.epoch(own.Sources[0]); !got.Equal(own.Sources[0].Time) {
		t.Errorf("a source's epoch = %v, want its commit time %v", got, own.Sources[0].Time)
	}
}

// TestCheckoutTar: the checkout layer is the same bytes for the same
// checkout, entries sorted with their parents first, owned by 0:0, every
// time the source's epoch, and holds the source's record.
func TestCheckoutTar(t *testing.T) {
	repo := gitRepo(t, map[string]string{"b.txt": "b\n", "a/z.py": "z\n", "a/b/c.sh": "#!/bin/sh\n"}, map[string]string{"link": "b.txt"})
	checkout := func() (string, string) {
		c, err := gitsrc.New(gitsrc.Options{CacheDir: t.TempDir()}).Resolve(context.Background(), repo, "main")
		if err != nil {
			t.Fatal(err)
		}
		dir, _, err := gitsrc.New(gitsrc.Options{CacheDir: t.TempDir()}).Checkout(context.Background(), repo, "main", c.Hash)
		if err != nil {
			t.Fatal(err)
		}
		return dir, c.Hash
	}
	dir, commit := checkout()
	when := time.Unix(1750000000, 0).UTC()
	src := Source{Name: "web", Git: "https://example.com/web", Branch: "main", Commit: commit, Path: "/srv/web", Dir: dir}
	read := func() ([]byte, []*tar.Header) {
		rc, err := checkoutTar(src, when)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		var hs []*tar.Header
		tr := tar.NewReader(bytes.NewReader(data))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, h)
		}
		return data, hs
	}
	one, hs := read()
	// Another checkout of the same commit, made at another time.
	time.Sleep(1100 * time.Millisecond)
	src.Dir, _ = checkout()
	if two, _ := read(); !bytes.Equal(one, two) {
		t.Errorf("two tar streams of one commit differ")
	}
	var names []string
	for _, h := range hs {
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(when) {
			t.Errorf("%s: owner %d:%d %q:%q, time %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		if h.Name == "srv/web/a/b/c.sh" && h.Mode != 0o755 || h.Name == "srv/web/b.txt" && h.Mode != 0o644 {
			t.Errorf("%s: mode %o", h.Name, h.Mode)
		}
		if h.Name == "srv/web/link" && (h.Typeflag != tar.TypeSymlink || h.Linkname != "b.txt") {
			t.Errorf("link: %+v", h)
		}
	}
	var worktree []string
	for _, n := range names {
		if !strings.HasPrefix(n, "srv/web/.git/") {
			worktree = append(worktree, n)
		} else if !slices.Contains(names, "srv/web/.git/HEAD") || !slices.Contains(names, "srv/web/.git/index") {
			t.Errorf("no .git/HEAD or .git/index in %q", names)
		}
	}
	if !slices.Contains(names, "srv/web/.git/") {
		t.Errorf("no .git/ in %q", names)
	}
	want := []string{"srv/", "srv/web/", "srv/web/a/", "srv/web/a/b/", "srv/web/a/b/c.sh",
		"srv/web/a/z.py", "srv/web/b.txt", "srv/web/link", "usr/", "usr/share/", "usr/share/strata/", "usr/share/strata/sources/",
		"usr/share/strata/sources/web.json"}
	if diff := cmp.Diff(want, worktree); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// gitRepo makes a git repository with one commit on main holding files
// (a .sh file executable) and symlinks, and returns its directory.
func gitRepo(t *testing.T, files, links map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1740000000, 0).UTC()}
	if _, err := wt.Commit("one", &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFinalNotes(t *testing.T) {
	s := &FinalSpec{Annotations: map[string]string{"team": "web", LabelFinalKey: "forged"}}
	got := s.notes("k1")
	if got[LabelFinalKey] != "k1" || got["team"] != "web" || len(got) != 2 {
		t.Errorf("notes without a registry base: %v", got)
	}
	s.BaseName, s.BaseDigest = "quay.io/fedora/fedora:43", "sha256:abcd"
	got = s.notes("k1")
	if got["org.opencontainers.image.base.name"] != "quay.io/fedora/fedora:43" || got["org.opencontainers.image.base.digest"] != "sha256:abcd" {
		t.Errorf("notes with a registry base: %v", got)
	}
	plain := (&FinalSpec{Name: "x"}).Key()
	if k := (&FinalSpec{Name: "x", Annotations: map[string]string{"a": "b"}}).Key(); k == plain {
		t.Errorf("an annotation does not change the final key")
	}
}
