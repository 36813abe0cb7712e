package recipes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchFiles writes 20 dependency files into dir: five packit-like
// projects, each with a spec file, setup.cfg, pyproject.toml and
// requirements.txt, the projects depending on one another.
func benchFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(depsDir, name))
		if err != nil {
			tb.Fatal(err)
		}
		return string(b)
	}
	spec, cfg, pyproject := read("packit/packit.spec"), read("packit/setup.cfg"), read("packit/pyproject.toml")
	var files []string
	for i := range 5 {
		name := fmt.Sprintf("proj%d", i)
		r := strings.NewReplacer("packitos", name+"os", "packit", name, "ogr>=0.50.0", fmt.Sprintf("proj%dos>=1.0", (i+1)%5))
		var req strings.Builder
		fmt.Fprintf(&req, "# pinned for %s\n-r requirements-base.txt\n", name)
		for j := range 20 {
			fmt.Fprintf(&req, "lib%d-%d>=%d.%d.0,!=%d.5 ; python_version >= \"3.9\"  # pin %d\n", i, j, j, i, j, j)
		}
		for path, body := range map[string]string{
			name + ".spec":          r.Replace(spec),
			"setup.cfg":             r.Replace(cfg),
			"pyproject.toml":        pyproject,
			"requirements.txt":      req.String(),
			"requirements-base.txt": "requests>=2.31\nurllib3<3\n",
		} {
			p := filepath.Join(dir, name, path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				tb.Fatal(err)
			}
			if path != "requirements-base.txt" {
				files = append(files, p)
			}
		}
	}
	return files
}

func TestBenchFiles(t *testing.T) {
	files := benchFiles(t, t.TempDir())
	if len(files) != 20 {
		t.Fatalf("%d files, want 20", len(files))
	}
	d, err := ReadDeps(files, DepsOptions{Target: target(t, "fedora-43"), Extras: []string{"testing"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Requires {
		if strings.Contains(r.Dep, "proj") && !strings.HasPrefix(r.Dep, "python3dist(lib") {
			t.Errorf("internal project reported: %q", r.Dep)
		}
	}
}

// BenchmarkReadDeps measures what `strata deps` does on 20 files
// (goal: under 50 ms per op).
func BenchmarkReadDeps(b *testing.B) {
	files := benchFiles(b, b.TempDir())
	opts := DepsOptions{Target: target(b, "fedora-43"), Extras: []string{"testing"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadDeps(files, opts); err != nil {
			b.Fatal(err)
		}
	}
}
