package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"golang.org/x/sys/unix"
)

// remoteName is the name of the remote in the checkout's .git/config.
const remoteName = "origin"

// buildCheckout writes to dir (which must not exist) the .git directory of
// a shallow repository holding exactly commit h of src and its tree, with
// branch checked out; the worktree's files are not written (OpenTree reads
// them from the objects).
//
// Everything written is a function of the commit, the branch and the remote
// URL only, so that two builds are byte-identical:
//   - the objects are written as one pack without deltas, in a fixed order,
//     whatever pack the server sent;
//   - .git holds HEAD, config (remote url, fetch refspec, branch tracking),
//     the branch and remote-tracking refs, shallow, the pack and its index,
//     and the index file; no reflogs, FETCH_HEAD or paths of this machine;
//   - the index has no stat data (times, device, inode, uid, gid are 0);
//   - files are mode 0644, directories 0755, and every file and directory
//     has the committer time as mtime.
func buildCheckout(ctx context.Context, src storer.EncodedObjectStorer, h plumbing.Hash, branch, remoteURL, dir string) (Commit, error) {
	commit, err := object.GetCommit(src, h)
	if err != nil {
		return Commit{}, fmt.Errorf("reading commit %s: %w", h, err)
	}
	hashes, err := collectObjects(ctx, src, commit)
	if err != nil {
		return Commit{}, err
	}

	branchRef := plumbing.NewBranchReferenceName(branch)
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: branchRef},
	})
	if err != nil {
		return Commit{}, fmt.Errorf("initialising checkout: %w", err)
	}
	if err := writePack(ctx, repo.Storer, src, hashes); err != nil {
		return Commit{}, err
	}

	cfg, err := repo.Config()
	if err != nil {
		return Commit{}, fmt.Errorf("reading checkout config: %w", err)
	}
	trackingRef := plumbing.NewRemoteReferenceName(remoteName, branch)
	cfg.Remotes[remoteName] = &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{remoteURL},
		Fetch: []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", branchRef, trackingRef))},
	}
	cfg.Branches[branch] = &config.Branch{Name: branch, Remote: remoteName, Merge: branchRef}
	if err := repo.Storer.SetConfig(cfg); err != nil {
		return Commit{}, fmt.Errorf("writing checkout config: %w", err)
	}
	for _, ref := range []plumbing.ReferenceName{branchRef, trackingRef} {
		if err := repo.Storer.SetReference(plumbing.NewHashReference(ref, h)); err != nil {
			return Commit{}, fmt.Errorf("writing reference %s: %w", ref, err)
		}
	}
	if err := repo.Storer.SetShallow([]plumbing.Hash{h}); err != nil {
		return Commit{}, fmt.Errorf("writing shallow file: %w", err)
	}

	if err := writeIndex(ctx, repo, commit); err != nil {
		return Commit{}, fmt.Errorf("checking out %s: %w", h, err)
	}
	when := commit.Committer.When.UTC()
	if err := normalizeTree(dir, when); err != nil {
		return Commit{}, fmt.Errorf("normalizing checkout: %w", err)
	}
	return Commit{Hash: h.String(), Time: when}, nil
}

// collectObjects returns the commit, every tree and every blob of its
// snapshot, each once, in a deterministic order (commit, then a depth-first
// walk of the tree). Submodule commits (gitlinks) are not objects of this
// repository and are left out.
func collectObjects(ctx context.Context, s storer.EncodedObjectStorer, c *object.Commit) ([]plumbing.Hash, error) {
	hashes := []plumbing.Hash{c.Hash}
	seen := map[plumbing.Hash]bool{c.Hash: true}
	var walk func(plumbing.Hash) error
	walk = func(th plumbing.Hash) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !seen[th] {
			seen[th] = true
			hashes = append(hashes, th)
		}
		t, err := object.GetTree(s, th)
		if err != nil {
			return fmt.Errorf("reading tree %s of commit %s: %w", th, c.Hash, err)
		}
		for _, e := range t.Entries {
			switch e.Mode {
			case filemode.Submodule:
				continue
			case filemode.Dir:
				if seen[e.Hash] {
					continue
				}
				if err := walk(e.Hash); err != nil {
					return err
				}
			default:
				if !seen[e.Hash] {
					seen[e.Hash] = true
					hashes = append(hashes, e.Hash)
				}
			}
		}
		return nil
	}
	if err := walk(c.TreeHash); err != nil {
		return nil, err
	}
	return hashes, nil
}

// writePack writes the objects hashes of src as one pack, without deltas, in
// the given order, into dst.
func writePack(ctx context.Context, dst storer.Storer, src storer.EncodedObjectStorer, hashes []plumbing.Hash) error {
	pfw, ok := dst.(storer.PackfileWriter)
	if !ok {
		return errors.New("checkout storage cannot write packs")
	}
	w, err := pfw.PackfileWriter()
	if err != nil {
		return fmt.Errorf("creating pack: %w", err)
	}
	_, err = packfile.NewEncoder(&ctxWriter{ctx: ctx, w: w}, src, false).Encode(hashes, 0)
	if cerr := w.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing pack: %w", err)
	}
	return nil
}

// ctxWriter fails writes once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w *ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// writeIndex writes the index of commit's files without stat data of
// this machine (names, modes, sizes and hashes only: the real git CLI sees
// the stat mismatch, compares contents and reports the worktree clean).
// The files themselves are not written: a Tree reads them from the
// objects, into the layer, once.
func writeIndex(ctx context.Context, repo *git.Repository, commit *object.Commit) error {
	tree, err := commit.Tree()
	if err != nil {
		return fmt.Errorf("reading the tree: %w", err)
	}
	idx := &index.Index{Version: 2}
	err = tree.Files().ForEach(func(f *object.File) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch f.Mode {
		case filemode.Symlink, filemode.Regular, filemode.Deprecated, filemode.Executable:
			idx.Entries = append(idx.Entries, &index.Entry{Name: f.Name, Hash: f.Hash, Mode: f.Mode, Size: uint32(f.Size)})
		}
		return nil // gitlinks (submodules) are not checked out
	})
	if err != nil {
		return err
	}
	sort.Slice(idx.Entries, func(i, j int) bool { return idx.Entries[i].Name < idx.Entries[j].Name })
	if err := repo.Storer.SetIndex(idx); err != nil {
		return fmt.Errorf("writing index: %w", err)
	}
	return nil
}

// normalizeTree sets the modes and times of everything under root: regular
// files 0644 (whatever the umask made of them), directories 0755, and the
// modification time when for all (symlinks included). Directories are done
// last, deepest first, so that their times stay set.
func normalizeTree(root string, when time.Time) error {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Chmod(path, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, path)
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			ts := []unix.Timeval{unix.NsecToTimeval(when.UnixNano()), unix.NsecToTimeval(when.UnixNano())}
			return unix.Lutimes(path, ts)
		case d.Type().IsRegular():
			if err := os.Chmod(path, 0o644); err != nil {
				return err
			}
			return os.Chtimes(path, when, when)
		default:
			return fmt.Errorf("unexpected file type %s of %q", d.Type(), path)
		}
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chtimes(dirs[i], when, when); err != nil {
			return err
		}
	}
	return nil
}
