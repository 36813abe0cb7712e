package layers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/buildah"
	"go.podman.io/buildah/define"
	is "go.podman.io/image/v5/storage"
	"go.podman.io/storage"
	"go.podman.io/storage/pkg/archive"
)

// Labels of the final image.
const (
	LabelFinalKey = "io.strata.final.key"
	LabelSources  = "io.strata.sources"
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelTitle    = "org.opencontainers.image.title"
)

// finalKeyVersion changes whenever the meaning of a final or layer key
// changes.
const finalKeyVersion = 3 // 3: the SBOM label, sources' paths in their records

// finalConfigVersion changes whenever the configuration a final key gives
// changes, the layers' keys staying.
const finalConfigVersion = 1 // 1: without the base's layout label

// LabelLayers records, in the image configuration, the key and diff ID of
// every layer strata put over the base (JSON, bottom first), so that a
// later build anywhere can match layers by key.
const LabelLayers = "io.strata.layers"

// Source is one internal project of the final image: a checkout of one
// commit at Path, with its .git, in a layer of its own.
type Source struct {
	Name    string    `json:"name"`
	Git     string    `json:"git"`
	Branch  string    `json:"branch"`
	Commit  string    `json:"commit"`
	Time    time.Time `json:"-"` // the commit time
	Path    string    `json:"path"`
	Install []string  `json:"-"`
	Needs   []string  `json:"-"` // sources whose checkouts its install command sees
	Dir     string    `json:"-"` // the checkout's entry in the clone cache (gitsrc.OpenTree)
}

// FinalSpec is everything that determines the final image over a base.
type FinalSpec struct {
	Name    string        // the recipe's name (the image title)
	BaseID  string        // the base image's ID
	BaseKey string        // the base key, recorded as a label
	Sources []Source      // in recipe order
	Image   recipes.Image // the image configuration
	Network string        // network of install steps: "none" or "host"
	Epoch   time.Time     // the image date: the newest of the sources' epochs
	// SourceDateEpoch, when set, is every layer's epoch; otherwise each
	// source's layers are dated by its own commit.
	SourceDateEpoch *time.Time
	Container       string // working container name prefix
	// Annotations are added to the manifest (and the key).
	Annotations map[string]string
	// BaseName and BaseDigest name the registry image the base was built
	// on, for the manifest's org.opencontainers.image.base.* annotations
	// ("" when base.from is not a registry image).
	BaseName, BaseDigest string
}

// epoch is the date of a source's layers and the clamp of their file times.
func (s *FinalSpec) epoch(src Source) time.Time {
	if s.SourceDateEpoch != nil {
		return s.SourceDateEpoch.UTC()
	}
	if src.Time.IsZero() {
		return s.Epoch
	}
	return src.Time.UTC()
}

// SourcesJSON returns the provenance record of the sources: name, git,
// branch and commit of each, in recipe order.
func (s *FinalSpec) SourcesJSON() []byte {
	if s.Sources == nil {
		return compactJSON([]Source{})
	}
	return compactJSON(s.Sources)
}

// hashDoc is the sha256 of the canonical JSON of a key document.
func hashDoc(doc any) string {
	sum := sha256.Sum256(compactJSON(doc)) // maps are encoded with sorted keys
	return hex.EncodeToString(sum[:])
}

// CheckoutKey is the key of a source's checkout layer: what is in it (the
// source's name, remote, branch and commit, its path) and its date. The
// base does not change its bytes.
func (s *FinalSpec) CheckoutKey(src Source) string {
	return hashDoc(struct {
		Version int    `json:"version"`
		Kind    string `json:"kind"`
		Name    string `json:"name"`
		Git     string `json:"git"`
		Branch  string `json:"branch"`
		Commit  string `json:"commit"`
		Path    string `json:"path"`
		Epoch   int64  `json:"epoch"`
	}{finalKeyVersion, KindCheckout, src.Name, src.Git, src.Branch, src.Commit, src.Path, s.epoch(src).Unix()})
}

// InstallKey is the key of a source's install layer: the base image, the
// checkouts the command runs over (its own and those of Needs, in recipe
// order), the command, the network and the source's date. Another
// source's change does not change it unless that source is needed.
func (s *FinalSpec) InstallKey(src Source) string {
	var over []string
	for _, o := range s.over(src) {
		over = append(over, s.CheckoutKey(o))
	}
	return hashDoc(struct {
		Version int      `json:"version"`
		Kind    string   `json:"kind"`
		Base    string   `json:"base"`
		Over    []string `json:"over"`
		Install []string `json:"install"`
		Network string   `json:"network"`
		Epoch   int64    `json:"epoch"`
	}{finalKeyVersion, KindInstall, s.BaseID, over, src.Install, s.Network, s.epoch(src).Unix()})
}

// over returns the sources whose checkouts src's install command runs
// over: those it needs, in recipe order, then src itself.
func (s *FinalSpec) over(src Source) []Source {
	var out []Source
	for _, o := range s.Sources {
		if o.Name != src.Name && slices.Contains(src.Needs, o.Name) {
			out = append(out, o)
		}
	}
	return append(out, src)
}

// Key returns the final key: the sha256 of the base image, every layer's
// key, the image configuration and the date. An image with this key is the
// image a build would make.
func (s *FinalSpec) Key() string {
	var keys []string
	for _, l := range s.Planned() {
		keys = append(keys, l.Key)
	}
	return hashDoc(struct {
		Version int               `json:"version"`
		Config  int               `json:"config"`
		Name    string            `json:"name"`
		Base    string            `json:"base"`
		Layers  []string          `json:"layers"`
		Image   recipes.Image     `json:"image"`
		Epoch   int64             `json:"epoch"`
		Notes   map[string]string `json:"annotations,omitempty"`
	}{finalKeyVersion, finalConfigVersion, s.Name, s.BaseID, keys, s.Image, s.Epoch.Unix(), s.Annotations})
}

// Labels returns the provenance labels of the final image.
func (s *FinalSpec) Labels() map[string]string {
	l := map[string]string{
		LabelFinalKey: s.Key(),
		LabelBaseKey:  s.BaseKey,
		LabelCreated:  s.Epoch.UTC().Format(time.RFC3339),
		LabelTitle:    s.Name,
	}
	if len(s.Sources) > 0 {
		l[LabelSources] = string(s.SourcesJSON())
		l[LabelSource] = s.Sources[0].Git
		l[LabelRevision] = s.Sources[0].Commit
	}
	return l
}

// BuildFinal makes the final image in the store over the base: for each
// source, in recipe order, its checkout layer and, when it has an install
// command, its install layer, then the configuration with the provenance
// labels. Each layer is reused when the store has it (by key), restacked
// from its stored diff when only a source below it changed, and built
// otherwise. names are given to the image. It returns the image ID and
// the layers.
func BuildFinal(ctx context.Context, env *Env, spec *FinalSpec, names []string) (string, []Layer, error) {
	base, err := env.Store.Image(spec.BaseID)
	if err != nil {
		return "", nil, fmt.Errorf("reading the base image: %w", err)
	}
	chain := &stack{store: env.Store, top: base.TopLayer}
	// An install command runs over the base and its own checkouts only,
	// so it need not wait for the layers below it in the image: the
	// installs the store lacks run meanwhile, in recipe order.
	installs := startInstalls(ctx, env, spec)
	defer installs.stop()
	var out []Layer
	for _, src := range spec.Sources {
		l, err := pushCheckout(ctx, env, spec, chain, src)
		if err != nil {
			return "", nil, err
		}
		installs.checkedOut(src.Name)
		env.Log.Infof("final: %s layer of %s at %s: %s (%s)", KindCheckout, src.Name, src.Commit[:12], l.How, short(l.DiffID.Encoded()))
		out = append(out, l)
		if len(src.Install) == 0 {
			continue
		}
		l, err = chain.push(ctx, KindInstall, spec.InstallKey(src), producer{open: func() (io.ReadCloser, digest.Digest, error) {
			return installs.result(ctx, src.Name)
		}})
		if err != nil {
			return "", nil, err
		}
		spec.describe(&l, src)
		if err := readPython(env.Store, &l); err != nil {
			return "", nil, err
		}
		env.Log.Infof("final: %s layer of %s: %s (%s)", KindInstall, src.Name, l.How, short(l.DiffID.Encoded()))
		out = append(out, l)
	}
	c := spec.composition(out)
	c.names = names
	id, err := compose(ctx, env.Store, c)
	if err != nil {
		return "", nil, err
	}
	return id, out, nil
}

// installs runs the install commands whose layers the store lacks, one
// at a time in recipe order, beside the writing of the image's layers.
type installs struct {
	cancel  context.CancelFunc
	done    chan struct{}
	results map[string]chan installResult
	working []string // images to remove when done
	env     *Env
	// ready is closed, per source, when the image's checkout layer of
	// that source is in the store: an install command's checkout over
	// the base is then made of hard links to its files (restacked)
	// rather than written a second time beside it.
	ready map[string]chan struct{}
	order map[string]int // recipe order of the sources
}

// checkedOut says that the image's checkout layer of the named source is
// in the store.
func (in *installs) checkedOut(name string) {
	close(in.ready[name]) // once per source, in BuildFinal
}

// awaitCheckout waits, for the install command of src, until the image's
// checkout layer of source o is in the store, where it can be restacked
// from. It waits only for o at or before src in recipe order: the image's
// layers after src wait for src's install layer.
func (in *installs) awaitCheckout(ctx context.Context, src, o Source) error {
	ch, ok := in.ready[o.Name]
	if !ok || in.order[o.Name] > in.order[src.Name] {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type installResult struct {
	diff   io.ReadCloser
	diffID digest.Digest
	err    error
}

// startInstalls starts the install commands of spec whose layers (by
// key) are not in the store.
func startInstalls(ctx context.Context, env *Env, spec *FinalSpec) *installs {
	ctx, cancel := context.WithCancel(ctx)
	in := &installs{cancel: cancel, done: make(chan struct{}), results: map[string]chan installResult{}, env: env,
		ready: map[string]chan struct{}{}, order: map[string]int{}}
	var todo []Source
	for i, src := range spec.Sources {
		in.order[src.Name] = i
		in.ready[src.Name] = make(chan struct{})
	}
	for _, src := range spec.Sources {
		if len(src.Install) > 0 && !HasLayer(env.Store, KindInstall, spec.InstallKey(src)) {
			todo = append(todo, src)
			in.results[src.Name] = make(chan installResult, 1)
		}
	}
	go func() {
		defer close(in.done)
		for _, src := range todo {
			var r installResult
			if r.err = ctx.Err(); r.err == nil {
				r.diff, r.diffID, r.err = runInstall(ctx, env, spec, src, &in.working, in.awaitCheckout)
			}
			in.results[src.Name] <- r
		}
	}()
	return in
}

// result waits for the install layer of the named source.
func (in *installs) result(ctx context.Context, name string) (io.ReadCloser, digest.Digest, error) {
	ch, ok := in.results[name]
	if !ok {
		return nil, "", fmt.Errorf("internal error: no install run of source %q", name)
	}
	select {
	case r := <-ch:
		return r.diff, r.diffID, r.err
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

// stop ends the installs not waited for, waits for them, and removes
// their working images: a layer they share with the image stays (it has
// children), their own go with them.
func (in *installs) stop() {
	in.cancel()
	<-in.done
	for _, ch := range in.results {
		select {
		case r := <-ch:
			if r.diff != nil {
				r.diff.Close()
			}
		default:
		}
	}
	for _, id := range in.working {
		if _, err := in.env.Store.DeleteImage(id, true); err != nil && !errors.Is(err, storage.ErrImageUnknown) {
			in.env.Log.Warnf("removing the working image %s: %v", short(id), err)
		}
	}
}

// checkoutDiffIDs holds the diff ID of every checkout layer this process
// has hashed, by key: a key always gives the same bytes, and a source
// with an install command has its checkout layer written twice (in the
// image, and over the base for the command).
var checkoutDiffIDs sync.Map

// pushCheckout puts a source's checkout layer on a stack.
func pushCheckout(ctx context.Context, env *Env, spec *FinalSpec, st *stack, src Source) (Layer, error) {
	when := spec.epoch(src)
	key := spec.CheckoutKey(src)
	l, err := st.push(ctx, KindCheckout, key, producer{replayable: true, open: func() (io.ReadCloser, digest.Digest, error) {
		if known, ok := checkoutDiffIDs.Load(key); ok {
			rc, err := checkoutTar(src, when)
			return rc, known.(digest.Digest), err
		}
		// Hash a first reading, then read it again to write it.
		rc, err := checkoutTar(src, when)
		if err != nil {
			return nil, "", err
		}
		d := digest.Canonical.Digester()
		_, err = io.Copy(d.Hash(), rc)
		rc.Close()
		if err != nil {
			return nil, "", err
		}
		checkoutDiffIDs.Store(key, d.Digest())
		rc, err = checkoutTar(src, when)
		return rc, d.Digest(), err
	}})
	if err != nil {
		return l, fmt.Errorf("source %q: %w", src.Name, err)
	}
	spec.describe(&l, src)
	return l, nil
}

// composition is the final image of the spec over its base with the
// layers out: the date, the image configuration and the labels, with
// the record of the layers, and the final key as an annotation.
func (s *FinalSpec) composition(out []Layer) composition {
	labels := s.Labels()
	labels[LabelLayers] = string(layersJSON(out))
	apply := applyImage(s.Image, labels)
	return composition{
		base: s.BaseID, layers: out, created: s.Epoch,
		edit: func(c *v1.ImageConfig) {
			apply(c)
			// The base's layout is the base image's own (a new base reads
			// it from earlier bases): every push of a final image would
			// carry it for nothing.
			delete(c.Labels, LabelBaseLayers)
			s.labelSBOM(c)
		},
		notes: s.notes(labels[LabelFinalKey]),
	}
}

// notes are the manifest's annotations: the base image (OCI's base.name
// and base.digest), the user's, and the final key.
func (s *FinalSpec) notes(key string) map[string]string {
	out := map[string]string{}
	if s.BaseName != "" {
		out[v1.AnnotationBaseImageName] = s.BaseName
		out[v1.AnnotationBaseImageDigest] = s.BaseDigest
	}
	maps.Copy(out, s.Annotations)
	out[LabelFinalKey] = key
	return out
}

// describe sets the source, date and history entry of l, a layer of src
// of kind l.Kind.
func (s *FinalSpec) describe(l *Layer, src Source) {
	l.Source, l.Created = src.Name, s.epoch(src)
	switch l.Kind {
	case KindCheckout:
		l.CreatedBy = fmt.Sprintf("strata checkout: %s@%s to %s", src.Name, src.Commit[:12], src.Path)
	case KindInstall:
		l.CreatedBy = "strata install: " + src.Name + ": " + strings.Join(src.Install, " ")
	}
}

// PlannedLayer is a layer a build of the spec puts over the base.
type PlannedLayer struct {
	Kind   string
	Source string
	Key    string
}

// Planned lists the layers of the spec over the base, bottom first, with
// their keys.
func (s *FinalSpec) Planned() []PlannedLayer {
	var out []PlannedLayer
	for _, src := range s.Sources {
		out = append(out, PlannedLayer{KindCheckout, src.Name, s.CheckoutKey(src)})
		if len(src.Install) > 0 {
			out = append(out, PlannedLayer{KindInstall, src.Name, s.InstallKey(src)})
		}
	}
	return out
}

// layersJSON is the LabelLayers record.
func layersJSON(list []Layer) []byte {
	if list == nil {
		list = []Layer{}
	}
	return compactJSON(list)
}

// runInstall runs a source's install command over the base and the
// checkouts it needs, in a working container of its own, commits what the
// command wrote and returns that diff. The working container is removed on
// every path; the images it makes are added to working, for the caller to
// remove. await, when not nil, is called before each checkout over the
// base (see installs.awaitCheckout). It returns the diff and its diff ID.
func runInstall(ctx context.Context, env *Env, spec *FinalSpec, src Source, working *[]string, await func(ctx context.Context, src, o Source) error) (io.ReadCloser, digest.Digest, error) {
	if err := env.checkRunner(fmt.Sprintf("the install command of source %q", src.Name)); err != nil {
		return nil, "", err
	}
	base, err := env.Store.Image(spec.BaseID)
	if err != nil {
		return nil, "", err
	}
	over := &stack{store: env.Store, top: base.TopLayer}
	var below []Layer
	for _, o := range spec.over(src) {
		if await != nil {
			if err := await(ctx, src, o); err != nil {
				return nil, "", err
			}
		}
		l, err := pushCheckout(ctx, env, spec, over, o)
		if err != nil {
			return nil, "", err
		}
		env.Log.Debugf("final: install of %s: checkout of %s over the base: %s", src.Name, o.Name, l.How)
		below = append(below, l)
	}
	// The working images get a configuration of their own (a nonce label):
	// the same recipe built by another process at the same time would
	// otherwise make the very same images, by ID, and remove them under
	// this one when it is done.
	nonce := workingNonce()
	runImage, err := compose(ctx, env.Store, composition{base: spec.BaseID, layers: below, created: spec.epoch(src), edit: func(c *v1.ImageConfig) {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[labelWorking] = nonce
	}})
	if err != nil {
		return nil, "", err
	}
	*working = append(*working, runImage)
	opts, err := env.BuilderOptions(runImage, spec.Container+"-install-"+src.Name)
	if err != nil {
		return nil, "", err
	}
	b, err := buildah.NewBuilder(ctx, env.Store, opts)
	if err != nil {
		return nil, "", fmt.Errorf("preparing the install command of source %q: %w", src.Name, err)
	}
	defer func() {
		if err := b.Delete(); err != nil {
			env.Log.Warnf("removing working container %q: %v", b.Container, err)
		}
	}()
	if err := runStep(ctx, env, spec, b, src); err != nil {
		return nil, "", err
	}
	// A name of this process's own, taken off again with the image.
	ref, err := is.Transport.ParseStoreReference(env.Store, stores.WorkingImagePrefix+nonce)
	if err != nil {
		return nil, "", err
	}
	when := spec.epoch(src)
	id, _, _, err := b.Commit(ctx, ref, buildah.CommitOptions{
		Compression:         archive.Uncompressed,
		SignaturePolicyPath: env.PolicyPath,
		SystemContext:       env.SystemContext,
		SourceDateEpoch:     &when,
		RewriteTimestamp:    true,
		OmitHistory:         true,
	})
	if err != nil {
		return nil, "", fmt.Errorf("committing the install layer of source %q: %w", src.Name, err)
	}
	*working = append(*working, id)
	img, err := env.Store.Image(id)
	if err != nil {
		return nil, "", err
	}
	top, err := env.Store.Layer(img.TopLayer)
	if err != nil {
		return nil, "", err
	}
	rc, err := storedDiff(env.Store, img.TopLayer)
	if err != nil {
		return nil, "", fmt.Errorf("reading the install layer of source %q: %w", src.Name, err)
	}
	return rc, top.UncompressedDigest, nil
}

// runStep runs a source's install command in a working container, as
// root, in the source's directory, with the network disabled (or the
// host's), SOURCE_DATE_EPOCH set to the source's epoch.
func runStep(ctx context.Context, env *Env, spec *FinalSpec, b *buildah.Builder, src Source) error {
	env.Log.Infof("final: running the install command of %s: %s", src.Name, strings.Join(src.Install, " "))
	ns := define.NamespaceOptions{{Name: "network", Host: spec.Network == "host"}}
	t := &tail{}
	err := b.Run(src.Install, buildah.RunOptions{
		Isolation:        env.isolation(),
		Runtime:          env.Runtime,
		WorkingDir:       src.Path,
		User:             "0:0", // installs write system directories whatever image.user is
		Env:              []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(spec.epoch(src).Unix(), 10)},
		NamespaceOptions: ns,
		ConfigureNetwork: define.NetworkDisabled,
		Stdout:           multi(env.Output, t),
		Stderr:           multi(env.Output, t),
		Logger:           env.Log,
		Quiet:            true,
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("install command of source %q interrupted: %w", src.Name, ctx.Err())
		}
		msg := strings.TrimSpace(t.buf.String())
		if msg != "" {
			msg = ": " + lastLines(msg, 5)
		}
		return fmt.Errorf("running the install command of source %q (%s): %w%s", src.Name, strings.Join(src.Install, " "), err, msg)
	}
	return ctx.Err()
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// labelWorking marks the working images of an install command with a
// nonce of the process that made them.
const labelWorking = "io.strata.working"

// workingNonce returns a name no other process uses and that names this
// process as its owner: its owner token and a counter.
func workingNonce() string {
	return fmt.Sprintf("%s-%d", stores.Owner(), workingCount.Add(1))
}

var workingCount atomic.Int64
