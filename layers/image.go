package layers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/strata-build/strata/recipes"
	is "go.podman.io/image/v5/storage"
	"go.podman.io/storage"
)

// composition is an image to make in the store, as go-containerregistry's
// mutate.Append makes one: a base image's layers and configuration, then
// more layers, each with its history entry, and a configuration edit.
// Nothing of the base is copied: the new image's top layer sits on the
// base's chain.
type composition struct {
	base    string  // ID of the base image in the store
	layers  []Layer // over the base, bottom first; the last one's ID is the top
	created time.Time
	edit    func(*v1.ImageConfig)
	names   []string
	// notes are the manifest's annotations (the final key: a registry
	// can be asked for it without fetching a blob).
	notes map[string]string
}

// compose makes the image and returns its ID (the digest of its
// configuration, as buildah's are). An identical image that exists is
// returned as it is.
func compose(ctx context.Context, store storage.Store, c composition) (string, error) {
	cfg, descs, top, err := baseOf(ctx, store, c.base)
	if err != nil {
		return "", err
	}
	var blobs []v1.Descriptor
	for _, l := range c.layers {
		blobs = append(blobs, v1.Descriptor{MediaType: v1.MediaTypeImageLayer, Digest: l.DiffID, Size: l.Size})
		top = l.ID
	}
	config, man, err := imageDocs(cfg, descs, c, blobs)
	if err != nil {
		return "", err
	}
	configDigest := digest.FromBytes(config)
	created := c.created.UTC()
	manDigest := digest.FromBytes(man)
	id := configDigest.Encoded()
	_, err = store.CreateImage(id, nil, top, "", &storage.ImageOptions{
		CreationDate: created,
		Digest:       manDigest,
		BigData: []storage.ImageBigDataOption{
			{Key: configDigest.String(), Data: config, Digest: configDigest},
			{Key: storage.ImageDigestManifestBigDataNamePrefix + "-" + manDigest.String(), Data: man, Digest: manDigest},
			{Key: storage.ImageDigestBigDataKey, Data: man, Digest: manDigest},
		},
	})
	if err != nil && !errors.Is(err, storage.ErrDuplicateID) {
		return "", fmt.Errorf("creating the image: %w", err)
	}
	if len(c.names) > 0 {
		// Names move from any image that had them, as buildah tag does.
		if err := store.AddNames(id, c.names); err != nil {
			return "", fmt.Errorf("naming the image: %w", err)
		}
	}
	return id, nil
}

// baseOf returns the configuration, layers and top layer of the image an
// image is composed over: the store image base, or an empty one
// (scratch) when base is "".
func baseOf(ctx context.Context, store storage.Store, base string) (*v1.Image, []v1.Descriptor, string, error) {
	if base == "" {
		return &v1.Image{
			Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
			RootFS:   v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{}},
		}, nil, "", nil
	}
	baseImg, err := store.Image(base)
	if err != nil {
		return nil, nil, "", fmt.Errorf("reading base image %s: %w", short(base), err)
	}
	ref, err := is.Transport.NewStoreReference(store, nil, baseImg.ID)
	if err != nil {
		return nil, nil, "", err
	}
	img, err := ref.NewImage(ctx, nil)
	if err != nil {
		return nil, nil, "", fmt.Errorf("reading base image %s: %w", short(base), err)
	}
	defer img.Close()
	cfg, err := img.OCIConfig(ctx)
	if err != nil {
		return nil, nil, "", fmt.Errorf("reading the configuration of base image %s: %w", short(base), err)
	}
	var descs []v1.Descriptor
	for _, l := range img.LayerInfos() {
		mt := l.MediaType
		if mt == "" {
			mt = v1.MediaTypeImageLayer
		}
		descs = append(descs, v1.Descriptor{MediaType: mt, Digest: l.Digest, Size: l.Size})
	}
	return cfg, descs, baseImg.TopLayer, nil
}

// imageDocs returns the configuration and the manifest of the image c
// over a base with configuration cfg (which it changes) and layers descs:
// c's layers are blobs in the manifest. The configuration is the same
// bytes whatever the blobs are (compressed in a registry, uncompressed in
// the store), and so is the image ID.
func imageDocs(cfg *v1.Image, descs []v1.Descriptor, c composition, blobs []v1.Descriptor) (config, man []byte, err error) {
	created := c.created.UTC()
	descs = slices.Clone(descs)
	cfg.RootFS.DiffIDs = slices.Clone(cfg.RootFS.DiffIDs)
	cfg.History = slices.Clone(cfg.History)
	for i, l := range c.layers {
		descs = append(descs, blobs[i])
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
		when := created
		if !l.Created.IsZero() {
			when = l.Created.UTC()
		}
		cfg.History = append(cfg.History, v1.History{Created: &when, CreatedBy: l.CreatedBy})
	}
	if len(c.layers) == 0 {
		cfg.History = append(cfg.History, v1.History{Created: &created, CreatedBy: "strata: image configuration", EmptyLayer: true})
	}
	cfg.Created = &created
	if c.edit != nil {
		c.edit(&cfg.Config)
	}
	if config, err = json.Marshal(cfg); err != nil {
		return nil, nil, err
	}
	man, err = json.Marshal(v1.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   v1.MediaTypeImageManifest,
		Config:      v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:      descs,
		Annotations: c.notes,
	})
	return config, man, err
}

// applyImage returns the edit that applies the recipe's image
// configuration and labels, as buildah's setters do: given fields replace
// the base's, environment variables and labels are merged by name.
func applyImage(im recipes.Image, labels map[string]string) func(*v1.ImageConfig) {
	return func(c *v1.ImageConfig) {
		if im.Entrypoint != nil {
			c.Entrypoint = slices.Clone(im.Entrypoint)
		}
		if im.Cmd != nil {
			c.Cmd = slices.Clone(im.Cmd)
		}
		for _, k := range slices.Sorted(maps.Keys(im.Env)) {
			c.Env = slices.DeleteFunc(c.Env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
			c.Env = append(c.Env, k+"="+im.Env[k])
		}
		if im.Workdir != "" {
			c.WorkingDir = im.Workdir
		}
		if im.User != "" {
			c.User = im.User
		}
		if c.Labels == nil && (len(im.Labels) > 0 || len(labels) > 0) {
			c.Labels = map[string]string{}
		}
		maps.Copy(c.Labels, im.Labels)
		maps.Copy(c.Labels, labels)
		for _, p := range im.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			if c.ExposedPorts == nil {
				c.ExposedPorts = map[string]struct{}{}
			}
			c.ExposedPorts[p] = struct{}{}
		}
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
