package lock

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func sampleLock() *Lock {
	return &Lock{
		Version:  Version,
		Target:   "fedora-43",
		Packages: []string{"demo-a", "python3dist(requests) >= 2"},
		Arches: map[string][]Package{
			"x86_64": {
				{Name: "demo-a", Epoch: 0, Version: "1.0", Release: "1", Arch: "x86_64", Repo: "fixtures", SHA256: sum("a")},
				{Name: "demo-b", Epoch: 2, Version: "1.0", Release: "3.fc43", Arch: "noarch", Repo: "updates", SHA256: sum("b")},
			},
			"aarch64": {
				{Name: "demo-a", Epoch: 0, Version: "1.0", Release: "1", Arch: "aarch64", Repo: "fixtures", SHA256: sum("c")},
			},
		},
	}
}

func TestLockRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.lock")
	l := sampleLock()
	if err := l.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(l, got); d != "" {
		t.Errorf("read back (-want +got):\n%s", d)
	}
	first, _ := os.ReadFile(path)
	if !bytes.HasSuffix(first, []byte("}\n")) || !bytes.Contains(first, []byte("\n  \"target\": \"fedora-43\",\n")) {
		t.Errorf("not 2-space indented JSON with a trailing newline:\n%s", first)
	}
	if !bytes.Contains(first, []byte(`"python3dist(requests) >= 2"`)) {
		t.Errorf("HTML-escaped:\n%s", first)
	}

	// The same lock, built in another order, gives the same bytes.
	shuffled := sampleLock()
	shuffled.Packages = []string{"python3dist(requests)>=2", "demo-a"}
	x := shuffled.Arches["x86_64"]
	x[0], x[1] = x[1], x[0]
	if err := shuffled.Write(path); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if !bytes.Equal(first, second) {
		t.Errorf("written twice, different bytes:\n%s\n%s", first, second)
	}
	if shuffled.Digest() != l.Digest() {
		t.Errorf("order changed the digest")
	}
	if !strings.HasPrefix(l.Digest(), "sha256:") || len(l.Digest()) != len("sha256:")+64 {
		t.Errorf("digest %q", l.Digest())
	}
	changed := sampleLock()
	changed.Arches["x86_64"][0].SHA256 = sum("other")
	if changed.Digest() == l.Digest() {
		t.Errorf("another sha256 kept the digest")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left beside the lock: %v", entries)
	}
	if pkgs, ok := got.For("aarch64"); !ok || len(pkgs) != 1 {
		t.Errorf("For(aarch64) = %v, %v", pkgs, ok)
	}
	if _, ok := got.For("s390x"); ok {
		t.Errorf("For(s390x) found")
	}

	invalid := sampleLock()
	invalid.Arches["x86_64"][0].Release = ""
	if err := invalid.Write(filepath.Join(dir, "bad.lock")); err == nil {
		t.Errorf("an invalid lock was written")
	}
}

func TestReadLockErrors(t *testing.T) {
	dir := t.TempDir()
	var good bytes.Buffer
	{
		path := filepath.Join(dir, "good.lock")
		if err := sampleLock().Write(path); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		good.Write(b)
	}
	for name, tc := range map[string]struct {
		content string
		want    string
	}{
		"bad JSON":       {`{"version": 1,`, "invalid JSON"},
		"syntax":         {"{\n\"version\": 1 \"target\": \"x\"}", "invalid JSON at line 2"},
		"unknown field":  {strings.Replace(good.String(), `"target"`, `"colour": "red", "target"`, 1), `unknown field "colour"`},
		"wrong version":  {strings.Replace(good.String(), `"version": 1`, `"version": 2`, 1), "format version 2 is not supported"},
		"no version":     {strings.Replace(good.String(), `"version": 1,`, ``, 1), "no format version"},
		"bad sha256":     {strings.Replace(good.String(), sum("a"), "abc", 1), `sha256 "abc" is not 64 lowercase hex`},
		"upper sha256":   {strings.Replace(good.String(), sum("a"), strings.ToUpper(sum("a")), 1), "is not 64 lowercase hex"},
		"empty name":     {strings.Replace(good.String(), `"name": "demo-b"`, `"name": ""`, 1), "name \"\" is empty"},
		"empty version":  {strings.Replace(good.String(), `"version": "1.0"`, `"version": ""`, 1), "version \"\" is empty"},
		"wrong type":     {strings.Replace(good.String(), `"epoch": 2`, `"epoch": "2"`, 1), `line 32: field "arches.epoch": string where int is expected`},
		"trailing data":  {good.String() + "{}", "after the JSON object"},
		"no arches":      {`{"version": 1, "target": "fedora-43", "packages": ["a"], "arches": {}}`, "no arches"},
		"no packages":    {`{"version": 1, "target": "fedora-43", "packages": [], "arches": {}}`, "no packages"},
		"listed twice":   {raw(t, func(l *Lock) { l.Arches["x86_64"][1] = l.Arches["x86_64"][0] }), "arch x86_64: package 2 (demo-a): demo-a.x86_64 is listed twice"},
		"another format": {`[1, 2]`, "not a lock file: a JSON array where an object is expected"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".lock")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			if err == nil {
				t.Fatalf("no error for:\n%s", tc.content)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want the file name and %q", err, tc.want)
			}
		})
	}
	_, err := Read(filepath.Join(dir, "missing.lock"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// raw returns the JSON of the sample lock changed by change, unchecked.
func raw(t *testing.T, change func(*Lock)) string {
	l := sampleLock()
	change(l)
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLockDiff(t *testing.T) {
	pkg := func(name string, epoch int, ver, rel, arch, repo, content string) Package {
		return Package{Name: name, Epoch: epoch, Version: ver, Release: rel, Arch: arch, Repo: repo, SHA256: sum(content)}
	}
	lock := func(pkgs ...Package) *Lock {
		return &Lock{Version: Version, Target: "fedora-43", Packages: []string{"x"}, Arches: map[string][]Package{"x86_64": pkgs}}
	}
	old := lock(
		pkg("bash", 0, "5.2", "1.fc43", "x86_64", "fedora", "bash1"),
		pkg("glibc", 0, "2.40", "1.fc43", "x86_64", "fedora", "glibc1"),
		pkg("perl", 4, "5.40", "1.fc43", "x86_64", "fedora", "perl1"),
		pkg("same", 0, "1", "1", "noarch", "fedora", "same"),
		pkg("zlib", 0, "1.3", "1.fc43", "x86_64", "fedora", "zlib1"),
		pkg("moved", 0, "1", "1", "noarch", "fedora", "moved"),
		pkg("rebuilt", 0, "1", "1", "noarch", "fedora", "rebuilt1"),
	)
	for _, tc := range []struct {
		name string
		new  *Lock
		old  *Lock
		arch string
		want []string
	}{
		{"nil old", lock(pkg("b", 1, "2", "3", "noarch", "r", "b"), pkg("a", 0, "1", "1", "x86_64", "r", "a")), nil, "x86_64",
			[]string{"+ a 1-1.x86_64 (r)", "+ b 1:2-3.noarch (r)"}},
		{"same", old, old, "x86_64", []string{}},
		{"other arch", old, nil, "aarch64", []string{}},
		{"changes", lock(
			pkg("bash", 0, "5.2", "2.fc43", "x86_64", "updates", "bash2"),
			pkg("curl", 0, "8.9", "1.fc43", "x86_64", "updates", "curl"),
			pkg("glibc", 0, "2.40", "1.fc43", "x86_64", "fedora", "glibc1"),
			pkg("glibc", 0, "2.40", "1.fc43", "i686", "fedora", "glibc32"),
			pkg("perl", 5, "5.40", "1.fc43", "x86_64", "fedora", "perl1"),
			pkg("same", 0, "1", "1", "noarch", "fedora", "same"),
			pkg("moved", 0, "1", "1", "noarch", "updates", "moved"),
			pkg("rebuilt", 0, "1", "1", "noarch", "fedora", "rebuilt2"),
		), old, "x86_64", []string{
			"~ bash 5.2-1.fc43 -> 5.2-2.fc43",
			"+ curl 8.9-1.fc43.x86_64 (updates)",
			"+ glibc 2.40-1.fc43.i686 (fedora)",
			"~ moved 1-1 (repo fedora -> updates)",
			"~ perl 4:5.40-1.fc43 -> 5:5.40-1.fc43",
			"~ rebuilt 1-1 -> 1-1 (rebuilt: new sha256)",
			"- zlib 1.3-1.fc43.x86_64",
		}},
		{"all removed", lock(pkg("same", 0, "1", "1", "noarch", "fedora", "same")), lock(pkg("bash", 2, "5.2", "1", "x86_64", "fedora", "bash1"), pkg("same", 0, "1", "1", "noarch", "fedora", "same")), "x86_64",
			[]string{"- bash 2:5.2-1.x86_64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.new.Diff(tc.old, tc.arch)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("diff (-want +got):\n%s", d)
			}
		})
	}
}

func TestLockNEVRA(t *testing.T) {
	for _, tc := range []struct {
		p    Package
		want string
	}{
		{Package{Name: "foo", Version: "1.0", Release: "1", Arch: "x86_64"}, "foo-0:1.0-1.x86_64"},
		{Package{Name: "perl-libs", Epoch: 4, Version: "5.40.0", Release: "512.fc43", Arch: "x86_64"}, "perl-libs-4:5.40.0-512.fc43.x86_64"},
		{Package{Name: "python3-pip", Version: "24.2", Release: "1.fc43", Arch: "noarch"}, "python3-pip-0:24.2-1.fc43.noarch"},
	} {
		if got := tc.p.NEVRA(); got != tc.want {
			t.Errorf("NEVRA() = %q, want %q", got, tc.want)
		}
	}
}

func TestLockHostArch(t *testing.T) {
	want := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x"}[runtime.GOARCH]
	if got := HostArch(); got != want {
		t.Errorf("HostArch() = %q on %s, want %q", got, runtime.GOARCH, want)
	}
	if runtime.GOARCH == "amd64" && HostArch() != "x86_64" {
		t.Errorf("HostArch() = %q", HostArch())
	}
}
