package build

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/layers"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/transports/alltransports"
)

// remoteManifest is what a registry's manifest of a tag says.
type remoteManifest struct {
	raw    []byte
	digest digest.Digest
	config string            // the config digest
	notes  map[string]string // the manifest's annotations
}

// manifestOf reads the manifest ref names (docker://REPO:TAG): no blob is
// fetched. A tag that does not exist gives nil.
func (p *pusher) manifestOf(ctx context.Context, ref string) (*remoteManifest, error) {
	r, err := alltransports.ParseImageName(ref)
	if err != nil {
		return nil, err
	}
	src, err := r.NewImageSource(ctx, p.sys)
	if err != nil {
		if isManifestUnknown(err) {
			return nil, nil
		}
		return nil, registryError(p.sys, hostOf(ref), err)
	}
	defer src.Close()
	raw, _, err := src.GetManifest(ctx, nil)
	if err != nil {
		if isManifestUnknown(err) {
			return nil, nil
		}
		return nil, registryError(p.sys, hostOf(ref), err)
	}
	var m struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", ref, err)
	}
	d, err := manifest.Digest(raw)
	if err != nil {
		return nil, err
	}
	return &remoteManifest{raw: raw, digest: d, config: m.Config.Digest, notes: m.Annotations}, nil
}

// putManifest puts raw at ref: a manifest whose blobs the repository has
// already, so that nothing but the manifest moves.
func (p *pusher) putManifest(ctx context.Context, ref string, raw []byte) (digest.Digest, error) {
	r, err := alltransports.ParseImageName(ref)
	if err != nil {
		return "", err
	}
	dest, err := r.NewImageDestination(ctx, p.sys)
	if err != nil {
		return "", registryError(p.sys, hostOf(ref), err)
	}
	defer dest.Close()
	if err := dest.PutManifest(ctx, raw, nil); err != nil {
		return "", fmt.Errorf("tagging %s: %w", strings.TrimPrefix(ref, "docker://"), registryError(p.sys, hostOf(ref), err))
	}
	return manifest.Digest(raw)
}

// composedInRegistry handles a --push build on a store that lacks the
// base: when push.repository already holds, at the profile's first tag,
// the image this build would make (its manifest carries the same final
// key, computed over the registry cache's base), nothing is pulled, built
// or uploaded: every tag is pointed at that manifest. It reports whether
// it did so.
func composedInRegistry(ctx context.Context, store *stores.Store, plan *Plan, opts Options, res *Result) (bool, error) {
	if !opts.Push || len(plan.Sources) == 0 || len(plan.Tags) == 0 || !plan.registryCache() || plan.Base.Incomplete != "" {
		return false, nil
	}
	if img, err := plan.checkLocalBase(store); err != nil || img != nil {
		return false, err // the local store answers faster
	}
	log := opts.Log
	p, err := newPusher(store, opts.Registry, opts.Progress)
	if err != nil {
		return false, err
	}
	base, err := p.manifestOf(ctx, "docker://"+cacheRepo(plan.recipe)+":"+baseTag(plan.Base.Key))
	if err != nil || base == nil {
		return false, nil // not in the registry cache: the usual path says why
	}
	baseID := strings.TrimPrefix(base.config, "sha256:")
	spec, err := plan.finalSpec(baseID, nil)
	if err != nil {
		return false, nil
	}
	key := spec.Key()
	repo := plan.recipe.Push.Repository
	there, err := p.manifestOf(ctx, "docker://"+repo+":"+plan.Tags[0])
	if err != nil || there == nil || there.notes[layers.LabelFinalKey] != key {
		return false, nil
	}
	done := phase(log, "final")
	res.BaseImageID, res.BaseCached, res.FinalKey, res.FinalCached = baseID, true, key, true
	res.ImageID = strings.TrimPrefix(there.config, "sha256:")
	done("hit", "%s:%s is the image this build would make (final key %s): nothing to build, pull or upload", repo, plan.Tags[0], key[:16])
	if err := writeIID(opts.IIDFile, res.ImageID); err != nil {
		return true, err
	}
	return true, pushTags(ctx, p, plan, opts, res, func(ref string) (digest.Digest, error) {
		if now, err := p.manifestOf(ctx, ref); err == nil && now != nil && now.digest == there.digest {
			return now.digest, nil // already there
		}
		return p.putManifest(ctx, ref, there.raw)
	})
}
