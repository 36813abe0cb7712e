package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/layers/sbom"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/blobinfocache/memory"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"
)

// Attestations of an image: its SBOM and its provenance, attached in the
// registry as OCI 1.1 referrers (an artifact manifest whose subject is the
// image's manifest, listed in the image's referrers-tag index
// sha256-HEX, the fallback a registry without the referrers API needs).
const (
	// ProvenanceType is the media type of an in-toto statement.
	ProvenanceType = "application/vnd.in-toto+json"
	// emptyConfigType is OCI 1.1's empty descriptor's media type.
	emptyConfigType = "application/vnd.oci.empty.v1+json"
	// bigDataProvenance keeps a local build's provenance beside its image.
	bigDataProvenance = "strata.provenance"
)

// SBOM of an image's configuration labels; ErrNoSBOM wrapped when the
// image carries no SBOM facts.
func sbomOfLabels(labels map[string]string) ([]byte, error) {
	doc, err := layers.SBOMOf(labels)
	if errors.Is(err, layers.ErrNoSBOM) {
		return nil, fmt.Errorf("%w: %w (made by strata before SBOMs, or not by strata)", ErrUsage, err)
	}
	return doc, err
}

// writeSBOM writes --sbom.
func writeSBOM(file string, doc []byte) error {
	if file == "" {
		return nil
	}
	if err := writeFileAtomic(file, doc); err != nil {
		return fmt.Errorf("writing --sbom: %w", err)
	}
	return nil
}

// provenance is the in-toto statement with a SLSA v1 provenance predicate
// of a build of plan that made the image named name with manifest digest
// d, between started and finished.
func provenance(plan *Plan, opts Options, res *Result, name string, d digest.Digest, started, finished time.Time) ([]byte, error) {
	type digestSet map[string]string
	type resource struct {
		Name   string    `json:"name,omitempty"`
		URI    string    `json:"uri,omitempty"`
		Digest digestSet `json:"digest,omitempty"`
	}
	recipe := map[string]any{}
	if f := plan.recipe.File; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading the recipe for its provenance: %w", err)
		}
		sum := sha256.Sum256(b)
		recipe["path"] = f
		recipe["digest"] = digestSet{"sha256": hex.EncodeToString(sum[:])}
	}
	external := map[string]any{"recipe": recipe, "branch": plan.Branch, "tags": append(append([]string(nil), plan.Tags...), opts.Tags...)}
	if plan.Profile != "" {
		external["profile"] = plan.Profile
	}
	internal := map[string]any{"baseKey": plan.Base.Key, "finalKey": res.FinalKey, "target": plan.Target}
	if plan.Base.Lock != "" {
		internal["lock"] = map[string]any{"path": plan.Base.Lock, "digest": digestSet{"sha256": strings.TrimPrefix(plan.Base.spec.Lock, "sha256:")}}
	}
	var deps []resource
	for _, s := range plan.Sources {
		deps = append(deps, resource{Name: s.Name, URI: "git+" + s.Git + "@refs/heads/" + s.Branch, Digest: digestSet{"gitCommit": s.Commit}})
	}
	if spec := plan.Base.spec; spec.FromDigest != "" {
		from := spec.FromRef()
		n, dg, _ := strings.Cut(from, "@")
		deps = append(deps, resource{Name: "base.from", URI: "docker://" + n, Digest: digestSet{"sha256": strings.TrimPrefix(dg, "sha256:")}})
	}
	// in-toto's field order; the predicate's maps are sorted.
	stmt := struct {
		Type          string     `json:"_type"`
		Subject       []resource `json:"subject"`
		PredicateType string     `json:"predicateType"`
		Predicate     any        `json:"predicate"`
	}{
		Type:          "https://in-toto.io/Statement/v1",
		Subject:       []resource{{Name: name, Digest: digestSet{"sha256": d.Encoded()}}},
		PredicateType: "https://slsa.dev/provenance/v1",
		Predicate: map[string]any{
			"buildDefinition": map[string]any{
				"buildType":            "https://github.com/strata-build/strata/recipe/v1",
				"externalParameters":   external,
				"internalParameters":   internal,
				"resolvedDependencies": deps,
			},
			"runDetails": map[string]any{
				"builder": map[string]any{"id": "https://github.com/strata-build/strata", "version": map[string]string{"strata": opts.BuilderVersion}},
				"metadata": map[string]any{
					"invocationId": res.FinalKey,
					"startedOn":    started.UTC().Format(time.RFC3339),
					"finishedOn":   finished.UTC().Format(time.RFC3339),
				},
			},
		},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(stmt); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// keepProvenance records a local build's provenance beside its image,
// unless the image has one (a reused image keeps that of the build that
// made it).
func keepProvenance(store storage.Store, id string, doc []byte) error {
	if _, err := store.ImageBigData(id, bigDataProvenance); err == nil {
		return nil
	}
	return store.SetImageBigData(id, bigDataProvenance, doc, nil)
}

// referrersTag is the referrers-tag schema's tag of a manifest digest.
func referrersTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded()
}

// rawManifest reads the manifest at ref (docker://...): nil when there is
// none.
func (p *pusher) rawManifest(ctx context.Context, ref string) ([]byte, string, error) {
	r, err := alltransports.ParseImageName(ref)
	if err != nil {
		return nil, "", err
	}
	src, err := r.NewImageSource(ctx, p.sys)
	if err != nil {
		if isManifestUnknown(err) {
			return nil, "", nil
		}
		return nil, "", registryError(p.sys, hostOf(ref), err)
	}
	defer src.Close()
	raw, mt, err := src.GetManifest(ctx, nil)
	if err != nil {
		if isManifestUnknown(err) {
			return nil, "", nil
		}
		return nil, "", registryError(p.sys, hostOf(ref), err)
	}
	return raw, mt, nil
}

// referrers returns the referrers-tag index of the manifest repo@d (an
// empty one when there is none).
func (p *pusher) referrers(ctx context.Context, repo string, d digest.Digest) (*v1.Index, error) {
	raw, _, err := p.rawManifest(ctx, "docker://"+repo+":"+referrersTag(d))
	if err != nil {
		return nil, err
	}
	idx := &v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{}}
	if raw != nil {
		if err := json.Unmarshal(raw, idx); err != nil {
			return nil, fmt.Errorf("reading the referrers index %s:%s: %w", repo, referrersTag(d), err)
		}
	}
	return idx, nil
}

// attach stores data as an artifact of type artifactType referring to the
// manifest subject in repo, and lists it in the referrers-tag index idx.
// It returns the artifact manifest's digest.
func (p *pusher) attach(ctx context.Context, repo string, idx *v1.Index, subject v1.Descriptor, artifactType string, data []byte, created string) (digest.Digest, error) {
	empty := []byte("{}")
	art := v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       v1.Descriptor{MediaType: emptyConfigType, Digest: digest.FromBytes(empty), Size: int64(len(empty)), Data: empty},
		Layers:       []v1.Descriptor{{MediaType: artifactType, Digest: digest.FromBytes(data), Size: int64(len(data))}},
		Subject:      &subject,
		Annotations:  map[string]string{v1.AnnotationCreated: created},
	}
	raw, err := json.Marshal(art)
	if err != nil {
		return "", err
	}
	d := digest.FromBytes(raw)
	ref := "docker://" + repo + ":" + referrersTag(subject.Digest)
	dest, err := p.openDestination(ctx, ref)
	if err != nil {
		return "", err
	}
	defer dest.Close()
	cache := memory.New()
	for _, blob := range [][]byte{empty, data} {
		info := types.BlobInfo{Digest: digest.FromBytes(blob), Size: int64(len(blob))}
		if _, err := dest.PutBlob(ctx, bytes.NewReader(blob), info, cache, false); err != nil {
			return "", fmt.Errorf("uploading the %s attachment to %s: %w", artifactType, repo, registryError(p.sys, hostOf(ref), err))
		}
	}
	if _, err := p.putManifest(ctx, "docker://"+repo+"@"+d.String(), raw); err != nil {
		return "", err
	}
	idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: v1.MediaTypeImageManifest, ArtifactType: artifactType, Digest: d, Size: int64(len(raw)), Annotations: art.Annotations})
	rawIdx, err := json.Marshal(idx)
	if err != nil {
		return "", err
	}
	if _, err := p.putManifest(ctx, ref, rawIdx); err != nil {
		return "", err
	}
	return d, nil
}

// attestation is a document to attach, made only when it is missing.
type attestation struct {
	artifactType string
	make         func() ([]byte, error)
}

// attachAll attaches the attestations the image repo@d lacks (and signs
// them when the image is signed). An image has one of each type: its SBOM
// is a function of its configuration, and its provenance is that of the
// build that first pushed it. Nothing is made or uploaded when both are
// there.
func (p *pusher) attachAll(ctx context.Context, repo, tag string, d digest.Digest, created string, log func(format string, args ...any), atts ...attestation) error {
	idx, err := p.referrers(ctx, repo, d)
	if err != nil {
		return err
	}
	var subject *v1.Descriptor
	for _, a := range atts {
		if slices.ContainsFunc(idx.Manifests, func(m v1.Descriptor) bool { return m.ArtifactType == a.artifactType }) {
			log("push: %s@%s has its %s attached already", repo, short(d.Encoded()), a.artifactType)
			continue
		}
		if subject == nil {
			raw, mt, err := p.rawManifest(ctx, "docker://"+repo+"@"+d.String())
			if err != nil {
				return err
			}
			if raw == nil {
				return fmt.Errorf("attaching to %s@%s: the manifest is not there", repo, d)
			}
			subject = &v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}
		}
		data, err := a.make()
		if err != nil {
			return err
		}
		ad, err := p.attach(ctx, repo, idx, *subject, a.artifactType, data, created)
		if err != nil {
			return err
		}
		if p.signers != nil {
			if err := p.signDigest(ctx, repo, tag, ad); err != nil {
				return err
			}
		}
		log("push: attached %s to %s@%s as %s", a.artifactType, repo, short(d.Encoded()), ad)
	}
	return nil
}

// ReadOptions configure `strata sbom` and `strata provenance`.
type ReadOptions struct {
	Store    stores.Options
	Registry RegistryOptions
	Log      *logrus.Logger // warnings: a document computed rather than read
}

func (o ReadOptions) warn(format string, args ...any) {
	if o.Log != nil {
		o.Log.Warnf(format, args...)
	}
}

// withImage calls f with the local store and the ID of its image img (a
// name or an ID).
func (o ReadOptions) withImage(img string, f func(store storage.Store, id string) error) error {
	store, err := stores.Open(o.Store, orDiscard(o.Log))
	if err != nil {
		return err
	}
	defer store.Close()
	id, err := lookupImage(store, img)
	if err != nil {
		return err
	}
	return f(store, id)
}

// ReadSBOM returns the SBOM of an image: docker://REF reads the attachment
// (the bytes pushed), else computes it from the configuration's labels;
// oci:DIR[:TAG], oci-archive:FILE, dir:DIR and an image of the local store
// (a name or an ID) compute it from their configuration, and check it
// against the io.strata.sbom label.
func ReadSBOM(ctx context.Context, img string, opts ReadOptions) ([]byte, error) {
	if rest, ok := strings.CutPrefix(img, "docker://"); ok {
		p, err := newRemoteReader(opts.Registry)
		if err != nil {
			return nil, err
		}
		doc, err := p.readAttachment(ctx, rest, sbom.MediaType)
		if err != nil || doc != nil {
			return doc, err
		}
		opts.warn("%s has no SBOM attachment: computing it from the image's labels", rest)
	}
	labels, err := configLabels(ctx, img, opts)
	if err != nil {
		return nil, err
	}
	doc, err := sbomOfLabels(labels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", img, err)
	}
	if want := labels[layers.LabelSBOM]; want != "" && want != digest.FromBytes(doc).String() {
		opts.warn("%s: the SBOM computed here (%s) is not the one its label %s names (%s): the image was made by another version of strata", img, digest.FromBytes(doc), layers.LabelSBOM, want)
	}
	return doc, nil
}

// ReadProvenance returns the provenance of an image: the attachment of
// docker://REF, or what a build kept beside an image of the local store.
func ReadProvenance(ctx context.Context, img string, opts ReadOptions) ([]byte, error) {
	if rest, ok := strings.CutPrefix(img, "docker://"); ok {
		p, err := newRemoteReader(opts.Registry)
		if err != nil {
			return nil, err
		}
		doc, err := p.readAttachment(ctx, rest, ProvenanceType)
		if err != nil {
			return nil, err
		}
		if doc == nil {
			return nil, fmt.Errorf("%w: %s has no provenance attachment", ErrUsage, rest)
		}
		return doc, nil
	}
	if HasTransport(img) {
		return nil, fmt.Errorf("%w: %s: provenance is kept in the local store and attached in registries; read it from one of those", ErrUsage, img)
	}
	var doc []byte
	err := opts.withImage(img, func(store storage.Store, id string) (err error) {
		if doc, err = store.ImageBigData(id, bigDataProvenance); err != nil {
			return fmt.Errorf("%w: image %s has no provenance (not built by strata here)", ErrUsage, img)
		}
		return nil
	})
	return doc, err
}

func newRemoteReader(reg RegistryOptions) (*pusher, error) {
	sys, err := reg.SystemContext()
	if err != nil {
		return nil, err
	}
	return &pusher{sys: sys, reg: reg}, nil
}

// readAttachment returns the newest artifact of artifactType referring to
// the image ref (REGISTRY/NAME[:TAG|@DIGEST]) in its referrers-tag index,
// or nil.
func (p *pusher) readAttachment(ctx context.Context, ref, artifactType string) ([]byte, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid image %q: %v", ErrUsage, ref, err)
	}
	raw, _, err := p.rawManifest(ctx, "docker://"+reference.TagNameOnly(named).String())
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: %s: no such image", ErrUsage, ref)
	}
	d, err := manifest.Digest(raw)
	if err != nil {
		return nil, err
	}
	repo := named.Name()
	idx, err := p.referrers(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	var found []v1.Descriptor
	for _, m := range idx.Manifests {
		if m.ArtifactType == artifactType {
			found = append(found, m)
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(found, func(a, b v1.Descriptor) int {
		return strings.Compare(a.Annotations[v1.AnnotationCreated], b.Annotations[v1.AnnotationCreated])
	})
	art := found[len(found)-1]
	rawArt, _, err := p.rawManifest(ctx, "docker://"+repo+"@"+art.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("reading the %s attachment %s of %s: %w", artifactType, art.Digest, ref, err)
	}
	if rawArt == nil {
		return nil, fmt.Errorf("reading the %s attachment %s of %s: the referrers index lists it, the registry does not have it", artifactType, art.Digest, ref)
	}
	var m v1.Manifest
	if err := json.Unmarshal(rawArt, &m); err != nil || len(m.Layers) != 1 {
		return nil, fmt.Errorf("reading the %s attachment %s of %s: not an artifact of one blob", artifactType, art.Digest, ref)
	}
	r, err := alltransports.ParseImageName("docker://" + repo + "@" + art.Digest.String())
	if err != nil {
		return nil, err
	}
	src, err := r.NewImageSource(ctx, p.sys)
	if err != nil {
		return nil, registryError(p.sys, hostOf("docker://"+repo), err)
	}
	defer src.Close()
	rc, _, err := src.GetBlob(ctx, types.BlobInfo{Digest: m.Layers[0].Digest, Size: m.Layers[0].Size}, memory.New())
	if err != nil {
		return nil, registryError(p.sys, hostOf("docker://"+repo), err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		return nil, err
	}
	if digest.FromBytes(b.Bytes()) != m.Layers[0].Digest {
		return nil, fmt.Errorf("the %s attachment of %s does not match its digest", artifactType, ref)
	}
	return b.Bytes(), nil
}

// configLabels reads the configuration labels of an image: an image of
// the local store (a name or an ID, no transport), or any containers/image
// reference.
func configLabels(ctx context.Context, img string, opts ReadOptions) (map[string]string, error) {
	if !HasTransport(img) {
		var labels map[string]string
		err := opts.withImage(img, func(store storage.Store, id string) (err error) {
			labels, err = layers.ImageLabels(ctx, store, id)
			return err
		})
		return labels, err
	}
	ref, err := alltransports.ParseImageName(img)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid image %q: %v", ErrUsage, img, err)
	}
	sys, err := opts.Registry.SystemContext()
	if err != nil {
		return nil, err
	}
	i, err := ref.NewImage(ctx, sys)
	if err != nil {
		if strings.HasPrefix(img, "docker://") {
			err = registryError(sys, hostOf(img), err)
		}
		return nil, fmt.Errorf("reading %s: %w", img, err)
	}
	defer i.Close()
	cfg, err := i.OCIConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration of %s: %w", img, err)
	}
	return cfg.Config.Labels, nil
}
