package pyreq

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// summary renders requirements as "FILE:LINE: requirement" for compact
// comparisons that include positions.
func summary(reqs []Requirement) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, fmt.Sprintf("%s:%d: %s", r.File, r.Line, r))
	}
	return out
}

type mdSummary struct {
	Project       string
	Requires      []string
	Extras        map[string][]string
	BuildRequires []string
}

func summarize(md *Metadata) mdSummary {
	s := mdSummary{Project: md.Project, Requires: summary(md.Requires), BuildRequires: summary(md.BuildRequires), Extras: map[string][]string{}}
	for k, v := range md.Extras {
		s.Extras[k] = summary(v)
	}
	return s
}

func readDir(dir string) func(string) ([]byte, error) {
	return func(rel string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadSetupCfg(t *testing.T) {
	tests := []struct {
		name, file string
		want       mdSummary
	}{
		{"inline comments and extras", "testdata/setupcfg/setup.cfg", mdSummary{
			Project: "my-internal-tool",
			Requires: []string{
				"setup.cfg:8: requests>=2.3",
				"setup.cfg:10: click>=7,<9",
				`setup.cfg:13: PyYAML; python_version < "3.8"`,
				`setup.cfg:14: importlib-metadata>=1.0; python_version < "3.8"`,
			},
			Extras: map[string][]string{
				"test": {"setup.cfg:19: pytest>=6", "setup.cfg:20: pytest-cov"},
				// A single-line value is ";"-separated in setuptools.
				"docs": {"setup.cfg:21: sphinx", "setup.cfg:21: furo"},
			},
		}},
		{"no install_requires", "testdata/setupcfg-minimal/setup.cfg", mdSummary{
			Project: "bare",
			Extras:  map[string][]string{},
		}},
		{"file directives and setup_requires", "testdata/setupcfg-file/setup.cfg", mdSummary{
			Project: "packit-service",
			Requires: []string{
				"requirements.txt:2: requests>=2.31",
				"requirements.txt:3: celery[redis]",
				"requirements-extra.txt:1: sqlalchemy<2",
			},
			Extras: map[string][]string{"testing": {"requirements-test.txt:1: pytest"}},
			BuildRequires: []string{
				"setup.cfg:8: setuptools_scm",
				"setup.cfg:9: setuptools_scm_git_archive",
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := ReadSetupCfg("setup.cfg", mustRead(t, tt.file), readDir(filepath.Dir(tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(md)); diff != "" {
				t.Errorf("ReadSetupCfg mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadSetupCfgErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"file directive, missing file", "[options]\ninstall_requires = file: missing.txt\n",
			`setup.cfg:2: cannot read dependency file "missing.txt": open testdata/setupcfg-file/missing.txt: no such file or directory`},
		{"file directive outside the project", "[options]\ninstall_requires =\n    file: ../requirements.txt\n",
			`setup.cfg:3: dependency file "../requirements.txt" is outside the project`},
		{"file directive and more lines", "[options]\ninstall_requires =\n    file: requirements.txt\n    requests\n",
			`setup.cfg:3: install_requires: want "file: NAME[, NAME...]" on one line`},
		{"bad requirement", "[options]\ninstall_requires =\n    ok\n    bad>=\n",
			`setup.cfg:4: invalid requirement "bad>=": expected a version after ">="`},
		{"no section", "name = x\n", `setup.cfg:1: option "name = x" before the first section header`},
		{"no delimiter", "[options]\njunk\n", `setup.cfg:2: expected "key = value", found "junk"`},
		{"bad header", "[options\n", `setup.cfg:1: invalid section header "[options"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadSetupCfg("setup.cfg", []byte(tt.src), readDir("testdata/setupcfg-file"))
			if err == nil {
				t.Fatal("ReadSetupCfg succeeded, want error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadPyproject(t *testing.T) {
	tests := []struct {
		name, dir string
		want      mdSummary
	}{
		{"pep 621", "testdata/pyproject", mdSummary{
			Project: "strata-demo",
			Requires: []string{
				"pyproject.toml:12: requests>=2.3",
				"pyproject.toml:13: click~=8.0",
				"pyproject.toml:14: attrs",
				"pyproject.toml:15: tomli>=1.1; python_version < '3.11'",
				`pyproject.toml:17: importlib-metadata; python_version<"3.8"`,
				"pyproject.toml:17: typing-extensions",
			},
			Extras: map[string][]string{
				"test": {"pyproject.toml:21: pytest>=7", "pyproject.toml:21: pytest-cov"},
				"docs": {"pyproject.toml:23: sphinx"},
			},
			BuildRequires: []string{"pyproject.toml:2: setuptools>=61", "pyproject.toml:2: wheel"},
		}},
		{"dynamic dependencies", "testdata/dynamic", mdSummary{
			Project: "dyn",
			Requires: []string{
				"requirements.txt:2: requests>=2.3",
				"requirements.txt:3: click>=8,<9",
				"requirements-extra.txt:1: rich",
			},
			Extras:        map[string][]string{"test": {"requirements-test.txt:2: pytest>=7"}},
			BuildRequires: []string{"pyproject.toml:2: setuptools>=64"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := ReadPyproject("pyproject.toml", mustRead(t, filepath.Join(tt.dir, "pyproject.toml")), readDir(tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(md)); diff != "" {
				t.Errorf("ReadPyproject mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadPyprojectErrors(t *testing.T) {
	noFiles := func(rel string) ([]byte, error) { return nil, fs.ErrNotExist }
	tests := []struct {
		name, src, want string
		readFile        func(string) ([]byte, error)
	}{
		{"poetry only", string(mustRead(t, "testdata/poetry/pyproject.toml")),
			`pyproject.toml:5: poetry metadata is not supported: declare the dependencies in a PEP 621 [project] table (poetry-core 2 reads it too)`, nil},
		{"invalid toml", "[project\nname = 1\n", `pyproject.toml:1: invalid toml: expected '.' or ']' to end table name, but got '\n' instead`, nil},
		{"bad requirement in multi-line array", "[project]\nname = \"x\"\ndependencies = [\n  \"ok\",\n\n  # \"bad\" is next\n  \"bad>=\",\n]\n",
			`pyproject.toml:7: invalid requirement "bad>=": expected a version after ">="`, nil},
		{"invalid toml value", "[project]\nname = \"x\"\ndependencies = [\"a\" \"b\"]\n", `pyproject.toml:3: invalid toml: expected a comma (',') or array terminator (']'), but got '"'`, nil},
		{"not strings", "[project]\ndependencies = [\n  \"ok\",\n  3,\n]\n", `pyproject.toml:4: project.dependencies must be an array of strings`, nil},
		{"not an array", "[project]\ndependencies = \"requests\"\n", `pyproject.toml:2: project.dependencies must be an array of strings`, nil},
		{"dynamic without setuptools", "[project]\nname = \"x\"\ndynamic = [\"dependencies\"]\n",
			`pyproject.toml:3: "dependencies" is dynamic but [tool.setuptools.dynamic] does not set dependencies = {file = [...]}; other dynamic metadata is not supported`, nil},
		{"dynamic and static", "[project]\ndynamic = [\"dependencies\"]\ndependencies = []\n",
			`pyproject.toml:3: project.dependencies is set but also listed in project.dynamic`, nil},
		{"dynamic file missing", "[project]\ndynamic = [\"dependencies\"]\n[tool.setuptools.dynamic]\ndependencies = {file = [\n  \"a.txt\",\n  \"missing.txt\"]}\n",
			`pyproject.toml:6: cannot read dependency file "missing.txt": file does not exist`,
			func(rel string) ([]byte, error) {
				if rel == "a.txt" {
					return []byte("x\n"), nil
				}
				return nil, fs.ErrNotExist
			}},
		{"dynamic file outside", "[project]\ndynamic = [\"dependencies\"]\n[tool.setuptools.dynamic]\ndependencies = {file = \"../x.txt\"}\n",
			`pyproject.toml:4: dependency file "../x.txt" is outside the project`, noFiles},
		{"pip option in dynamic file", "[project]\ndynamic = [\"dependencies\"]\n[tool.setuptools.dynamic]\ndependencies = {file = [\"r.txt\"]}\n",
			`r.txt:2: option "-r" is not supported here: setuptools reads only requirements from this file`,
			func(string) ([]byte, error) { return []byte("x\n-r other.txt\n"), nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPyproject("pyproject.toml", []byte(tt.src), tt.readFile)
			if err == nil {
				t.Fatal("ReadPyproject succeeded, want error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadPyprojectWrapsReadErrors(t *testing.T) {
	src := "[project]\ndynamic = [\"dependencies\"]\n[tool.setuptools.dynamic]\ndependencies = {file = [\"r.txt\"]}\n"
	_, err := ReadPyproject("pyproject.toml", []byte(src), func(string) ([]byte, error) { return nil, fs.ErrNotExist })
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 4 {
		t.Errorf("error %#v is not an *Error at line 4", err)
	}
}

// TOML positions must be right however the array is laid out.
func TestTOMLLines(t *testing.T) {
	src := "[project]\n" + // 1
		"name = 'x'\n" + // 2
		"dependencies = [ # [not, an, element]\n" + // 3
		"  '''a''', \"b\\\"]\",\n" + // 4
		"  \"\"\"c\n" + // 5
		"\"\"\", [\"nested\"],\n" + // 6
		"  {k = \"v\"}, \"d\"\n" + // 7
		"]\n" + // 8
		"x.y = [\"e\"]\n" + // 9
		"[[tool.z]]\n" + // 10
		"\"quoted.key\" = ['f', # c\n" + // 11
		"  'g']\n" // 12
	pos := scanTOML(src)
	got := map[string][]int{
		"deps":   pos.elems[tomlKey("project", "dependencies")],
		"xy":     pos.elems[tomlKey("project", "x", "y")],
		"quoted": pos.elems[tomlKey("tool", "z", "quoted.key")],
	}
	want := map[string][]int{"deps": {4, 4, 5, 6, 7, 7}, "xy": {9}, "quoted": {11, 12}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("element lines mismatch (-want +got):\n%s", diff)
	}
	if l := pos.keyLine("tool", "z"); l != 10 {
		t.Errorf("keyLine(tool.z) = %d, want 10", l)
	}
}

func TestReadRequirementsTxt(t *testing.T) {
	md, err := ReadRequirementsTxt("requirements.txt", mustRead(t, "testdata/reqtxt/requirements.txt"), readDir("testdata/reqtxt"))
	if err != nil {
		t.Fatal(err)
	}
	want := mdSummary{
		Requires: []string{
			"base.txt:1: six",
			"requirements.txt:6: requests>=2.3,<3",
			"requirements.txt:8: PyYAML>=5.1",
			`requirements.txt:9: tomli; python_version < "3.11"`,
			"common/more.txt:1: attrs>=20",
			"extra.txt:1: packaging",
		},
		Extras: map[string][]string{},
	}
	if diff := cmp.Diff(want, summarize(md)); diff != "" {
		t.Errorf("ReadRequirementsTxt mismatch (-want +got):\n%s", diff)
	}
}

func TestReadRequirementsTxtErrors(t *testing.T) {
	files := map[string]string{
		"loop.txt":     "-r loop2.txt\n",
		"loop2.txt":    "x\n-r loop.txt\n",
		"bad.txt":      "\n\nbad>=\n",
		"requirements": "",
	}
	readFile := func(rel string) ([]byte, error) {
		if s, ok := files[rel]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
	tests := []struct{ name, src, want string }{
		{"editable", "x\n-e git+https://example.com/x.git#egg=x\n", `requirements.txt:2: editable requirement "-e git+https://example.com/x.git#egg=x" cannot be installed from rpm`},
		{"editable path", "--editable=.\n", `requirements.txt:1: editable requirement "--editable=." cannot be installed from rpm`},
		{"bare url", "https://example.com/pkg-1.0.tar.gz\n", `requirements.txt:1: "https://example.com/pkg-1.0.tar.gz" is a url or local path, not a named requirement: use "name @ url" or a package name`},
		{"vcs url", "git+https://github.com/monty/spam.git@master#egg=spam\n", `requirements.txt:1: "git+https://github.com/monty/spam.git@master#egg=spam" is a url, not a named requirement: use "name @ url" or a package name`},
		{"local path", "./vendor/pkg\n", `requirements.txt:1: "./vendor/pkg" is a url or local path, not a named requirement: use "name @ url" or a package name`},
		{"archive", "pkg-1.2.3.tar.gz\n", `requirements.txt:1: "pkg-1.2.3.tar.gz" is a url or local path, not a named requirement: use "name @ url" or a package name`},
		{"bad requirement in include", "# c\n-r bad.txt\n", `bad.txt:3: invalid requirement "bad>=": expected a version after ">="`},
		{"missing include", "\n-r nope.txt\n", `requirements.txt:2: cannot read included file "nope.txt": file does not exist`},
		{"cycle", "-r loop.txt\n", `loop2.txt:2: requirements file "loop.txt" includes itself`},
		{"self include", "-rrequirements.txt\n", `requirements.txt:1: requirements file "requirements.txt" includes itself`},
		{"outside", "-r ../x.txt\n", `requirements.txt:1: requirements file "../x.txt" is outside the project`},
		{"absolute", "-r /etc/x.txt\n", `requirements.txt:1: absolute requirements file path "/etc/x.txt" is not supported`},
		{"remote", "-r https://example.com/r.txt\n", `requirements.txt:1: remote requirements file "https://example.com/r.txt" is not supported`},
		{"continued bad line", "ok\nbad \\\n  >=\n", `requirements.txt:2: invalid requirement "bad   >=": expected a version after ">="`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadRequirementsTxt("requirements.txt", []byte(tt.src), readFile)
			if err == nil {
				t.Fatal("ReadRequirementsTxt succeeded, want error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// End to end: read, filter by marker for a target, convert.
func TestPyprojectToRPM(t *testing.T) {
	md, err := ReadPyproject("pyproject.toml", mustRead(t, "testdata/pyproject/pyproject.toml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target string
		want   []string
	}{
		{"fedora-43", []string{
			"python3dist(requests) >= 2.3",
			"(python3dist(click) >= 8 with python3dist(click) < 9)",
			"python3dist(attrs)",
			"python3dist(typing-extensions)",
		}},
		{"rhel-8", []string{
			"python3dist(requests) >= 2.3",
			"(python3dist(click) >= 8 with python3dist(click) < 9)",
			"python3dist(attrs)",
			"python3dist(tomli) >= 1.1",
			"python3dist(importlib-metadata)",
			"python3dist(typing-extensions)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			env := envFor(t, tt.target)
			var got []string
			for _, r := range md.Requires {
				ok, err := r.Applies(env)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					continue
				}
				deps, err := r.RPMDeps()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, deps...)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("deps mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
