package build

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/docker/distribution/registry/api/errcode"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"
)

// TestRegistryError: each kind of failure a registry client meets, made
// up as the typed error containers/image wraps, gets its own message with
// the fix, keeps the cause, and is an ErrRegistry.
func TestRegistryError(t *testing.T) {
	const host = "registry.example.com"
	wrap := func(err error) error { return fmt.Errorf("pinging container registry %s: %w", host, err) }
	tests := []struct {
		name string
		sys  *types.SystemContext
		err  error
		want string
	}{
		{"no credentials", nil, wrap(errcode.ErrorCodeUnauthorized.WithMessage("authentication required")),
			"authentication required for registry.example.com: run strata login registry.example.com or pass --creds"},
		{"refused credentials", &types.SystemContext{DockerAuthConfig: &types.DockerAuthConfig{Username: "bot", Password: "s3cret"}},
			wrap(errcode.ErrorCodeDenied.WithMessage("requested access to the resource is denied")),
			`registry.example.com refused the credentials of user "bot": check them (strata login registry.example.com, or --creds)`},
		{"unknown CA", nil, wrap(x509.UnknownAuthorityError{}),
			"TLS verification of registry.example.com failed: pass --cert-dir with its CA certificate (ca.crt), or --tls-verify=false for a test registry"},
		{"plain HTTP", nil, wrap(errors.New("http: server gave HTTP response to HTTPS client")),
			"registry.example.com answers plain HTTP: pass --tls-verify=false to use it without TLS"},
		{"unknown host", nil, wrap(&net.DNSError{Err: "no such host", Name: host, IsNotFound: true}),
			"unknown registry host registry.example.com: check the name"},
		{"refused", nil, wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}),
			"registry registry.example.com is not reachable (connection refused)"},
		{"cut", nil, wrap(io.ErrUnexpectedEOF),
			"the connection to registry.example.com broke during the transfer: run again, only the missing blobs are sent"},
		{"other", nil, wrap(errors.New("manifest invalid")), "registry error: registry.example.com: pinging container registry"},
	}
	for _, tt := range tests {
		got := registryError(tt.sys, host, tt.err)
		if !strings.HasPrefix(got.Error(), tt.want) {
			t.Errorf("%s:\n got  %s\n want %s…", tt.name, got, tt.want)
		}
		if !errors.Is(got, ErrRegistry) || !errors.Is(got, errors.Unwrap(tt.err)) {
			t.Errorf("%s: %v is not an ErrRegistry wrapping its cause", tt.name, got)
		}
		if strings.Contains(got.Error(), "s3cret") {
			t.Errorf("%s: the password is in the message: %s", tt.name, got)
		}
	}
}

// TestManifestUnknownOnHEAD: a registry's 404 to the HEAD request of a
// missing tag (no body to decode) is "not there", not a registry failure;
// a 500 is a failure.
func TestManifestUnknownOnHEAD(t *testing.T) {
	for _, tc := range []struct {
		status  int
		unknown bool
	}{{http.StatusNotFound, true}, {http.StatusInternalServerError, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				w.WriteHeader(http.StatusOK)
				return
			}
			w.WriteHeader(tc.status)
		}))
		ref, err := alltransports.ParseImageName("docker://" + strings.TrimPrefix(srv.URL, "http://") + "/e2e/cache:base-0123456789abcdef")
		if err != nil {
			t.Fatal(err)
		}
		_, err = docker.GetDigest(context.Background(), &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue}, ref)
		srv.Close()
		if err == nil {
			t.Fatalf("status %d: GetDigest succeeded", tc.status)
		}
		if got := isManifestUnknown(err); got != tc.unknown {
			t.Errorf("status %d: isManifestUnknown(%q) = %v, want %v", tc.status, err, got, tc.unknown)
		}
	}
}
