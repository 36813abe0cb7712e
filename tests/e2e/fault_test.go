package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/fixtures"
)

// startKilled starts strata with args, waits until ready says the moment
// has come (polled on its stderr), then kills it with SIGKILL, as a CI
// runner's timeout does, and returns what it printed.
func startKilled(t *testing.T, s store, env []string, ready func(stderr string) bool, args ...string) string {
	t.Helper()
	stderr, _ := startSignalled(t, s, env, syscall.SIGKILL, ready, args...)
	return stderr
}

// startSignalled starts strata with args, sends it sig when ready says
// the moment has come, and returns what it printed and its exit code.
func startSignalled(t *testing.T, s store, env []string, sig syscall.Signal, ready func(stderr string) bool, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(strataBin, append(s.flags(), args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !ready(stderr.String()) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the moment to signal strata never came:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return stderr.String(), cmd.ProcessState.ExitCode()
}

// running says whether a process whose command line contains marker runs.
func running(marker string) bool {
	return exec.Command("pgrep", "-f", marker).Run() == nil
}

// awaitGone waits up to 20 seconds for the processes with marker to end.
func awaitGone(t *testing.T, marker, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for running(marker) {
		if time.Now().After(deadline) {
			out, _ := exec.Command("pgrep", "-af", marker).Output()
			_ = exec.Command("pkill", "-KILL", "-f", marker).Run()
			t.Fatalf("%s outlived the killed strata:\n%s", what, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containerRecords returns the container records of a store, as
// containers/storage keeps them (buildah lists only those with its own
// metadata).
func (s store) containerRecords(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, f := range []string{"containers.json", "volatile-containers.json"} {
		b, err := os.ReadFile(filepath.Join(s.root, "overlay-containers", f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var list []struct{ Names []string }
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range list {
			names = append(names, strings.Join(c.Names, ","))
		}
	}
	return names
}

// assertCollected checks that the build after a killed one collected what
// the killed one left, and that the store is clean and usable.
func assertCollected(t *testing.T, s store, r result, what string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("the build after the killed one: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "removed the working container") {
		t.Errorf("the next build did not say it collected the %s working container:\n%s", what, r.stderr)
	}
	if recs := s.containerRecords(t); len(recs) != 0 {
		t.Errorf("container records left in the store: %v", recs)
	}
	s.assertClean(t)
	if out := s.buildah(t, "images", "--noheading"); out == "" {
		t.Errorf("the store shows no image after the build")
	}
	if out, err := exec.Command("podman", append([]string{"--root", s.root, "--runroot", s.runroot, "--storage-driver", "overlay"}, "images", "--noheading")...).CombinedOutput(); err != nil {
		t.Errorf("podman cannot read the store: %v\n%s", err, out)
	}
}

// TestKilledInstall: strata killed with SIGKILL during a source's install
// command takes the command with it (no process left), and the next build
// on the store removes the working container the killed one left.
func TestKilledInstall(t *testing.T) {
	g, err := fixtures.NewGitRepo(filepath.Join(t.TempDir(), "app"), 1750000000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Commit("main", "first", map[string]string{"app.py": "x = 1\n"}); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("sleep %d", 200+os.Getpid()%500)
	body := func(install string) string {
		return fmt.Sprintf("name: killed\nbase:\n  repos:\n    - {id: local, baseurl: \"file://%s\", gpgcheck: false}\n  packages: [busybox]\nsources:\n  - name: app\n    git: %q\n    install: [sh, -c, %q]\nprofiles:\n  stg: {branch: main}\n",
			repoDir, g.Dir, install)
	}
	s, env := newStore(t), cacheEnv(t)
	startKilled(t, s, env, func(stderr string) bool {
		return strings.Contains(stderr, "running the install command") && running(marker)
	}, "build", writeRecipe(t, body("touch /started && "+marker)))
	awaitGone(t, marker, "the install command")

	r := strata(t, s, env, "build", writeRecipe(t, body("true")))
	assertCollected(t, s, r, "install")
}

// TestKilledDnf: strata killed with SIGKILL while dnf runs a scriptlet
// takes dnf and the scriptlet with it, and the next build removes the
// base's working container.
func TestKilledDnf(t *testing.T) {
	s := newStore(t)
	startKilled(t, s, nil, func(stderr string) bool {
		return strings.Contains(stderr, "Running scriptlet: fixture-slow") && running("sleep 4217")
	}, "build", writeRecipe(t, recipe("killeddnf", "fixture-slow")))
	awaitGone(t, "sleep 4217", "the scriptlet")
	awaitGone(t, "installroot "+s.root, "dnf")

	r := strata(t, s, nil, "build", writeRecipe(t, recipe("killeddnf", "busybox")))
	assertCollected(t, s, r, "base")
}

// TestSignalledPush: SIGTERM in the middle of a push exits 130 saying that
// nothing was tagged; SIGKILL there leaves no tag either and nothing in
// the store; the next push completes.
func TestSignalledPush(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	s := newStore(t)
	id := bigImage(t, s)

	px := startProxy(t, "127.0.0.1:0", reg.Host, 1<<20, 0)
	addr := px.ln.Addr().String()
	uploading := func(string) bool { return px.sentBytes() > 256<<10 }

	stderr, code := startSignalled(t, s, nil, syscall.SIGTERM, uploading, "push", "--tls-verify=false", id, addr+"/e2e/term:v1")
	want := "interrupted while pushing " + id + " to " + addr + "/e2e/term:v1: nothing was tagged"
	if code != 130 || !strings.Contains(stderr, want) {
		t.Errorf("push stopped by SIGTERM: exit %d, want 130 and %q\n%s", code, want, stderr)
	}
	if reg.exists(t, "e2e/term:v1") {
		t.Errorf("the push stopped by SIGTERM left a tag")
	}

	before := px.sentBytes()
	startKilled(t, s, nil, func(string) bool { return px.sentBytes() > before+256<<10 }, "push", "--tls-verify=false", id, addr+"/e2e/kill:v1")
	if reg.exists(t, "e2e/kill:v1") {
		t.Errorf("the killed push left a tag")
	}
	s.assertClean(t)
	if recs := s.containerRecords(t); len(recs) != 0 {
		t.Errorf("container records left in the store: %v", recs)
	}

	px.stop()
	startProxy(t, addr, reg.Host, 0, 0)
	for _, tag := range []string{"e2e/term:v1", "e2e/kill:v1"} {
		// (the flag after the arguments, as podman and skopeo take it)
		if r := strata(t, s, nil, "push", id, addr+"/"+tag, "--tls-verify=false"); r.code != 0 {
			t.Fatalf("push after the signalled one: exit %d\n%s", r.code, r.stderr)
		}
		if !reg.exists(t, tag) {
			t.Errorf("%s: no tag after a complete push", tag)
		}
	}
	if out := s.buildah(t, "images", "--noheading"); !strings.Contains(out, id[:12]) {
		t.Errorf("the store lost the image:\n%s", out)
	}
}

// TestDamagedStore: a truncated image list is an error naming the file,
// not a build into another driver's empty store that seems to work.
func TestDamagedStore(t *testing.T) {
	s := newStore(t)
	rec := writeRecipe(t, recipe("damaged", "busybox"))
	mustBuild(t, s, nil, rec)
	list := filepath.Join(s.root, "overlay-images", "images.json")
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(list, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	// With --storage-driver overlay, and with the default choice (overlay,
	// else vfs), which must not take a damaged store for a missing driver.
	for _, flags := range [][]string{s.flags(), {"--root", s.root, "--runroot", s.runroot}} {
		cmd := exec.Command(strataBin, append(flags, "build", rec)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		_ = cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "is damaged") || !strings.Contains(stderr.String(), list) {
			t.Errorf("%v: build on a damaged store: exit %d, want 1 naming %s\n%s", flags, code, list, stderr.String())
		}
	}
	if entries, _ := filepath.Glob(filepath.Join(s.root, "vfs*")); len(entries) != 0 {
		t.Errorf("strata fell back to another driver: %v", entries)
	}
	if got, _ := os.ReadFile(list); len(got) != len(b)/2 {
		t.Errorf("the damaged list was rewritten (%d bytes, was %d)", len(got), len(b)/2)
	}
}
