package gitsrc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Tree is a checkout in the clone cache, read without writing its files
// anywhere: its files come from the git objects of the commit, its .git
// directory from the cache entry. It must be closed.
type Tree struct {
	dir     string
	storage *filesystem.Storage
	tree    *object.Tree
}

// OpenTree opens the checkout at dir, a directory Checkout returned.
func OpenTree(dir string) (*Tree, error) {
	dotgit := filepath.Join(dir, ".git")
	if _, err := os.Stat(dotgit); err != nil {
		return nil, fmt.Errorf("clone cache entry %q is damaged (remove it): %w", dir, err)
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dotgit), cache.NewObjectLRUDefault(), filesystem.Options{KeepDescriptors: true, MaxOpenDescriptors: 16})
	repo, err := git.Open(st, nil)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("clone cache entry %q is damaged (remove it): %w", dir, err)
	}
	head, err := repo.Head()
	if err == nil {
		var c *object.Commit
		if c, err = repo.CommitObject(head.Hash()); err == nil {
			var tr *object.Tree
			if tr, err = c.Tree(); err == nil {
				return &Tree{dir: dir, storage: st, tree: tr}, nil
			}
		}
	}
	_ = st.Close()
	return nil, fmt.Errorf("clone cache entry %q is damaged (remove it): %w", dir, err)
}

// Close releases the files the tree holds open.
func (t *Tree) Close() error { return t.storage.Close() }

// ReadFile returns the contents of the file at name, a slash-separated
// path relative to the checkout's root; an error wrapping fs.ErrNotExist
// when the commit has no regular file there.
func (t *Tree) ReadFile(name string) ([]byte, error) {
	name = path.Clean(strings.TrimPrefix(filepath.ToSlash(name), "/"))
	f, err := t.tree.File(name)
	if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if err != nil {
		return nil, err
	}
	if !f.Mode.IsFile() || f.Mode == filemode.Symlink {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	s, err := f.Contents()
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// Entry is one file, symlink or directory of a checkout.
type Entry struct {
	Name string      // slash-separated, relative to the checkout's root
	Mode fs.FileMode // fs.ModeDir|0755, 0644 or 0755, or fs.ModeSymlink|0777
	Size int64       // of a regular file
	Link string      // target of a symlink
	open func() (io.ReadCloser, error)
}

// Open returns the contents of a regular file.
func (e Entry) Open() (io.ReadCloser, error) {
	if e.open == nil {
		return nil, fmt.Errorf("%s is not a regular file", e.Name)
	}
	return e.open()
}

// Entries lists the checkout: every file and symlink of the commit (as
// Checkout's worktree would hold them: files 0644 or 0755, gitlinks left
// out), the .git directory (files 0644) and every directory (0755), in
// no particular order.
func (t *Tree) Entries() ([]Entry, error) {
	var out []Entry
	dirs := map[string]bool{}
	addDirs := func(name string) {
		for d := path.Dir(name); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	err := t.tree.Files().ForEach(func(f *object.File) error {
		e := Entry{Name: f.Name, Size: f.Size}
		switch f.Mode {
		case filemode.Symlink:
			target, err := f.Contents()
			if err != nil {
				return err
			}
			e.Mode, e.Link = fs.ModeSymlink|0o777, target
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			e.Mode = 0o644
			if f.Mode == filemode.Executable {
				e.Mode = 0o755
			}
			blob := f.Blob
			e.open = blob.Reader
		default:
			return nil // gitlinks (submodules) are not checked out
		}
		addDirs(e.Name)
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the tree of %q: %w", t.dir, err)
	}
	err = filepath.WalkDir(filepath.Join(t.dir, ".git"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(t.dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			dirs[name] = true
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			out = append(out, Entry{Name: name, Mode: 0o644, Size: info.Size(), open: func() (io.ReadCloser, error) { return os.Open(p) }})
		default:
			return fmt.Errorf("unexpected file type %s of %q", d.Type(), p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the clone cache entry %q: %w", t.dir, err)
	}
	for d := range dirs {
		out = append(out, Entry{Name: d, Mode: fs.ModeDir | 0o755})
	}
	return out, nil
}
