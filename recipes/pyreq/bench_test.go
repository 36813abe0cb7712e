package pyreq

import (
	"testing"

	"github.com/strata-build/strata/recipes/targets"
)

// A realistic pyproject.toml (modelled on a mid-sized internal service):
// build requirements, ~30 dependencies with markers and extras, extras.
const benchPyproject = `[build-system]
requires = ["setuptools>=68", "setuptools-scm[toml]>=8.0", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "strata-bench-service"
version = "1.4.2"
requires-python = ">=3.6"
dependencies = [
    "aiohttp>=3.8.1,<4",
    "attrs>=21.3.0",
    "click~=8.1",
    "cryptography>=41.0.0,!=41.0.2",
    "importlib-metadata>=4.6; python_version < '3.10'",
    "importlib-resources>=5.4; python_version < \"3.9\"",
    "jinja2>=3.0,<3.2",
    "jsonschema[format-nongpl]>=4.17",
    "packaging>=21.3",
    "prometheus-client>=0.16",
    "psycopg2-binary>=2.9; platform_python_implementation == 'CPython'",
    "pydantic>=1.10,<3",
    "python-dateutil>=2.8.2",
    "pyyaml>=6.0",
    "requests[socks]>=2.31.0,<3",
    "rich>=13.3",
    "sqlalchemy[asyncio]~=2.0.20",
    "structlog>=23.1",
    "tenacity>=8.2,!=8.2.0",
    "tomli>=2.0.1; python_version < '3.11'",
    "typing-extensions>=4.7; python_version < '3.12'",
    "urllib3>=1.26.18,<3",
    "uvloop>=0.17; sys_platform != 'win32' and implementation_name == 'cpython'",
    "colorama>=0.4; os_name == 'nt'",
    "pywin32>=306; sys_platform == 'win32'",
    "zope.interface>=5",
    "Babel>=2.12,!=2.13.0",
    "dataclasses; python_version == '3.6'",
    "contextvars>=2.4; python_version < '3.7'",
    "numpy==1.26.*; python_version >= '3.9'",
]

[project.optional-dependencies]
test = ["pytest>=7.4", "pytest-asyncio>=0.21", "pytest-cov>=4.1", "hypothesis>=6.82"]
docs = ["sphinx>=7.1", "furo>=2023.7.26", "myst-parser>=2.0"]
`

func BenchmarkReadAndConvertPyproject(b *testing.B) {
	tgt, err := targets.Lookup("rhel-9")
	if err != nil {
		b.Fatal(err)
	}
	env := EnvFor(tgt)
	src := []byte(benchPyproject)
	b.ReportAllocs()
	for b.Loop() {
		md, err := ReadPyproject("pyproject.toml", src, nil)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, r := range append(md.BuildRequires, md.Requires...) {
			ok, err := r.Applies(env)
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				continue
			}
			deps, err := r.RPMDeps()
			if err != nil {
				b.Fatal(err)
			}
			n += len(deps)
		}
		if n == 0 {
			b.Fatal("no dependencies")
		}
	}
}

// The benchmark input must stay valid; run it once as a test.
func TestBenchPyprojectConverts(t *testing.T) {
	md, err := ReadPyproject("pyproject.toml", []byte(benchPyproject), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Requires) != 30 || len(md.BuildRequires) != 3 || len(md.Extras) != 2 {
		t.Fatalf("got %d requires, %d build requires, %d extras", len(md.Requires), len(md.BuildRequires), len(md.Extras))
	}
	for _, r := range md.Requires {
		if _, err := r.RPMDeps(); err != nil {
			t.Error(err)
		}
		if r.Line != 10+indexOf(md.Requires, r) {
			t.Errorf("%s: line %d, want %d", r, r.Line, 10+indexOf(md.Requires, r))
		}
	}
}

func indexOf(rs []Requirement, r Requirement) int {
	for i := range rs {
		if rs[i].Line == r.Line && rs[i].Name == r.Name {
			return i
		}
	}
	return -1
}
