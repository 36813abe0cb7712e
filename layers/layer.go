package layers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/storage"
	"go.podman.io/storage/pkg/archive"
)

// Layer kinds: what goes into a layer over the base.
const (
	// KindCheckout is a source's files at its path, with its .git and its
	// provenance record, written from the clone cache as one tar stream.
	KindCheckout = "checkout"
	// KindInstall is what a source's install command wrote, run over the
	// base and that source's checkout (and the checkouts it needs).
	KindInstall = "install"
)

// How a build got a layer.
const (
	HowBuilt     = "built"     // written from its producer (a tar stream, an install run)
	HowReused    = "reused"    // the same layer over the same parent was in the store
	HowRestacked = "restacked" // a layer with its key was in the store over another parent: its diff was applied again
)

// Layer is one layer strata puts over a base, as go-containerregistry's
// v1.Layer is a value: what goes into it (Kind, Source), the key that
// determines its bytes, and its diff ID. The same key gives the same tar
// stream, and so the same diff ID, on every machine.
type Layer struct {
	Kind   string        `json:"kind"`
	Source string        `json:"source"`
	Key    string        `json:"key"`
	DiffID digest.Digest `json:"diff_id"`
	// Size is the uncompressed size in bytes.
	Size int64 `json:"size"`
	// ID is the storage layer holding it in the local store.
	ID string `json:"-"`
	// How is how this build got it (HowBuilt, HowReused, HowRestacked).
	How string `json:"-"`
	// CreatedBy and Created are the history entry of the layer.
	CreatedBy string    `json:"-"`
	Created   time.Time `json:"-"`
}

// stack puts keyed layers on top of each other in a store. A layer's
// storage ID is a function of its parent and key, so the same layer over
// the same parent is found again by ID; the key is also kept as the
// layer's metadata, so that a layer with that key over another parent
// (a source whose earlier neighbour changed) is applied again from its
// stored diff instead of being built anew. Each file is written once per
// storage layer: containers/storage applies the tar stream straight into
// the layer's directory and keeps its tar-split, so the diff read back is
// the same bytes.
type stack struct {
	store storage.Store
	top   string // storage ID of the top layer ("" for none)
}

// layerMeta is the metadata strata writes on its storage layers.
func layerMeta(kind, key string) string { return "strata-layer:" + kind + ":" + key }

// stackedID is the storage ID of the layer kind/key over parent.
func stackedID(parent, kind, key string) string {
	sum := sha256.Sum256([]byte("strata-layer\x00" + parent + "\x00" + kind + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// push puts layer kind/key over the stack's top and makes it the top:
// reused when that layer is in the store, restacked from the diff of a
// layer with the same key elsewhere in the store, else built from the tar
// stream produce returns. The returned Layer has ID, DiffID, Size and How.
func (s *stack) push(ctx context.Context, kind, key string, produce func() (io.ReadCloser, error)) (Layer, error) {
	l := Layer{Kind: kind, Key: key, ID: stackedID(s.top, kind, key)}
	if got, err := s.store.Layer(l.ID); err == nil && got.UncompressedDigest != "" {
		l.How, l.DiffID, l.Size = HowReused, got.UncompressedDigest, got.UncompressedSize
		s.top = l.ID
		return l, nil
	}
	if err := ctx.Err(); err != nil {
		return l, err
	}
	var diff io.ReadCloser
	var err error
	l.How = HowBuilt
	if from, ok := s.find(kind, key); ok {
		if diff, err = storedDiff(s.store, from); err == nil {
			l.How = HowRestacked
		}
	}
	if l.How == HowBuilt {
		if diff, err = produce(); err != nil {
			return l, err
		}
	}
	defer diff.Close()
	got, _, err := s.store.PutLayer(l.ID, s.top, nil, "", false, nil, diff)
	if errors.Is(err, storage.ErrDuplicateID) {
		got, err = s.store.Layer(l.ID) // another build made it meanwhile
	}
	if err != nil {
		return l, fmt.Errorf("writing the %s layer: %w", kind, err)
	}
	if err := s.store.SetMetadata(l.ID, layerMeta(kind, key)); err != nil {
		return l, fmt.Errorf("recording the key of the %s layer: %w", kind, err)
	}
	l.DiffID, l.Size = got.UncompressedDigest, got.UncompressedSize
	s.top = l.ID
	return l, nil
}

var uncompressed = archive.Uncompressed

// spoolLimit is how much of a stored diff is held in memory; the rest
// goes to a temporary file.
const spoolLimit = 32 << 20

// storedDiff returns the diff of a storage layer against its parent, the
// tar stream it was made from (containers/storage keeps its tar-split),
// read out completely first: the store holds its lock while a diff is
// read, and writing a layer needs it.
func storedDiff(store storage.Store, id string) (io.ReadCloser, error) {
	rc, err := store.Diff("", id, &storage.DiffOptions{Compression: &uncompressed})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, rc, spoolLimit)
	if err == io.EOF || n < spoolLimit {
		return io.NopCloser(&buf), nil
	}
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "strata-layer-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // gone when closed
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// HasLayer reports whether the store holds a layer with the key kind/key
// (over any parent: a build reuses or restacks it).
func HasLayer(store storage.Store, kind, key string) bool {
	_, ok := (&stack{store: store}).find(kind, key)
	return ok
}

// find returns a storage layer with the key kind/key, over any parent.
func (s *stack) find(kind, key string) (string, bool) {
	all, err := s.store.Layers()
	if err != nil {
		return "", false
	}
	meta := layerMeta(kind, key)
	for _, l := range all {
		if l.Metadata == meta && l.UncompressedDigest != "" {
			return l.ID, true
		}
	}
	return "", false
}
