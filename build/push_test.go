package build

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.podman.io/buildah/define"
)

func TestParsePushDestination(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{in: "registry.example.com/team/web", want: "docker://registry.example.com/team/web:latest"},
		{in: "registry.example.com/team/web:stg", want: "docker://registry.example.com/team/web:stg"},
		{in: "docker://registry.example.com/web:v1", want: "docker://registry.example.com/web:v1"},
		{in: "oci:/tmp/layout:v1", want: "oci:/tmp/layout:v1"},
		{in: "oci-archive:/tmp/web.tar", want: "oci-archive:/tmp/web.tar"},
		{in: "docker-archive:/tmp/web.tar:web:stg", want: "docker-archive:/tmp/web.tar:web:stg"},
		{in: "dir:/tmp/web", want: "dir:/tmp/web"},
		{in: "containers-storage:web:copy", want: "containers-storage:localhost/web:copy"},
		{in: "containers-storage:example.com/web", want: "containers-storage:example.com/web:latest"},
		{in: "", err: "missing destination"},
		{in: "Web:Stg", err: `invalid destination "Web:Stg"`},
		{in: "containers-storage:Bad Name", err: `invalid destination "containers-storage:Bad Name"`},
	} {
		got, err := ParsePushDestination(tt.in)
		if tt.err != "" {
			if err == nil || !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want a usage error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNameArchive(t *testing.T) {
	const id = "62c066755d450f395f208d646764a178505e4e81db8b6b2a25128bfa49cdb108"
	names := []string{"localhost/demo:stg", "example.com/team/demo:latest", "localhost/abc:latest"}
	for _, tt := range []struct{ dest, image, want string }{
		{"docker-archive:/t/a.tar", "demo:stg", "docker-archive:/t/a.tar:localhost/demo:stg"},
		{"oci-archive:/t/a.tar", "example.com/team/demo", "oci-archive:/t/a.tar:example.com/team/demo:latest"},
		{"docker-archive:/t/a.tar:other:v1", "demo:stg", "docker-archive:/t/a.tar:other:v1"},
		{"docker-archive:/t/a.tar", id[:12], "docker-archive:/t/a.tar"},
		{"docker-archive:/t/a.tar", "sha256:" + id, "docker-archive:/t/a.tar"},
		{"docker-archive:/t/a.tar", "62c0", "docker-archive:/t/a.tar"},                     // an ID prefix
		{"docker-archive:/t/a.tar", "abc", "docker-archive:/t/a.tar:localhost/abc:latest"}, // a name that looks like hex
		{"docker-archive:/t/a.tar", "other:v1", "docker-archive:/t/a.tar"},                 // not one of its names
		{"oci:/t/layout", "demo:stg", "oci:/t/layout"},
		{"docker://r.example.com/demo:stg", "demo:stg", "docker://r.example.com/demo:stg"},
	} {
		if got := nameArchive(tt.dest, tt.image, names); got != tt.want {
			t.Errorf("nameArchive(%q, %q) = %q, want %q", tt.dest, tt.image, got, tt.want)
		}
	}
}

func TestParseDestination(t *testing.T) {
	for _, tt := range []struct{ in, transport, path, err string }{
		{in: "", transport: "containers-storage", path: "localhost/web:latest"},
		{in: "web:stg", transport: "containers-storage", path: "localhost/web:stg"},
		{in: "containers-storage:quay.io/team/web:v1", transport: "containers-storage", path: "quay.io/team/web:v1"},
		{in: "oci:/tmp/layout:v1", transport: "oci", path: "/tmp/layout:v1"},
		{in: "oci-archive:/tmp/web.tar", transport: "oci-archive", path: "/tmp/web.tar"},
		{in: "docker-archive:/tmp/web.tar:web:stg", transport: "docker-archive", path: "/tmp/web.tar:web:stg"},
		{in: "oci:", err: `invalid --output "oci:": a path is required after "oci:"`},
		{in: "quay.io/team/web:v1", transport: "containers-storage", path: "quay.io/team/web:v1"},
		{in: "localhost:5000/web:v1", transport: "containers-storage", path: "localhost:5000/web:v1"},
		{in: "docker-daemon:web:v1", err: `invalid --output "docker-daemon:web:v1": unknown transport "docker-daemon"`},
		{in: "docker://quay.io/web", err: `unknown transport "docker"`},
		{in: "containers-storage:Bad Name", err: `invalid --output "containers-storage:Bad Name"`},
	} {
		d, err := ParseDestination(tt.in, "web")
		if tt.err != "" {
			if err == nil || !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: %v, want a usage error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || d.Transport != tt.transport || d.Path != tt.path {
			t.Errorf("%q: %+v, %v; want %s:%s", tt.in, d, err, tt.transport, tt.path)
		}
	}
	file, ref, ok := Destination{Transport: "docker-archive", Path: "/tmp/web.tar:web:stg"}.archive()
	if !ok || file != "/tmp/web.tar" || ref != "web:stg" {
		t.Errorf("archive() = %q, %q, %v", file, ref, ok)
	}
}

func TestInterruptedPush(t *testing.T) {
	cause := context.Canceled
	if err := interruptedPush("r.example.com/web", "stg", nil, cause); !errors.Is(err, context.Canceled) ||
		err.Error() != "interrupted while pushing r.example.com/web:stg: nothing was tagged: context canceled" {
		t.Errorf("first tag: %v", err)
	}
	err := interruptedPush("r.example.com/web", "latest", []string{"r.example.com/web@sha256:1"}, cause)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "already tagged before it: r.example.com/web@sha256:1; no other tag was moved") {
		t.Errorf("second tag: %v", err)
	}
}

func TestParseIsolation(t *testing.T) {
	for in, want := range map[string]define.Isolation{"": define.IsolationOCI, "oci": define.IsolationOCI, "rootless": define.IsolationOCI, "chroot": define.IsolationChroot} {
		if got, err := parseIsolation(in); err != nil || got != want {
			t.Errorf("%q: %v, %v", in, got, err)
		}
	}
	if _, err := parseIsolation("vm"); err == nil || !errors.Is(err, ErrUsage) {
		t.Errorf("vm: %v, want a usage error", err)
	}
}

// TestResolveFromPinnedOffline: a base.from pinned by digest needs no
// record of an earlier resolution to be planned offline.
func TestResolveFromPinnedOffline(t *testing.T) {
	const d = "sha256:4f5a2d3c1b0e9f8a7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a493827160"
	got, ref, err := resolveFrom(context.Background(), nil, "quay.io/fedora/fedora@"+d, t.TempDir(), true)
	if err != nil || got != d || ref != "quay.io/fedora/fedora@"+d {
		t.Errorf("got %q, %q, %v", got, ref, err)
	}
	if _, _, err := resolveFrom(context.Background(), nil, "quay.io/fedora/fedora:43", t.TempDir(), true); !errors.Is(err, errFromOffline) {
		t.Errorf("a tag never resolved here, offline: %v", err)
	}
}
