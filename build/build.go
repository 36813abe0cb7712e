package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/layers/sbom"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/buildah/define"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"
)

// Options configure one build.
type Options struct {
	Recipe  *recipes.Recipe
	Output  string // --output; "" for the local store, tagged with the profile's tags
	IIDFile string // --iidfile
	Store   stores.Options
	Runtime string // --runtime; "" for containers.conf's (engine.runtime), else runc or crun
	// Isolation is --isolation: "oci" (default) or "chroot".
	Isolation string
	Log       *logrus.Logger
	Progress  io.Writer // where dnf and run steps print (stderr)
	PlanOptions
	// Push sends the image to the recipe's push.repository with the
	// profile's tags, Tags and the immutable tag.
	Push       bool
	Tags       []string // --tag
	DigestFile string   // --digestfile
	// SBOMFile is --sbom: where the image's SBOM is written.
	SBOMFile string
	// BuilderVersion is strata's version, for the provenance.
	BuilderVersion string
}

// Result says what a build made.
type Result struct {
	ImageID     string   `json:"image_id"`
	Destination string   `json:"destination"`
	Names       []string `json:"names,omitempty"`
	BaseImageID string   `json:"base_image_id"`
	BaseKey     string   `json:"base_key"`
	BaseCached  bool     `json:"base_cached"`
	FinalKey    string   `json:"final_key"`
	FinalCached bool     `json:"final_cached"`
	// Pushed lists REPOSITORY@DIGEST for each tag pushed.
	Pushed []string `json:"pushed,omitempty"`
	// SBOM is the image's SBOM (CycloneDX JSON).
	SBOM []byte `json:"-"`

	started time.Time
}

// Run builds the recipe's image and commits it to its destination, in
// named phases: validate the options, prepare the plan (sources, base
// set), find or compose the image in the registry (--push on a store
// without the base), find or build the base, find or build the final
// layers, publish (output files, names, push). Nothing is left behind on
// failure: no working container, no mount, no tag.
func Run(ctx context.Context, opts Options) (*Result, error) {
	b, err := validate(opts)
	if err != nil {
		return nil, err
	}
	if err := b.prepare(ctx); err != nil {
		return nil, err
	}
	store, err := stores.Open(opts.Store, b.log)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	if err := b.open(store); err != nil {
		return nil, err
	}
	if done, err := b.composedInRegistry(ctx); done || err != nil {
		return b.res, err
	}
	baseID, err := b.base(ctx)
	if err != nil {
		return nil, err
	}
	id, announce, err := b.final(ctx, baseID)
	if err != nil {
		return nil, err
	}
	return b.res, b.publish(ctx, id, announce)
}

// run is one build between its phases: the options as validated, then
// the plan, then the store.
type run struct {
	opts      Options
	log       *logrus.Logger
	dest      Destination
	sys       *types.SystemContext
	isolation define.Isolation
	runtime   string

	plan *Plan
	// names are the profile's names in the local store
	// (localhost/NAME:TAG); an archive without a name of its own gets
	// the first, as podman save names one. The image gets them without
	// --output.
	names []string

	store *stores.Store
	env   *layers.Env
	res   *Result
}

// validate checks every option before anything is resolved or moves:
// the destination, the output files, --push and signing, --tag,
// --isolation and the runtime.
func validate(opts Options) (*run, error) {
	started := time.Now()
	r := opts.Recipe
	dest, err := ParseDestination(opts.Output, r.Name)
	if err != nil {
		return nil, err
	}
	opts.Log = orDiscard(opts.Log)
	if opts.Push && dest.Transport != "containers-storage" {
		return nil, fmt.Errorf("%w: --push and --output %s cannot be used together: push sends the image from the local store", ErrUsage, opts.Output)
	}
	if opts.Push && r.Push.Repository == "" {
		return nil, fmt.Errorf("%w: --push needs push.repository in the recipe %s", ErrUsage, r.File)
	}
	for _, t := range opts.Tags {
		if err := recipes.CheckTag(t); err != nil {
			return nil, fmt.Errorf("%w: --tag: %v", ErrUsage, err)
		}
	}
	sys, err := opts.Registry.SystemContext()
	if err != nil {
		return nil, err
	}
	if opts.Registry.Sign.enabled() {
		// Before anything moves, the base cache included.
		if !opts.Push {
			return nil, fmt.Errorf("%w: --sign-by-sigstore-private-key signs what --push pushes: add --push", ErrUsage)
		}
		if err := opts.Registry.Sign.check(); err != nil {
			return nil, err
		}
		if err := checkSigstoreAttachments(sys, "docker://"+r.Push.Repository); err != nil {
			return nil, err
		}
	}
	files := [][2]string{{"--iidfile", opts.IIDFile}, {"--digestfile", opts.DigestFile}, {"--sbom", opts.SBOMFile}}
	if file, _, ok := dest.archive(); ok {
		files = append(files, [2]string{"--output", file})
	}
	for _, f := range files {
		if err := checkOutputFile(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	isolation, err := parseIsolation(opts.Isolation)
	if err != nil {
		return nil, err
	}
	var runtime string
	if (r.InstallMode() == recipes.InstallContainer || hasInstall(r)) && isolation == define.IsolationOCI {
		if runtime, err = stores.Runtime(opts.Runtime); err != nil {
			return nil, err
		}
	}
	return &run{
		opts: opts, log: opts.Log, dest: dest, sys: sys, isolation: isolation, runtime: runtime,
		res: &Result{Destination: dest.String(), started: started},
	}, nil
}

// prepare resolves the sources and plans the base (Prepare).
func (b *run) prepare(ctx context.Context) error {
	done := phase(b.log, "sources")
	popts := b.opts.PlanOptions
	if popts.Git.Log == nil {
		popts.Git.Log = b.log
	}
	plan, err := Prepare(ctx, b.opts.Recipe, popts)
	if err != nil {
		return err
	}
	for _, w := range plan.Base.Warnings {
		b.log.Warn(w)
	}
	if len(plan.Sources) > 0 {
		var at []string
		for _, s := range plan.Sources {
			at = append(at, s.Name+"@"+s.Commit[:12])
		}
		done("resolved", "branch %s: %s", plan.Branch, strings.Join(at, ", "))
	}
	b.plan = plan
	for _, t := range plan.Tags {
		b.names = append(b.names, "localhost/"+b.opts.Recipe.Name+":"+t)
	}
	if b.opts.Output == "" {
		b.dest.Path = b.names[0]
		b.res.Destination = b.dest.String()
	}
	b.res.BaseKey = plan.Base.Key
	return nil
}

// open sets the build up over the opened store.
func (b *run) open(store *stores.Store) error {
	policy, err := store.PolicyPath()
	if err != nil {
		return err
	}
	progress := b.opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	b.store = store
	b.env = &layers.Env{
		Store: store, Log: b.log, Output: progress, PolicyPath: policy, Runtime: b.runtime,
		Isolation: b.isolation, SystemContext: b.sys, Epoch: b.opts.Epoch,
	}
	return nil
}

// final finds the final image over the base baseID in the store (by its
// key) or builds it; it returns the image ID and the function that logs
// the phase's decision once the image is published.
func (b *run) final(ctx context.Context, baseID string) (string, func(), error) {
	b.res.BaseImageID = baseID
	done := phase(b.log, "final")
	baseDate := time.Unix(0, 0).UTC()
	if labels, err := layers.ImageLabels(ctx, b.store, baseID); err == nil {
		if t, err := time.Parse(time.RFC3339, labels[layers.LabelCreated]); err == nil {
			baseDate = t
		}
	}
	spec, err := b.plan.finalSpec(baseID, &baseDate)
	if err != nil {
		return "", nil, err
	}
	key := spec.Key()
	b.res.FinalKey = key
	if b.dest.Transport == "containers-storage" {
		id, err := b.plan.finalImage(b.store, key)
		if err != nil {
			return "", nil, err
		}
		if id != "" {
			b.res.FinalCached = true
			return id, func() { done("hit", "reusing image %s (final key %s): nothing changed", short(id), key[:16]) }, nil
		}
	}
	id, err := makeFinal(ctx, b.env, spec, b.dest, b.names[0], b.opts)
	if err != nil {
		return "", nil, err
	}
	return id, func() { done("committed", "committed %s to %s", short(id), b.dest) }, nil
}

// publish ends a build with the image id made or found: the output files
// first, the names in the local store last (a failed output moves no tag),
// then the final phase's event (announce), then the push.
func (b *run) publish(ctx context.Context, id string, announce func()) error {
	if err := writeIID(b.opts.IIDFile, id); err != nil {
		return err
	}
	if err := recordAttestations(ctx, b.store, b.plan, b.opts, b.res, id, b.dest); err != nil {
		return err
	}
	var names []string // the profile's, when the image goes to the store by default
	if b.opts.Output == "" {
		names = b.names
	}
	if b.dest.Transport == "containers-storage" {
		if err := nameImage(b.store, id, append([]string{b.dest.Path}, names...)); err != nil {
			return err
		}
	}
	b.res.ImageID, b.res.Names = id, names
	announce()
	return pushImage(ctx, b.store, b.plan, b.opts, b.res)
}

// recordAttestations computes the SBOM of the image id of the store,
// writes --sbom, and keeps the build's provenance beside the image.
func recordAttestations(ctx context.Context, store *stores.Store, plan *Plan, opts Options, res *Result, id string, dest Destination) error {
	labels, err := layers.ImageLabels(ctx, store, id)
	if err != nil {
		return err
	}
	if res.SBOM, err = sbomOfLabels(labels); err != nil {
		return err
	}
	if err := writeSBOM(opts.SBOMFile, res.SBOM); err != nil {
		return err
	}
	img, err := store.Image(id)
	if err != nil {
		return err
	}
	prov, err := provenance(plan, opts, res, dest.String(), img.Digest, res.started, time.Now())
	if err != nil {
		return err
	}
	if err := keepProvenance(store, id, prov); err != nil {
		opts.Log.Warnf("keeping the provenance of %s: %v", short(id), err)
	}
	return nil
}

// base finds the planned base (the local store, then the
// registry cache) or builds it, and shares a new one through the registry
// cache. One process per store builds a given key; others wait for it.
func (b *run) base(ctx context.Context) (string, error) {
	env, plan, opts, res := b.env, b.plan, b.opts, b.res
	log, store := env.Log, env.Store
	done := phase(log, "base")
	unlock, err := lockBase(ctx, store.GraphRoot(), plan.Base.Key, log)
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := plan.CheckCache(ctx, store, log); err != nil {
		return "", err
	}
	c := plan.Base.Cache
	key16 := plan.Base.Key[:16]
	var pu *pusher
	if plan.registryCache() {
		if pu, err = newPusher(store, opts.Registry, opts.Progress); err != nil {
			return "", err
		}
	}
	if c.Decision == DecisionHit && c.Where == WhereLocal {
		res.BaseCached = true
		_ = layers.MarkUsed(store, c.ImageID)
		done("hit", "reusing base image %s (key %s, built %s ago)", short(c.ImageID), key16, c.Age)
		return c.ImageID, nil
	}
	if c.Decision == DecisionHit && c.Where == WhereRegistry {
		log.Infof("base: pulling the cached base %s", c.Ref)
		id, err := plan.pullBase(ctx, store, pu)
		if err == nil {
			res.BaseCached = true
			_ = layers.MarkUsed(store, id)
			done("pulled", "reusing base image %s from the registry cache %s (key %s)", short(id), c.Ref, key16)
			return id, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		log.Warnf("base: %v: building it instead", err)
		c.Reason = err.Error()
	}
	log.Infof("base: building it: %s", c.Reason)
	spec := plan.Base.spec
	if pu != nil {
		spec.PreviousLayout = func() *layers.BaseLayout { return plan.registryLayout(ctx, pu, log) }
	}
	id, err := layers.BuildBase(ctx, env, spec, plan.recipe.Name)
	if err != nil {
		return "", fmt.Errorf("building the base layer: %w", err)
	}
	if pu != nil {
		plan.pushBase(ctx, pu, id, log)
	}
	_ = layers.MarkUsed(store, id)
	done("built", "built base image %s (key %s): %s", short(id), key16, c.Reason)
	return id, nil
}

// pushImage pushes the built image to push.repository with every tag: the
// profile's, --tag, and the immutable tag, which is never moved once it
// exists.
func pushImage(ctx context.Context, store *stores.Store, plan *Plan, opts Options, res *Result) error {
	if !opts.Push {
		return nil
	}
	p, err := newPusher(store, opts.Registry, opts.Progress)
	if err != nil {
		return err
	}
	return pushTags(ctx, p, plan, opts, res, nil, func(ref string) (digest.Digest, error) {
		return p.push(ctx, res.ImageID, ref)
	})
}

// pushTags puts res.ImageID at every tag of push.repository with put:
// the profile's tags, --tag, and the immutable tag unless it names this
// image already (another image there is an error: it is never moved). It
// records REPOSITORY@DIGEST of each and writes --digestfile. raw is the
// manifest put writes, when it is known before (nil for an image pushed
// from the store). With a signing key, the image is signed before a tag
// names it: a known manifest is put by digest and signed first; an image
// of the store is signed by containers/image as it is pushed to the first
// tag, right after the manifest, as podman push does.
func pushTags(ctx context.Context, p *pusher, plan *Plan, opts Options, res *Result, raw []byte, put func(ref string) (digest.Digest, error)) error {
	done := phase(opts.Log, "push")
	closeSigners, err := p.openSigners()
	if err != nil {
		return err
	}
	defer closeSigners()
	repo := plan.recipe.Push.Repository
	tags := append(append([]string(nil), plan.Tags...), opts.Tags...)
	if tmpl := plan.recipe.Push.ImmutableTag; tmpl != "" {
		v := recipes.TagValues{Profile: plan.Profile, Branch: plan.Branch, Date: plan.Epoch.UTC().Format("20060102")}
		if len(plan.Sources) > 0 {
			v.Commit = plan.Sources[0].Commit
		}
		tag, err := recipes.ExpandTag(tmpl, v)
		if err != nil {
			return fmt.Errorf("push.immutable_tag: %w", err)
		}
		existing, err := p.remoteConfigDigest(ctx, "docker://"+repo+":"+tag)
		if err != nil {
			return fmt.Errorf("checking the immutable tag %s:%s: %w", repo, tag, err)
		}
		switch existing {
		case "":
			tags = append(tags, tag)
		case "sha256:" + res.ImageID:
			opts.Log.Infof("push: the immutable tag %s:%s already names this image", repo, tag)
		default:
			return fmt.Errorf("the immutable tag %s:%s already names another image (config %s): nothing pushed; commit something new or change push.immutable_tag", repo, tag, existing)
		}
	}
	if p.signers != nil && raw != nil && len(tags) > 0 {
		// (registries.d was checked when the build started)
		d, err := manifest.Digest(raw)
		if err == nil {
			d, err = p.putManifest(ctx, "docker://"+repo+"@"+d.String(), raw)
		}
		if err == nil {
			err = p.signDigest(ctx, repo, tags[0], d)
		}
		if err != nil {
			if ctx.Err() != nil {
				return interruptedPush(repo, tags[0], nil, ctx.Err())
			}
			return err
		}
		opts.Log.Infof("push: signed %s@%s as %s:%s", repo, d, repo, tags[0])
	}
	seen := map[string]bool{}
	var first digest.Digest
	for i, tag := range tags {
		if seen[tag] {
			continue
		}
		seen[tag] = true
		putTag := put
		if i == 0 && raw == nil && p.signers != nil {
			putTag = func(ref string) (digest.Digest, error) { return p.pushSigned(ctx, res.ImageID, ref) }
		}
		d, err := putTag("docker://" + repo + ":" + tag)
		if err != nil {
			if ctx.Err() != nil {
				return interruptedPush(repo, tag, res.Pushed, ctx.Err())
			}
			return err
		}
		if first == "" {
			first = d
		}
		res.Pushed = append(res.Pushed, Canonical("docker://"+repo, d))
		opts.Log.Infof("push: %s:%s is %s", repo, tag, d)
	}
	if first != "" {
		sbomDoc := func() ([]byte, error) {
			if res.SBOM == nil {
				doc, err := p.remoteSBOM(ctx, repo, first)
				if err != nil {
					return nil, err
				}
				res.SBOM = doc
			}
			return res.SBOM, nil
		}
		prov := func() ([]byte, error) { return provenance(plan, opts, res, repo, first, res.started, time.Now()) }
		err := p.attachAll(ctx, repo, tags[0], first, plan.Epoch.UTC().Format(time.RFC3339), opts.Log.Infof,
			attestation{sbom.MediaType, sbomDoc}, attestation{ProvenanceType, prov})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted while attaching the SBOM and provenance of %s@%s (the tags are pushed): %w", repo, first, ctx.Err())
			}
			return fmt.Errorf("attaching the SBOM and provenance of %s@%s (the tags are pushed): %w", repo, first, err)
		}
	}
	done("pushed", "pushed %s to %s (%s)", short(res.ImageID), repo, strings.Join(tags, ", "))
	return writeDigest(opts.DigestFile, first)
}

// interruptedPush says what an interruption while pushing to repo:tag left
// in the registry: which tags were already moved (pushed), if any.
func interruptedPush(repo, tag string, pushed []string, cause error) error {
	if len(pushed) == 0 {
		return fmt.Errorf("interrupted while pushing %s:%s: nothing was tagged: %w", repo, tag, cause)
	}
	return fmt.Errorf("interrupted while pushing %s:%s: already tagged before it: %s; no other tag was moved: %w", repo, tag, strings.Join(pushed, ", "), cause)
}

func writeIID(file, id string) error {
	if file == "" {
		return nil
	}
	if err := writeFileAtomic(file, []byte("sha256:"+id)); err != nil {
		return fmt.Errorf("writing --iidfile: %w", err)
	}
	return nil
}

// qualify returns image names in the form the store keeps them
// (registry/name:tag).
func qualify(names []string) ([]string, error) {
	var qualified []string
	for _, n := range names {
		named, err := reference.ParseNormalizedNamed(n)
		if err != nil {
			return nil, fmt.Errorf("invalid image name %q: %w", n, err)
		}
		if q := reference.TagNameOnly(named).String(); !slices.Contains(qualified, q) {
			qualified = append(qualified, q)
		}
	}
	return qualified, nil
}

// nameImage gives an image in the store more names (taken from any other
// image that had them), as buildah tag does.
func nameImage(store storage.Store, id string, names []string) error {
	qualified, err := qualify(names)
	if err != nil {
		return err
	}
	if err := store.AddNames(id, qualified); err != nil {
		return fmt.Errorf("tagging image %s: %w", short(id), err)
	}
	return nil
}

// parseIsolation reads --isolation (or BUILDAH_ISOLATION): oci, the
// default, runs steps with an OCI runtime in their own namespaces; chroot
// runs them chrooted, where a runtime cannot run (an unprivileged
// container, a CI job in a container).
func parseIsolation(s string) (define.Isolation, error) {
	switch s {
	case "", "oci", "default", "rootless":
		// (buildah's "rootless" is oci for an unprivileged user, which
		// strata sets up itself)
		return define.IsolationOCI, nil
	case "chroot":
		return define.IsolationChroot, nil
	}
	return 0, fmt.Errorf("%w: invalid --isolation %q: want oci or chroot (or rootless, the same as oci)", ErrUsage, s)
}

func hasInstall(r *recipes.Recipe) bool {
	for _, s := range r.Sources {
		if len(s.Install) > 0 {
			return true
		}
	}
	return false
}

// makeFinal makes the final image in the store (layers.BuildFinal),
// unnamed (the caller names it once every output is written), and writes
// it to dest when dest is not the local store (an archive without a name
// of its own gets archiveName).
func makeFinal(ctx context.Context, env *layers.Env, spec *layers.FinalSpec, dest Destination, archiveName string, opts Options) (string, error) {
	id, _, err := layers.BuildFinal(ctx, env, spec, nil)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if dest.Transport == "containers-storage" {
		return id, nil
	}
	p, err := newPusher(env.Store, opts.Registry, opts.Progress)
	if err != nil {
		return "", err
	}
	file, ref, archive := dest.archive()
	if !archive {
		_, err := p.push(ctx, id, dest.String())
		return id, err
	}
	// An archive is written beside its name and renamed into place: a
	// failure (a full disk, an interruption) leaves no partial file.
	tmp := filepath.Join(filepath.Dir(file), fmt.Sprintf(".%s.tmp-%d", filepath.Base(file), os.Getpid()))
	if ref == "" {
		ref = archiveName
	}
	target := dest.Transport + ":" + tmp + ":" + ref
	if _, err := p.push(ctx, id, target); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("writing %s: %w", dest, errors.Unwrap(err))
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("writing %s: %w", dest, err)
	}
	return id, nil
}

// orDiscard returns log, or a logger that writes nothing: the library is
// silent unless given a logger.
func orDiscard(log *logrus.Logger) *logrus.Logger {
	if log == nil {
		log = logrus.New()
		log.SetOutput(io.Discard)
	}
	return log
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
