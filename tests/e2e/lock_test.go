package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/fixtures"
)

// addToRepo builds pkgs into a scratch repository and adds their RPMs to
// repo, like a new release appearing in a distribution repository.
func addToRepo(t *testing.T, repo string, pkgs ...fixtures.Package) {
	t.Helper()
	scratch := filepath.Join(t.TempDir(), "new")
	if err := fixtures.BuildRepo(scratch, pkgs, 1710000000); err != nil {
		t.Fatal(err)
	}
	rpms, _ := filepath.Glob(filepath.Join(scratch, "*", "*.rpm"))
	if len(rpms) == 0 {
		t.Fatalf("no RPMs built in %s", scratch)
	}
	for _, f := range rpms {
		dir := filepath.Join(repo, filepath.Base(filepath.Dir(f)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", f, dir).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	refreshRepo(t, repo)
}

func refreshRepo(t *testing.T, repo string) {
	t.Helper()
	if out, err := exec.Command("createrepo_c", "--no-database", "--simple-md-filenames", repo).CombinedOutput(); err != nil {
		t.Fatalf("createrepo_c: %v\n%s", err, out)
	}
}

// dataVersion builds the recipe into a fresh store and returns the
// content of demo-data's file in the image.
func dataVersion(t *testing.T, file string) (string, result) {
	t.Helper()
	s := newStore(t)
	out := t.TempDir()
	r := strata(t, s, nil, "build", "--output", "oci:"+out, file)
	if r.code != 0 {
		return "", r
	}
	root, _ := readOCI(t, out).unpack(t)
	data, err := os.ReadFile(filepath.Join(root, "usr/share/demo-data/README"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data)), r
}

// TestLock: a lock pins exact versions even after a newer package appears
// in the repository; --update moves it and says what changed; a locked
// package gone from the repository is a clear error.
func TestLock(t *testing.T) {
	repo := repoCopy(t)
	file := writeRecipe(t, strings.Replace(recipe("locked", "demo-lib"), "file://"+repoDir, "file://"+repo, 1))
	s := newStore(t)
	r := strata(t, s, nil, "lock", file)
	if r.code != 0 || !strings.Contains(r.stdout, "+ demo-data 2.0-1.x86_64 (local)") || !strings.Contains(r.stdout, "+ demo-lib 1.0-1.x86_64 (local)") {
		t.Fatalf("strata lock: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var lock struct {
		Version int
		Arches  map[string][]struct{ Name, Version, Repo, SHA256 string }
	}
	data, err := os.ReadFile(file + ".lock")
	if err != nil || json.Unmarshal(data, &lock) != nil || lock.Version != 1 || len(lock.Arches["x86_64"]) != 2 {
		t.Fatalf("lock file: %v\n%s", err, data)
	}
	// Locking again changes nothing (idempotent), also once the
	// repository has a newer release: only --update moves the lock.
	check := func(when string) {
		t.Helper()
		r := strata(t, s, nil, "lock", file)
		if got, _ := os.ReadFile(file + ".lock"); r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "is up to date") || string(got) != string(data) {
			t.Errorf("lock again %s: exit %d, stdout %q, the lock changed: %v\n%s", when, r.code, r.stdout, string(got) != string(data), r.stderr)
		}
	}
	check("at once")

	addToRepo(t, repo, fixtures.Package{Name: "demo-data", Version: "3.0", Files: map[string]string{"/usr/share/demo-data/README": "demo data 3\n"}})
	if v, r := dataVersion(t, file); v != "demo data" {
		t.Fatalf("with the lock: demo-data says %q, want the locked 2.0\n%s", v, r.stderr)
	}
	check("after a newer release")

	r = strata(t, s, nil, "lock", "--update", file)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "~ demo-data 2.0-1 -> 3.0-1" {
		t.Fatalf("lock --update: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if v, r := dataVersion(t, file); v != "demo data 3" {
		t.Fatalf("after lock --update: demo-data says %q, want 3.0\n%s", v, r.stderr)
	}

	// The locked 3.0 disappears from the repository.
	gone, _ := filepath.Glob(filepath.Join(repo, "*", "demo-data-3.0-*.rpm"))
	for _, f := range gone {
		os.Remove(f)
	}
	refreshRepo(t, repo)
	if _, r := dataVersion(t, file); r.code != 1 || !strings.Contains(r.stderr, `package "demo-data-0:3.0-1.x86_64" not found in the repositories "local"`) {
		t.Errorf("a locked package gone: exit %d\n%s", r.code, r.stderr)
	}

	// A lock for another base set is stale, and says so.
	if err := os.WriteFile(file, []byte(strings.Replace(recipe("locked", "demo-lib, demo-hello"), "file://"+repoDir, "file://"+repo, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := strata(t, s, nil, "build", file); r.code != 2 || !strings.Contains(r.stderr, "is stale: the base set changed (added: demo-hello; removed: none): run strata lock --update") {
		t.Errorf("stale lock: exit %d\n%s", r.code, r.stderr)
	}
	// lock without --update resolves a lock of another base set again.
	if r := strata(t, s, nil, "lock", file); r.code != 0 || !strings.Contains(r.stdout, "+ demo-hello 1.0-1.x86_64 (local)") {
		t.Errorf("lock after a change of the base set: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
