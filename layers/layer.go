package layers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/layers/sbom"
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
	// Python lists the Python distributions an install layer adds (its
	// *.dist-info and *.egg-info metadata), for the SBOM; nil for a
	// checkout layer.
	Python *[]sbom.Python `json:"python,omitempty"`
	// ID is the storage layer holding it in the local store.
	ID string `json:"-"`
	// How is how this build got it (HowBuilt, HowReused, HowRestacked).
	How string `json:"-"`
	// CreatedBy and Created are the history entry of the layer.
	CreatedBy string    `json:"-"`
	Created   time.Time `json:"-"`
}

// stack puts keyed layers on top of each other in a store. A layer's
// storage ID is its chain ID, as containers/image computes it
// (sha256(parentID + "+" + diffID)), so that buildah's commit and a pull
// find the layers strata made and never copy them; the key is kept as the
// layer's metadata, so that a key seen before gives its diff ID without
// producing the layer, and a layer with that key over another parent (a
// source whose earlier neighbour changed) is applied again from its
// stored diff instead of being built anew. Each file is written once per
// storage layer: containers/storage applies the tar stream straight into
// the layer's directory and keeps its tar-split, so the diff read back is
// the same bytes.
type stack struct {
	store storage.Store
	top   string // storage ID of the top layer ("" for none)
}

// producer makes a layer's tar stream.
type producer struct {
	// open returns the stream and, when it knows it, its diff ID (the
	// sha256 of the stream).
	open func() (diff io.ReadCloser, diffID digest.Digest, err error)
	// replayable is set when open can be called again for the same bytes
	// and is cheaper than reading a stored layer back (a checkout read
	// from git objects): such a layer is produced again rather than
	// restacked, and a stream of unknown diff ID is read twice, once to
	// hash it.
	replayable bool
}

// layerMeta is the metadata line strata writes on its storage layers, one
// per key that gave that layer's bytes.
func layerMeta(kind, key string) string { return "strata-layer:" + kind + ":" + key }

// chainID is the storage ID containers/image gives the layer with diff ID
// diffID over parent.
func chainID(parent string, diffID digest.Digest) string {
	if parent == "" {
		return diffID.Encoded()
	}
	return digest.Canonical.FromString(parent + "+" + diffID.Encoded()).Encoded()
}

// push puts layer kind/key over the stack's top and makes it the top
// (key "" for a layer no key stands for: always produced):
// reused when that layer is in the store, restacked from the diff of a
// layer with the same key elsewhere in the store, else built from the tar
// stream produce returns. The returned Layer has ID, DiffID, Size and How.
func (s *stack) push(ctx context.Context, kind, key string, produce producer) (Layer, error) {
	l := Layer{Kind: kind, Key: key, How: HowBuilt}
	var diff io.ReadCloser
	if from, ok := s.find(kind, key); ok && key != "" {
		l.DiffID, l.ID = from.UncompressedDigest, chainID(s.top, from.UncompressedDigest)
		if got, err := s.store.Layer(l.ID); err == nil && got.UncompressedDigest == l.DiffID {
			l.How, l.Size = HowReused, got.UncompressedSize
			s.top = l.ID
			return l, s.mark(l.ID, kind, key, got.Metadata)
		}
		l.How = HowRestacked
		got, err := linkLayer(s.store, from, l.ID, s.top)
		if errors.Is(err, storage.ErrDuplicateID) {
			got, err = s.store.Layer(l.ID)
		}
		if err == nil && got.UncompressedDigest == l.DiffID {
			l.Size = got.UncompressedSize
			s.top = l.ID
			return l, s.mark(l.ID, kind, key, got.Metadata)
		}
		if err != nil && ctx.Err() != nil {
			return l, ctx.Err()
		}
		if err == nil {
			// Not the bytes expected: remove it, write it anew below.
			_ = s.store.DeleteLayer(l.ID)
		} else if !errors.Is(err, errNoLink) {
			logrus.Debugf("restacking the %s layer %s by links: %v", kind, short(l.ID), err)
		}
		if !produce.replayable {
			if rc, err := storedDiff(s.store, from.ID); err == nil {
				diff = rc
			}
		}
	}
	if err := ctx.Err(); err != nil {
		if diff != nil {
			diff.Close()
		}
		return l, err
	}
	if diff == nil {
		rc, diffID, err := produce.open()
		if err != nil {
			return l, err
		}
		if diffID == "" && l.How == HowRestacked {
			diffID = l.DiffID // the same key gives the same bytes
		}
		if diffID == "" {
			if !produce.replayable {
				rc.Close()
				return l, fmt.Errorf("internal error: %s layer of unknown diff ID", kind)
			}
			// Hash a first reading, then read it again to write it.
			d := digest.Canonical.Digester()
			_, err := io.Copy(d.Hash(), rc)
			rc.Close()
			if err != nil {
				return l, err
			}
			diffID = d.Digest()
			if rc, _, err = produce.open(); err != nil {
				return l, err
			}
		}
		l.DiffID, l.ID, diff = diffID, chainID(s.top, diffID), rc
	}
	defer diff.Close()
	got, _, err := s.store.PutLayer(l.ID, s.top, nil, "", false, nil, diff)
	if errors.Is(err, storage.ErrDuplicateID) {
		got, err = s.store.Layer(l.ID) // the same bytes over the same parent are there
	}
	if err != nil {
		return l, fmt.Errorf("writing the %s layer: %w", kind, err)
	}
	if got.UncompressedDigest != l.DiffID {
		// Not the bytes its key gave before (another strata version
		// made that layer): no layer may have a chain ID it does not
		// match.
		if derr := s.store.DeleteLayer(l.ID); derr != nil {
			return l, fmt.Errorf("writing the %s layer: its diff is %s, expected %s; removing it: %w", kind, got.UncompressedDigest, l.DiffID, derr)
		}
		return l, fmt.Errorf("writing the %s layer: its diff is %s, expected %s (a layer with its key was made by another version of strata: remove it with strata cache prune)", kind, got.UncompressedDigest, l.DiffID)
	}
	l.Size = got.UncompressedSize
	s.top = l.ID
	return l, s.mark(l.ID, kind, key, got.Metadata)
}

// mark records that key kind/key gives the bytes of layer id, keeping
// the keys already recorded there.
func (s *stack) mark(id, kind, key, meta string) error {
	if key == "" {
		return nil // a layer no key stands for
	}
	line := layerMeta(kind, key)
	lines := strings.Split(meta, "\n")
	if slices.Contains(lines, line) {
		return nil
	}
	if meta != "" {
		line = meta + "\n" + line
	}
	if err := s.store.SetMetadata(id, line); err != nil {
		return fmt.Errorf("recording the key of the %s layer: %w", kind, err)
	}
	return nil
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
	return spool("strata-layer-", io.MultiReader(&buf, rc))
}

// spool copies r into an unlinked temporary file (gone when it is closed)
// and returns it, read from its start.
func spool(prefix string, r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", prefix)
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if _, err := io.Copy(f, r); err != nil {
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
func (s *stack) find(kind, key string) (storage.Layer, bool) {
	all, err := s.store.Layers()
	if err != nil {
		return storage.Layer{}, false
	}
	meta := layerMeta(kind, key)
	for _, l := range all {
		if l.UncompressedDigest != "" && strings.Contains(l.Metadata, meta) && slices.Contains(strings.Split(l.Metadata, "\n"), meta) {
			return l, true
		}
	}
	return storage.Layer{}, false
}
