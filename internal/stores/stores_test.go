package stores

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHasRange(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subuid")
	if err := os.WriteFile(f, []byte("alice:100000:65536\n# comment\n1002:200000:65536\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user string
		uid  int
		want bool
	}{
		{"alice", 1001, true},
		{"bob", 1002, true}, // by uid
		{"bob", 1003, false},
		{"ali", 1004, false},
	}
	for _, tt := range tests {
		if got := hasRange(f, tt.user, tt.uid); got != tt.want {
			t.Errorf("hasRange(%q, %d) = %v, want %v", tt.user, tt.uid, got, tt.want)
		}
	}
	if hasRange(filepath.Join(t.TempDir(), "missing"), "alice", 1001) {
		t.Error("a missing file has no ranges")
	}
}

func TestUlimitsFitHardLimits(t *testing.T) {
	got := Ulimits()
	if len(got) != 2 {
		t.Fatalf("Ulimits() = %v, want nofile and nproc", got)
	}
	for _, u := range got {
		name, limits, ok := strings.Cut(u, "=")
		soft, hard, ok2 := strings.Cut(limits, ":")
		if !ok || !ok2 || (name != "nofile" && name != "nproc") || soft != hard {
			t.Errorf("bad ulimit %q", u)
		}
	}
}

func TestRuntimeMissing(t *testing.T) {
	_, err := Runtime("no-such-runtime-xyz")
	if err == nil || !strings.Contains(err.Error(), `OCI runtime "no-such-runtime-xyz" (from --runtime) not found: install it`) {
		t.Fatalf("got %v", err)
	}
}

// TestPolicyPath: the policy is found as containers/image finds it, the
// user's file first; strata writes none of its own.
func TestPolicyPath(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("CONTAINERS_POLICY_JSON", "")
	user := filepath.Join(cfg, "containers", "policy.json")
	if err := os.MkdirAll(filepath.Dir(user), 0o755); err != nil {
		t.Fatal(err)
	}
	reject := []byte(`{"default":[{"type":"reject"}]}`)
	if err := os.WriteFile(user, reject, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := PolicyPath(""); err != nil || got != user {
		t.Errorf("PolicyPath() = %q, %v; want the user's %q", got, err, user)
	}
	flag := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(flag, reject, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := PolicyPath(flag); err != nil || got != flag {
		t.Errorf("PolicyPath(flag) = %q, %v; want %q", got, err, flag)
	}
	t.Setenv("CONTAINERS_POLICY_JSON", flag)
	if got, err := PolicyPath(""); err != nil || got != flag {
		t.Errorf("with CONTAINERS_POLICY_JSON: %q, %v; want %q", got, err, flag)
	}
	t.Setenv("CONTAINERS_POLICY_JSON", "")
	if err := os.WriteFile(user, []byte(`{"default":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := PolicyPath(""); err == nil || !strings.Contains(err.Error(), "invalid signature policy "+user) {
		t.Errorf("a broken user policy: %v, want an error naming %s", err, user)
	}
	if _, err := PolicyPath(filepath.Join(cfg, "missing.json")); err == nil || !strings.Contains(err.Error(), "--signature-policy") {
		t.Errorf("a missing --signature-policy file: %v, want an error naming the flag", err)
	}
	if _, err := os.Stat("/etc/containers/policy.json"); err != nil {
		if err := os.Remove(user); err != nil {
			t.Fatal(err)
		}
		_, err := PolicyPath("")
		if err == nil || !strings.Contains(err.Error(), "no signature policy (looked for "+user) {
			t.Errorf("no policy anywhere: %v, want an error listing the files", err)
		}
	}
}
