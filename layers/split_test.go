package layers

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.podman.io/storage/pkg/archive"
)

func TestSourceName(t *testing.T) {
	for _, tc := range []struct{ srpm, pkg, want string }{
		{"openssl-3.2.1-2.fc41.src.rpm", "openssl-libs", "openssl"},
		{"python-requests-2.31.0-1.fc41.src.rpm", "python3-requests", "python-requests"},
		{"(none)", "gpg-pubkey", "gpg-pubkey"},
		{"", "x", "x"},
		{"weird.src.rpm", "y", "y"},
	} {
		if got := sourceName(tc.srpm, tc.pkg); got != tc.want {
			t.Errorf("sourceName(%q, %q) = %q, want %q", tc.srpm, tc.pkg, got, tc.want)
		}
	}
}

func TestParseFiles(t *testing.T) {
	out := "@busybox\t(none)\t1.0\t1\tx86_64\tstrata-fixtures-1-1.src.rpm\t2000\t1700000000\n" +
		"/usr/bin/busybox\t2000\t1700000000\t33261\t0\t0\t\n" +
		"/usr/bin/sh\t7\t1700000000\t41471\t0\t0\tbusybox\n" +
		"/bad\tline\n" +
		"@gpg-pubkey\t(none)\tabc\tdef\t(none)\t(none)\t0\t0\n" +
		"@openssl-libs\t1\t3.0.2\t1.fc43\tx86_64\topenssl-3.0.2-1.fc43.src.rpm\t5000\t1700000100\n" +
		"/etc/ssl\t4096\t1700000100\t16877\t0\t0\t\n"
	pkgs, err := parseFiles(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 3 {
		t.Fatalf("got %d packages, want 3", len(pkgs))
	}
	if p := pkgs[0]; p.NEVRA != "busybox-0:1.0-1.x86_64" || p.Source != "strata-fixtures" || p.Size != 2000 || p.BuildTime != 1700000000 || len(p.files) != 2 {
		t.Errorf("busybox = %+v", p)
	}
	if f := pkgs[0].files["/usr/bin/sh"]; f.link != "busybox" || f.mode != 41471 {
		t.Errorf("/usr/bin/sh = %+v", f)
	}
	if p := pkgs[1]; p.Source != "gpg-pubkey" || len(p.files) != 0 {
		t.Errorf("gpg-pubkey = %+v", p)
	}
	if p := pkgs[2]; p.NEVRA != "openssl-libs-1:3.0.2-1.fc43.x86_64" || p.Source != "openssl" {
		t.Errorf("openssl-libs = %+v", p)
	}
	if _, err := parseFiles("/a\t1\t1\t1\t0\t0\t\n"); err == nil {
		t.Error("a file before any package: no error")
	}
	if _, err := parseFiles("@short\tline\n"); err == nil {
		t.Error("a short package line: no error")
	}
}

// TestPlanLayout: every source fits -> a layer each; too many -> the
// largest get one, the rest are hashed; a previous layout keeps its
// dedicated sources, so that one update moves one group only.
func TestPlanLayout(t *testing.T) {
	small := map[string]int64{"b": 10, "a": 20, "c": 5}
	l := planLayout(40, small, nil)
	if !slices.Equal(l.Dedicated, []string{"a", "b", "c"}) {
		t.Errorf("dedicated = %v, want a b c", l.Dedicated)
	}
	if l.index("c") != 2 {
		t.Errorf("index(c) = %d", l.index("c"))
	}
	// A new source keeps the others where they were.
	withD := map[string]int64{"b": 10, "a": 20, "c": 5, "0new": 1}
	l2 := planLayout(40, withD, &l)
	if !slices.Equal(l2.Dedicated, []string{"a", "b", "c", "0new"}) {
		t.Errorf("dedicated after a new source = %v", l2.Dedicated)
	}

	many := map[string]int64{}
	for i := range 100 {
		many[fmt.Sprintf("src%02d", i)] = int64(i) // src99 is the largest
	}
	l3 := planLayout(11, many, nil) // 10 groups: 5 dedicated, 5 buckets
	if want := []string{"src95", "src96", "src97", "src98", "src99"}; !slices.Equal(l3.Dedicated, want) {
		t.Errorf("dedicated = %v, want %v", l3.Dedicated, want)
	}
	used := map[int]bool{}
	for s := range many {
		i := l3.index(s)
		if i < 0 || i >= 10 {
			t.Fatalf("index(%s) = %d, out of range", s, i)
		}
		if !slices.Contains(l3.Dedicated, s) && i < 5 {
			t.Errorf("hashed source %s in dedicated group %d", s, i)
		}
		used[i] = true
	}
	if len(used) != 10 {
		t.Errorf("%d of 10 groups used", len(used))
	}
	// Sizes change: with the previous layout nothing moves.
	many["src10"] = 1000
	l4 := planLayout(11, many, &l3)
	if !slices.Equal(l4.Dedicated, l3.Dedicated) {
		t.Errorf("dedicated moved with a previous layout: %v", l4.Dedicated)
	}
	for s := range many {
		if l4.index(s) != l3.index(s) {
			t.Errorf("%s moved from group %d to %d", s, l3.index(s), l4.index(s))
		}
	}
	// Without it, the largest are chosen again.
	if l5 := planLayout(11, many, nil); !slices.Contains(l5.Dedicated, "src10") {
		t.Errorf("dedicated = %v, want src10 among them", l5.Dedicated)
	}
	// Another base.layers: the previous layout does not apply.
	if l6 := planLayout(21, many, &l3); len(l6.Dedicated) != 10 {
		t.Errorf("dedicated with 21 layers = %v", l6.Dedicated)
	}
	// One layer: no groups.
	if l7 := planLayout(1, many, nil); l7.groups() != 0 || len(l7.Dedicated) != 0 {
		t.Errorf("one layer: %+v", l7)
	}
}

func TestExplainLayout(t *testing.T) {
	prev := BaseLayout{Layers: 40, Groups: []BaseGroup{
		{Index: 0, Sources: []string{"glibc"}, Packages: []string{"glibc-0:2.40-1.x86_64"}, Key: "k0"},
		{Index: 1, Sources: []string{"openssl"}, Packages: []string{"openssl-libs-1:3.0.1-1.x86_64", "openssl-1:3.0.1-1.x86_64"}, Key: "k1"},
		{Index: 2, Sources: []string{"gone"}, Packages: []string{"gone-0:1-1.noarch"}, Key: "k2"},
	}}
	cur := BaseLayout{Layers: 40, Groups: []BaseGroup{
		{Index: 0, Sources: []string{"glibc"}, Packages: []string{"glibc-0:2.40-1.x86_64"}, Key: "k0"},
		{Index: 1, Sources: []string{"openssl"}, Packages: []string{"openssl-libs-1:3.0.2-1.x86_64", "openssl-1:3.0.2-1.x86_64", "openssl-devel-1:3.0.2-1.x86_64"}, Key: "k1b"},
	}}
	got := ExplainLayout(prev, cur)
	want := []string{
		"layer 2 (openssl): openssl 1:3.0.1-1.x86_64 -> 1:3.0.2-1.x86_64, openssl-devel 1:3.0.2-1.x86_64 added, openssl-libs 1:3.0.1-1.x86_64 -> 1:3.0.2-1.x86_64",
		"layer 3 (gone): removed",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ExplainLayout =\n%q\nwant\n%q", got, want)
	}
	if got := ExplainLayout(prev, prev); len(got) != 0 {
		t.Errorf("no change: %q", got)
	}
	if got := ExplainLayout(prev, BaseLayout{Layers: 10}); len(got) != 1 {
		t.Errorf("another base.layers: %q", got)
	}
}

func TestPredictLayout(t *testing.T) {
	prev := BaseLayout{Layers: 40, Groups: []BaseGroup{
		{Index: 0, Sources: []string{"glibc"}, Packages: []string{"glibc-0:2.40-1.x86_64"}, Key: "k0"},
		{Index: 1, Sources: []string{"openssl"}, Packages: []string{"openssl-1:3.0.1-1.x86_64", "openssl-libs-1:3.0.1-1.x86_64"}, Key: "k1"},
		{Index: 2, Sources: []string{"gone"}, Packages: []string{"gone-0:1-1.noarch"}, Key: "k2"},
	}}
	locked := []string{"glibc-0:2.40-1.x86_64", "openssl-1:3.0.2-1.x86_64", "openssl-libs-1:3.0.2-1.x86_64", "zlib-0:1.3-1.x86_64"}
	want := []string{
		"layer 2 (openssl): openssl 1:3.0.1-1.x86_64 -> 1:3.0.2-1.x86_64, openssl-libs 1:3.0.1-1.x86_64 -> 1:3.0.2-1.x86_64",
		"layer 3 (gone): gone removed",
		"new packages (their layer is chosen when they are installed): zlib 1.3-1.x86_64",
	}
	if got := predictLayout(prev, 40, locked); !slices.Equal(got, want) {
		t.Errorf("predictLayout =\n%q\nwant\n%q", got, want)
	}
	same := []string{"glibc-0:2.40-1.x86_64", "openssl-1:3.0.1-1.x86_64", "openssl-libs-1:3.0.1-1.x86_64", "gone-0:1-1.noarch"}
	if got := predictLayout(prev, 40, same); len(got) != 0 {
		t.Errorf("the same packages: %q", got)
	}
	if got := predictLayout(prev, 20, same); len(got) != 1 || !strings.Contains(got[0], "from 40 to 20") {
		t.Errorf("another base.layers: %q", got)
	}
}

// mkfile writes a file with a modification time.
func mkfile(t *testing.T, root, p, content string, mode os.FileMode, mtime int64) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(full, time.Unix(mtime, 0), time.Unix(mtime, 0)); err != nil {
		t.Fatal(err)
	}
}

func rpmFileOf(t *testing.T, root, p string) rpmFile {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	f := rpmFile{size: st.Size, mtime: st.Mtim.Sec, mode: st.Mode}
	if fi.Mode()&os.ModeSymlink != 0 {
		f.link, _ = os.Readlink(filepath.Join(root, p))
	}
	return f
}

// TestSplitChanges: owned files as installed go to their group, a file a
// scriptlet rewrote and unowned files to the last layer, removals are
// whiteouts there, and base.from's packages keep their files.
func TestSplitChanges(t *testing.T) {
	root := t.TempDir()
	mkfile(t, root, "/usr/bin/a", "aaa", 0o755, 1000)
	mkfile(t, root, "/usr/bin/b", "bbbb", 0o755, 1000)
	mkfile(t, root, "/etc/passwd", "root:x:0:0\n", 0o644, 1000)
	mkfile(t, root, "/var/cache/x", "cache", 0o644, 5000)
	mkfile(t, root, "/usr/bin/old", "from base.from", 0o755, 900)
	if err := os.Symlink("a", filepath.Join(root, "/usr/bin/a2")); err != nil {
		t.Fatal(err)
	}
	passwd := rpmFileOf(t, root, "/etc/passwd")
	pkgs := []rpmPackage{
		{Name: "a", NEVRA: "a-0:1-1.x86_64", Source: "a", BuildTime: 2000, files: map[string]rpmFile{
			"/usr/bin": rpmFileOf(t, root, "/usr/bin"), "/usr/bin/a": rpmFileOf(t, root, "/usr/bin/a"), "/usr/bin/a2": rpmFileOf(t, root, "/usr/bin/a2")}},
		{Name: "b", NEVRA: "b-0:1-1.x86_64", Source: "b", BuildTime: 3000, files: map[string]rpmFile{
			"/usr/bin": rpmFileOf(t, root, "/usr/bin"), "/usr/bin/b": rpmFileOf(t, root, "/usr/bin/b")}},
		{Name: "setup", NEVRA: "setup-0:1-1.noarch", Source: "setup", BuildTime: 1000, files: map[string]rpmFile{
			"/etc/passwd": passwd}},
		{Name: "old", NEVRA: "old-0:1-1.x86_64", Source: "old", BuildTime: 900, files: map[string]rpmFile{
			"/usr/bin/old": rpmFileOf(t, root, "/usr/bin/old")}},
	}
	// A %pre scriptlet added a user after setup installed /etc/passwd.
	mkfile(t, root, "/etc/passwd", "root:x:0:0\napp:x:1000:1000\n", 0o644, 4000)
	var changes []archive.Change
	for _, p := range []string{"/etc", "/etc/passwd", "/usr", "/usr/bin", "/usr/bin/a", "/usr/bin/a2", "/usr/bin/b", "/usr/bin/old", "/var", "/var/cache", "/var/cache/x"} {
		changes = append(changes, archive.Change{Path: p, Kind: archive.ChangeAdd})
	}
	changes = append(changes, archive.Change{Path: "/usr/lib/removed", Kind: archive.ChangeDelete})
	fresh := func(n string) bool { return n != "old-0:1-1.x86_64" }
	layout := planLayout(40, map[string]int64{"a": 1, "b": 1, "setup": 1}, nil)
	sp, err := splitChanges(root, changes, pkgs, fresh, layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	ga, gb, gs := layout.index("a"), layout.index("b"), layout.index("setup")
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("group a", sp.groups[ga], []string{"/usr/bin", "/usr/bin/a", "/usr/bin/a2"})
	check("group b", sp.groups[gb], []string{"/usr/bin/b"})
	check("group setup", sp.groups[gs], nil)
	check("moved of setup", sp.moved[gs], []string{"/etc/passwd"})
	check("last", sp.last, []string{"/etc", "/etc/passwd", "/usr", "/usr/bin/old", "/var", "/var/cache", "/var/cache/x"})
	check("whiteouts", sp.whiteouts, []string{"/usr/lib/removed"})
	if !sp.clamps[gb].Equal(time.Unix(3000, 0)) {
		t.Errorf("clamp of b = %v", sp.clamps[gb])
	}
	// The key is the packages and what moved: the same input, the same
	// key; another NEVRA, another key.
	if sp.groupKey(ga, "") == sp.groupKey(gb, "") {
		t.Error("two groups with one key")
	}
	k := sp.groupKey(gs, "")
	sp.moved[gs] = nil
	if sp.groupKey(gs, "") == k {
		t.Error("the key does not depend on the moved files")
	}
	if sp.groupKey(ga, "") == sp.groupKey(ga, "sha256:from") {
		t.Error("the key does not depend on base.from")
	}
	// SOURCE_DATE_EPOCH clamps the groups' times further.
	epoch := time.Unix(2500, 0)
	sp2, err := splitChanges(root, changes, pkgs, fresh, layout, &epoch)
	if err != nil {
		t.Fatal(err)
	}
	if !sp2.clamps[gb].Equal(epoch) || !sp2.clamps[ga].Equal(time.Unix(2000, 0)) {
		t.Errorf("clamps with an epoch: a %v, b %v", sp2.clamps[ga], sp2.clamps[gb])
	}
	// One layer: everything in the last one.
	sp3, err := splitChanges(root, changes, pkgs, fresh, planLayout(1, nil, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp3.groups) != 0 || len(sp3.last) != len(changes)-1 {
		t.Errorf("one layer: %d groups, last %q", len(sp3.groups), sp3.last)
	}
}

type tarEntry struct {
	name, link string
	typ        byte
	mtime      int64
	size       int64
	uname      string
}

func readTar(t *testing.T, data []byte) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{h.Name, h.Linkname, h.Typeflag, h.ModTime.Unix(), h.Size, h.Uname})
	}
}

// TestRootTar: sorted entries, clamped times, directories at the clamp,
// hard links as link entries, whiteouts, no user names; the same tree
// gives the same bytes.
func TestRootTar(t *testing.T) {
	root := t.TempDir()
	mkfile(t, root, "/usr/bin/z", "zz", 0o755, 1000)
	mkfile(t, root, "/usr/bin/new", "new", 0o644, 9000)
	if err := os.Link(filepath.Join(root, "usr/bin/z"), filepath.Join(root, "usr/bin/a")); err != nil {
		t.Fatal(err)
	}
	paths := []string{"/usr/bin/z", "/usr/bin", "/usr/bin/new", "/usr/bin/a"}
	clamp := time.Unix(5000, 0)
	var b1, b2 bytes.Buffer
	if err := rootTar(&b1, root, paths, []string{"/usr/lib/gone"}, clamp); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(root, "usr/bin"), time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := rootTar(&b2, root, paths, []string{"/usr/lib/gone"}, clamp); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Error("the same tree gave different bytes")
	}
	got := readTar(t, b1.Bytes())
	want := []tarEntry{
		{"usr/bin/", "", tar.TypeDir, 5000, 0, ""},
		{"usr/bin/a", "", tar.TypeReg, 1000, 2, ""},
		{"usr/bin/new", "", tar.TypeReg, 5000, 3, ""},
		{"usr/bin/z", "usr/bin/a", tar.TypeLink, 1000, 0, ""},
		{"usr/lib/.wh.gone", "", tar.TypeReg, 5000, 0, ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("entries =\n%v\nwant\n%v", got, want)
	}
	if err := rootTar(io.Discard, root, []string{"/missing"}, nil, clamp); err == nil {
		t.Error("a missing path: no error")
	}
}
