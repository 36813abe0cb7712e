package gitsrc

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus"
)

// fixture is a repository made with the git CLI.
type fixture struct {
	dir     string            // worktree of the repository
	home    string            // HOME for the git CLI
	commits map[string]string // branch -> commit hash
	files   map[string]map[string]string
}

var (
	mainDate   = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	stableDate = time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
)

// gitEnv returns an environment for the git CLI that works without any
// user or system configuration.
func gitEnv(home string, date time.Time) []string {
	d := date.Format(time.RFC3339)
	return append(os.Environ(),
		"HOME="+home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+filepath.Join(home, "gitconfig"),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d,
		"LC_ALL=C",
	)
}

// runGit runs the git CLI in dir and returns its trimmed standard output.
func runGit(t *testing.T, home, dir string, date time.Time, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(home, date)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// newFixture makes a repository with branches main, stable and feature/x,
// each with different content.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{
		dir:     filepath.Join(root, "src"),
		home:    filepath.Join(root, "home"),
		commits: map[string]string{},
		files:   map[string]map[string]string{},
	}
	for _, d := range []string{f.dir, f.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	g := func(date time.Time, args ...string) string { return runGit(t, f.home, f.dir, date, args...) }
	g(mainDate, "-c", "init.defaultBranch=main", "init", "-q")

	mainFiles := map[string]string{
		"README":             "main\n",
		"run.sh":             "#!/bin/sh\necho main\n",
		"pkg/sub/module.py":  "VALUE = 1\n",
		"pkg/sub/data.txt":   "same content\n",
		"pkg/other/data.txt": "same content\n",
	}
	writeFiles(t, f.dir, mainFiles)
	if err := os.Symlink("README", filepath.Join(f.dir, "link")); err != nil {
		t.Fatal(err)
	}
	g(mainDate, "add", "-A")
	g(mainDate, "commit", "-q", "-m", "main")
	f.commits["main"] = g(mainDate, "rev-parse", "HEAD")
	f.files["main"] = mainFiles

	g(stableDate, "checkout", "-q", "-b", "stable")
	stableFiles := map[string]string{
		"README":             "stable\n",
		"stable.txt":         "only on stable\n",
		"run.sh":             "#!/bin/sh\necho main\n",
		"pkg/sub/module.py":  "VALUE = 1\n",
		"pkg/sub/data.txt":   "same content\n",
		"pkg/other/data.txt": "same content\n",
	}
	writeFiles(t, f.dir, stableFiles)
	g(stableDate, "add", "-A")
	g(stableDate, "commit", "-q", "-m", "stable")
	f.commits["stable"] = g(stableDate, "rev-parse", "HEAD")
	f.files["stable"] = stableFiles

	g(stableDate, "branch", "feature/x", "main")
	f.commits["feature/x"] = f.commits["main"]
	f.files["feature/x"] = mainFiles
	g(stableDate, "checkout", "-q", "main")
	return f
}

// commitOnMain adds a commit to main and returns its hash.
func (f *fixture) commitOnMain(t *testing.T) string {
	t.Helper()
	date := mainDate.Add(time.Hour)
	writeFiles(t, f.dir, map[string]string{"README": "main moved\n"})
	runGit(t, f.home, f.dir, date, "commit", "-q", "-am", "moved")
	return runGit(t, f.home, f.dir, date, "rev-parse", "HEAD")
}

// serveHTTP serves the parent directory of f.dir with git http-backend and
// returns the URL of the repository. wrap, if set, wraps the handler.
func serveHTTP(t *testing.T, f *fixture, tls bool, wrap func(http.Handler) http.Handler) (*httptest.Server, string) {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	var h http.Handler = &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(f.dir),
			"GIT_HTTP_EXPORT_ALL=1",
			"HOME=" + f.home,
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=" + filepath.Join(f.home, "gitconfig"),
		},
		InheritEnv: []string{"PATH"},
		Stderr:     io.Discard,
	}
	if wrap != nil {
		h = wrap(h)
	}
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, srv.URL + "/" + filepath.Base(f.dir)
}

// caPEM returns the certificate of a TLS test server as PEM.
func caPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	_, httpURL := serveHTTP(t, f, false, nil)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{CacheDir: t.TempDir()})
	remotes := map[string]string{
		"path":          f.dir,
		"relative path": rel,
		"file url":      "file://" + f.dir,
		"http":          httpURL,
	}
	for kind, remote := range remotes {
		for _, branch := range []string{"main", "stable", "feature/x"} {
			t.Run(kind+"/"+branch, func(t *testing.T) {
				got, err := c.Resolve(context.Background(), remote, branch)
				if err != nil {
					t.Fatalf("Resolve(%q, %q): %v", remote, branch, err)
				}
				if got.Hash != f.commits[branch] {
					t.Errorf("Resolve(%q, %q) = %s, want %s", remote, branch, got.Hash, f.commits[branch])
				}
				if kind == "http" {
					// ls-remote gives no time, and nothing is cached yet.
					if !got.Time.IsZero() {
						t.Errorf("time = %v, want zero", got.Time)
					}
					return
				}
				want := mainDate
				if branch == "stable" {
					want = stableDate
				}
				if !got.Time.Equal(want) || got.Time.Location() != time.UTC {
					t.Errorf("time = %v, want %v in UTC", got.Time, want)
				}
			})
		}
	}
}

func TestResolveMissingBranch(t *testing.T) {
	f := newFixture(t)
	_, httpURL := serveHTTP(t, f, false, nil)
	c := New(Options{CacheDir: t.TempDir()})
	for _, remote := range []string{f.dir, "file://" + f.dir, httpURL} {
		t.Run(remote, func(t *testing.T) {
			for name, op := range map[string]func() error{
				"resolve": func() error {
					_, err := c.Resolve(context.Background(), remote, "nope")
					return err
				},
				"checkout": func() error {
					_, _, err := c.Checkout(context.Background(), remote, "nope", f.commits["main"])
					return err
				},
			} {
				err := op()
				var be *BranchError
				if !errors.As(err, &be) {
					t.Fatalf("%s: error %v is not a *BranchError", name, err)
				}
				if diff := cmp.Diff([]string{"feature/x", "main", "stable"}, be.Existing); diff != "" {
					t.Errorf("%s: existing branches (-want +got):\n%s", name, diff)
				}
				want := fmt.Sprintf("branch %q not found in %q; branches: feature/x, main, stable", "nope", remote)
				if err.Error() != want {
					t.Errorf("%s: error = %q, want %q", name, err, want)
				}
			}
		})
	}
}

func TestBranchErrorListsTen(t *testing.T) {
	var names []string
	for i := 0; i < 12; i++ {
		names = append(names, fmt.Sprintf("b%02d", i))
	}
	err := &BranchError{Remote: "r", Branch: "x", Existing: names}
	want := `branch "x" not found in "r"; branches: b00, b01, b02, b03, b04, b05, b06, b07, b08, b09 and 2 more`
	if err.Error() != want {
		t.Errorf("got %q, want %q", err.Error(), want)
	}
}

func TestResolveMissingRepo(t *testing.T) {
	f := newFixture(t)
	_, httpURL := serveHTTP(t, f, false, nil)
	missing := filepath.Join(t.TempDir(), "missing")
	c := New(Options{CacheDir: t.TempDir()})
	for _, remote := range []string{missing, "file://" + missing, httpURL + "-missing"} {
		t.Run(remote, func(t *testing.T) {
			_, err := c.Resolve(context.Background(), remote, "main")
			if err == nil {
				t.Fatal("Resolve succeeded")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", remote)) {
				t.Errorf("error %q does not name %q", err, remote)
			}
			var be *BranchError
			if errors.As(err, &be) {
				t.Errorf("missing repository reported as missing branch: %v", err)
			}
			_, _, err = c.Checkout(context.Background(), remote, "main", f.commits["main"])
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", remote)) {
				t.Errorf("Checkout error %v does not name %q", err, remote)
			}
		})
	}
}

// materialize writes the entries of the checkout at dir to a new
// directory, as a layer made from them holds them, and returns it.
func materialize(t *testing.T, dir string) string {
	t.Helper()
	tr, err := OpenTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	entries, err := tr.Entries()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	root := t.TempDir()
	for _, e := range entries {
		p := filepath.Join(root, filepath.FromSlash(e.Name))
		switch {
		case e.Mode.IsDir():
			err = os.Mkdir(p, e.Mode.Perm())
		case e.Mode&fs.ModeSymlink != 0:
			err = os.Symlink(e.Link, p)
		default:
			var rc io.ReadCloser
			if rc, err = e.Open(); err == nil {
				var data []byte
				data, err = io.ReadAll(rc)
				rc.Close()
				if err == nil && int64(len(data)) != e.Size {
					err = fmt.Errorf("%s: %d bytes, entry says %d", e.Name, len(data), e.Size)
				}
				if err == nil {
					err = os.WriteFile(p, data, e.Mode.Perm())
				}
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if !e.Mode.IsDir() && e.Mode&fs.ModeSymlink == 0 {
			if err := os.Chmod(p, e.Mode.Perm()); err != nil { // whatever the umask
				t.Fatal(err)
			}
		}
	}
	return root
}

// readFileOf returns a file of the checkout at dir, read with Tree.ReadFile.
func readFileOf(t *testing.T, dir, name string) string {
	t.Helper()
	tr, err := OpenTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	data, err := tr.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// readTree describes every file under root: type, permissions, and
// content or link target.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case info.Mode().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			desc += fmt.Sprintf(" size=%d sha256=%s", len(data), hex.EncodeToString(sum[:]))
		}
		tree[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// checkCheckout checks a checkout of branch of f with the git CLI and
// against the fixture. It runs git status, which may rewrite the index.
func checkCheckout(t *testing.T, f *fixture, dir, branch string, forbidden ...string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "README")); err == nil {
		t.Errorf("the clone cache entry %s holds the files of the checkout: they are written only into the layer", dir)
	}
	dir = materialize(t, dir)
	for name, want := range f.files[branch] {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("reading %s: %v", name, err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "stable.txt")); (err == nil) != (branch == "stable") {
		t.Errorf("stable.txt present = %v on branch %s", err == nil, branch)
	}
	if target, err := os.Readlink(filepath.Join(dir, "link")); err != nil || target != "README" {
		t.Errorf("link -> %q, %v; want README", target, err)
	}
	if info, err := os.Stat(filepath.Join(dir, "run.sh")); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode %v, %v; want 0755", info, err)
	}
	if info, err := os.Stat(filepath.Join(dir, "README")); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("README mode %v, %v; want 0644", info, err)
	}
	for _, p := range []string{".git/FETCH_HEAD", ".git/logs", ".git/ORIG_HEAD"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s exists", p)
		}
	}
	// No paths of this machine inside the checkout (the remote URL of a
	// local remote is the only one allowed).
	for rel := range readTree(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			continue // directories, symlinks
		}
		for _, s := range forbidden {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s contains %q", rel, s)
			}
		}
	}

	if got := runGit(t, f.home, dir, mainDate, "log", "-1", "--format=%H"); got != f.commits[branch] {
		t.Errorf("git log -1 = %s, want %s", got, f.commits[branch])
	}
	if got := runGit(t, f.home, dir, mainDate, "rev-parse", "--abbrev-ref", "HEAD"); got != branch {
		t.Errorf("HEAD is %q, want %q", got, branch)
	}
	if got := runGit(t, f.home, dir, mainDate, "rev-parse", "--is-shallow-repository"); got != "true" {
		t.Errorf("is-shallow-repository = %q", got)
	}
	runGit(t, f.home, dir, mainDate, "fsck", "--full", "--strict", "--no-progress")
	if got := runGit(t, f.home, dir, mainDate, "status", "--porcelain", "--untracked-files=all"); got != "" {
		t.Errorf("git status --porcelain = %q, want clean", got)
	}
}

func TestCheckout(t *testing.T) {
	f := newFixture(t)
	for _, branch := range []string{"main", "stable", "feature/x"} {
		t.Run(branch, func(t *testing.T) {
			cacheDir := t.TempDir()
			var logs bytes.Buffer
			log := logrus.New()
			log.SetOutput(&logs)
			log.SetLevel(logrus.DebugLevel)
			c := New(Options{CacheDir: cacheDir, Log: log})
			dir, commit, err := c.Checkout(context.Background(), "file://"+f.dir, branch, f.commits[branch])
			if err != nil {
				t.Fatal(err)
			}
			if commit.Hash != f.commits[branch] {
				t.Errorf("commit %s, want %s", commit.Hash, f.commits[branch])
			}
			want := mainDate
			if branch == "stable" {
				want = stableDate
			}
			if !commit.Time.Equal(want) || commit.Time.Location() != time.UTC {
				t.Errorf("time %v, want %v UTC", commit.Time, want)
			}
			ri, _ := parseRemote("file://" + f.dir)
			if wantDir := filepath.Join(cacheDir, ri.key(), f.commits[branch]); dir != wantDir {
				t.Errorf("dir %s, want %s", dir, wantDir)
			}
			if len(ri.key()) != 16 {
				t.Errorf("key %q is not 16 hex digits", ri.key())
			}
			if logs.Len() == 0 {
				t.Error("nothing logged")
			}
			assertNoTemp(t, filepath.Dir(dir))
			config, err := os.ReadFile(filepath.Join(dir, ".git", "config"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(config), "url = file://"+f.dir+"\n") {
				t.Errorf(".git/config lacks the remote url:\n%s", config)
			}
			checkCheckout(t, f, dir, branch, cacheDir, filepath.Dir(dir))
		})
	}
}

// assertNoTemp fails if keyDir holds work directories.
func assertNoTemp(t *testing.T, keyDir string) {
	t.Helper()
	entries, err := os.ReadDir(keyDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("work directory %s left behind", e.Name())
		}
	}
}

func TestCheckoutReusedWithoutSource(t *testing.T) {
	f := newFixture(t)
	cacheDir := t.TempDir()
	c := New(Options{CacheDir: cacheDir})
	remote := f.dir
	dir1, c1, err := c.Checkout(context.Background(), remote, "stable", f.commits["stable"])
	if err != nil {
		t.Fatal(err)
	}
	before := readTree(t, materialize(t, dir1))
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	for _, offline := range []bool{false, true} {
		c := New(Options{CacheDir: cacheDir, Offline: offline})
		dir2, c2, err := c.Checkout(context.Background(), remote, "stable", f.commits["stable"])
		if err != nil {
			t.Fatalf("offline=%v: second Checkout: %v", offline, err)
		}
		if dir2 != dir1 || c2 != c1 {
			t.Errorf("offline=%v: second Checkout = %s %v, want %s %v", offline, dir2, c2, dir1, c1)
		}
	}
	if diff := cmp.Diff(before, readTree(t, materialize(t, dir1))); diff != "" {
		t.Errorf("reuse changed the checkout (-before +after):\n%s", diff)
	}
}

func TestCheckoutRemovesStaleWork(t *testing.T) {
	f := newFixture(t)
	cacheDir := t.TempDir()
	ri, _ := parseRemote(f.dir)
	keyDir := filepath.Join(cacheDir, ri.key())
	old, fresh := filepath.Join(keyDir, tmpPrefix+"old"), filepath.Join(keyDir, tmpPrefix+"fresh")
	for _, d := range []string{old, fresh} {
		if err := os.MkdirAll(filepath.Join(d, "checkout"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * staleAge)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	if _, _, err := New(Options{CacheDir: cacheDir}).Checkout(context.Background(), f.dir, "main", f.commits["main"]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("stale work directory kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("recent work directory (maybe another process's) removed: %v", err)
	}
}

func TestCheckoutConcurrent(t *testing.T) {
	f := newFixture(t)
	c := New(Options{CacheDir: t.TempDir()})
	var wg sync.WaitGroup
	dirs := make([]string, 6)
	errs := make([]error, len(dirs))
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], _, errs[i] = c.Checkout(context.Background(), f.dir, "main", f.commits["main"])
		}()
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil {
			t.Fatalf("Checkout %d: %v", i, errs[i])
		}
		if dirs[i] != dirs[0] {
			t.Errorf("Checkout %d in %s, want %s", i, dirs[i], dirs[0])
		}
	}
	assertNoTemp(t, filepath.Dir(dirs[0]))
	checkCheckout(t, f, dirs[0], "main")
}

func TestCheckoutCancelled(t *testing.T) {
	f := newFixture(t)
	_, httpURL := serveHTTP(t, f, false, nil)
	for _, remote := range []string{f.dir, httpURL} {
		cacheDir := t.TempDir()
		c := New(Options{CacheDir: cacheDir})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := c.Checkout(ctx, remote, "main", f.commits["main"])
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Checkout with cancelled context: %v, want context.Canceled", remote, err)
		}
		ri, _ := parseRemote(remote)
		keyDir := filepath.Join(cacheDir, ri.key())
		assertNoTemp(t, keyDir)
		if _, err := os.Stat(filepath.Join(keyDir, f.commits["main"])); err == nil {
			t.Errorf("%s: checkout stored despite cancel", remote)
		}
	}
}

func TestCheckoutInvalidInput(t *testing.T) {
	f := newFixture(t)
	c := New(Options{CacheDir: t.TempDir()})
	for _, tc := range []struct{ branch, hash, want string }{
		{"main", "../../etc", "invalid commit hash"},
		{"main", strings.Repeat("g", 40), "invalid commit hash"},
		{"main", "abc", "invalid commit hash"},
		{"../x", f.commits["main"], "invalid branch name"},
		{"", f.commits["main"], "invalid branch name"},
		{"-x", f.commits["main"], "invalid branch name"},
	} {
		_, _, err := c.Checkout(context.Background(), f.dir, tc.branch, tc.hash)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Checkout(%q, %q) error %v, want %q", tc.branch, tc.hash, err, tc.want)
		}
	}
	if _, _, err := New(Options{}).Checkout(context.Background(), f.dir, "main", f.commits["main"]); err == nil {
		t.Error("Checkout without a cache directory succeeded")
	}
	// An upper-case hash is accepted and normalized.
	dir, commit, err := c.Checkout(context.Background(), f.dir, "main", strings.ToUpper(f.commits["main"]))
	if err != nil || commit.Hash != f.commits["main"] || filepath.Base(dir) != f.commits["main"] {
		t.Errorf("upper-case hash: %s %v %v", dir, commit, err)
	}
}

func TestCheckoutLocalMovedBranch(t *testing.T) {
	f := newFixture(t)
	old := f.commits["main"]
	f.commitOnMain(t)
	c := New(Options{CacheDir: t.TempDir()})
	// The old commit is still in the repository: it is used.
	dir, commit, err := c.Checkout(context.Background(), f.dir, "main", old)
	if err != nil {
		t.Fatal(err)
	}
	if commit.Hash != old {
		t.Errorf("commit %s, want %s", commit.Hash, old)
	}
	if got := readFileOf(t, dir, "README"); got != "main\n" {
		t.Errorf("README = %q, want the old content", got)
	}
	// A commit the repository does not have: the branch moved.
	unknown := strings.Repeat("ab", 20)
	_, _, err = c.Checkout(context.Background(), f.dir, "main", unknown)
	var me *BranchMovedError
	if !errors.As(err, &me) || me.From != unknown {
		t.Fatalf("error %v, want *BranchMovedError from %s", err, unknown)
	}
}

// TestReproducible checks that checkouts of the same commit are identical
// file by file (paths, types, modes, contents, link targets and mtimes)
// whenever and however they are made.
func TestReproducible(t *testing.T) {
	f := newFixture(t)
	cache1, cache2, cache3 := t.TempDir(), t.TempDir(), t.TempDir()
	dir1, _, err := New(Options{CacheDir: cache1}).Checkout(context.Background(), f.dir, "stable", f.commits["stable"])
	if err != nil {
		t.Fatal(err)
	}
	// Later (so that "now" differs by over a second), in another place,
	// under another umask.
	time.Sleep(1100 * time.Millisecond)
	old := syscall.Umask(0o077)
	dir2, _, err := New(Options{CacheDir: cache2}).Checkout(context.Background(), f.dir, "stable", f.commits["stable"])
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	tree1, tree2 := readTree(t, materialize(t, dir1)), readTree(t, materialize(t, dir2))
	if len(tree1) < 20 {
		t.Fatalf("checkout has only %d entries", len(tree1))
	}
	for _, p := range []string{".git/index", ".git/shallow", ".git/HEAD", ".git/config", "link", "run.sh"} {
		if _, ok := tree1[p]; !ok {
			t.Errorf("checkout lacks %s", p)
		}
	}
	if diff := cmp.Diff(tree1, tree2); diff != "" {
		t.Errorf("checkouts differ (-first +second):\n%s", diff)
	}

	// Fetched over http (a real git server's pack): identical but for the
	// remote url in .git/config.
	_, httpURL := serveHTTP(t, f, false, nil)
	dir3, _, err := New(Options{CacheDir: cache3}).Checkout(context.Background(), httpURL, "stable", f.commits["stable"])
	if err != nil {
		t.Fatal(err)
	}
	tree3 := readTree(t, materialize(t, dir3))
	delete(tree1, ".git/config")
	delete(tree3, ".git/config")
	if diff := cmp.Diff(tree1, tree3); diff != "" {
		t.Errorf("local and http checkouts differ (-local +http):\n%s", diff)
	}

	// The index carries no stat data: every entry's ctime, mtime, dev,
	// inode, uid and gid are zero.
	checkIndexZeroed(t, filepath.Join(dir1, ".git", "index"))
	checkCheckout(t, f, dir1, "stable", cache1, cache2, cache3)
}

// checkIndexZeroed parses a version 2 index file and checks that the stat
// fields of every entry are zero.
func checkIndexZeroed(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:4]) != "DIRC" {
		t.Fatalf("index signature %q", data[:4])
	}
	be := func(b []byte) uint32 { return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) }
	if v := be(data[4:8]); v != 2 {
		t.Fatalf("index version %d", v)
	}
	n := int(be(data[8:12]))
	off := 12
	for i := 0; i < n; i++ {
		e := data[off:]
		// ctime s, ns, mtime s, ns, dev, ino, mode, uid, gid, size
		fields := []int{0, 1, 2, 3, 4, 5, 7, 8}
		for _, fi := range fields {
			if v := be(e[fi*4:]); v != 0 {
				t.Errorf("index entry %d: field %d = %d, want 0", i, fi, v)
			}
		}
		if size := be(e[36:]); size == 0 {
			t.Errorf("index entry %d: size 0", i)
		}
		flags := int(e[60])<<8 | int(e[61])
		nameLen := flags & 0xfff
		entryLen := (62 + nameLen + 8) &^ 7
		off += entryLen
	}
}

func TestHTTPCheckoutAndOffline(t *testing.T) {
	f := newFixture(t)
	srv, remote := serveHTTP(t, f, false, nil)
	cacheDir := t.TempDir()
	ctx := context.Background()

	// Nothing cached: offline fails, saying so.
	offline := New(Options{CacheDir: cacheDir, Offline: true})
	_, err := offline.Resolve(ctx, remote, "main")
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "not in the clone cache") || !strings.Contains(err.Error(), "without --offline") {
		t.Fatalf("offline Resolve of an uncached remote: %v", err)
	}
	_, _, err = offline.Checkout(ctx, remote, "main", f.commits["main"])
	if !errors.Is(err, ErrOffline) {
		t.Fatalf("offline Checkout of an uncached remote: %v", err)
	}
	if _, err := New(Options{Offline: true}).Resolve(ctx, remote, "main"); !errors.Is(err, ErrOffline) {
		t.Fatalf("offline Resolve without cache: %v", err)
	}

	online := New(Options{CacheDir: cacheDir})
	res, err := online.Resolve(ctx, remote, "main")
	if err != nil {
		t.Fatal(err)
	}
	if res.Hash != f.commits["main"] {
		t.Fatalf("Resolve = %s, want %s", res.Hash, f.commits["main"])
	}
	dir, commit, err := online.Checkout(ctx, remote, "main", res.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if commit.Hash != res.Hash || !commit.Time.Equal(mainDate) {
		t.Errorf("Checkout commit %v", commit)
	}
	if cfg, _ := os.ReadFile(filepath.Join(dir, ".git", "config")); !strings.Contains(string(cfg), "url = "+remote+"\n") {
		t.Errorf(".git/config lacks url %s:\n%s", remote, cfg)
	}
	// Once checked out, Resolve knows the time too.
	if res, err := online.Resolve(ctx, remote, "main"); err != nil || !res.Time.Equal(mainDate) {
		t.Errorf("Resolve after Checkout: %v, %v", res, err)
	}

	// The server goes away: offline answers from the cache.
	srv.Close()
	res2, err := offline.Resolve(ctx, remote, "main")
	if err != nil {
		t.Fatalf("offline Resolve of a cached remote: %v", err)
	}
	if res2.Hash != res.Hash || !res2.Time.Equal(mainDate) {
		t.Errorf("offline Resolve = %v, want %s at %v", res2, res.Hash, mainDate)
	}
	dir2, commit2, err := offline.Checkout(ctx, remote, "main", res.Hash)
	if err != nil || dir2 != dir || commit2 != commit {
		t.Errorf("offline Checkout = %s %v %v, want %s %v", dir2, commit2, err, dir, commit)
	}
	// A branch never resolved is not in the cache.
	if _, err := offline.Resolve(ctx, remote, "stable"); !errors.Is(err, ErrOffline) {
		t.Errorf("offline Resolve of an unrecorded branch: %v", err)
	}
	// Online with the server gone: an error naming the remote.
	if _, err := online.Resolve(ctx, remote, "main"); err == nil || !strings.Contains(err.Error(), remote) {
		t.Errorf("Resolve of a closed server: %v", err)
	}
	checkCheckout(t, f, dir, "main", cacheDir)
}

func TestHTTPMovedBranch(t *testing.T) {
	f := newFixture(t)
	_, remote := serveHTTP(t, f, false, nil)
	old := f.commits["main"]
	moved := f.commitOnMain(t)
	ctx := context.Background()
	cacheDir := t.TempDir()
	c := New(Options{CacheDir: cacheDir})

	_, _, err := c.Checkout(ctx, remote, "main", old)
	var me *BranchMovedError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want *BranchMovedError", err)
	}
	want := fmt.Sprintf("branch %q of %q moved from %s to %s while building; run again", "main", remote, old, moved)
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	ri, _ := parseRemote(remote)
	assertNoTemp(t, filepath.Join(cacheDir, ri.key()))

	// A server that allows it hands out the exact commit.
	runGit(t, f.home, f.dir, mainDate, "config", "uploadpack.allowReachableSHA1InWant", "true")
	dir, commit, err := c.Checkout(ctx, remote, "main", old)
	if err != nil {
		t.Fatal(err)
	}
	if commit.Hash != old {
		t.Errorf("commit %s, want %s", commit.Hash, old)
	}
	if got := readFileOf(t, dir, "README"); got != "main\n" {
		t.Errorf("README = %q, want the old content", got)
	}
	// The record holds the tip that was fetched.
	if h, ok, err := readRecord(filepath.Join(cacheDir, ri.key()), "main"); err != nil || !ok || h != moved {
		t.Errorf("record = %s %v %v, want %s", h, ok, err, moved)
	}
	checkCheckout(t, f, dir, "main", cacheDir)
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:secret@example.com/o/r.git", "https://***@example.com/o/r.git"},
		{"https://ghp_TOKEN@example.com/o/r.git", "https://***@example.com/o/r.git"},
		{"http://u:p%40ss@127.0.0.1:8080/x", "http://***@127.0.0.1:8080/x"},
		{"HTTPS://u:p@host", "HTTPS://***@host"},
		{"https://example.com/o/r.git", "https://example.com/o/r.git"},
		{"https://example.com/a@b", "https://example.com/a@b"},
		{"https://u:p@example.com/a@b?x=y@z", "https://***@example.com/a@b?x=y@z"},
		{"ssh://git@example.com/o/r.git", "ssh://git@example.com/o/r.git"},
		{"ssh://git:pw@example.com/o/r.git", "ssh://git:***@example.com/o/r.git"},
		{"git@github.com:o/r.git", "git@github.com:o/r.git"},
		{"/home/me/repo", "/home/me/repo"},
		{"./repo", "./repo"},
		{"file:///srv/repo", "file:///srv/repo"},
		{"https://u:p a%zz@host/x", "https://***@host/x"}, // not a valid URL
		{"", ""},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseRemote(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		kind remoteKind
		url  string
	}{
		{"/srv/repo", kindLocal, "/srv/repo"},
		{"repo", kindLocal, filepath.Join(wd, "repo")},
		{"./a:b", kindLocal, filepath.Join(wd, "a:b")},
		{"file:///srv/repo/", kindLocal, "file:///srv/repo"},
		{"https://u:tok@Example.COM/o/r.git/", kindNetwork, "https://example.com/o/r.git"},
		{"https://example.com/o/r.git", kindNetwork, "https://example.com/o/r.git"},
		{"ssh://git:pw@example.com:2222/o/r.git", kindNetwork, "ssh://git@example.com:2222/o/r.git"},
		{"git@github.com:o/r.git", kindNetwork, "git@github.com:o/r.git"},
		{"git://example.com/r", kindNetwork, "git://example.com/r"},
	} {
		ri, err := parseRemote(tc.in)
		if err != nil {
			t.Errorf("parseRemote(%q): %v", tc.in, err)
			continue
		}
		if ri.kind != tc.kind || ri.url != tc.url {
			t.Errorf("parseRemote(%q) = kind %d url %q, want %d %q", tc.in, ri.kind, ri.url, tc.kind, tc.url)
		}
	}
	// Credentials do not change the cache key.
	a, _ := parseRemote("https://u:tok@example.com/o/r.git")
	b, _ := parseRemote("https://example.com/o/r.git")
	if a.key() != b.key() {
		t.Error("credentials change the cache key")
	}
	for _, bad := range []string{"", "ftp://example.com/x", "file://otherhost/x", "https:///x", "https://u:p a%zz@host/x"} {
		_, err := parseRemote(bad)
		if err == nil {
			t.Errorf("parseRemote(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), "p a%zz") {
			t.Errorf("parseRemote(%q) error leaks the password: %v", bad, err)
		}
	}
}

func TestRecords(t *testing.T) {
	keyDir := t.TempDir()
	if _, ok, err := readRecord(keyDir, "main"); ok || err != nil {
		t.Fatalf("readRecord of nothing = %v, %v", ok, err)
	}
	hashes := map[string]string{
		"main":      strings.Repeat("a", 40),
		"feature/x": strings.Repeat("b", 40),
		"feature%x": strings.Repeat("c", 40),
		"v1.0":      strings.Repeat("d", 40),
	}
	for branch, h := range hashes {
		if err := writeRecord(keyDir, branch, h); err != nil {
			t.Fatal(err)
		}
	}
	for branch, h := range hashes {
		got, ok, err := readRecord(keyDir, branch)
		if err != nil || !ok || got != h {
			t.Errorf("readRecord(%q) = %q %v %v, want %q", branch, got, ok, err, h)
		}
	}
	// Each record is one file directly in refs/, none outside it.
	entries, err := os.ReadDir(filepath.Join(keyDir, refsDirName))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("refs/%s is a directory", e.Name())
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"feature%25x", "feature%2Fx", "main", "v1.0"}, names); diff != "" {
		t.Errorf("record files (-want +got):\n%s", diff)
	}
	if recordName(".hidden") != "%2Ehidden" {
		t.Errorf("recordName(.hidden) = %q", recordName(".hidden"))
	}
	// A corrupt record is an error, not a commit.
	if err := os.WriteFile(recordPath(keyDir, "main"), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readRecord(keyDir, "main"); err == nil {
		t.Error("corrupt record accepted")
	}
}

const token = "tok-3f9a1c77e2d04b8bb1c2secret"

func TestTokenNotInErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// An echoing server that refuses the credentials it is sent.
	echo, _ := serveHTTP(t, f, true, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user, pass, _ := r.BasicAuth()
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "bad credentials %s:%s (%s)", user, pass, r.Header.Get("Authorization"))
		})
	})
	// A server that accepts only the token.
	guarded, guardedURL := serveHTTP(t, f, true, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if user, pass, ok := r.BasicAuth(); !ok || user != "x-access-token" || pass != token {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ca := append(caPEM(echo), caPEM(guarded)...)
	c := New(Options{CacheDir: t.TempDir(), Token: token, CABundle: ca})

	for _, tc := range []struct {
		name, remote string
		secrets      []string
		is           error
	}{
		{"connection refused", "https://127.0.0.1:1/x", []string{token}, nil},
		{"credentials in url, refused", "https://someone:pa55w0rd@127.0.0.1:1/x", []string{token, "pa55w0rd", "someone"}, nil},
		{"token as url user, refused", "https://" + token + "@127.0.0.1:1/x", []string{token}, nil},
		{"401 echo", echo.URL + "/src", []string{token, basicAuthValue("x-access-token", token)}, transport.ErrAuthenticationRequired},
		{"401 echo, credentials in url", strings.Replace(echo.URL, "https://", "https://someone:pa55w0rd@", 1) + "/src", []string{token, "pa55w0rd", basicAuthValue("someone", "pa55w0rd")}, transport.ErrAuthenticationRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Resolve(ctx, tc.remote, "main")
			if err == nil {
				t.Fatal("Resolve succeeded")
			}
			_, _, cerr := c.Checkout(ctx, tc.remote, "main", f.commits["main"])
			if cerr == nil {
				t.Fatal("Checkout succeeded")
			}
			for _, e := range []error{err, cerr} {
				for _, s := range tc.secrets {
					if strings.Contains(e.Error(), s) {
						t.Errorf("error %q contains secret %q", e, s)
					}
				}
				if !strings.Contains(e.Error(), Redact(tc.remote)) {
					t.Errorf("error %q does not name %q", e, Redact(tc.remote))
				}
				if tc.is != nil && !errors.Is(e, tc.is) {
					t.Errorf("error %q is not %v", e, tc.is)
				}
			}
		})
	}

	// The token opens the guarded server; without it, 401.
	res, err := c.Resolve(ctx, guardedURL, "stable")
	if err != nil || res.Hash != f.commits["stable"] {
		t.Fatalf("Resolve with token = %v, %v", res, err)
	}
	if _, _, err := c.Checkout(ctx, guardedURL, "stable", res.Hash); err != nil {
		t.Fatalf("Checkout with token: %v", err)
	}
	anon := New(Options{CacheDir: t.TempDir(), CABundle: ca})
	if _, err := anon.Resolve(ctx, guardedURL, "stable"); !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("Resolve without token: %v", err)
	}
}

func TestLogsHaveNoSecrets(t *testing.T) {
	f := newFixture(t)
	_, remote := serveHTTP(t, f, false, nil)
	var logs bytes.Buffer
	log := logrus.New()
	log.SetOutput(&logs)
	log.SetLevel(logrus.DebugLevel)
	withCreds := strings.Replace(remote, "http://", "http://someone:pa55w0rd@", 1)
	c := New(Options{CacheDir: t.TempDir(), Token: token, Log: log})
	res, err := c.Resolve(context.Background(), withCreds, "main")
	if err != nil {
		t.Fatal(err)
	}
	dir, _, err := c.Checkout(context.Background(), withCreds, "main", res.Hash)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{token, "pa55w0rd", "someone"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("log contains %q:\n%s", s, logs.String())
		}
		if strings.Contains(string(cfg), s) {
			t.Errorf(".git/config contains %q:\n%s", s, cfg)
		}
	}
	if !strings.Contains(logs.String(), "***@") {
		t.Errorf("log does not show the redacted remote:\n%s", logs.String())
	}
	if !strings.Contains(string(cfg), "url = "+remote+"\n") {
		t.Errorf(".git/config lacks the credential-free url %s:\n%s", remote, cfg)
	}
}

func TestSSHAuth(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	withKey := New(Options{SSHKeyFile: keyFile, Token: token})
	for remote, user := range map[string]string{
		"ssh://example.com/o/r.git":      "git",
		"ssh://deploy@example.com/o/r":   "deploy",
		"git@github.com:o/r.git":         "git",
		"builder@git.example.com:r.git":  "builder",
		"ssh://git:pw@example.com/o/r.g": "git",
	} {
		ri, err := parseRemote(remote)
		if err != nil {
			t.Fatal(err)
		}
		auth, err := withKey.authFor(ri)
		if err != nil {
			t.Fatalf("authFor(%q): %v", remote, err)
		}
		pk, ok := auth.(*gitssh.PublicKeys)
		if !ok || pk.User != user {
			t.Errorf("authFor(%q) = %#v, want public keys of %q", remote, auth, user)
		}
		// No key and no agent: go-git's default.
		if auth, err := New(Options{}).authFor(ri); err != nil || auth != nil {
			t.Errorf("authFor(%q) without key or agent = %v, %v", remote, auth, err)
		}
	}
	ri, _ := parseRemote("ssh://example.com/x")
	if _, err := New(Options{SSHKeyFile: filepath.Join(t.TempDir(), "missing")}).authFor(ri); err == nil {
		t.Error("missing key file accepted")
	}
	// The token goes to https only, and not when the URL has credentials.
	for remote, wantToken := range map[string]bool{
		"https://example.com/x":     true,
		"http://example.com/x":      false,
		"https://u:p@example.com/x": false,
		"ssh://example.com/x":       false,
	} {
		ri, _ := parseRemote(remote)
		auth, err := New(Options{Token: token}).authFor(ri)
		if err != nil {
			t.Fatal(err)
		}
		if got := auth != nil && strings.Contains(fmt.Sprintf("%#v", auth), token); got != wantToken {
			t.Errorf("token used for %s: %v, want %v", remote, got, wantToken)
		}
	}
}
