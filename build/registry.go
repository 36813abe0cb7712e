package build

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/docker/distribution/registry/api/errcode"
	"go.podman.io/common/libimage"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/pkg/compression"
	"go.podman.io/image/v5/pkg/docker/config"
	"go.podman.io/image/v5/types"
)

// RegistryOptions are how strata talks to registries, as podman and skopeo
// do: credentials, TLS and retries.
type RegistryOptions struct {
	// AuthFile is --authfile (REGISTRY_AUTH_FILE); "" for the default
	// auth.json locations, ~/.docker/config.json and credential helpers.
	AuthFile string
	// Creds is --creds USER[:PASSWORD]; it overrides the auth file.
	Creds string
	// CertDir is --cert-dir: a directory with the registry's CA (*.crt)
	// and client certificates (*.cert, *.key).
	CertDir string
	// TLSVerify is --tls-verify; false also allows plain HTTP.
	TLSVerify bool
	// Retry is how many times a failed transfer is tried again (--retry);
	// RetryDelay the pause between tries (--retry-delay; 0 doubles the
	// pause each time, starting at one second).
	Retry      uint
	RetryDelay time.Duration
	// Compression is --compression-format: gzip (default) or zstd.
	Compression string
	// BlobInfoCache is where what is known about blobs in registries is
	// kept, so that a push sends only what a registry lacks.
	BlobInfoCache string
	// RegistriesDir is --registries.d: the directory of registries.d
	// files (signature storage, use-sigstore-attachments); "" for
	// containers/image's default directories.
	RegistriesDir string
	// Sign signs the final image of a push (not the base cache).
	Sign SignOptions
}

// SystemContext returns the containers/image settings of the options.
func (o RegistryOptions) SystemContext() (*types.SystemContext, error) {
	sys := &types.SystemContext{
		AuthFilePath:            o.AuthFile,
		DockerCertPath:          o.CertDir,
		BlobInfoCacheDir:        o.BlobInfoCache,
		DockerRegistryUserAgent: "strata",
		RegistriesDirPath:       o.RegistriesDir,
	}
	if !o.TLSVerify {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
		sys.OCIInsecureSkipTLSVerify = true
	}
	if o.Creds != "" {
		user, pass, _ := strings.Cut(o.Creds, ":")
		if user == "" {
			return nil, fmt.Errorf("%w: invalid --creds: want USER[:PASSWORD]", ErrUsage)
		}
		sys.DockerAuthConfig = &types.DockerAuthConfig{Username: user, Password: pass}
	}
	return sys, nil
}

// copyOptions returns libimage's options for a push or pull.
func (o RegistryOptions) copyOptions(policy string, progress io.Writer) (libimage.CopyOptions, error) {
	opts := libimage.CopyOptions{
		SignaturePolicyPath:  policy,
		Writer:               progress,
		MaxRetries:           &o.Retry,
		BlobInfoCacheDirPath: o.BlobInfoCache,
		AuthFilePath:         o.AuthFile,
		CertDirPath:          o.CertDir,
		ManifestMIMEType:     "application/vnd.oci.image.manifest.v1+json",
	}
	if o.RetryDelay > 0 {
		opts.RetryDelay = &o.RetryDelay
	}
	if !o.TLSVerify {
		opts.InsecureSkipTLSVerify = types.OptionalBoolTrue
	}
	if o.Creds != "" {
		opts.Credentials = o.Creds
	}
	switch o.Compression {
	case "", "gzip":
		opts.CompressionFormat = &compression.Gzip
	case "zstd":
		opts.CompressionFormat = &compression.Zstd
		opts.ForceCompressionFormat = true
	default:
		return opts, fmt.Errorf("%w: invalid --compression-format %q: want gzip or zstd", ErrUsage, o.Compression)
	}
	return opts, nil
}

// blobInfoCache is where strata keeps the blob-info cache of a store.
func blobInfoCache(graphRoot string) string {
	return filepath.Join(graphRoot, "strata", "blob-info-cache")
}

// ErrRegistry is wrapped by errors talking to a registry.
var ErrRegistry = errors.New("registry error")

// registryError explains a failed transfer to or from registry host, with
// the fix when there is one. Credentials never appear: containers/image
// does not print them, and neither does this.
func registryError(sys *types.SystemContext, host string, err error) error {
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		certVerify *tls.CertificateVerificationError
		dnsErr     *net.DNSError
		ec         errcode.Error
		badCreds   docker.ErrUnauthorizedForCredentials
		recordHdr  tls.RecordHeaderError
	)
	msg := ""
	switch {
	case errors.As(err, &badCreds):
		msg = fmt.Sprintf("%s refused the credentials of user %q: check them (strata login %s, or --creds)", host, credentialsFor(sys, host), host)
	case errors.As(err, &ec) && (ec.Code == errcode.ErrorCodeUnauthorized || ec.Code == errcode.ErrorCodeDenied),
		strings.Contains(err.Error(), "authentication required"), strings.Contains(err.Error(), "unauthorized"):
		if user := credentialsFor(sys, host); user != "" {
			msg = fmt.Sprintf("%s refused the credentials of user %q: check them (strata login %s, or --creds)", host, user, host)
		} else {
			msg = fmt.Sprintf("authentication required for %s: run strata login %s or pass --creds", host, host)
		}
	case errors.As(err, &unknownCA), errors.As(err, &certVerify), errors.As(err, &hostname),
		strings.Contains(err.Error(), "x509: "), strings.Contains(err.Error(), "tls: failed to verify"):
		msg = fmt.Sprintf("TLS verification of %s failed: pass --cert-dir with its CA certificate (ca.crt), or --tls-verify=false for a test registry", host)
	case errors.As(err, &recordHdr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		msg = fmt.Sprintf("%s answers plain HTTP: pass --tls-verify=false to use it without TLS", host)
	case errors.As(err, &dnsErr):
		msg = fmt.Sprintf("unknown registry host %s: check the name", host)
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = fmt.Sprintf("registry %s is not reachable (connection refused)", host)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE),
		strings.Contains(err.Error(), "EOF"):
		msg = fmt.Sprintf("the connection to %s broke during the transfer: run again, only the missing blobs are sent", host)
	default:
		return fmt.Errorf("%w: %s: %w", ErrRegistry, host, err)
	}
	return &registryErr{msg: msg, err: err}
}

// credentialsFor returns the user name strata would send to host, or "".
func credentialsFor(sys *types.SystemContext, host string) string {
	if sys == nil {
		return ""
	}
	if sys.DockerAuthConfig != nil {
		return sys.DockerAuthConfig.Username
	}
	auth, err := config.GetCredentials(sys, host)
	if err != nil {
		return ""
	}
	if auth.Username == "" && auth.IdentityToken != "" {
		return "(identity token)"
	}
	return auth.Username
}

type registryErr struct {
	msg string
	err error
}

func (e *registryErr) Error() string   { return e.msg + ": " + e.err.Error() }
func (e *registryErr) Unwrap() []error { return []error{ErrRegistry, e.err} }
