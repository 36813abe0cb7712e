package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/layers/sbom"
	"go.podman.io/common/libimage"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/signature/signer"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"
)

// PushOptions configure `strata push`.
type PushOptions struct {
	Store      stores.Options
	Log        *logrus.Logger
	Progress   io.Writer
	Registry   RegistryOptions
	DigestFile string // --digestfile
}

// ParsePushDestination checks a push destination: docker://REF, oci:DIR,
// oci-archive:FILE, docker-archive:FILE, dir:DIR, containers-storage:NAME,
// or a registry reference.
func ParsePushDestination(dest string) (string, error) {
	if dest == "" {
		return "", fmt.Errorf("%w: missing destination", ErrUsage)
	}
	if rest, ok := strings.CutPrefix(dest, "containers-storage:"); ok {
		named, err := reference.ParseNormalizedNamed(localName(rest))
		if err != nil {
			return "", fmt.Errorf("%w: invalid destination %q: %v", ErrUsage, dest, err)
		}
		return "containers-storage:" + reference.TagNameOnly(named).String(), nil
	}
	for _, t := range []string{"docker://", "oci:", "oci-archive:", "docker-archive:", "dir:"} {
		if strings.HasPrefix(dest, t) {
			if _, err := alltransports.ParseImageName(dest); err != nil {
				return "", fmt.Errorf("%w: invalid destination %q: %v", ErrUsage, dest, err)
			}
			return dest, nil
		}
	}
	named, err := reference.ParseNormalizedNamed(dest)
	if err != nil {
		return "", fmt.Errorf("%w: invalid destination %q: %v (want docker://REF, oci:DIR, oci-archive:FILE, docker-archive:FILE, dir:DIR or containers-storage:NAME)", ErrUsage, dest, err)
	}
	return "docker://" + reference.TagNameOnly(named).String(), nil
}

// nameArchive gives an oci-archive: or docker-archive: destination without
// a name the name the image was pushed by (as podman save does), when that
// is one of the image's names; pushed by ID, the archive holds no name, as
// with podman.
func nameArchive(dest, image string, names []string) string {
	for _, t := range []string{"oci-archive:", "docker-archive:"} {
		rest, ok := strings.CutPrefix(dest, t)
		if !ok || strings.Contains(rest, ":") {
			continue
		}
		if named, err := reference.ParseNormalizedNamed(localName(image)); err == nil && slices.Contains(names, reference.TagNameOnly(named).String()) {
			return dest + ":" + reference.TagNameOnly(named).String()
		}
	}
	return dest
}

// Push copies an image of the local store (a name or an ID) to dest and
// returns the digest of the manifest written.
func Push(ctx context.Context, image, dest string, opts PushOptions) (digest.Digest, error) {
	dest, err := ParsePushDestination(dest)
	if err != nil {
		return "", err
	}
	if err := checkOutputFile("--digestfile", opts.DigestFile); err != nil {
		return "", err
	}
	log := orDiscard(opts.Log)
	store, err := stores.Open(opts.Store, log)
	if err != nil {
		return "", err
	}
	defer store.Close()
	p, err := newPusher(store, opts.Registry, opts.Progress)
	if err != nil {
		return "", err
	}
	id, err := lookupImage(store, image)
	if err != nil {
		return "", err
	}
	img, err := store.Image(id)
	if err != nil {
		return "", err
	}
	closeSigners, err := p.openSigners()
	if err != nil {
		return "", err
	}
	defer closeSigners()
	if name, ok := strings.CutPrefix(dest, "containers-storage:"); ok {
		if p.signers != nil {
			return "", fmt.Errorf("%w: --sign-by-sigstore-private-key: %q cannot hold signatures (a registry or dir: can)", ErrUsage, dest)
		}
		// The same store: a copy is another name for the same image (a
		// bare containers-storage: reference would name the default
		// store, not this one).
		if err := nameImage(store, id, []string{name}); err != nil {
			return "", err
		}
		log.Infof("named %s %s", short(id), name)
		return img.Digest, writeDigest(opts.DigestFile, img.Digest)
	}
	dest = nameArchive(dest, image, img.Names)
	put := p.push
	if p.signers != nil {
		switch {
		case strings.HasPrefix(dest, "docker://"):
			if err := checkSigstoreAttachments(p.sys, dest); err != nil {
				return "", err
			}
		case strings.HasPrefix(dest, "dir:"):
		default:
			return "", fmt.Errorf("%w: --sign-by-sigstore-private-key: %q cannot hold signatures (a registry or dir: can)", ErrUsage, dest)
		}
		put = p.pushSigned
	}
	d, err := put(ctx, id, dest)
	if err != nil {
		if ctx.Err() != nil && strings.HasPrefix(dest, "docker://") {
			// The manifest goes last: the tag has not moved.
			return "", fmt.Errorf("interrupted while pushing %s to %s: nothing was tagged: %w", image, strings.TrimPrefix(dest, "docker://"), ctx.Err())
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("interrupted while pushing %s to %s: %w", image, dest, ctx.Err())
		}
		return "", err
	}
	log.Infof("pushed %s to %s", short(id), dest)
	if rest, ok := strings.CutPrefix(dest, "docker://"); ok {
		if err := p.attachStored(ctx, store, id, rest, d, log); err != nil {
			return "", err
		}
	}
	return d, writeDigest(opts.DigestFile, d)
}

// lookupImage finds an image of the store by ID, full name, or short name
// (web, web:stg: localhost/web:latest, localhost/web:stg).
func lookupImage(store storage.Store, image string) (string, error) {
	if img, err := store.Image(image); err == nil {
		return img.ID, nil
	}
	if named, err := reference.ParseNormalizedNamed(localName(image)); err == nil {
		if img, err := store.Image(reference.TagNameOnly(named).String()); err == nil {
			return img.ID, nil
		}
	}
	return "", fmt.Errorf("%w: image %q is not in the local store", ErrUsage, image)
}

func writeDigest(file string, d digest.Digest) error {
	if file == "" {
		return nil
	}
	if err := writeFileAtomic(file, []byte(d.String())); err != nil {
		return fmt.Errorf("writing --digestfile: %w", err)
	}
	return nil
}

// pusher copies images out of one store.
type pusher struct {
	sys     *types.SystemContext
	runtime *libimage.Runtime
	opts    libimage.CopyOptions
	reg     RegistryOptions
	signers []*signer.Signer // --sign-by-sigstore-private-key; nil signs nothing
}

func newPusher(store *stores.Store, reg RegistryOptions, progress io.Writer) (*pusher, error) {
	if reg.BlobInfoCache == "" {
		reg.BlobInfoCache = blobInfoCache(store.GraphRoot())
		if err := os.MkdirAll(reg.BlobInfoCache, 0o700); err != nil {
			return nil, err
		}
	}
	sys, err := reg.SystemContext()
	if err != nil {
		return nil, err
	}
	policy, err := store.PolicyPath()
	if err != nil {
		return nil, err
	}
	copts, err := reg.copyOptions(policy, progress)
	if err != nil {
		return nil, err
	}
	copts.PolicyAllowStorage = true
	rt, err := libimage.RuntimeFromStore(store, &libimage.RuntimeOptions{SystemContext: sys})
	if err != nil {
		return nil, fmt.Errorf("preparing to push: %w", err)
	}
	return &pusher{sys: sys, runtime: rt, opts: copts, reg: reg}, nil
}

// openSigners opens the signing key of the options, when there is one,
// for what p pushes until the returned function is called.
func (p *pusher) openSigners() (func(), error) {
	if !p.reg.Sign.enabled() || p.signers != nil {
		return func() {}, nil
	}
	s, err := p.reg.Sign.signers()
	if err != nil {
		return nil, err
	}
	p.signers = s
	return func() {
		for _, x := range s {
			_ = x.Close()
		}
		p.signers = nil
	}, nil
}

// pushSigned pushes like push and signs the manifest as dest, storing the
// signature as a sigstore attachment.
func (p *pusher) pushSigned(ctx context.Context, id, dest string) (digest.Digest, error) {
	opts := p.opts
	opts.Signers = p.signers
	return p.pushWith(ctx, id, dest, opts)
}

// push copies the image with ID id to dest (TRANSPORT:REF).
func (p *pusher) push(ctx context.Context, id, dest string) (digest.Digest, error) {
	return p.pushWith(ctx, id, dest, p.opts)
}

func (p *pusher) pushWith(ctx context.Context, id, dest string, opts libimage.CopyOptions) (digest.Digest, error) {
	if strings.HasPrefix(dest, "docker-archive:") {
		// docker save's format holds Docker schema 2 manifests only.
		opts.ManifestMIMEType = manifest.DockerV2Schema2MediaType
	}
	raw, err := p.runtime.Push(ctx, id, dest, &libimage.PushOptions{CopyOptions: opts})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if !strings.HasPrefix(dest, "docker://") {
			return "", fmt.Errorf("writing %s: %w", dest, err)
		}
		return "", fmt.Errorf("pushing to %s: %w", strings.TrimPrefix(dest, "docker://"), registryError(p.sys, hostOf(dest), err))
	}
	d, err := manifest.Digest(raw)
	if err != nil {
		return "", fmt.Errorf("computing the digest of the pushed manifest: %w", err)
	}
	return d, nil
}

// remoteConfigDigest returns the config digest of the image a registry
// reference names, or "" when the tag does not exist.
func (p *pusher) remoteConfigDigest(ctx context.Context, ref string) (string, error) {
	m, err := p.manifestOf(ctx, ref)
	if err != nil || m == nil {
		return "", err
	}
	return m.config, nil
}

func isManifestUnknown(err error) bool {
	var unexpected docker.UnexpectedHTTPStatusError
	if errors.As(err, &unexpected) && unexpected.StatusCode == 404 {
		return true
	}
	// A HEAD request's 404 has no body to decode: containers/image
	// reports it by its status alone, in an error type of its own.
	s := err.Error()
	return strings.Contains(s, "manifest unknown") || strings.Contains(s, "name unknown") || strings.Contains(s, "not found") || strings.Contains(s, "StatusCode: 404,")
}

// hostOf returns the registry of a docker:// destination ("" otherwise).
func hostOf(dest string) string {
	rest, ok := strings.CutPrefix(dest, "docker://")
	if !ok {
		return dest
	}
	if named, err := reference.ParseNormalizedNamed(rest); err == nil {
		return reference.Domain(named)
	}
	return rest
}

// Canonical returns REPOSITORY@DIGEST for a docker:// destination, else
// the digest.
func Canonical(dest string, d digest.Digest) string {
	rest, ok := strings.CutPrefix(dest, "docker://")
	if !ok {
		return d.String()
	}
	if named, err := reference.ParseNormalizedNamed(rest); err == nil {
		return named.Name() + "@" + d.String()
	}
	return d.String()
}

// attachStored attaches, to an image of the store pushed as ref (with
// manifest digest d), the SBOM its labels give, when it has them (an
// image strata built).
func (p *pusher) attachStored(ctx context.Context, store storage.Store, id, ref string, d digest.Digest, log *logrus.Logger) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return err
	}
	labels, err := layers.ImageLabels(ctx, store, id)
	if err != nil {
		return err
	}
	doc, err := layers.SBOMOf(labels)
	if errors.Is(err, layers.ErrNoSBOM) {
		return nil // not an image strata built
	}
	if err != nil {
		return err
	}
	// Not the provenance: the build's names the manifest it made, and a
	// push may write another (compressed) manifest of the image.
	atts := []attestation{{sbom.MediaType, func() ([]byte, error) { return doc, nil }}}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	if err := p.attachAll(ctx, named.Name(), tag, d, labels[layers.LabelCreated], log.Infof, atts...); err != nil {
		return fmt.Errorf("attaching the SBOM of %s@%s (the image is pushed): %w", named.Name(), d, err)
	}
	return nil
}
