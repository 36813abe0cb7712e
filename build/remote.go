package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/layers/sbom"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/blobinfocache/memory"
	"go.podman.io/image/v5/pkg/compression"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"
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

// openDestination opens the image destination ref (a transport:name
// reference) with the pusher's settings; a registry's failure is
// explained (registryError).
func (p *pusher) openDestination(ctx context.Context, ref string) (types.ImageDestination, error) {
	r, err := alltransports.ParseImageName(ref)
	if err != nil {
		return nil, err
	}
	dest, err := r.NewImageDestination(ctx, p.sys)
	if err != nil {
		return nil, registryError(p.sys, hostOf(ref), err)
	}
	return dest, nil
}

// putManifest puts raw at ref: a manifest whose blobs the repository has
// already, so that nothing but the manifest moves.
func (p *pusher) putManifest(ctx context.Context, ref string, raw []byte) (digest.Digest, error) {
	dest, err := p.openDestination(ctx, ref)
	if err != nil {
		return "", err
	}
	defer dest.Close()
	if err := dest.PutManifest(ctx, raw, nil); err != nil {
		return "", fmt.Errorf("tagging %s: %w", strings.TrimPrefix(ref, "docker://"), registryError(p.sys, hostOf(ref), err))
	}
	return manifest.Digest(raw)
}

// composedInRegistry handles a --push build on a store that lacks the
// base, when the registry cache has it. When push.repository already
// holds, at the profile's first tag, the image this build would make (its
// manifest carries the same final key), nothing is pulled, built or
// uploaded: every tag is pointed at that manifest. Otherwise, when that
// tag holds an earlier image of the recipe, the image is composed in the
// registry: layers whose keys the earlier image recorded are referred to
// where they are (the base's are mounted from the registry cache), the
// other checkout layers are streamed from git objects to the registry, and
// the base is pulled only when an install command must run. It reports
// whether it handled the build.
func (b *run) composedInRegistry(ctx context.Context) (bool, error) {
	env, plan, opts, res := b.env, b.plan, b.opts, b.res
	if !opts.Push || len(plan.Sources) == 0 || len(plan.Tags) == 0 || !plan.registryCache() || plan.Base.Incomplete != "" || plan.opts.Refresh {
		return false, nil
	}
	store := env.Store
	if img, err := plan.checkLocalBase(store); err != nil || img != nil {
		return false, err // the local store answers faster
	}
	log := opts.Log
	plan.checkRegistryBase(ctx, log)
	if c := plan.Base.Cache; c.Decision != DecisionHit || c.Where != WhereRegistry {
		return false, nil // the usual path says why
	}
	p, err := newPusher(env.Store, opts.Registry, opts.Progress)
	if err != nil {
		return false, err
	}
	base, err := p.manifestOf(ctx, "docker://"+cacheRepo(plan.recipe)+"@"+plan.Base.Cache.digest)
	if err != nil || base == nil {
		return false, nil
	}
	baseID := strings.TrimPrefix(base.config, "sha256:")
	spec, err := plan.finalSpec(baseID, nil)
	if err != nil {
		return false, nil
	}
	key := spec.Key()
	repo := plan.recipe.Push.Repository
	tag := "docker://" + repo + ":" + plan.Tags[0]
	there, err := p.manifestOf(ctx, tag)
	if err != nil || there == nil {
		return false, nil
	}
	res.BaseImageID, res.BaseCached, res.FinalKey = baseID, true, key
	if there.notes[layers.LabelFinalKey] != key {
		return composeChanged(ctx, env, p, plan, spec, base, there, opts, res)
	}
	done := phase(log, "final")
	res.FinalCached = true
	res.ImageID = strings.TrimPrefix(there.config, "sha256:")
	done("hit", "%s:%s is the image this build would make (final key %s): nothing to build, pull or upload", repo, plan.Tags[0], key[:16])
	if err := writeIID(opts.IIDFile, res.ImageID); err != nil {
		return true, err
	}
	if opts.SBOMFile != "" {
		doc, err := p.remoteSBOM(ctx, repo, there.digest)
		if err != nil {
			return true, err
		}
		res.SBOM = doc
		if err := writeSBOM(opts.SBOMFile, doc); err != nil {
			return true, err
		}
	}
	return true, pushTags(ctx, p, plan, opts, res, there.raw, func(ref string) (digest.Digest, error) {
		if now, err := p.manifestOf(ctx, ref); err == nil && now != nil && now.digest == there.digest {
			return now.digest, nil // already there
		}
		return p.putManifest(ctx, ref, there.raw)
	})
}

// remoteImage is an image in a registry: its configuration and layers,
// read without fetching a layer.
type remoteImage struct {
	named  reference.Named
	config *v1.Image
	blobs  []v1.Descriptor
}

// openRemote reads the configuration and the layer list of the image at
// ref (docker://...).
func (p *pusher) openRemote(ctx context.Context, ref string) (*remoteImage, error) {
	r, err := alltransports.ParseImageName(ref)
	if err != nil {
		return nil, err
	}
	img, err := r.NewImage(ctx, p.sys)
	if err != nil {
		return nil, registryError(p.sys, hostOf(ref), err)
	}
	defer img.Close()
	cfg, err := img.OCIConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration of %s: %w", strings.TrimPrefix(ref, "docker://"), registryError(p.sys, hostOf(ref), err))
	}
	out := &remoteImage{named: r.DockerReference(), config: cfg}
	for _, l := range img.LayerInfos() {
		mt := l.MediaType
		if mt == "" {
			mt = v1.MediaTypeImageLayer
		}
		out.blobs = append(out.blobs, v1.Descriptor{MediaType: mt, Digest: l.Digest, Size: l.Size})
	}
	return out, nil
}

// composeChanged composes in the registry the image of spec, after a
// change, from the earlier image there (see composedInRegistry). It
// reports false, having moved nothing, when it cannot: the earlier image
// has no record of its layers, or a blob is not where it should be.
func composeChanged(ctx context.Context, env *layers.Env, p *pusher, plan *Plan, spec *layers.FinalSpec, base, there *remoteManifest, opts Options, res *Result) (bool, error) {
	log := opts.Log
	if p.opts.CompressionFormat != nil && p.opts.CompressionFormat.Name() != compression.Gzip.Name() {
		return false, nil // the usual push recompresses every layer
	}
	repo := plan.recipe.Push.Repository
	tagRef := "docker://" + repo + ":" + plan.Tags[0]
	baseImg, err := p.openRemote(ctx, "docker://"+cacheRepo(plan.recipe)+"@"+base.digest.String())
	if err != nil {
		log.Debugf("final: not composing in the registry: %v", err)
		return false, nil
	}
	prev, err := p.openRemote(ctx, "docker://"+repo+"@"+there.digest.String())
	if err != nil {
		log.Debugf("final: not composing in the registry: %v", err)
		return false, nil
	}
	record, err := layers.RecordedLayers(prev.config.Config.Labels)
	if err != nil || len(record) == 0 || len(record) > len(prev.blobs) {
		log.Debugf("final: not composing in the registry: %s:%s has no usable record of its layers (%v)", repo, plan.Tags[0], err)
		return false, nil
	}
	type known struct {
		layer layers.Layer
		blob  v1.Descriptor
	}
	have := map[string]known{}
	tail := prev.blobs[len(prev.blobs)-len(record):]
	for i, l := range record {
		have[l.Kind+":"+l.Key] = known{l, tail[i]}
	}

	dest, err := p.openDestination(ctx, tagRef)
	if err != nil {
		return false, nil
	}
	defer dest.Close()
	// Where the blobs are: the base's in the registry cache, the earlier
	// image's in the repository. containers/image mounts across
	// repositories what it finds this way.
	cache := memory.New()
	for _, im := range []*remoteImage{baseImg, prev} {
		scope := types.BICTransportScope{Opaque: reference.Domain(im.named)}
		for _, b := range im.blobs {
			cache.RecordKnownLocation(dest.Reference().Transport(), scope, b.Digest, types.BICLocationReference{Opaque: im.named.Name()})
		}
	}
	reuse := func(b v1.Descriptor) (bool, error) {
		ok, _, err := dest.TryReusingBlob(ctx, types.BlobInfo{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType}, cache, false)
		return ok, err
	}

	// Decide first, move nothing yet: every layer is either in the
	// registry (by key) or made here.
	planned := spec.Planned()
	out := make([]layers.Layer, len(planned))
	blobs := make([]v1.Descriptor, len(planned))
	var todo []int
	needBase := false
	for i, pl := range planned {
		if out[i], err = spec.Layer(pl); err != nil {
			return false, err
		}
		if k, ok := have[pl.Kind+":"+pl.Key]; ok {
			if pl.Kind == layers.KindInstall && k.layer.Python == nil {
				log.Debugf("final: not composing in the registry: %s:%s records no Python distributions of the install layer of %s (made by an older strata)", repo, plan.Tags[0], pl.Source)
				return false, nil
			}
			out[i].DiffID, out[i].Size, out[i].Python, blobs[i] = k.layer.DiffID, k.layer.Size, k.layer.Python, k.blob
			continue
		}
		todo = append(todo, i)
		if pl.Kind == layers.KindInstall {
			needBase = true
		}
	}
	done := phase(log, "final")
	for _, b := range baseImg.blobs {
		if ok, err := reuse(b); err != nil || !ok {
			log.Debugf("final: not composing in the registry: base blob %s is not reachable from %s (%v)", b.Digest, repo, err)
			return false, nil
		}
	}
	for i, b := range blobs {
		if b.Digest == "" {
			continue
		}
		if ok, err := reuse(b); err != nil || !ok {
			log.Debugf("final: not composing in the registry: blob %s is not in %s (%v)", b.Digest, repo, err)
			return false, nil
		}
		log.Infof("final: %s layer of %s: in the registry (%s)", out[i].Kind, out[i].Source, short(out[i].DiffID.Encoded()))
	}
	if needBase {
		log.Infof("final: pulling the base %s: an install command must run over it", plan.Base.Cache.Ref)
		id, err := plan.pullBase(ctx, env.Store, p)
		if err != nil {
			return true, fmt.Errorf("pulling the base for the install commands: %w", err)
		}
		if id != spec.BaseID {
			return true, fmt.Errorf("the pulled base %s is not the registry cache's %s", short(id), short(spec.BaseID))
		}
		_ = layers.MarkUsed(env.Store, id)
	}
	for _, i := range todo {
		l := &out[i]
		var (
			stream  io.ReadCloser
			cleanup = func() {}
			err     error
		)
		switch l.Kind {
		case layers.KindCheckout:
			stream, err = spec.CheckoutStream(l.Source)
		default:
			stream, _, cleanup, err = layers.InstallStream(ctx, env, spec, l.Source)
		}
		if err != nil {
			return true, fmt.Errorf("source %q: %w", l.Source, err)
		}
		var py *pythonReader
		if l.Kind == layers.KindInstall {
			py = readPythonFrom(&stream)
		}
		blob, diffID, size, err := uploadLayer(ctx, dest, cache, stream)
		stream.Close()
		cleanup()
		if py != nil {
			if perr := py.wait(); err == nil && perr != nil {
				err = fmt.Errorf("reading its Python distributions: %w", perr)
			}
			l.Python = &py.dists
		}
		if err != nil {
			return true, fmt.Errorf("uploading the %s layer of source %q to %s: %w", l.Kind, l.Source, repo, registryError(p.sys, hostOf(tagRef), err))
		}
		l.DiffID, l.Size, blobs[i] = diffID, size, blob
		log.Infof("final: %s layer of %s: built and uploaded (%s, %d bytes)", l.Kind, l.Source, short(diffID.Encoded()), blob.Size)
	}
	config, man, err := spec.ImageDocs(baseImg.config, baseImg.blobs, out, blobs)
	if err != nil {
		return true, err
	}
	cd := digest.FromBytes(config)
	if _, err := dest.PutBlob(ctx, bytes.NewReader(config), types.BlobInfo{Digest: cd, Size: int64(len(config)), MediaType: v1.MediaTypeImageConfig}, cache, true); err != nil {
		return true, fmt.Errorf("uploading the image configuration to %s: %w", repo, registryError(p.sys, hostOf(tagRef), err))
	}
	res.ImageID = cd.Encoded()
	var cfg v1.Image
	if err := json.Unmarshal(config, &cfg); err != nil {
		return true, err
	}
	if res.SBOM, err = sbomOfLabels(cfg.Config.Labels); err != nil {
		return true, err
	}
	if err := writeSBOM(opts.SBOMFile, res.SBOM); err != nil {
		return true, err
	}
	done("composed", "composed %s in %s: %d of %d layers over the base made here, the rest in the registry (final key %s)", short(res.ImageID), repo, len(todo), len(planned), res.FinalKey[:16])
	if err := writeIID(opts.IIDFile, res.ImageID); err != nil {
		return true, err
	}
	return true, pushTags(ctx, p, plan, opts, res, man, func(ref string) (digest.Digest, error) {
		return p.putManifest(ctx, ref, man)
	})
}

// uploadLayer compresses a layer's tar stream with gzip, as a push does,
// and uploads it as it is read: each byte is read once. It returns the
// blob's descriptor, and the diff ID and size of the tar stream.
func uploadLayer(ctx context.Context, dest types.ImageDestination, cache types.BlobInfoCache, stream io.Reader) (v1.Descriptor, digest.Digest, int64, error) {
	pr, pw := io.Pipe()
	d := digest.Canonical.Digester()
	var size int64
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		zw, err := compression.CompressStream(pw, compression.Gzip, nil)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		n, err := io.Copy(zw, io.TeeReader(stream, d.Hash()))
		size = n
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	info, err := dest.PutBlob(ctx, pr, types.BlobInfo{Digest: "", Size: -1, MediaType: v1.MediaTypeImageLayerGzip}, cache, false)
	pr.CloseWithError(io.ErrClosedPipe) // ends the writer if the upload stopped early
	<-finished
	if err != nil {
		return v1.Descriptor{}, "", 0, err
	}
	return v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: info.Digest, Size: info.Size}, d.Digest(), size, nil
}

// CheckRegistryLayers completes CheckCache for a store that lacks the
// base when the registry cache has it: the final key over the registry's
// base, and for each layer over the base whether the image at
// push.repository's first profile tag recorded it (HIT in the registry:
// a --push build refers to it there) or not (MISS: it will be built).
// Registry trouble is logged, not fatal.
func (p *Plan) CheckRegistryLayers(ctx context.Context, log *logrus.Logger) {
	c := p.Base.Cache
	if c == nil || c.Decision != DecisionHit || c.Where != WhereRegistry || len(p.Sources) == 0 {
		return
	}
	sys, err := p.opts.Registry.SystemContext()
	if err != nil {
		return
	}
	pu := &pusher{sys: sys}
	base, err := pu.manifestOf(ctx, "docker://"+cacheRepo(p.recipe)+"@"+c.digest)
	if err != nil || base == nil {
		if err != nil {
			log.Warnf("final: reading the cached base %s: %v", c.Ref, err)
		}
		return
	}
	spec, err := p.finalSpec(strings.TrimPrefix(base.config, "sha256:"), nil)
	if err != nil {
		return
	}
	p.Final.Key = spec.Key()
	have := map[string]bool{}
	where := ""
	if repo := p.recipe.Push.Repository; repo != "" && len(p.Tags) > 0 {
		where = repo + ":" + p.Tags[0]
		there, err := pu.manifestOf(ctx, "docker://"+where)
		if err != nil {
			log.Warnf("final: reading %s: %v", where, err)
		}
		if there != nil && there.notes[layers.LabelFinalKey] == p.Final.Key {
			p.Final.Cache = &CacheState{Decision: DecisionHit, Where: WhereRegistry, Ref: where + "@" + there.digest.String()}
		}
		if there != nil {
			if prev, err := pu.openRemote(ctx, "docker://"+p.recipe.Push.Repository+"@"+there.digest.String()); err == nil {
				record, _ := layers.RecordedLayers(prev.config.Config.Labels)
				for _, l := range record {
					have[l.Kind+":"+l.Key] = true
				}
			}
		}
	}
	p.Final.Layers = nil
	for _, l := range spec.Planned() {
		st := &CacheState{Decision: DecisionMiss, Reason: "not in the local store: it will be built"}
		if where != "" {
			st.Reason = "not in the local store nor in " + where + ": it will be built"
		}
		if have[l.Kind+":"+l.Key] {
			st = &CacheState{Decision: DecisionHit, Where: WhereRegistry, Ref: where}
		}
		p.Final.Layers = append(p.Final.Layers, PlanLayer{Source: l.Source, Kind: l.Kind, Key: l.Key, Cache: st})
	}
}

// pythonReader reads the Python distributions of an install layer's
// stream while it is uploaded: each byte is read once.
type pythonReader struct {
	pw    *io.PipeWriter
	done  chan error
	dists []sbom.Python
}

// readPythonFrom replaces *stream with one that also feeds the reader.
func readPythonFrom(stream *io.ReadCloser) *pythonReader {
	pr, pw := io.Pipe()
	p := &pythonReader{pw: pw, done: make(chan error, 1)}
	go func() {
		d, err := sbom.PythonDists(pr)
		if d == nil {
			d = []sbom.Python{}
		}
		p.dists = d
		pr.CloseWithError(err)
		p.done <- err
	}()
	*stream = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(*stream, pw), *stream}
	return p
}

// wait ends the reading and returns its error.
func (p *pythonReader) wait() error {
	p.pw.Close()
	return <-p.done
}

// remoteSBOM computes the SBOM of the image repo@d from its
// configuration (one blob read).
func (p *pusher) remoteSBOM(ctx context.Context, repo string, d digest.Digest) ([]byte, error) {
	img, err := p.openRemote(ctx, "docker://"+repo+"@"+d.String())
	if err != nil {
		return nil, err
	}
	return sbomOfLabels(img.config.Config.Labels)
}
