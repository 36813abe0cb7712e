package layers

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/storage"
)

// layerTar makes a small reproducible layer: directories with their own
// modes, a file, an executable, a symbolic link.
func layerTar(t *testing.T, content string) []byte {
	t.Helper()
	when := time.Unix(1750000000, 0)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []*tar.Header{
		{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "app/a.py", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))},
		{Name: "app/l", Typeflag: tar.TypeSymlink, Linkname: "a.py", Mode: 0o777},
		{Name: "app/private/", Typeflag: tar.TypeDir, Mode: 0o700},
		{Name: "app/private/run.sh", Typeflag: tar.TypeReg, Mode: 0o755, Size: 3},
	} {
		h.ModTime, h.Format = when, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case "app/a.py":
			_, _ = tw.Write([]byte(content))
		case "app/private/run.sh":
			_, _ = tw.Write([]byte("ls\n"))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func tarProducer(b []byte) producer {
	return producer{open: func() (io.ReadCloser, digest.Digest, error) {
		return io.NopCloser(bytes.NewReader(b)), digest.FromBytes(b), nil
	}}
}

// TestRestackByLinks: a layer restacked over another parent is made of
// hard links to the stored layer's files (the same inodes, no file
// written again), with its directories' modes and times, and its diff is
// the same bytes.
func TestRestackByLinks(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("an overlay store needs root here (make test-unit runs as root)")
	}
	dir := t.TempDir()
	store, err := storage.GetStore(storage.StoreOptions{
		GraphRoot: filepath.Join(dir, "root"), RunRoot: filepath.Join(dir, "run"), GraphDriverName: "overlay",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = store.Shutdown(true) }()
	ctx := context.Background()
	app := layerTar(t, "x = 1\n")

	first := &stack{store: store}
	orig, err := first.push(ctx, KindInstall, "key-app", tarProducer(app))
	if err != nil || orig.How != HowBuilt {
		t.Fatalf("first push: %v, %q", err, orig.How)
	}
	second := &stack{store: store}
	if _, err := second.push(ctx, KindCheckout, "key-other", tarProducer(layerTar(t, "y = 2\n"))); err != nil {
		t.Fatal(err)
	}
	// The producer would fail: the layer must come from the store.
	again, err := second.push(ctx, KindInstall, "key-app", producer{open: func() (io.ReadCloser, digest.Digest, error) {
		t.Error("the restacked layer was produced again")
		return nil, "", os.ErrInvalid
	}})
	if err != nil {
		t.Fatal(err)
	}
	if again.How != HowRestacked || again.DiffID != orig.DiffID || again.ID == orig.ID || again.Size != int64(len(app)) {
		t.Errorf("restacked %+v, want the diff ID %s over another parent, size %d", again, orig.DiffID, len(app))
	}
	oldDir, err := store.DifferTarget(orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	newDir, err := store.DifferTarget(again.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"app/a.py", "app/l", "app/private/run.sh"} {
		var a, b syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(oldDir, f), &a); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Lstat(filepath.Join(newDir, f), &b); err != nil {
			t.Fatal(err)
		}
		if a.Ino != b.Ino {
			t.Errorf("%s: inode %d in the restacked layer, %d in the stored one: written again", f, b.Ino, a.Ino)
		}
	}
	for f, mode := range map[string]os.FileMode{"app": 0o755, "app/private": 0o700} {
		fi, err := os.Lstat(filepath.Join(newDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode || !fi.ModTime().Equal(time.Unix(1750000000, 0)) {
			t.Errorf("%s: mode %v, time %v; want %v at the layer's time", f, fi.Mode().Perm(), fi.ModTime(), mode)
		}
	}
	rc, err := store.Diff("", again.ID, &storage.DiffOptions{Compression: &uncompressed})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, app) {
		t.Errorf("the restacked layer's diff differs from the stored one (%v)", err)
	}
	// The tar-split came from containers/storage's own file, not from
	// reading every file back, and it is the one a full reading gives.
	stored, err := store.Layer(orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := storedTarSplit(store, *stored)
	if err != nil {
		t.Fatalf("the stored tar-split was not found: %v", err)
	}
	defer fast.Close()
	slow, size, err := diffTarSplit(store, *stored)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	a, _ := io.ReadAll(fast)
	b, _ := io.ReadAll(slow)
	if !bytes.Equal(a, b) || size != stored.UncompressedSize {
		t.Errorf("the stored tar-split (%d bytes) differs from the one read back (%d bytes), or the size %d from %d", len(a), len(b), size, stored.UncompressedSize)
	}
}
