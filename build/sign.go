package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/signature/signer"
	"go.podman.io/image/v5/signature/sigstore"
	"go.podman.io/image/v5/transports"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage/pkg/configfile"
	"go.podman.io/storage/pkg/unshare"
	"go.yaml.in/yaml/v3"
)

// SignOptions sign pushed images with a sigstore key, as podman push
// --sign-by-sigstore-private-key does: the signature is stored as a
// sigstore attachment beside the manifest, where cosign and
// containers/image look for it.
type SignOptions struct {
	// PrivateKeyFile is --sign-by-sigstore-private-key ("" signs nothing).
	PrivateKeyFile string
	// Passphrase is the content of --sign-passphrase-file.
	Passphrase []byte
}

func (o SignOptions) enabled() bool { return o.PrivateKeyFile != "" }

// signers opens the private key. Its errors name the file, never the
// passphrase.
func (o SignOptions) signers() ([]*signer.Signer, error) {
	if !o.enabled() {
		return nil, nil
	}
	s, err := sigstore.NewSigner(sigstore.WithPrivateKeyFile(o.PrivateKeyFile, o.Passphrase))
	if err != nil {
		return nil, fmt.Errorf("%w: --sign-by-sigstore-private-key %q: %v", ErrUsage, o.PrivateKeyFile, scrubPassphrase(err, o.Passphrase))
	}
	return []*signer.Signer{s}, nil
}

// check opens the private key and closes it again: a wrong passphrase or
// an unreadable key is found before anything moves.
func (o SignOptions) check() error {
	s, err := o.signers()
	for _, x := range s {
		_ = x.Close()
	}
	return err
}

// scrubPassphrase removes the passphrase from an error's text, should a
// library ever quote it.
func scrubPassphrase(err error, pass []byte) error {
	if len(pass) == 0 || !strings.Contains(err.Error(), string(pass)) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), string(pass), "***"))
}

// ReadPassphraseFile reads a passphrase file as skopeo does: the first
// line, without its newline.
func ReadPassphraseFile(flag, file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUsage, flag, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return []byte(strings.TrimSuffix(line, "\r")), nil
}

// checkSigstoreAttachments fails, before anything is pushed, when
// registries.d does not let containers/image write sigstore attachments
// for the repository of dest (docker://...): the signature would
// otherwise fail after the tag had moved. The lookup is containers/image's
// (docker/registries_d.go): the most specific "docker:" namespace that
// sets use-sigstore-attachments, else "default-docker".
func checkSigstoreAttachments(sys *types.SystemContext, dest string) error {
	on, err := sigstoreAttachments(sys, dest)
	if err != nil {
		return err
	}
	if on {
		return nil
	}
	ref, _ := alltransports.ParseImageName(dest) // parsed by sigstoreAttachments
	named := ref.DockerReference()
	repo := named.Name()
	dir := "/etc/containers/registries.d"
	if unshare.IsRootless() {
		dir = "~/.config/containers/registries.d"
	}
	if sys != nil && sys.RegistriesDirPath != "" {
		dir = sys.RegistriesDirPath
	}
	return fmt.Errorf("%w: signing with --sign-by-sigstore-private-key stores the signature as a sigstore attachment, which registries.d does not enable for %q: add a file to %s (or to the directory --registries.d names) saying\n  docker:\n    %s:\n      use-sigstore-attachments: true\nnothing was pushed", ErrUsage, repo, dir, reference.Domain(named))
}

// registriesD is the part of a registries.d file strata reads.
type registriesD struct {
	DefaultDocker *registriesDNamespace           `yaml:"default-docker"`
	Docker        map[string]registriesDNamespace `yaml:"docker"`
}

type registriesDNamespace struct {
	UseSigstoreAttachments *bool `yaml:"use-sigstore-attachments"`
}

// sigstoreAttachments reports whether registries.d enables sigstore
// attachments for the repository of ref (docker://...).
func sigstoreAttachments(sys *types.SystemContext, ref string) (bool, error) {
	r, err := alltransports.ParseImageName(ref)
	if err != nil {
		return false, fmt.Errorf("%w: invalid reference %q: %v", ErrUsage, ref, err)
	}
	files := configfile.File{
		Name:                           "registries",
		Extension:                      "yaml",
		DoNotLoadMainFiles:             true,
		DoNotUseExtensionForConfigName: true,
		UserId:                         unshare.GetRootlessUID(),
	}
	if sys != nil {
		files.RootForImplicitAbsolutePaths = sys.RootForImplicitAbsolutePaths
		files.CustomConfigFileDropInDirectory = sys.RegistriesDirPath
	}
	merged := registriesD{Docker: map[string]registriesDNamespace{}}
	for item, err := range configfile.Read(&files) {
		if err != nil {
			return false, fmt.Errorf("reading registries.d: %w", err)
		}
		b, err := io.ReadAll(item.Reader)
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", item.Name, err)
		}
		var f registriesD
		if err := yaml.Unmarshal(b, &f); err != nil {
			return false, fmt.Errorf("parsing %s: %w", item.Name, err)
		}
		if f.DefaultDocker != nil {
			merged.DefaultDocker = f.DefaultDocker
		}
		for k, v := range f.Docker {
			merged.Docker[k] = v
		}
	}
	for _, name := range append([]string{r.PolicyConfigurationIdentity()}, r.PolicyConfigurationNamespaces()...) {
		if ns, ok := merged.Docker[name]; ok && ns.UseSigstoreAttachments != nil {
			return *ns.UseSigstoreAttachments, nil
		}
	}
	if merged.DefaultDocker != nil && merged.DefaultDocker.UseSigstoreAttachments != nil {
		return *merged.DefaultDocker.UseSigstoreAttachments, nil
	}
	return false, nil
}

// signDigest signs the manifest repo@d, already in the registry, as
// repo:tag (the identity a policy's signedIdentity matches), and stores
// the signature as its sigstore attachment, before any tag names it.
// containers/image signs only while copying, so the manifest is copied
// onto itself by digest: every blob is there already, the manifest bytes
// are kept (PreserveDigests), and only the signature moves.
func (p *pusher) signDigest(ctx context.Context, repo, tag string, d digest.Digest) error {
	ref := "docker://" + repo + "@" + d.String()
	r, err := alltransports.ParseImageName(ref)
	if err != nil {
		return err
	}
	identity, err := reference.ParseNormalizedNamed(repo + ":" + tag)
	if err != nil {
		return err
	}
	// The source is the manifest this process has just written: the
	// user's policy is for images pulled, not for this copy onto itself.
	pc, err := signature.NewPolicyContext(&signature.Policy{Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()}})
	if err != nil {
		return err
	}
	defer func() { _ = pc.Destroy() }()
	_, err = copy.Image(ctx, pc, r, r, &copy.Options{
		SourceCtx:       p.sys,
		DestinationCtx:  p.sys,
		Signers:         p.signers,
		SignIdentity:    identity,
		PreserveDigests: true,
		ReportWriter:    io.Discard,
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("signing %s: %w", strings.TrimPrefix(ref, "docker://"), registryError(p.sys, hostOf(ref), err))
	}
	return nil
}

// VerifyOptions configure `strata verify`.
type VerifyOptions struct {
	Registry RegistryOptions
	// PolicyFile is --policy: a containers-policy.json(5) file.
	PolicyFile string
	// KeyFile is --key: a sigstore public key; the image must carry a
	// sigstore signature by it for its own repository (matchRepository:
	// any tag of it, or a digest).
	KeyFile string
}

// ErrRefused is wrapped by the error of an image the policy does not
// accept.
var ErrRefused = errors.New("refused by the signature policy")

// Verify checks an image (docker://REF by default, or any containers/image
// transport) against a signature policy, with containers/image's policy
// code as podman pull evaluates it, and returns its manifest digest.
func Verify(ctx context.Context, img string, opts VerifyOptions) (digest.Digest, error) {
	refText := img
	if !HasTransport(img) {
		refText = "docker://" + img
	}
	ref, err := alltransports.ParseImageName(refText)
	if err != nil {
		return "", fmt.Errorf("%w: invalid image %q: %v", ErrUsage, img, err)
	}
	sys, err := opts.Registry.SystemContext()
	if err != nil {
		return "", err
	}
	var policy *signature.Policy
	switch {
	case opts.KeyFile != "" && opts.PolicyFile != "":
		return "", fmt.Errorf("%w: --key and --policy exclude each other", ErrUsage)
	case opts.KeyFile != "":
		key, err := filepath.Abs(opts.KeyFile)
		if err == nil {
			_, err = os.Stat(key)
		}
		if err != nil {
			return "", fmt.Errorf("%w: --key: %v", ErrUsage, err)
		}
		req, err := signature.NewPRSigstoreSignedKeyPath(key, signature.NewPRMMatchRepository())
		if err != nil {
			return "", fmt.Errorf("%w: --key %q: %v", ErrUsage, opts.KeyFile, err)
		}
		policy = &signature.Policy{Default: signature.PolicyRequirements{req}}
	case opts.PolicyFile != "":
		policy, err = signature.NewPolicyFromFile(opts.PolicyFile)
		if err != nil {
			return "", fmt.Errorf("%w: --policy: %v", ErrUsage, err)
		}
	default:
		policy, err = signature.DefaultPolicy(sys)
		if err != nil {
			return "", fmt.Errorf("reading the signature policy: %w", err)
		}
	}
	pc, err := signature.NewPolicyContext(policy)
	if err != nil {
		return "", fmt.Errorf("%w: the signature policy: %v", ErrUsage, err)
	}
	defer func() { _ = pc.Destroy() }()
	explain := func(err error) error {
		if ref.Transport() == docker.Transport {
			return registryError(sys, hostOf(refText), err)
		}
		return err
	}
	src, err := ref.NewImageSource(ctx, sys)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", img, explain(err))
	}
	defer src.Close()
	raw, _, err := src.GetManifest(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("reading the manifest of %s: %w", img, explain(err))
	}
	d, err := manifest.Digest(raw)
	if err != nil {
		return "", err
	}
	allowed, err := pc.IsRunningImageAllowed(ctx, image.UnparsedInstance(src, nil))
	if !allowed || err != nil {
		if err == nil {
			err = errors.New("not accepted")
		}
		hint := ""
		if ref.Transport() == docker.Transport {
			if on, e := sigstoreAttachments(sys, refText); e == nil && !on {
				hint = " (registries.d does not enable use-sigstore-attachments for it: its sigstore signatures are not read)"
			}
		}
		return d, fmt.Errorf("%s@%s: %w: %v%s", strings.TrimPrefix(refText, "docker://"), d, ErrRefused, err, hint)
	}
	return d, nil
}

// HasTransport reports whether img starts with a containers/image
// transport (docker://, oci:, dir:, oci-archive:, ...).
func HasTransport(img string) bool {
	name, _, ok := strings.Cut(img, ":")
	return ok && transports.Get(name) != nil
}

// KeyPair is a generated sigstore key pair, in the files' formats.
type KeyPair struct{ Public, Private []byte }

// GenerateKey makes a sigstore key pair (ECDSA P-256, the private key
// encrypted with passphrase) with containers/image's generator, as skopeo
// generate-sigstore-key does.
func GenerateKey(passphrase []byte) (KeyPair, error) {
	k, err := sigstore.GenerateKeyPair(passphrase)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generating a key pair: %w", err)
	}
	return KeyPair{Public: k.PublicKey, Private: k.PrivateKey}, nil
}
