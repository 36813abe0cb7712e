// Package gitsrc resolves a branch of a git remote to a commit and provides
// a reproducible shallow checkout of that commit, kept in a content-addressed
// clone cache, for writing into a container image layer.
//
// The clone cache holds a checkout's .git directory only; its files are read
// from the git objects (OpenTree) straight into the layer, so each file is
// written once. The checkout includes its .git directory (tools such as
// setuptools_scm derive versions from it) and is byte-identical for the same
// commit, branch and remote wherever and whenever it was made: the objects
// are repacked in a fixed way, the index carries no stat data of the
// machine, and modes are normalized: files 0644 or 0755, directories 0755.
//
// Remotes may be https://, http://, ssh://, git:// URLs, scp-like
// (git@host:path), file:// URLs or local paths. Local repositories (paths
// and file:// URLs) are read directly with go-git, without a clone and
// without the git command; the others are listed and fetched with go-git
// (depth 1, single branch, no tags).
//
// Cache layout, under Options.CacheDir:
//
//	<key>/<commit>/.git      checkout of commit (its .git; files in its objects)
//	<key>/refs/<branch>      last commit resolved or fetched for branch
//	<key>/.tmp-*             work directories, removed when done
//
// where <key> is the first 16 hex digits of the sha256 of the normalized,
// credential-free remote. Checkouts are built in a work directory and
// renamed into place, so concurrent processes never see a partial one.
package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/sirupsen/logrus"
)

// ErrOffline is wrapped by the errors of operations that would need the
// network while Options.Offline is set.
var ErrOffline = errors.New("network access is disabled (offline)")

// maxListedBranches is how many existing branches a BranchError names.
const maxListedBranches = 10

// BranchError reports a branch that does not exist in a repository.
type BranchError struct {
	Remote   string   // the remote, credentials redacted
	Branch   string   // the missing branch
	Existing []string // the branches of the remote, sorted
}

func (e *BranchError) Error() string {
	msg := fmt.Sprintf("branch %q not found in %q", e.Branch, e.Remote)
	if len(e.Existing) == 0 {
		return msg + "; it has no branches"
	}
	list := e.Existing
	more := ""
	if len(list) > maxListedBranches {
		list = list[:maxListedBranches]
		more = fmt.Sprintf(" and %d more", len(e.Existing)-maxListedBranches)
	}
	return msg + "; branches: " + strings.Join(list, ", ") + more
}

// BranchMovedError reports that a branch no longer points to the commit a
// build resolved earlier, and that commit could not be fetched by itself.
type BranchMovedError struct {
	Remote string // the remote, credentials redacted
	Branch string
	From   string // the commit asked for
	To     string // the commit the branch points to now
}

func (e *BranchMovedError) Error() string {
	return fmt.Sprintf("branch %q of %q moved from %s to %s while building; run again", e.Branch, e.Remote, e.From, e.To)
}

// Options configures a Client.
type Options struct {
	// CacheDir is the root of the clone cache, e.g. $XDG_CACHE_HOME/strata/git.
	// Checkout needs it; without it Resolve records nothing for offline use.
	CacheDir string
	// Offline forbids network access: local remotes are still read, others
	// are answered from the cache or fail with an error wrapping ErrOffline.
	Offline bool
	// Token authenticates to https remotes that carry no credentials in
	// their URL (as x-access-token). It never appears in logs or errors.
	Token string
	// SSHKeyFile is an unencrypted private key for ssh remotes; without it
	// the ssh-agent at SSH_AUTH_SOCK is used when that is set.
	SSHKeyFile string
	// CABundle holds extra PEM certificates trusted for https remotes.
	CABundle []byte
	// Log, when set, receives progress at Info and Debug level.
	Log *logrus.Logger
}

// Client resolves and checks out git remotes. It is safe for concurrent use.
type Client struct {
	opts Options
}

// New returns a Client using opts.
func New(opts Options) *Client {
	if opts.CacheDir != "" {
		if abs, err := filepath.Abs(opts.CacheDir); err == nil {
			opts.CacheDir = abs
		}
	}
	return &Client{opts: opts}
}

// Commit identifies a commit.
type Commit struct {
	Hash string    // full 40-hex sha1
	Time time.Time // committer time, UTC; zero when not known (see Resolve)
}

// Resolve returns the commit the branch points to on the remote (like git
// ls-remote, without a clone).
//
// remote is an https://, http://, ssh:// or git:// URL, an scp-like
// git@host:path, a file:// URL or a local path (absolute or relative).
// Local repositories are opened directly and the commit time is set. For
// network remotes the commit time is set only when the commit is already
// checked out in the cache, and the result is recorded in the cache for
// offline use. With Options.Offline, local remotes are still read and the
// others are answered from that record, or fail with an error wrapping
// ErrOffline.
func (c *Client) Resolve(ctx context.Context, remote, branch string) (_ Commit, err error) {
	defer func() { err = c.scrub(err, remote) }()
	if err := CheckBranch(branch); err != nil {
		return Commit{}, err
	}
	ri, err := parseRemote(remote)
	if err != nil {
		return Commit{}, err
	}
	c.logf(logrus.DebugLevel, "resolving branch %q of %q", branch, Redact(remote))
	if ri.kind == kindLocal {
		repo, err := openLocal(ri)
		if err != nil {
			return Commit{}, fmt.Errorf("resolving branch %q of %q: %w", branch, Redact(remote), err)
		}
		h, err := localBranch(repo, ri, branch)
		if err != nil {
			return Commit{}, err
		}
		commit, err := repo.CommitObject(h)
		if err != nil {
			return Commit{}, fmt.Errorf("reading commit %s of branch %q of %q: %w", h, branch, Redact(remote), err)
		}
		c.logf(logrus.DebugLevel, "branch %q of %q is %s", branch, Redact(remote), h)
		return Commit{Hash: h.String(), Time: commit.Committer.When.UTC()}, nil
	}

	keyDir := c.keyDir(ri)
	if c.opts.Offline {
		if keyDir == "" {
			return Commit{}, fmt.Errorf("branch %q of %q is not in the clone cache (no cache directory); run once without --offline: %w", branch, Redact(remote), ErrOffline)
		}
		h, ok, err := readRecord(keyDir, branch)
		if err != nil {
			return Commit{}, fmt.Errorf("resolving branch %q of %q: %w", branch, Redact(remote), err)
		}
		if !ok {
			return Commit{}, fmt.Errorf("branch %q of %q is not in the clone cache; run once without --offline: %w", branch, Redact(remote), ErrOffline)
		}
		c.logf(logrus.DebugLevel, "branch %q of %q is %s (offline, from the clone cache)", branch, Redact(remote), h)
		return Commit{Hash: h, Time: cachedTime(keyDir, h)}, nil
	}

	c.logf(logrus.InfoLevel, "listing branches of %q", Redact(remote))
	refs, err := c.listRemote(ctx, ri)
	if err != nil {
		return Commit{}, fmt.Errorf("resolving branch %q of %q: %w", branch, Redact(remote), err)
	}
	h, ok := findBranch(refs, branch)
	if !ok {
		return Commit{}, &BranchError{Remote: Redact(remote), Branch: branch, Existing: branchNames(refs)}
	}
	if keyDir != "" {
		if err := writeRecord(keyDir, branch, h.String()); err != nil {
			return Commit{}, fmt.Errorf("recording branch %q of %q in the clone cache: %w", branch, Redact(remote), err)
		}
	}
	c.logf(logrus.DebugLevel, "branch %q of %q is %s", branch, Redact(remote), h)
	return Commit{Hash: h.String(), Time: cachedTime(keyDir, h.String())}, nil
}

// Checkout makes sure the cache holds a checkout of commit hash, fetched
// from the remote's branch (depth 1, single branch, no tags), and returns
// its directory: a worktree with its .git. A checkout already in the cache
// is reused without network access. The returned Commit carries the commit
// time read from the object.
//
// For local remotes the commit is taken from the repository even if the
// branch has moved since. For network remotes, if the fetched branch tip is
// not hash, the exact commit is fetched when the server allows it
// (uploadpack.allowReachableSHA1InWant or allowTipSHA1InWant); otherwise a
// *BranchMovedError is returned.
func (c *Client) Checkout(ctx context.Context, remote, branch, hash string) (dir string, commit Commit, err error) {
	defer func() { err = c.scrub(err, remote) }()
	if err := CheckBranch(branch); err != nil {
		return "", Commit{}, err
	}
	hash = strings.ToLower(hash)
	if !isFullHash(hash) {
		return "", Commit{}, fmt.Errorf("invalid commit hash %q: want 40 hex digits", hash)
	}
	ri, err := parseRemote(remote)
	if err != nil {
		return "", Commit{}, err
	}
	keyDir := c.keyDir(ri)
	if keyDir == "" {
		return "", Commit{}, errors.New("no clone cache directory configured")
	}
	dir = filepath.Join(keyDir, hash)
	if commit, ok, err := readCheckout(dir, hash); err != nil || ok {
		if ok {
			c.logf(logrus.DebugLevel, "using cached checkout of %s of %q", hash, Redact(remote))
		}
		return dir, commit, err
	}
	if c.opts.Offline && ri.kind != kindLocal {
		return "", Commit{}, fmt.Errorf("commit %s of branch %q of %q is not in the clone cache; run once without --offline: %w", hash, branch, Redact(remote), ErrOffline)
	}

	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return "", Commit{}, fmt.Errorf("creating clone cache directory: %w", err)
	}
	removeStale(keyDir, time.Now())
	tmp, err := os.MkdirTemp(keyDir, tmpPrefix)
	if err != nil {
		return "", Commit{}, fmt.Errorf("creating clone cache directory: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = fmt.Errorf("removing work directory: %w", rerr)
		}
	}()

	want := plumbing.NewHash(hash)
	var src storer.EncodedObjectStorer
	var tip plumbing.Hash
	if ri.kind == kindLocal {
		c.logf(logrus.InfoLevel, "checking out %s of branch %q of %q", hash, branch, Redact(remote))
		repo, err := openLocal(ri)
		if err != nil {
			return "", Commit{}, fmt.Errorf("checking out branch %q of %q: %w", branch, Redact(remote), err)
		}
		tip, err = localBranch(repo, ri, branch)
		if err != nil {
			return "", Commit{}, err
		}
		if tip != want {
			if _, err := repo.Storer.EncodedObject(plumbing.CommitObject, want); err != nil {
				return "", Commit{}, &BranchMovedError{Remote: Redact(remote), Branch: branch, From: hash, To: tip.String()}
			}
			c.logf(logrus.InfoLevel, "branch %q of %q moved to %s; using %s", branch, Redact(remote), tip, hash)
		}
		src = repo.Storer
		if fast, closeFast := fastObjects(ri); fast != nil {
			defer closeFast()
			src = fast
		}
	} else {
		c.logf(logrus.InfoLevel, "fetching %s of branch %q of %q", hash, branch, Redact(remote))
		src, tip, err = c.fetch(ctx, ri, branch, want, filepath.Join(tmp, "fetch"))
		if err != nil {
			return "", Commit{}, err
		}
	}

	work := filepath.Join(tmp, "checkout")
	commit, err = buildCheckout(ctx, src, want, branch, ri.url, work)
	if err != nil {
		return "", Commit{}, fmt.Errorf("checking out %s of branch %q of %q: %w", hash, branch, Redact(remote), err)
	}
	if err := os.Rename(work, dir); err != nil {
		// Another process may have put the same checkout in place first.
		theirs, ok, rerr := readCheckout(dir, hash)
		if rerr != nil || !ok {
			return "", Commit{}, fmt.Errorf("storing checkout of %s of %q in the clone cache: %w", hash, Redact(remote), err)
		}
		c.logf(logrus.DebugLevel, "checkout of %s of %q was stored concurrently; using it", hash, Redact(remote))
		commit = theirs
	}
	if ri.kind != kindLocal {
		if err := writeRecord(keyDir, branch, tip.String()); err != nil {
			return "", Commit{}, fmt.Errorf("recording branch %q of %q in the clone cache: %w", branch, Redact(remote), err)
		}
	}
	c.logf(logrus.DebugLevel, "checkout of %s of %q is %s", hash, Redact(remote), dir)
	return dir, commit, nil
}

// fetch fetches branch of the network remote ri into a bare repository at
// dir (depth 1, no tags) and returns its storage, which holds want, and the
// branch tip.
func (c *Client) fetch(ctx context.Context, ri *remoteInfo, branch string, want plumbing.Hash, dir string) (storer.EncodedObjectStorer, plumbing.Hash, error) {
	remote := Redact(ri.raw)
	auth, err := c.authFor(ri)
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("fetching branch %q of %q: %w", branch, remote, err)
	}
	work, err := git.PlainInit(dir, true)
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("creating work repository: %w", err)
	}
	st := work.Storer
	rem := git.NewRemote(st, &config.RemoteConfig{Name: remoteName, URLs: []string{ri.raw}})
	tracking := plumbing.NewRemoteReferenceName(remoteName, branch)
	err = rem.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(branch), tracking))},
		Depth:      1,
		Tags:       git.NoTags,
		Auth:       auth,
		CABundle:   c.opts.CABundle,
	})
	if errors.Is(err, git.NoMatchingRefSpecError{}) {
		refs, lerr := c.listRemote(ctx, ri)
		if lerr == nil {
			return nil, plumbing.ZeroHash, &BranchError{Remote: remote, Branch: branch, Existing: branchNames(refs)}
		}
	}
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, plumbing.ZeroHash, fmt.Errorf("fetching branch %q of %q: %w", branch, remote, err)
	}
	ref, err := st.Reference(tracking)
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("fetching branch %q of %q: %w", branch, remote, err)
	}
	tip := ref.Hash()
	if tip == want {
		return st, tip, nil
	}

	// The branch moved since it was resolved: try the exact commit, which
	// servers allow when configured to (GitHub does).
	c.logf(logrus.InfoLevel, "branch %q of %q moved to %s; fetching %s", branch, remote, tip, want)
	err = rem.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("%s:refs/strata/want", want))},
		Depth:      1,
		Tags:       git.NoTags,
		Auth:       auth,
		CABundle:   c.opts.CABundle,
	})
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		if _, oerr := st.EncodedObject(plumbing.CommitObject, want); oerr == nil {
			return st, tip, nil
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, plumbing.ZeroHash, ctxErr
	}
	if err != nil {
		c.logf(logrus.DebugLevel, "fetching %s of %q by hash: %s", want, remote, c.scrub(err, ri.raw))
	}
	return nil, plumbing.ZeroHash, &BranchMovedError{Remote: remote, Branch: branch, From: want.String(), To: tip.String()}
}

// listRemote lists the references of a network remote.
func (c *Client) listRemote(ctx context.Context, ri *remoteInfo) ([]*plumbing.Reference, error) {
	auth, err := c.authFor(ri)
	if err != nil {
		return nil, err
	}
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: remoteName, URLs: []string{ri.raw}})
	return rem.ListContext(ctx, &git.ListOptions{Auth: auth, CABundle: c.opts.CABundle})
}

// keyDir returns the cache directory of ri, or "" without a cache.
func (c *Client) keyDir(ri *remoteInfo) string {
	if c.opts.CacheDir == "" {
		return ""
	}
	return filepath.Join(c.opts.CacheDir, ri.key())
}

// readCheckout returns the commit of the checkout at dir, and false if
// there is none.
func readCheckout(dir, hash string) (Commit, bool, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return Commit{}, false, nil
	} else if err != nil {
		return Commit{}, false, fmt.Errorf("reading clone cache: %w", err)
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return Commit{}, false, fmt.Errorf("clone cache entry %q is damaged (remove it): %w", dir, err)
	}
	commit, err := repo.CommitObject(plumbing.NewHash(hash))
	if err != nil {
		return Commit{}, false, fmt.Errorf("clone cache entry %q is damaged (remove it): %w", dir, err)
	}
	return Commit{Hash: hash, Time: commit.Committer.When.UTC()}, true, nil
}

// cachedTime returns the committer time of hash if it is checked out in
// keyDir, and the zero time otherwise.
func cachedTime(keyDir, hash string) time.Time {
	if keyDir == "" {
		return time.Time{}
	}
	commit, ok, err := readCheckout(filepath.Join(keyDir, hash), hash)
	if err != nil || !ok {
		return time.Time{}
	}
	return commit.Time
}

// fastObjects opens the object store of the local repository ri with its
// pack files kept open: go-git otherwise opens a pack again for every
// object read, which is a good part of a checkout's time. Nil when the
// repository's layout is not a plain .git directory or a bare one.
func fastObjects(ri *remoteInfo) (storer.EncodedObjectStorer, func()) {
	dotgit := filepath.Join(ri.path, ".git")
	if st, err := os.Stat(dotgit); err != nil || !st.IsDir() {
		if _, err := os.Stat(filepath.Join(ri.path, "objects")); err != nil {
			return nil, nil
		}
		dotgit = ri.path // bare
	}
	s := filesystem.NewStorageWithOptions(osfs.New(dotgit), cache.NewObjectLRUDefault(), filesystem.Options{KeepDescriptors: true, MaxOpenDescriptors: 64})
	return s, func() { _ = s.Close() }
}

// openLocal opens the local repository ri (a worktree or a bare repository).
func openLocal(ri *remoteInfo) (*git.Repository, error) {
	return git.PlainOpenWithOptions(ri.path, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
}

// localBranch returns the commit branch points to in repo, or a
// *BranchError.
func localBranch(repo *git.Repository, ri *remoteInfo, branch string) (plumbing.Hash, error) {
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		var names []string
		iter, ierr := repo.Branches()
		if ierr == nil {
			_ = iter.ForEach(func(r *plumbing.Reference) error {
				names = append(names, r.Name().Short())
				return nil
			})
		}
		sort.Strings(names)
		return plumbing.ZeroHash, &BranchError{Remote: Redact(ri.raw), Branch: branch, Existing: names}
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("resolving branch %q of %q: %w", branch, Redact(ri.raw), err)
	}
	return ref.Hash(), nil
}

// findBranch returns the commit of branch among listed refs.
func findBranch(refs []*plumbing.Reference, branch string) (plumbing.Hash, bool) {
	name := plumbing.NewBranchReferenceName(branch)
	for _, r := range refs {
		if r.Name() == name && r.Type() == plumbing.HashReference {
			return r.Hash(), true
		}
	}
	return plumbing.ZeroHash, false
}

// branchNames returns the sorted names of the branches among refs.
func branchNames(refs []*plumbing.Reference) []string {
	var names []string
	for _, r := range refs {
		if r.Name().IsBranch() {
			names = append(names, r.Name().Short())
		}
	}
	sort.Strings(names)
	return names
}

// CheckBranch rejects names that are not valid branch names, as git
// check-ref-format does (go-git's reference validation, and the rules it
// leaves to git: no leading "-", "@" alone, "@{", control characters).
func CheckBranch(b string) error {
	bad := b == "" || b == "@" || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") ||
		strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock") ||
		strings.Contains(b, "..") || strings.Contains(b, "@{") || strings.Contains(b, "//") ||
		strings.ContainsAny(b, " ~^:?*[\\\x7f")
	for _, c := range b {
		if c < 0x20 {
			bad = true
		}
	}
	for _, part := range strings.Split(b, "/") {
		if strings.HasPrefix(part, ".") {
			bad = true
		}
	}
	if bad || plumbing.NewBranchReferenceName(b).Validate() != nil {
		return fmt.Errorf("invalid branch name %q", b)
	}
	return nil
}

// logf logs to Options.Log when it is set.
func (c *Client) logf(level logrus.Level, format string, args ...any) {
	if c.opts.Log != nil {
		c.opts.Log.Logf(level, format, args...)
	}
}
