package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.podman.io/image/v5/types"
)

func TestSigstoreAttachments(t *testing.T) {
	for _, tc := range []struct {
		name, conf, ref string
		want            bool
	}{
		{"nothing configured", "", "docker://reg.example/team/app:1", false},
		{"default-docker", "default-docker:\n  use-sigstore-attachments: true\n", "docker://reg.example/team/app:1", true},
		{"registry", "docker:\n  reg.example:\n    use-sigstore-attachments: true\n", "docker://reg.example/team/app:1", true},
		{"another registry", "docker:\n  other.example:\n    use-sigstore-attachments: true\n", "docker://reg.example/team/app:1", false},
		{"a port is part of the registry", "docker:\n  127.0.0.1:5000:\n    use-sigstore-attachments: true\n", "docker://127.0.0.1:5000/app:1", true},
		{"the most specific namespace wins", "default-docker:\n  use-sigstore-attachments: true\ndocker:\n  reg.example/team:\n    use-sigstore-attachments: false\n", "docker://reg.example/team/app:1", false},
		{"a namespace without the key falls through", "default-docker:\n  use-sigstore-attachments: true\ndocker:\n  reg.example/team:\n    lookaside: file:///tmp/sigs\n", "docker://reg.example/team/app:1", true},
		{"the repository itself", "docker:\n  reg.example/team/app:\n    use-sigstore-attachments: true\n  reg.example:\n    use-sigstore-attachments: false\n", "docker://reg.example/team/app:1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.conf != "" {
				if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(tc.conf), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := sigstoreAttachments(&types.SystemContext{RegistriesDirPath: dir}, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("sigstoreAttachments = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckSigstoreAttachments(t *testing.T) {
	dir := t.TempDir()
	err := checkSigstoreAttachments(&types.SystemContext{RegistriesDirPath: dir}, "docker://127.0.0.1:5000/e2e/app")
	if !errors.Is(err, ErrUsage) {
		t.Fatalf("error %v, want a usage error", err)
	}
	for _, want := range []string{`"127.0.0.1:5000/e2e/app"`, dir, "    127.0.0.1:5000:\n      use-sigstore-attachments: true", "nothing was pushed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("docker: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkSigstoreAttachments(&types.SystemContext{RegistriesDirPath: dir}, "docker://127.0.0.1:5000/e2e/app"); err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("a broken registries.d file: %v, want an error naming it", err)
	}
}

func TestReadPassphraseFile(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{"secret\n": "secret", "secret\r\nmore\n": "secret", "no newline": "no newline", "": ""} {
		f := filepath.Join(dir, "p")
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPassphraseFile("--sign-passphrase-file", f)
		if err != nil || string(got) != want {
			t.Errorf("%q: got %q, %v; want %q", body, got, err, want)
		}
	}
	if _, err := ReadPassphraseFile("--sign-passphrase-file", filepath.Join(dir, "missing")); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "--sign-passphrase-file") {
		t.Errorf("a missing file: %v", err)
	}
}

func TestSignersWrongPassphrase(t *testing.T) {
	k, err := GenerateKey([]byte("right one"))
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "key.private")
	if err := os.WriteFile(f, k.Private, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := (SignOptions{PrivateKeyFile: f, Passphrase: []byte("right one")}).signers(); err != nil || len(s) != 1 {
		t.Fatalf("the right passphrase: %v", err)
	}
	_, err = SignOptions{PrivateKeyFile: f, Passphrase: []byte("wrong one")}.signers()
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), f) || strings.Contains(err.Error(), "wrong one") {
		t.Errorf("the wrong passphrase: %v", err)
	}
	if !strings.Contains(string(k.Public), "PUBLIC KEY") {
		t.Errorf("public key %q", k.Public)
	}
}

func TestHasTransport(t *testing.T) {
	for img, want := range map[string]bool{"docker://reg/app": true, "oci:/tmp/x": true, "dir:/tmp/x": true, "oci-archive:a.tar": true,
		"reg.example/app:1": false, "127.0.0.1:5000/app": false, "localhost:5000/app": false, "app": false} {
		if got := HasTransport(img); got != want {
			t.Errorf("HasTransport(%q) = %v, want %v", img, got, want)
		}
	}
}

// TestSignAndVerify signs an image of go-containerregistry's in-process
// registry by digest and verifies it with containers/image's policy code:
// accepted with the key, refused with another key and unsigned.
func TestSignAndVerify(t *testing.T) {
	host, d := testRegistry(t, "team/web")
	repo := host + "/team/web"
	regd := t.TempDir()
	if err := os.WriteFile(filepath.Join(regd, "all.yaml"), []byte("default-docker:\n  use-sigstore-attachments: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keys := map[string]KeyPair{}
	for _, n := range []string{"a", "b"} {
		k, err := GenerateKey([]byte("pass"))
		if err != nil {
			t.Fatal(err)
		}
		keys[n] = k
		if err := os.WriteFile(filepath.Join(dir, n+".pub"), k.Public, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".private"), k.Private, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reg := RegistryOptions{RegistriesDir: regd, Sign: SignOptions{PrivateKeyFile: filepath.Join(dir, "a.private"), Passphrase: []byte("pass")}}
	p, err := newRemoteReader(reg)
	if err != nil {
		t.Fatal(err)
	}
	if p.signers, err = reg.Sign.signers(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := repo + ":1"
	verify := func(key string) error {
		_, err := Verify(ctx, ref, VerifyOptions{Registry: RegistryOptions{RegistriesDir: regd}, KeyFile: filepath.Join(dir, key+".pub")})
		return err
	}
	if err := verify("a"); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no signature") {
		t.Errorf("unsigned: %v, want refused", err)
	}
	if err := p.signDigest(ctx, repo, "1", d); err != nil {
		t.Fatal(err)
	}
	if err := verify("a"); err != nil {
		t.Errorf("signed with a, verified with a: %v", err)
	}
	if err := verify("b"); !errors.Is(err, ErrRefused) {
		t.Errorf("signed with a, verified with b: %v, want refused", err)
	}
	// Without the registries.d setting, the signature is not read: a
	// refusal that says why.
	_, err = Verify(ctx, ref, VerifyOptions{Registry: RegistryOptions{RegistriesDir: t.TempDir()}, KeyFile: filepath.Join(dir, "a.pub")})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "use-sigstore-attachments") {
		t.Errorf("without registries.d: %v", err)
	}
	if _, err := Verify(ctx, ref, VerifyOptions{KeyFile: "a", PolicyFile: "b"}); !errors.Is(err, ErrUsage) {
		t.Errorf("--key and --policy: %v", err)
	}
}
