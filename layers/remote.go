package layers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// This file is the final image without a store: its layers as streams
// and its configuration and manifest over a base that is a registry's,
// for a build that composes the image in the registry.

// Layer returns the Layer value of a planned layer: kind, source, key and
// history entry, without the diff ID and size its bytes give.
func (s *FinalSpec) Layer(p PlannedLayer) (Layer, error) {
	for _, src := range s.Sources {
		if src.Name == p.Source {
			l := Layer{Kind: p.Kind, Key: p.Key}
			s.describe(&l, src)
			return l, nil
		}
	}
	return Layer{}, fmt.Errorf("internal error: no source %q", p.Source)
}

// CheckoutStream returns the tar stream of the named source's checkout
// layer: the same bytes as that layer in a store.
func (s *FinalSpec) CheckoutStream(name string) (io.ReadCloser, error) {
	for _, src := range s.Sources {
		if src.Name == name {
			return checkoutTar(src, s.epoch(src))
		}
	}
	return nil, fmt.Errorf("internal error: no source %q", name)
}

// InstallStream runs the named source's install command over the base,
// which must be in env's store, and returns what it wrote as a tar stream
// with its diff ID. cleanup removes the working images; call it when the
// stream is read.
func InstallStream(ctx context.Context, env *Env, spec *FinalSpec, name string) (diff io.ReadCloser, diffID digest.Digest, cleanup func(), err error) {
	var working []string
	cleanup = func() {
		for _, id := range working {
			if _, err := env.Store.DeleteImage(id, true); err != nil {
				env.Log.Warnf("removing the working image %s: %v", short(id), err)
			}
		}
	}
	for _, src := range spec.Sources {
		if src.Name == name {
			diff, diffID, err = runInstall(ctx, env, spec, src, &working, nil)
			if err != nil {
				cleanup()
				return nil, "", nil, err
			}
			return diff, diffID, cleanup, nil
		}
	}
	return nil, "", nil, fmt.Errorf("internal error: no source %q", name)
}

// ImageDocs returns the configuration and the manifest of the spec's
// final image over a base whose configuration is cfg and whose layers in
// the manifest are base, with the layers out (as Planned lists them, each
// with its diff ID and size) stored as the blobs blobs. The configuration
// is the bytes a build in a store makes, so the image ID is the same.
func (s *FinalSpec) ImageDocs(cfg *v1.Image, base []v1.Descriptor, out []Layer, blobs []v1.Descriptor) (config, man []byte, err error) {
	if len(out) != len(blobs) {
		return nil, nil, fmt.Errorf("internal error: %d layers and %d blobs", len(out), len(blobs))
	}
	return imageDocs(cfg, base, s.composition(out), blobs)
}

// RecordedLayers reads the LabelLayers record of an image configuration's
// labels: nil when there is none.
func RecordedLayers(labels map[string]string) ([]Layer, error) {
	raw, ok := labels[LabelLayers]
	if !ok {
		return nil, nil
	}
	var out []Layer
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("reading the label %s: %w", LabelLayers, err)
	}
	for _, l := range out {
		if l.Key == "" || l.DiffID.Validate() != nil {
			return nil, fmt.Errorf("the label %s has a layer without a key or a valid diff ID", LabelLayers)
		}
	}
	return out, nil
}
