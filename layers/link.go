package layers

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/vbatts/tar-split/tar/asm"
	tsstorage "github.com/vbatts/tar-split/tar/storage"
	"go.podman.io/storage"
	drivers "go.podman.io/storage/drivers"
	"go.podman.io/storage/pkg/archive"
	"golang.org/x/sys/unix"
)

// errNoLink says that a layer cannot be restacked by links here: the
// caller applies its stored diff instead.
var errNoLink = errors.New("restacking by hard links is not possible")

// linkLayer restacks the stored layer from as the storage layer id over
// parent without writing its files again: the new layer's directory is
// made of hard links to from's files (a layer's directory is never
// written in place: a container's changes go to its own upper layer),
// through containers/storage's staged-layer API, as its partial pulls
// deduplicate files; directories are made anew with the same mode, owner,
// times and extended attributes. The tar-split is read from from's diff,
// so the new layer's diff is the same bytes (diff ID and size checked).
// Only the overlay driver keeps a layer's files in a directory of their
// own; with another driver it returns errNoLink.
func linkLayer(store storage.Store, from storage.Layer, id, parent string) (*storage.Layer, error) {
	if store.GraphDriverName() != "overlay" {
		return nil, errNoLink
	}
	src, err := store.DifferTarget(from.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoLink, err)
	}
	ts, size, err := tarSplitOf(store, from)
	if err != nil {
		return nil, err
	}
	defer ts.Close()
	d := &linkDiffer{src: src, out: drivers.DriverWithDifferOutput{
		Size: size, UIDs: from.UIDs, GIDs: from.GIDs, UncompressedDigest: from.UncompressedDigest, TarSplit: ts,
	}}
	opts := &drivers.ApplyDiffWithDifferOpts{}
	out, err := store.PrepareStagedLayer(opts, d)
	if err != nil {
		if out != nil && out.Target != "" {
			out.TarSplit = nil // ours, closed above
			_ = store.CleanupStagedLayer(out)
		}
		return nil, fmt.Errorf("%w: %v", errNoLink, err)
	}
	layer, err := store.ApplyStagedLayer(storage.ApplyStagedLayerOptions{ID: id, ParentLayer: parent, DiffOutput: out, DiffOptions: opts})
	if err != nil {
		out.TarSplit = nil
		_ = store.CleanupStagedLayer(out)
		return nil, err
	}
	return layer, nil
}

// tarSplitOf returns the tar-split of a stored layer's diff (the JSON
// stream containers/storage keeps, uncompressed) in an unlinked temporary
// file, and the diff's size. It reads the tar-split containers/storage
// wrote when it made the layer, where its layer store keeps it
// (GRAPHROOT/DRIVER-layers/ID.tar-split.gz), so that the files need not
// be read: a stored layer's files never change. Where that file is not,
// it reads the whole diff back instead, checking it against the diff ID.
func tarSplitOf(store storage.Store, l storage.Layer) (*os.File, int64, error) {
	if f, err := storedTarSplit(store, l); err == nil {
		return f, l.UncompressedSize, nil
	}
	return diffTarSplit(store, l)
}

// storedTarSplit reads the tar-split file containers/storage keeps for l.
func storedTarSplit(store storage.Store, l storage.Layer) (*os.File, error) {
	if l.UncompressedSize <= 0 || l.UncompressedDigest == "" {
		return nil, errNoLink
	}
	gz, err := os.Open(filepath.Join(store.GraphRoot(), store.GraphDriverName()+"-layers", l.ID+".tar-split.gz"))
	if err != nil {
		return nil, err
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		return nil, err
	}
	return spool("strata-tar-split-", zr)
}

// diffTarSplit records the tar-split of l's diff as it reads it back, and
// checks the diff against l's diff ID.
func diffTarSplit(store storage.Store, l storage.Layer) (*os.File, int64, error) {
	rc, err := store.Diff("", l.ID, &storage.DiffOptions{Compression: &uncompressed})
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "strata-tar-split-")
	if err != nil {
		return nil, 0, err
	}
	os.Remove(f.Name()) // gone when closed
	d := digest.Canonical.Digester()
	stream, done, err := asm.NewInputTarStreamWithDone(io.TeeReader(rc, d.Hash()), tsstorage.NewJSONPacker(f), tsstorage.NewDiscardFilePutter())
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	size, err := io.Copy(io.Discard, stream)
	stream.Close()
	if derr := <-done; err == nil {
		err = derr
	}
	if err == nil {
		// The tar stream may end in padding the tar reader does not read.
		var n int64
		n, err = io.Copy(d.Hash(), rc)
		size += n
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("reading the diff of layer %s: %w", short(l.ID), err)
	}
	if d.Digest() != l.UncompressedDigest {
		f.Close()
		return nil, 0, fmt.Errorf("%w: the diff of layer %s reads as %s, not %s", errNoLink, short(l.ID), d.Digest(), l.UncompressedDigest)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// linkDiffer is a containers/storage Differ that fills a staging
// directory with hard links to the files of a layer's directory.
type linkDiffer struct {
	src string
	out drivers.DriverWithDifferOutput
}

func (d *linkDiffer) ApplyDiff(dest string, _ *archive.TarOptions, _ *drivers.DifferOptions) (drivers.DriverWithDifferOutput, error) {
	type dir struct {
		path string
		st   unix.Stat_t
	}
	var dirs []dir
	err := filepath.WalkDir(d.src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, d.src)
		target := filepath.Join(dest, rel)
		if !e.IsDir() {
			return os.Link(p, target)
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if rel != "" {
			if err := unix.Mkdir(target, 0o700); err != nil {
				return err
			}
		}
		if err := unix.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if err := unix.Chmod(target, st.Mode&0o7777); err != nil {
			return err
		}
		if err := copyXattrs(p, target); err != nil {
			return err
		}
		dirs = append(dirs, dir{target, st})
		return nil
	})
	if err != nil {
		return d.out, fmt.Errorf("linking the files of %s: %w", d.src, err)
	}
	// Directory times last, deepest first: linking into a directory
	// changes its times.
	slices.Reverse(dirs)
	for _, x := range dirs {
		ts := []unix.Timespec{x.st.Atim, x.st.Mtim}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, x.path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return d.out, err
		}
	}
	if len(dirs) > 0 {
		mode := os.FileMode(dirs[len(dirs)-1].st.Mode&0o777) | os.ModeDir
		d.out.RootDirMode = &mode
	}
	return d.out, nil
}

func (d *linkDiffer) Close() error { return nil }

// copyXattrs copies the extended attributes of a directory (overlay's
// opaque marker, rootless storage's override of owner and mode).
func copyXattrs(from, to string) error {
	size, err := unix.Llistxattr(from, nil)
	if err != nil || size <= 0 {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return err
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(from, buf)
	if err != nil {
		return err
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		vsize, err := unix.Lgetxattr(from, name, nil)
		if err != nil {
			return err
		}
		val := make([]byte, vsize)
		if vsize, err = unix.Lgetxattr(from, name, val); err != nil {
			return err
		}
		if err := unix.Lsetxattr(to, name, val[:vsize], 0); err != nil {
			return err
		}
	}
	return nil
}
