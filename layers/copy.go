package layers

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// copyTree copies the tree at src into the container root mounted at root,
// at the absolute path dest, owned by root (0:0), with modes and symlinks
// as they are and every time set to when. dest is resolved inside root
// (symlinks of the image cannot lead it out); entries of the image that
// are in the way are replaced. It is buildah's Add for a directory
// without the tar stream and the copier process: a source of a few
// thousand files takes a fraction of the time.
func copyTree(root, dest, src string, when time.Time) error {
	top, err := securejoin.SecureJoin(root, dest)
	if err != nil {
		return fmt.Errorf("resolving %q in the image: %w", dest, err)
	}
	if err := mkdirAllOwned(root, top); err != nil {
		return err
	}
	var dirs []string
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(top, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if rel != "." {
				if err := replaceWith(target, func() error { return os.Mkdir(target, info.Mode().Perm()) }, true); err != nil {
					return err
				}
			}
			dirs = append(dirs, target)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if err := replaceWith(target, func() error { return os.Symlink(link, target) }, false); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := replaceWith(target, func() error { return copyFile(path, target, info.Mode().Perm()) }, false); err != nil {
				return err
			}
		default:
			return nil // no devices, sockets or pipes in a checkout
		}
		if err := os.Lchown(target, 0, 0); err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink == 0 && !d.IsDir() {
			return os.Chtimes(target, when, when)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dest, err)
	}
	// Directory times last, deepest first, once their entries are written.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], 0o755); err != nil {
			return err
		}
		if err := os.Chtimes(dirs[i], when, when); err != nil {
			return err
		}
	}
	return nil
}

// replaceWith creates target with create, first removing what is in the
// way (an existing directory stays when keepDir and target is one).
func replaceWith(target string, create func() error, keepDir bool) error {
	if st, err := os.Lstat(target); err == nil {
		if keepDir && st.IsDir() {
			return nil
		}
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return create()
}

// mkdirAllOwned makes dir and its missing parents under root, 0755 root:root.
func mkdirAllOwned(root, dir string) error {
	if dir == root {
		return nil
	}
	if st, err := os.Lstat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s exists in the image and is not a directory", dir[len(root):])
		}
		return nil
	}
	if err := mkdirAllOwned(root, filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return os.Lchown(dir, 0, 0)
}

func copyFile(from, to string, perm fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(to, perm) // whatever the umask made of it
}
