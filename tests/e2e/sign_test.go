package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// keyPair makes a sigstore key pair with strata key generate and returns
// the public and private key files.
func keyPair(t *testing.T, s store, passFile string) (string, string) {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "key")
	r := strata(t, s, nil, "key", "generate", "--output-prefix", prefix, "--passphrase-file", passFile)
	if r.code != 0 {
		t.Fatalf("key generate: exit %d\n%s", r.code, r.stderr)
	}
	if want := prefix + ".pub\n" + prefix + ".private\n"; r.stdout != want {
		t.Errorf("key generate printed %q, want %q", r.stdout, want)
	}
	if st, err := os.Stat(prefix + ".private"); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the private key: %v, mode %v, want 0600", err, st.Mode())
	}
	return prefix + ".pub", prefix + ".private"
}

// sigstorePolicy writes a policy.json that requires a sigstore signature
// by pub for every docker image, as a Fedora podman user would.
func sigstorePolicy(t *testing.T, pub string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "policy.json")
	body := fmt.Sprintf(`{"default": [{"type": "reject"}],
 "transports": {"docker": {"": [{"type": "sigstoreSigned", "keyPath": %q, "signedIdentity": {"type": "matchRepository"}}]}}}`, pub)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestSignedPush: build --push and push sign with a key strata key
// generate made, storing sigstore attachments; strata verify, on
// containers/image's policy code, accepts the image with that key (--key
// and a policy.json), and refuses it with another key, and refuses an
// unsigned image. Without use-sigstore-attachments in registries.d
// nothing is pushed; a wrong passphrase is a usage error that does not
// quote it; no passphrase appears in any output.
func TestSignedPush(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	p := newProject(t, filepath.Join(t.TempDir(), "webapp"))
	file := pushRecipe(t, p.repo.Dir, reg)
	s := newStore(t)
	env := cacheEnv(t)
	const secret = "correct horse battery"
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pubA, privA := keyPair(t, s, passFile)
	pubB, privB := keyPair(t, s, passFile)
	var outputs []string
	run := func(args ...string) result {
		t.Helper()
		r := strata(t, s, env, args...)
		outputs = append(outputs, r.stdout, r.stderr)
		return r
	}
	sign := []string{"--sign-by-sigstore-private-key", privA, "--sign-passphrase-file", passFile}

	// registries.d does not enable sigstore attachments: a usage error
	// before anything moves.
	r := run(append([]string{"build", "--push", "--tls-verify=false", file}, sign...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "use-sigstore-attachments: true") || !strings.Contains(r.stderr, reg.Host+"/e2e/webapp") {
		t.Fatalf("signing without sigstore attachments: exit %d, want 2 naming the setting and the repository\n%s", r.code, r.stderr)
	}
	if reg.exists(t, "e2e/webapp:stg") || len(reg.BlobUploads(t)) != 0 {
		t.Fatalf("something was pushed before the signing configuration was checked")
	}
	regd := t.TempDir()
	conf := fmt.Sprintf("docker:\n  %s:\n    use-sigstore-attachments: true\n", reg.Host)
	if err := os.WriteFile(filepath.Join(regd, "strata-e2e.yaml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	regFlags := []string{"--tls-verify=false", "--registries.d", regd}

	// A wrong passphrase: a usage error naming the key file, not the
	// passphrase.
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("not it\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(append([]string{"build", "--push", "--sign-by-sigstore-private-key", privA, "--sign-passphrase-file", wrong, file}, regFlags...)...)
	if r.code != 2 || !strings.Contains(r.stderr, privA) || strings.Contains(r.stderr, "not it") {
		t.Fatalf("wrong passphrase: exit %d, want 2 naming the key file only\n%s", r.code, r.stderr)
	}

	// Signed build --push.
	r = run(append(append([]string{"build", "--push", file}, regFlags...), sign...)...)
	if r.code != 0 {
		t.Fatalf("signed build --push: exit %d\n%s", r.code, r.stderr)
	}
	digest := reg.Digest(t, "e2e/webapp:stg")
	// The signature is where cosign and containers/image look for it.
	if tags := reg.tags(t, "e2e/webapp"); !slices.Contains(tags, strings.Replace(digest, ":", "-", 1)+".sig") {
		t.Errorf("tags %v: no sigstore attachment %s.sig", tags, strings.Replace(digest, ":", "-", 1))
	}
	verify := func(want int, args ...string) result {
		t.Helper()
		r := run(append(append([]string{"verify"}, regFlags...), args...)...)
		if r.code != want {
			t.Errorf("verify %v: exit %d, want %d\n%s", args, r.code, want, r.stderr)
		}
		return r
	}
	ref := reg.Host + "/e2e/webapp:stg"
	if r := verify(0, "--key", pubA, ref); strings.TrimSpace(r.stdout) != reg.Host+"/e2e/webapp@"+digest {
		t.Errorf("verify printed %q, want %s/e2e/webapp@%s", r.stdout, reg.Host, digest)
	}
	// Every tag of the push, and the digest, are the same signed image.
	verify(0, "--key", pubA, "docker://"+reg.Host+"/e2e/webapp:main-"+p.commits["main"][:7])
	verify(0, "--key", pubA, reg.Host+"/e2e/webapp@"+digest)
	verify(0, "--policy", sigstorePolicy(t, pubA), ref)
	// The SBOM and the provenance attached are signed too.
	atts := reg.referrers(t, "e2e/webapp", digest)
	for _, kind := range []string{"application/vnd.cyclonedx+json", "application/vnd.in-toto+json"} {
		if atts[kind] == "" {
			t.Errorf("no %s attachment: %v", kind, atts)
			continue
		}
		verify(0, "--key", pubA, reg.Host+"/e2e/webapp@"+atts[kind])
		verify(3, "--key", pubB, reg.Host+"/e2e/webapp@"+atts[kind])
	}
	if r := verify(3, "--key", pubB, ref); !strings.Contains(r.stderr, "refused by the signature policy") {
		t.Errorf("another key: %s", r.stderr)
	}
	verify(3, "--policy", sigstorePolicy(t, pubB), ref)
	// Without the registries.d setting the signatures are not read: a
	// refusal that says so.
	if r := run("verify", "--tls-verify=false", "--key", pubA, ref); r.code != 3 || !strings.Contains(r.stderr, "use-sigstore-attachments") {
		t.Errorf("verify without registries.d: exit %d, want 3 with the hint\n%s", r.code, r.stderr)
	}

	// strata push signs too; an unsigned push is refused by the policy.
	img := strings.TrimSpace(mustBuild(t, s, env, file))
	if r := run(append(append([]string{"push", img, reg.Host + "/e2e/pushed:1"}, regFlags...), "--sign-by-sigstore-private-key", privB, "--sign-passphrase-file", passFile)...); r.code != 0 {
		t.Fatalf("signed push: %s", r.stderr)
	}
	verify(0, "--key", pubB, reg.Host+"/e2e/pushed:1")
	verify(3, "--key", pubA, reg.Host+"/e2e/pushed:1")
	if r := run(append([]string{"push", img, reg.Host + "/e2e/unsigned:1"}, regFlags...)...); r.code != 0 {
		t.Fatalf("push: %s", r.stderr)
	}
	verify(3, "--key", pubA, reg.Host+"/e2e/unsigned:1")

	// A fresh runner: the image is in the registry already (nothing is
	// built), and it is signed by digest before its tags are put.
	fresh := newStore(t)
	r = strata(t, fresh, cacheEnv(t), append(append([]string{"build", "--push", file}, regFlags...), "--sign-by-sigstore-private-key", privB, "--sign-passphrase-file", passFile)...)
	outputs = append(outputs, r.stdout, r.stderr)
	if r.code != 0 {
		t.Fatalf("fresh runner signed build --push: %s", r.stderr)
	}
	if now := reg.Digest(t, "e2e/webapp:stg"); now != digest {
		t.Errorf("the tag moved: %s -> %s", digest, now)
	}
	verify(0, "--key", pubB, ref)
	verify(0, "--key", pubA, ref) // both signatures are attached

	for _, out := range outputs {
		if strings.Contains(out, secret) {
			t.Fatalf("the passphrase appears in strata's output:\n%s", out)
		}
	}
	s.assertClean(t)
}
