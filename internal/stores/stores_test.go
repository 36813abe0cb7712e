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
	if err == nil || !strings.Contains(err.Error(), `OCI runtime "no-such-runtime-xyz" not found: install it`) {
		t.Fatalf("got %v", err)
	}
}
