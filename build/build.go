package build

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/buildah"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage/pkg/archive"
)

// Options configure one build.
type Options struct {
	Recipe   *recipes.Recipe
	Output   string // --output; "" for the local store
	IIDFile  string // --iidfile
	Store    stores.Options
	Runtime  string // --runtime; "" for runc
	Log      *logrus.Logger
	Progress io.Writer  // where dnf and run steps print (stderr)
	Epoch    *time.Time // SOURCE_DATE_EPOCH
}

// Result says what a build made.
type Result struct {
	ImageID     string `json:"image_id"`
	Destination string `json:"destination"`
	BaseImageID string `json:"base_image_id"`
	BaseKey     string `json:"base_key"`
	BaseCached  bool   `json:"base_cached"`
}

// Run builds the recipe's image and commits it to its destination. Nothing
// is left behind on failure: no working container, no mount, no tag.
func Run(ctx context.Context, opts Options) (*Result, error) {
	r := opts.Recipe
	dest, err := ParseDestination(opts.Output, r.Name)
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = logrus.New()
		log.SetOutput(io.Discard)
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	plan := PlanRecipe(r)
	spec := plan.Base.spec
	var runtime string
	if spec.Mode == recipes.InstallContainer {
		if runtime, err = stores.Runtime(opts.Runtime); err != nil {
			return nil, err
		}
	}

	store, err := stores.Open(opts.Store, log)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	policy, err := store.PolicyPath()
	if err != nil {
		return nil, err
	}
	env := &layers.Env{
		Store: store, Log: log, Output: progress, PolicyPath: policy, Runtime: runtime,
		SystemContext: &types.SystemContext{}, Epoch: opts.Epoch,
	}

	res := &Result{BaseKey: plan.Base.Key, Destination: dest.String()}
	done := phase(log, "base")
	if err := plan.CheckCache(store); err != nil {
		return nil, err
	}
	baseID := plan.Base.Cache.ImageID
	if baseID != "" {
		res.BaseCached = true
		done("hit", "reusing base image %s (key %s)", short(baseID), res.BaseKey[:16])
	} else {
		log.Infof("base: no image with key %s in the local store: building it", res.BaseKey[:16])
		if baseID, err = layers.BuildBase(ctx, env, spec, r.Name); err != nil {
			return nil, fmt.Errorf("building the base layer: %w", err)
		}
		done("built", "built base image %s", short(baseID))
	}
	res.BaseImageID = baseID

	done = phase(log, "final")
	id, err := commitFinal(ctx, env, r, baseID, dest)
	if err != nil {
		return nil, err
	}
	res.ImageID = id
	done("committed", "committed %s to %s", short(id), dest)
	if opts.IIDFile != "" {
		if err := os.WriteFile(opts.IIDFile, []byte("sha256:"+id), 0o644); err != nil {
			return nil, fmt.Errorf("writing --iidfile: %w", err)
		}
	}
	return res, nil
}

// commitFinal applies the recipe's image configuration over the base and
// commits the image to dest.
func commitFinal(ctx context.Context, env *layers.Env, r *recipes.Recipe, baseID string, dest Destination) (string, error) {
	ref, err := dest.Reference(env.Store)
	if err != nil {
		return "", fmt.Errorf("resolving --output %q: %w", dest, err)
	}
	opts, err := env.BuilderOptions(baseID, "strata-"+r.Name)
	if err != nil {
		return "", err
	}
	b, err := buildah.NewBuilder(ctx, env.Store, opts)
	if err != nil {
		return "", fmt.Errorf("preparing the final image: %w", err)
	}
	defer func() {
		if err := b.Delete(); err != nil {
			env.Log.Warnf("removing working container %q: %v", b.Container, err)
		}
	}()
	applyConfig(b, r)
	epoch := env.Epoch
	if epoch == nil {
		if t, err := time.Parse(time.RFC3339, b.Labels()[layers.LabelCreated]); err == nil {
			epoch = &t
		} else {
			t := time.Unix(0, 0).UTC()
			epoch = &t
		}
	}
	b.SetLabel(layers.LabelCreated, epoch.UTC().Format(time.RFC3339))
	b.SetCreatedBy("strata: image configuration of recipe " + r.Name)
	compression := archive.Gzip
	if dest.Transport == "containers-storage" {
		compression = archive.Uncompressed
	}
	id, _, _, err := b.Commit(ctx, ref, buildah.CommitOptions{
		Compression:           compression,
		SignaturePolicyPath:   env.PolicyPath,
		SystemContext:         env.SystemContext,
		SourceDateEpoch:       epoch,
		RewriteTimestamp:      true,
		EmptyLayer:            true,
		PreferredManifestType: "application/vnd.oci.image.manifest.v1+json",
	})
	if err != nil {
		return "", fmt.Errorf("committing the image to %s: %w", dest, err)
	}
	if err := ctx.Err(); err != nil {
		// Interrupted while committing: take the new name off again (the
		// image itself may be an identical one that existed before).
		if dest.Transport == "containers-storage" {
			if rerr := env.Store.RemoveNames(id, []string{ref.DockerReference().String()}); rerr != nil {
				env.Log.Warnf("untagging interrupted image %s: %v", short(id), rerr)
			}
		}
		return "", err
	}
	return id, nil
}

func applyConfig(b *buildah.Builder, r *recipes.Recipe) {
	im := r.Image
	if im.Entrypoint != nil {
		b.SetEntrypoint(im.Entrypoint)
	}
	if im.Cmd != nil {
		b.SetCmd(im.Cmd)
	}
	for _, k := range slices.Sorted(maps.Keys(im.Env)) {
		b.SetEnv(k, im.Env[k])
	}
	if im.Workdir != "" {
		b.SetWorkDir(im.Workdir)
	}
	if im.User != "" {
		b.SetUser(im.User)
	}
	for _, k := range slices.Sorted(maps.Keys(im.Labels)) {
		b.SetLabel(k, im.Labels[k])
	}
	for _, p := range im.Ports {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		b.SetPort(p)
	}
	b.SetLabel("org.opencontainers.image.title", r.Name)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// phase logs the start of a pipeline phase and returns the function that
// logs its end with the decision taken and the duration.
func phase(log *logrus.Logger, name string) func(decision, format string, args ...any) {
	start := time.Now()
	return func(decision, format string, args ...any) {
		log.WithFields(logrus.Fields{
			"phase":    name,
			"decision": decision,
			"duration": time.Since(start).Round(time.Millisecond).String(),
		}).Infof(format, args...)
	}
}
