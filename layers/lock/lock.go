// Package lock is the RECIPE.lock format: a base set pinned to exact RPMs
// per architecture; reading (strict, with positions), writing (canonical,
// atomic), its digest (for the base key) and the diff between two locks.
// Resolving a lock with dnf is the layers package's.
package lock

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/strata-build/strata/recipes"
)

// Version is the version of the lock file format.
//
// A lock file (RECIPE.lock, beside the recipe) is one JSON object, written
// with 2-space indentation, fields in this order and a trailing newline:
//
//	{
//	  "version": 1,
//	  "target": "fedora-43",
//	  "packages": ["demo-a", "python3dist(requests) >= 2"],
//	  "arches": {
//	    "x86_64": [
//	      {
//	        "name": "demo-a",
//	        "epoch": 0,
//	        "version": "1.0",
//	        "release": "1",
//	        "arch": "x86_64",
//	        "repo": "fixtures",
//	        "sha256": "<64 lowercase hex digits: the sha256 of the .rpm file>"
//	      }
//	    ]
//	  }
//	}
//
// packages is the base set the lock was resolved from (normalized, sorted);
// arches maps the rpm arch of the host that resolved it to the full
// transitive set dnf chose, sorted by name then arch. Readers reject
// unknown fields and other versions, so any change to the format changes
// Version.
const Version = 1

// Lock pins a base set to exact RPMs.
type Lock struct {
	Version  int                  `json:"version"`
	Target   string               `json:"target"`   // e.g. fedora-43
	Packages []string             `json:"packages"` // the base set it was resolved from, normalized and sorted
	Arches   map[string][]Package `json:"arches"`   // rpm arch of the host -> packages sorted by name, then arch
}

// Package is one exact RPM of a lock.
type Package struct {
	Name    string `json:"name"`
	Epoch   int    `json:"epoch"`
	Version string `json:"version"`
	Release string `json:"release"`
	Arch    string `json:"arch"`
	Repo    string `json:"repo"`   // the id of the repository dnf took it from
	SHA256  string `json:"sha256"` // of the .rpm file
}

// NEVRA returns "name-epoch:version-release.arch", always with the epoch:
// the form dnf install takes to install exactly this package.
func (p Package) NEVRA() string {
	return fmt.Sprintf("%s-%d:%s-%s.%s", p.Name, p.Epoch, p.Version, p.Release, p.Arch)
}

// evr is "[E:]V-R", the epoch shown only when it is not zero.
func (p Package) evr() string {
	if p.Epoch != 0 {
		return fmt.Sprintf("%d:%s-%s", p.Epoch, p.Version, p.Release)
	}
	return p.Version + "-" + p.Release
}

// HostArch returns the rpm arch of this machine.
func HostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	}
	// ppc64le, s390x, riscv64: Go and rpm agree.
	return runtime.GOARCH
}

// For returns the packages locked for arch.
func (l *Lock) For(arch string) ([]Package, bool) {
	if l == nil {
		return nil, false
	}
	pkgs, ok := l.Arches[arch]
	return pkgs, ok
}

func less(a, b Package) bool {
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	if a.Arch != b.Arch {
		return a.Arch < b.Arch
	}
	return a.NEVRA()+" "+a.Repo+" "+a.SHA256 < b.NEVRA()+" "+b.Repo+" "+b.SHA256
}

func Sort(pkgs []Package) {
	sort.Slice(pkgs, func(i, j int) bool { return less(pkgs[i], pkgs[j]) })
}

// canonical returns a copy with the base set normalized and sorted, every
// arch sorted, and the current version when none is set.
func (l *Lock) canonical() *Lock {
	c := &Lock{Version: l.Version, Target: l.Target, Packages: []string{}, Arches: map[string][]Package{}}
	if c.Version == 0 {
		c.Version = Version
	}
	for _, p := range l.Packages {
		c.Packages = append(c.Packages, recipes.NormalizeDep(p))
	}
	sort.Strings(c.Packages)
	for arch, pkgs := range l.Arches {
		s := append([]Package{}, pkgs...)
		Sort(s)
		c.Arches[arch] = s
	}
	return c
}

// validate checks what a lock must hold to be installed.
func (l *Lock) validate() error {
	if l.Version != Version {
		if l.Version == 0 {
			return fmt.Errorf("no format version (want \"version\": %d)", Version)
		}
		return fmt.Errorf("format version %d is not supported (this strata reads version %d): update strata, or regenerate the lock with strata lock --update", l.Version, Version)
	}
	if strings.TrimSpace(l.Target) == "" {
		return errors.New("no target")
	}
	if len(l.Packages) == 0 {
		return errors.New("no packages: the base set it was resolved from is empty")
	}
	if len(l.Arches) == 0 {
		return errors.New("no arches")
	}
	for arch, pkgs := range l.Arches {
		if arch == "" {
			return errors.New("an empty arch name")
		}
		if len(pkgs) == 0 {
			return fmt.Errorf("arch %s: no packages", arch)
		}
		seen := map[string]bool{}
		for i, p := range pkgs {
			where := fmt.Sprintf("arch %s: package %d", arch, i+1)
			if p.Name != "" {
				where += " (" + p.Name + ")"
			}
			for _, f := range []struct{ field, value string }{{"name", p.Name}, {"version", p.Version}, {"release", p.Release}, {"arch", p.Arch}} {
				if strings.TrimSpace(f.value) == "" || strings.ContainsAny(f.value, " \t\n") {
					return fmt.Errorf("%s: %s %q is empty or has spaces", where, f.field, f.value)
				}
			}
			if p.Epoch < 0 {
				return fmt.Errorf("%s: negative epoch %d", where, p.Epoch)
			}
			if !isSHA256(p.SHA256) {
				return fmt.Errorf("%s: sha256 %q is not 64 lowercase hex digits", where, p.SHA256)
			}
			key := p.Name + "." + p.Arch
			if seen[key] {
				return fmt.Errorf("%s: %s is listed twice", where, key)
			}
			seen[key] = true
		}
	}
	return nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Read reads and validates the lock file at path. An error for a
// missing file wraps fs.ErrNotExist.
func Read(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading lock file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("lock file %s: %s", path, jsonError(data, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("lock file %s: unexpected data after the JSON object", path)
	}
	if err := l.validate(); err != nil {
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return &l, nil
}

// jsonError says where a decoding error is, by line.
func jsonError(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at line %d: %v", lineOf(data, syn.Offset), err)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Sprintf("not a lock file: a JSON %s where an object is expected", typ.Value)
	case errors.As(err, &typ):
		return fmt.Sprintf("line %d: field %q: %s where %s is expected", lineOf(data, typ.Offset), typ.Field, typ.Value, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: the file is empty or cut short"
	}
	return "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
}

func lineOf(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// encode returns the canonical JSON of l: indented with two spaces, or
// compact when indent is false; no HTML escaping (so "python3dist(x) >= 2"
// reads as written).
func (l *Lock) encode(indent bool) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(l.canonical()); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write writes the lock to path: canonical (sorted, 2-space indented JSON
// with a trailing newline, so the same lock always gives the same bytes)
// and atomically (a temporary file beside it, renamed over it).
func (l *Lock) Write(path string) error {
	c := l.canonical()
	if err := c.validate(); err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	data, err := c.encode(true)
	if err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	ok = true
	return nil
}

// Digest returns "sha256:..." of the canonical compact JSON of the lock:
// what the base key includes. Order does not matter; content does.
func (l *Lock) Digest() string {
	data, _ := l.encode(false) // plain strings, ints and slices: cannot fail
	sum := sha256.Sum256(bytes.TrimSuffix(data, []byte("\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Diff describes what changed from old to l for one arch, one line each,
// sorted by name (then arch):
//
//	"+ NAME [E:]VERSION-RELEASE.ARCH (REPO)"   added
//	"- NAME [E:]VERSION-RELEASE.ARCH"          removed
//	"~ NAME [E:]OLDVR -> [E:]NEWVR"            another version
//	"~ NAME VR -> VR (rebuilt: new sha256)"    same version, another file
//	"~ NAME VR (repo OLD -> NEW)"              same file, another repository
//
// old may be nil: everything is added.
func (l *Lock) Diff(old *Lock, arch string) []string {
	type key struct{ name, arch string }
	before := map[key]Package{}
	if pkgs, ok := old.For(arch); ok {
		for _, p := range pkgs {
			before[key{p.Name, p.Arch}] = p
		}
	}
	after := map[key]Package{}
	if pkgs, ok := l.For(arch); ok {
		for _, p := range pkgs {
			after[key{p.Name, p.Arch}] = p
		}
	}
	type line struct {
		key
		text string
	}
	var lines []line
	for k, n := range after {
		o, had := before[k]
		switch {
		case !had:
			lines = append(lines, line{k, fmt.Sprintf("+ %s %s.%s (%s)", n.Name, n.evr(), n.Arch, n.Repo)})
		case o.evr() != n.evr():
			lines = append(lines, line{k, fmt.Sprintf("~ %s %s -> %s", n.Name, o.evr(), n.evr())})
		case o.SHA256 != n.SHA256:
			lines = append(lines, line{k, fmt.Sprintf("~ %s %s -> %s (rebuilt: new sha256)", n.Name, o.evr(), n.evr())})
		case o.Repo != n.Repo:
			lines = append(lines, line{k, fmt.Sprintf("~ %s %s (repo %s -> %s)", n.Name, n.evr(), o.Repo, n.Repo)})
		}
	}
	for k, o := range before {
		if _, ok := after[k]; !ok {
			lines = append(lines, line{k, fmt.Sprintf("- %s %s.%s", o.Name, o.evr(), o.Arch)})
		}
	}
	sort.Slice(lines, func(i, j int) bool {
		if lines[i].name != lines[j].name {
			return lines[i].name < lines[j].name
		}
		return lines[i].arch < lines[j].arch
	})
	out := make([]string, len(lines))
	for i, x := range lines {
		out[i] = x.text
	}
	return out
}
