package recipes

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/strata-build/strata/recipes/rpmspec"
	"github.com/strata-build/strata/recipes/targets"
)

const depsDir = "testdata/deps"

func fixture(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(depsDir, n)
	}
	return out
}

var (
	packitFiles = fixture("packit/packit.spec", "packit/setup.cfg", "packit/pyproject.toml")
	ogrFiles    = fixture("ogr/python-ogr.spec", "ogr/pyproject.toml")
)

func target(t testing.TB, name string) targets.Target {
	t.Helper()
	tg, err := targets.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func deps(list []Requirement) map[string][]string {
	m := map[string][]string{}
	for _, r := range list {
		m[r.Dep] = r.From
	}
	return m
}

func TestReadDeps(t *testing.T) {
	const (
		spec   = "testdata/deps/packit/packit.spec"
		cfg    = "testdata/deps/packit/setup.cfg"
		pyproj = "testdata/deps/packit/pyproject.toml"
		ogrPP  = "testdata/deps/ogr/pyproject.toml"
	)
	tests := []struct {
		name   string
		files  []string
		target string
		extras []string
		// requires and build map a dependency to its expected provenance.
		requires, build map[string][]string
		// absent are dependencies in neither requires nor buildrequires.
		absent   []string
		internal []string
	}{
		{
			name:   "packit fedora-43",
			files:  packitFiles,
			target: "fedora-43",
			requires: map[string][]string{
				"python3dist(click) >= 8": {cfg + ":17"},
				"(python3dist(requests) < 3~~ with python3dist(requests) >= 2)": {cfg + ":28"},
				"python3dist(ogr) >= 0.50":                                      {cfg + ":24"}, // ogr is not read: external
				"python3-bodhi-client":                                          {spec + ":45"},
				"(git-core or git)":                                             {spec + ":28"},
				"fedpkg":                                                        {spec + ":27"},
			},
			build: map[string][]string{
				"python3dist(sphinx)":                      {spec + ":24"},
				"python3dist(setuptools) >= 45":            {pyproj + ":2"},
				"python3dist(setuptools-scm[toml]) >= 6.2": {pyproj + ":2"},
			},
			absent: []string{
				"python3-packit = 0.104.1-1.fc43", // internal subpackage
				"python3dist(tomli)",              // python_version < "3.11"
				"python3dist(importlib-metadata)", // python_version < "3.8"
				"python3dist(pywin32) >= 306",     // win32
				"python3dist(pytest)",             // extra not asked
				"systemd",                         // scriptlet only
				"osh-cli",                         // Recommends
				"copr-cli",                        // Suggests
			},
			internal: []string{"packit", "python-packit", "python3-packit", "python3-packitos", "python3.14-packit", "python3dist(packitos)"},
		},
		{
			name:   "packit rhel-8 markers and conditionals",
			files:  packitFiles,
			target: "rhel-8",
			requires: map[string][]string{
				"python3dist(tomli)":              {cfg + ":33"},
				"python3dist(importlib-metadata)": {cfg + ":32"},
			},
			absent: []string{
				"python3-bodhi-client",           // %if 0%{?fedora}
				"python3dist(sphinx)",            // %bcond_with docs on rhel < 9
				"python3-packit = 0.104.1-1.el8", // internal
				"python3dist(pywin32) >= 306",    // win32
			},
			internal: []string{"packit", "python-packit", "python3-packit", "python3-packitos", "python3.6-packit", "python3dist(packitos)"},
		},
		{
			name:   "packit and ogr exclude each other",
			files:  append(append([]string{}, packitFiles...), ogrFiles...),
			target: "fedora-43",
			requires: map[string][]string{
				// merged provenance from both projects
				"python3dist(cachetools)": {ogrPP + ":13", cfg + ":16"},
				"python3dist(pyyaml)":     {ogrPP + ":19", cfg + ":27"},
				"git-core":                {"testdata/deps/ogr/python-ogr.spec:23"},
			},
			build: map[string][]string{
				"python3-devel": {"testdata/deps/ogr/python-ogr.spec:15", spec + ":20"},
			},
			absent:   []string{"python3dist(ogr) >= 0.50", "python3dist(ogr)", "python3-ogr"},
			internal: []string{"packit", "python-ogr", "python-packit", "python3-ogr", "python3-packit", "python3-packitos", "python3.14-packit", "python3dist(ogr)", "python3dist(packitos)"},
		},
		{
			name:   "extras testing and docs",
			files:  packitFiles,
			target: "fedora-43",
			extras: []string{"Testing", "docs"},
			requires: map[string][]string{
				"python3dist(pytest)":                                       {cfg + ":44"},
				"python3dist(flexmock)":                                     {cfg + ":46"},
				"python3dist(sphinx-rtd-theme)":                             {cfg + ":51"}, // extra == "docs"
				"python3dist(ogr[fixtures])":                                {cfg + ":48"}, // ogr is external here
				"python3dist(ogr)":                                          {cfg + ":48"},
				"python3dist(click) >= 8":                                   {cfg + ":17"},
				"(python3dist(sphinx) >= 7.2 with python3dist(sphinx) < 8)": {cfg + ":50"},
			},
			absent: []string{"python3dist(sphinx-click)"}, // extra == "testing" inside docs
		},
		{
			name:   "extra of an internal project pulls its requirements",
			files:  append(append([]string{}, packitFiles...), ogrFiles...),
			target: "fedora-43",
			extras: []string{"testing"},
			requires: map[string][]string{
				"python3dist(requre) >= 0.8.3": {ogrPP + ":27"},
				"python3dist(pytest)":          {ogrPP + ":26", cfg + ":44"},
			},
			absent: []string{"python3dist(ogr[fixtures])", "python3dist(ogr)"},
		},
		{
			name:   "typing-extensions marker on rhel-9",
			files:  ogrFiles,
			target: "rhel-9",
			requires: map[string][]string{
				"python3dist(typing-extensions)": {ogrPP + ":22"},
			},
			internal: []string{"python-ogr", "python3-ogr", "python3dist(ogr)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadDeps(tt.files, DepsOptions{Target: target(t, tt.target), Extras: tt.extras})
			if err != nil {
				t.Fatal(err)
			}
			if got.Target != tt.target {
				t.Errorf("Target = %q, want %q", got.Target, tt.target)
			}
			req, build := deps(got.Requires), deps(got.BuildRequires)
			for dep, want := range tt.requires {
				if diff := cmp.Diff(want, req[dep]); diff != "" {
					t.Errorf("requires %q (-want +got):\n%s", dep, diff)
				}
			}
			for dep, want := range tt.build {
				if diff := cmp.Diff(want, build[dep]); diff != "" {
					t.Errorf("buildrequires %q (-want +got):\n%s", dep, diff)
				}
			}
			for _, dep := range tt.absent {
				if _, ok := req[dep]; ok {
					t.Errorf("requires has %q", dep)
				}
				if _, ok := build[dep]; ok {
					t.Errorf("buildrequires has %q", dep)
				}
			}
			if tt.internal != nil {
				if diff := cmp.Diff(tt.internal, got.Internal); diff != "" {
					t.Errorf("internal (-want +got):\n%s", diff)
				}
			}
			for _, list := range [][]Requirement{got.Requires, got.BuildRequires, got.Scriptlet} {
				for i, r := range list {
					if i > 0 && list[i-1].Dep >= r.Dep {
						t.Errorf("not sorted: %q before %q", list[i-1].Dep, r.Dep)
					}
					if internal, _, _ := (&depsReader{internal: set(got.Internal)}).isInternal(r.Dep); internal {
						t.Errorf("internal %q reported as a dependency", r.Dep)
					}
				}
			}
		})
	}
}

func set(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// TestReadDepsJSON pins the whole result for one project.
func TestReadDepsJSON(t *testing.T) {
	got, err := ReadDeps(ogrFiles, DepsOptions{Target: target(t, "rhel-9")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "target": "rhel-9",
  "requires": [
    {
      "dep": "((python3dist(pygithub) \u003c 2.1 or python3dist(pygithub) \u003e 2.1) with python3dist(pygithub) \u003e= 1.58)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:17"
      ]
    },
    {
      "dep": "git-core",
      "from": [
        "testdata/deps/ogr/python-ogr.spec:23"
      ]
    },
    {
      "dep": "python3dist(cachetools)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:13"
      ]
    },
    {
      "dep": "python3dist(deprecated)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:14"
      ]
    },
    {
      "dep": "python3dist(gitpython)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:15"
      ]
    },
    {
      "dep": "python3dist(packaging)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:16"
      ]
    },
    {
      "dep": "python3dist(python-gitlab)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:18"
      ]
    },
    {
      "dep": "python3dist(pyyaml)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:19"
      ]
    },
    {
      "dep": "python3dist(requests)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:20"
      ]
    },
    {
      "dep": "python3dist(typing-extensions)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:22"
      ]
    },
    {
      "dep": "python3dist(urllib3)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:21"
      ]
    }
  ],
  "buildrequires": [
    {
      "dep": "git-core",
      "from": [
        "testdata/deps/ogr/python-ogr.spec:16"
      ]
    },
    {
      "dep": "python3-devel",
      "from": [
        "testdata/deps/ogr/python-ogr.spec:15"
      ]
    },
    {
      "dep": "python3dist(hatch-vcs)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:2"
      ]
    },
    {
      "dep": "python3dist(hatchling)",
      "from": [
        "testdata/deps/ogr/pyproject.toml:2"
      ]
    }
  ],
  "internal": [
    "python-ogr",
    "python3-ogr",
    "python3dist(ogr)"
  ],
  "dynamic": [
    "testdata/deps/ogr/python-ogr.spec"
  ],
  "scriptlet": []
}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestReadDepsScriptletAndDynamic(t *testing.T) {
	got, err := ReadDeps(packitFiles, DepsOptions{Target: target(t, "fedora-43")})
	if err != nil {
		t.Fatal(err)
	}
	want := []Requirement{{Dep: "systemd", From: []string{"testdata/deps/packit/packit.spec:42"}}}
	if diff := cmp.Diff(want, got.Scriptlet); diff != "" {
		t.Errorf("scriptlet (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"testdata/deps/packit/packit.spec"}, got.Dynamic); diff != "" {
		t.Errorf("dynamic (-want +got):\n%s", diff)
	}
}

func TestBaseSet(t *testing.T) {
	d := &Deps{
		Requires: []Requirement{
			{Dep: "git-core", From: []string{"b.spec:9"}},
			{Dep: "python3dist(click)", From: []string{"setup.cfg:3"}},
		},
		BuildRequires: []Requirement{
			{Dep: "git-core", From: []string{"a.spec:12", "b.spec:10"}},
			{Dep: "python3-devel", From: []string{"a.spec:11"}},
		},
	}
	want := []Requirement{
		{Dep: "git-core", From: []string{"a.spec:12", "b.spec:9", "b.spec:10"}},
		{Dep: "python3-devel", From: []string{"a.spec:11"}},
		{Dep: "python3dist(click)", From: []string{"setup.cfg:3"}},
	}
	if diff := cmp.Diff(want, d.BaseSet()); diff != "" {
		t.Errorf("BaseSet (-want +got):\n%s", diff)
	}
}

func TestReadDepsRequirementsTxt(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	top := write("requirements-dev.txt", "-r common/base.txt\npytest>=7  # tests\nrequests >= 2.31\n")
	base := write("common/base.txt", "requests>=2.31\nfoo ; python_version < '3.10'\n")
	got, err := ReadDeps([]string{top}, DepsOptions{Target: target(t, "rhel-9")})
	if err != nil {
		t.Fatal(err)
	}
	want := []Requirement{
		{Dep: "python3dist(foo)", From: []string{base + ":2"}},
		{Dep: "python3dist(pytest) >= 7", From: []string{top + ":2"}},
		{Dep: "python3dist(requests) >= 2.31", From: []string{base + ":1", top + ":3"}},
	}
	if diff := cmp.Diff(want, got.Requires); diff != "" {
		t.Errorf("requires (-want +got):\n%s", diff)
	}
	if len(got.Internal) != 0 {
		t.Errorf("internal = %q, want none", got.Internal)
	}
}

func TestReadDepsErrors(t *testing.T) {
	missing := filepath.Join(depsDir, "nope", "setup.cfg")
	tests := []struct {
		name   string
		files  []string
		extras []string
		eval   string
		want   string
		is     error
	}{
		{"unknown kind", []string{"testdata/deps/packit/README.md"}, nil, "", `testdata/deps/packit/README.md: unknown dependency file kind: want *.spec, setup.cfg, pyproject.toml or requirements*.txt`, ErrUnknownFileKind},
		{"missing file", []string{missing}, nil, "", missing + ": reading dependency file: no such file or directory", os.ErrNotExist},
		{"lua", fixture("errors/lua/broken.spec"), nil, "", "testdata/deps/errors/lua/broken.spec:8: cannot evaluate %{lua:...}", rpmspec.ErrUnsupported},
		{"bad requirement", fixture("errors/badreq/setup.cfg"), nil, "", "testdata/deps/errors/badreq/setup.cfg:7: ", nil},
		{"requirement without a name", fixture("errors/url/setup.cfg"), nil, "", `testdata/deps/errors/url/setup.cfg:4: invalid requirement "git+https://github.com/example/mylib": `, nil},
		{"spec without a name", fixture("errors/noname/noname.spec"), nil, "", "testdata/deps/errors/noname/noname.spec: Name field must be present", rpmspec.ErrNoName},
		{"unknown extra", packitFiles, []string{"tests"}, "", `unknown extra "tests": want one of "docs", "testing"`, ErrUnknownExtra},
		{"extra without python files", fixture("packit/packit.spec"), []string{"docs"}, "", `unknown extra "docs": no file read defines extras`, ErrUnknownExtra},
		{"bad spec eval", packitFiles, nil, "rpm", `invalid spec evaluation "rpm": want native or rpmspec`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadDeps(tt.files, DepsOptions{Extras: tt.extras, SpecEval: tt.eval})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q, want prefix %q", err, tt.want)
			}
			if strings.Count(err.Error(), tt.files[0]) > 1 {
				t.Errorf("error %q names the file twice", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

// TestReadDepsRPMSpec checks that the host's rpmspec agrees with the
// native evaluator on the fixtures (provenance lines aside).
func TestReadDepsRPMSpec(t *testing.T) {
	if _, err := exec.LookPath("rpmspec"); err != nil {
		t.Skip("rpmspec not installed")
	}
	files := fixture("packit/packit.spec", "ogr/python-ogr.spec")
	for _, tg := range []string{"fedora-43", "rhel-9"} {
		t.Run(tg, func(t *testing.T) {
			opts := DepsOptions{Target: target(t, tg)}
			native, err := ReadDeps(files, opts)
			if err != nil {
				t.Fatal(err)
			}
			opts.SpecEval = SpecEvalRPMSpec
			host, err := ReadDeps(files, opts)
			if err != nil {
				t.Fatal(err)
			}
			names := func(l []Requirement) []string {
				var out []string
				for _, r := range l {
					out = append(out, r.Dep)
				}
				return out
			}
			if diff := cmp.Diff(names(native.Requires), names(host.Requires)); diff != "" {
				t.Errorf("requires native vs rpmspec (-native +rpmspec):\n%s", diff)
			}
			if diff := cmp.Diff(names(native.BuildRequires), names(host.BuildRequires)); diff != "" {
				t.Errorf("buildrequires native vs rpmspec (-native +rpmspec):\n%s", diff)
			}
			if diff := cmp.Diff(native.Internal, host.Internal); diff != "" {
				t.Errorf("internal native vs rpmspec (-native +rpmspec):\n%s", diff)
			}
			if diff := cmp.Diff(native.Dynamic, host.Dynamic); diff != "" {
				t.Errorf("dynamic native vs rpmspec (-native +rpmspec):\n%s", diff)
			}
		})
	}
}
