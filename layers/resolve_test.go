package layers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/internal/fixtures"
	"github.com/strata-build/strata/layers/lock"
	"github.com/strata-build/strata/layers/sbom"
	"github.com/strata-build/strata/recipes"
	"github.com/strata-build/strata/recipes/targets"
)

// lockEnv is an Env for resolving and installing: dnf's output and debug
// lines go to the test log.
func lockEnv(t *testing.T) *Env {
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.SetOutput(testWriter{t})
	return &Env{Log: log, Output: io.Discard}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestResolveLockModes(t *testing.T) {
	_, err := ResolveLock(context.Background(), lockEnv(t), BaseSpec{Mode: recipes.InstallContainer, Packages: []string{"bash"}})
	if err == nil || !strings.Contains(err.Error(), "base.install: installroot") {
		t.Errorf("container mode: %v", err)
	}
	_, err = ResolveLock(context.Background(), lockEnv(t), BaseSpec{Mode: "chroot", Packages: []string{"bash"}})
	if err == nil || !strings.Contains(err.Error(), "unknown install mode") {
		t.Errorf("unknown mode: %v", err)
	}
	_, err = ResolveLock(context.Background(), lockEnv(t), BaseSpec{Mode: recipes.InstallRoot})
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty base set: %v", err)
	}
}

func needDNF(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("dnf --installroot needs root here (make test-unit runs as root)")
	}
	for _, tool := range []string{"dnf", "rpm", "rpmbuild", "createrepo_c"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: run make deps", tool)
		}
	}
}

// TestLockResolveAndInstall resolves locks with the real dnf against
// fixture repositories, and proves what the installers rely on: dnf
// install NAME-E:V-R.A installs exactly that version when a newer one is
// in the repositories, and a NEVRA missing from them fails as "not found".
func TestLockResolveAndInstall(t *testing.T) {
	needDNF(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	// rpmbuild makes one subpackage per name, so two versions of demo-a
	// need two repositories.
	var pkgs []fixtures.Package
	if _, err := os.Stat(fixtures.BusyboxPath); err == nil {
		pkgs = fixtures.Base() // present, but nothing requires them
	}
	pkgs = append(pkgs,
		fixtures.Package{Name: "demo-a", Version: "1.0", Requires: []string{"demo-b"}, Files: map[string]string{"/usr/share/demo/a": "1.0\n"}},
		fixtures.Package{Name: "demo-b", Version: "1.0", Files: map[string]string{"/usr/share/demo/b": "b\n"}},
	)
	if err := fixtures.BuildRepo(one, pkgs, 1700000000); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.BuildRepo(two, []fixtures.Package{
		{Name: "demo-a", Version: "2.0", Requires: []string{"demo-b"}, Files: map[string]string{"/usr/share/demo/a": "2.0\n"}},
	}, 1700000000); err != nil {
		t.Fatal(err)
	}
	t.Logf("fixture repositories built in %v", time.Since(start).Round(time.Millisecond))
	noGPG := false
	repoOne := recipes.Repo{ID: "one", BaseURL: "file://" + one, GPGCheck: &noGPG}
	repoTwo := recipes.Repo{ID: "two", BaseURL: "file://" + two, GPGCheck: &noGPG}
	env := lockEnv(t)

	// Nothing of a resolution is left behind in TMPDIR.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	defer func() {
		if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
			t.Errorf("left in TMPDIR: %v", entries)
		}
	}()

	fileSum := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:])
	}
	arch := lock.HostArch()

	step := time.Now()
	v1, err := ResolveLock(ctx, env, BaseSpec{Target: "fedora-43", Mode: recipes.InstallRoot, Repos: []recipes.Repo{repoOne}, Packages: []string{"demo-a"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resolved in %v", time.Since(step).Round(time.Millisecond))
	want := []lock.Package{
		{Name: "demo-a", Version: "1.0", Release: "1", Arch: arch, Repo: "one", SHA256: fileSum(filepath.Join(one, arch, "demo-a-1.0-1."+arch+".rpm"))},
		{Name: "demo-b", Version: "1.0", Release: "1", Arch: arch, Repo: "one", SHA256: fileSum(filepath.Join(one, arch, "demo-b-1.0-1."+arch+".rpm"))},
	}
	if d := cmp.Diff(want, v1); d != "" {
		t.Fatalf("lock from repository one (-want +got):\n%s", d)
	}

	// With demo-a 2.0 in a second repository, the lock takes it; demo-b
	// still comes from one.
	v2, err := ResolveLock(ctx, env, BaseSpec{Target: "fedora-43", Repos: []recipes.Repo{repoTwo, repoOne}, Packages: []string{"demo-a"}})
	if err != nil {
		t.Fatal(err)
	}
	want[0] = lock.Package{Name: "demo-a", Version: "2.0", Release: "1", Arch: arch, Repo: "two", SHA256: fileSum(filepath.Join(two, arch, "demo-a-2.0-1."+arch+".rpm"))}
	if d := cmp.Diff(want, v2); d != "" {
		t.Fatalf("lock from repositories one and two (-want +got):\n%s", d)
	}
	old := &lock.Lock{Version: lock.Version, Target: "fedora-43", Packages: []string{"demo-a"}, Arches: map[string][]lock.Package{arch: v1}}
	updated := &lock.Lock{Version: lock.Version, Target: "fedora-43", Packages: []string{"demo-a"}, Arches: map[string][]lock.Package{arch: v2}}
	if d := cmp.Diff([]string{"~ demo-a 1.0-1 -> 2.0-1"}, updated.Diff(old, arch)); d != "" {
		t.Errorf("update diff (-want +got):\n%s", d)
	}
	if err := old.Write(filepath.Join(dir, "demo.lock")); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Read(filepath.Join(dir, "demo.lock")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "demo.lock")); err == nil {
		t.Logf("demo.lock:\n%s", b)
	}

	// The same packages in two repositories: the lock records the one dnf
	// took them from (with equal priority and cost, the id that sorts
	// first), as its transaction table shows.
	mirror := recipes.Repo{ID: "a-mirror", BaseURL: "file://" + one, GPGCheck: &noGPG}
	var table bytes.Buffer
	menv := *env
	menv.Output = &table
	v3, err := ResolveLock(ctx, &menv, BaseSpec{Repos: []recipes.Repo{repoOne, mirror}, Packages: []string{"demo-a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v3 {
		if p.Repo != "a-mirror" {
			t.Errorf("%s from %q, want a-mirror", p.NEVRA(), p.Repo)
		}
		if !regexp.MustCompile(`(?m)^ ` + p.Name + `\s+` + p.Arch + `\s+1\.0-1\s+a-mirror\s`).Match(table.Bytes()) {
			t.Errorf("dnf did not take %s from a-mirror:\n%s", p.Name, table.String())
		}
	}

	// A package missing from the repositories is a clear error.
	_, err = ResolveLock(ctx, env, BaseSpec{Repos: []recipes.Repo{repoOne}, Packages: []string{"demo-missing"}})
	if err == nil || !strings.Contains(err.Error(), `package "demo-missing" not found in the repositories "one"`) {
		t.Errorf("missing package: %v", err)
	}

	// The installroot installer, given the NEVRAs of the 1.0 lock with 2.0
	// available, installs exactly 1.0.
	target, err := targets.Lookup("fedora-43")
	if err != nil {
		t.Fatal(err)
	}
	install := func(name string, nevras []string) (string, error) {
		work := filepath.Join(dir, name)
		root := filepath.Join(work, "root")
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		w := &Work{Root: root, Target: target, Repos: []recipes.Repo{repoOne, repoTwo}, TempDir: work, Env: env}
		return root, installRoot{}.Install(ctx, w, nevras)
	}
	var nevras []string
	for _, p := range v1 {
		nevras = append(nevras, p.NEVRA())
	}
	step = time.Now()
	root, err := install("pinned", nevras)
	if err != nil {
		t.Fatalf("installing %v: %v", nevras, err)
	}
	t.Logf("installed %v in %v", nevras, time.Since(step).Round(time.Millisecond))
	out, err := exec.Command("rpm", "--root", root, "--dbpath", target.RPMDBPath, "-qa", "--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\n").Output()
	if err != nil {
		t.Fatalf("rpm -qa: %v", err)
	}
	got := strings.Fields(string(out))
	if d := cmp.Diff([]string{"demo-a-0:1.0-1." + arch, "demo-b-0:1.0-1." + arch}, sortedCopy(got)); d != "" {
		t.Errorf("installed (-want +got):\n%s", d)
	}
	if b, err := os.ReadFile(filepath.Join(root, "usr/share/demo/a")); err != nil || string(b) != "1.0\n" {
		t.Errorf("/usr/share/demo/a = %q, %v", b, err)
	}
	if out, err := exec.Command("rpm", "--root", root, "--dbpath", target.RPMDBPath, "-q", "demo-a").Output(); err != nil || strings.TrimSpace(string(out)) != "demo-a-1.0-1."+arch {
		t.Errorf("rpm -q demo-a = %q, %v", out, err)
	}

	// A locked NEVRA no longer in the repositories fails as not found.
	_, err = install("missing", []string{"demo-a-0:1.5-1." + arch, "demo-b-0:1.0-1." + arch})
	if err == nil || !strings.Contains(err.Error(), `package "demo-a-0:1.5-1.`+arch+`" not found in the repositories`) {
		t.Errorf("missing NEVRA: %v", err)
	}
	// So does the right version with another epoch.
	_, err = install("epoch", []string{"demo-a-1:1.0-1." + arch})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("NEVRA with another epoch: %v", err)
	}

	// Cancelled: no dnf run, an error that says so.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := ResolveLock(cctx, env, BaseSpec{Repos: []recipes.Repo{repoOne}, Packages: []string{"demo-a"}}); err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// TestCheckLocked: the installed packages, as the rpm query reads them,
// must be exactly the locked ones, epochs included.
func TestCheckLocked(t *testing.T) {
	locked := []lock.Package{{Name: "bash", Version: "5.2", Release: "1.fc43", Arch: "x86_64"}, {Name: "openssl-libs", Epoch: 1, Version: "3.2", Release: "2.fc43", Arch: "x86_64"}}
	installed := []sbom.RPM{{Name: "openssl-libs", Epoch: "1", Version: "3.2", Release: "2.fc43", Arch: "x86_64"}, {Name: "bash", Version: "5.2", Release: "1.fc43", Arch: "x86_64"}}
	if err := checkLocked(installed, locked); err != nil {
		t.Errorf("the same packages in another order: %v", err)
	}
	for name, change := range map[string]func([]sbom.RPM) []sbom.RPM{
		"another release": func(r []sbom.RPM) []sbom.RPM { r[1].Release = "2.fc43"; return r },
		"another epoch":   func(r []sbom.RPM) []sbom.RPM { r[0].Epoch = "0"; return r },
		"one more": func(r []sbom.RPM) []sbom.RPM {
			return append(r, sbom.RPM{Name: "zlib", Version: "1", Release: "1", Arch: "x86_64"})
		},
		"one missing": func(r []sbom.RPM) []sbom.RPM { return r[:1] },
	} {
		got := change(append([]sbom.RPM(nil), installed...))
		if err := checkLocked(got, locked); err == nil || !strings.Contains(err.Error(), "differ from the lock") {
			t.Errorf("%s: %v, want the difference reported", name, err)
		}
	}
}
