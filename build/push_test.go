package build

import (
	"errors"
	"strings"
	"testing"
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
	for _, tt := range []struct{ dest, image, want string }{
		{"docker-archive:/t/a.tar", "demo:stg", "docker-archive:/t/a.tar:localhost/demo:stg"},
		{"oci-archive:/t/a.tar", "example.com/team/demo", "oci-archive:/t/a.tar:example.com/team/demo:latest"},
		{"docker-archive:/t/a.tar:other:v1", "demo:stg", "docker-archive:/t/a.tar:other:v1"},
		{"docker-archive:/t/a.tar", id[:12], "docker-archive:/t/a.tar"},
		{"docker-archive:/t/a.tar", "sha256:" + id, "docker-archive:/t/a.tar"},
		{"oci:/t/layout", "demo:stg", "oci:/t/layout"},
		{"docker://r.example.com/demo:stg", "demo:stg", "docker://r.example.com/demo:stg"},
	} {
		if got := nameArchive(tt.dest, tt.image, id); got != tt.want {
			t.Errorf("nameArchive(%q, %q) = %q, want %q", tt.dest, tt.image, got, tt.want)
		}
	}
}
