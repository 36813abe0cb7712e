package recipes

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeFiles writes name -> content under a new directory and returns the
// paths in the order given by names.
func writeFiles(t *testing.T, files map[string]string, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	for _, n := range names {
		out = append(out, filepath.Join(dir, filepath.FromSlash(n)))
	}
	return out
}

func depNames(list []Requirement) []string {
	out := []string{}
	for _, r := range list {
		out = append(out, r.Dep)
	}
	return out
}

// Defects found on real specs and Python metadata (issue 13), each
// compared with what rpm and Fedora's generators do.
func TestReadDepsRealInput(t *testing.T) {
	const spec = "Name: demo\nVersion: 1.0\nRelease: 1\nSummary: s\nLicense: MIT\n"
	tests := []struct {
		name     string
		files    map[string]string
		read     []string
		requires []string
		build    []string
		warnings []string // FILE:LINE relative to the directory: message
	}{
		{
			name: "ISA-qualified subpackage is internal",
			files: map[string]string{"demo.spec": spec +
				"Requires: %{name}-libs%{?_isa} = %{version}-%{release}\nRequires: zlib%{?_isa}\n" +
				"%description\nd\n%package libs\nSummary: l\n%description libs\nl\n"},
			read:     []string{"demo.spec"},
			requires: []string{"zlib(x86-64)"},
			build:    []string{},
		},
		{
			name: "direct URL to an external project",
			files: map[string]string{"setup.cfg": "[metadata]\nname = svc\n[options]\ninstall_requires =\n" +
				"    requests>=2\n    mylib @ git+https://github.com/example/mylib@main\n"},
			read:     []string{"setup.cfg"},
			requires: []string{"python3dist(mylib)", "python3dist(requests) >= 2"},
			build:    []string{},
			warnings: []string{`setup.cfg:6: direct URL requirement "mylib @ git+https://github.com/example/mylib@main" taken as python3dist(mylib), as Fedora's generators do: the URL is not used`},
		},
		{
			name: "direct URL to an internal project",
			files: map[string]string{
				"svc/pyproject.toml": "[project]\nname = \"svc\"\nversion = \"1\"\ndependencies = [\"lib @ https://example.com/lib.zip\", \"click\"]\n",
				"lib/setup.cfg":      "[metadata]\nname = lib\n[options]\ninstall_requires = attrs\n",
			},
			read:     []string{"svc/pyproject.toml", "lib/setup.cfg"},
			requires: []string{"python3dist(attrs)", "python3dist(click)"},
			build:    []string{},
		},
		{
			name: "setup_requires only",
			files: map[string]string{"setup.cfg": "[metadata]\nname = packit-service\n[options]\npackages = find:\n" +
				"setup_requires =\n    setuptools_scm\n    setuptools_scm_git_archive\n"},
			read:     []string{"setup.cfg"},
			requires: []string{},
			build:    []string{"python3dist(setuptools-scm)", "python3dist(setuptools-scm-git-archive)"},
		},
		{
			name: "file: in install_requires",
			files: map[string]string{
				"setup.cfg":        "[metadata]\nname = svc\n[options]\ninstall_requires = file: requirements.txt\n",
				"requirements.txt": "flask>=3\n",
			},
			read:     []string{"setup.cfg"},
			requires: []string{"python3dist(flask) >= 3"},
			build:    []string{},
		},
		{
			name: "version literal in %if",
			files: map[string]string{"demo.spec": spec +
				"%if v\"%{python3_version}\" >= v\"3.10\"\nRequires: python3-new\n%else\nRequires: python3-old\n%endif\n%description\nd\n"},
			read:     []string{"demo.spec"},
			requires: []string{"python3-new"},
			build:    []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths := writeFiles(t, tt.files, tt.read...)
			got, err := ReadDeps(paths, DepsOptions{Target: target(t, "fedora-43")})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.requires, depNames(got.Requires)); diff != "" {
				t.Errorf("requires (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.build, depNames(got.BuildRequires)); diff != "" {
				t.Errorf("buildrequires (-want +got):\n%s", diff)
			}
			dir := filepath.Dir(paths[0])
			var warnings []string
			for _, w := range got.Warnings {
				rel, _ := filepath.Rel(dir, w.From)
				warnings = append(warnings, rel+": "+w.Msg)
			}
			if diff := cmp.Diff(tt.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStripISA(t *testing.T) {
	for in, want := range map[string]string{
		"demo-libs(x86-64)":   "demo-libs",
		"zlib(aarch-64)":      "zlib",
		"glibc(x86-32)":       "glibc",
		"python3dist(foo)":    "python3dist(foo)",
		"python3dist(abc-64)": "python3dist(abc-64)",
		"libc.so.6()(64bit)":  "libc.so.6()(64bit)",
		"plain":               "plain",
		"(a or b)":            "(a or b)",
	} {
		if got := StripISA(in); got != want {
			t.Errorf("StripISA(%q) = %q, want %q", in, got, want)
		}
	}
}
