package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const depsFixtures = "../../recipes/testdata/deps"

func TestDepsJSON(t *testing.T) {
	ogr := filepath.Join(depsFixtures, "ogr")
	spec, pyproject := filepath.Join(ogr, "python-ogr.spec"), filepath.Join(ogr, "pyproject.toml")
	out, errOut, code := runApp(t, "deps", "--target", "rhel-9", "--format", "json", spec, pyproject)
	if code != 0 {
		t.Fatalf("exit code %d (stderr %q)", code, errOut)
	}
	want := `{
  "target": "rhel-9",
  "requires": [
    "((python3dist(pygithub) < 2.1 or python3dist(pygithub) > 2.1) with python3dist(pygithub) >= 1.58)",
    "git-core",
    "python3dist(cachetools)",
    "python3dist(deprecated)",
    "python3dist(gitpython)",
    "python3dist(packaging)",
    "python3dist(python-gitlab)",
    "python3dist(pyyaml)",
    "python3dist(requests)",
    "python3dist(typing-extensions)",
    "python3dist(urllib3)"
  ],
  "buildrequires": [
    "git-core",
    "python3-devel",
    "python3dist(hatch-vcs)",
    "python3dist(hatchling)"
  ],
  "internal": [
    "python-ogr",
    "python3-ogr",
    "python3dist(ogr)"
  ],
  "dynamic": [
    "` + spec + `"
  ],
  "scriptlet": []
}
`
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if errOut != "" {
		t.Errorf("stderr %q, want nothing", errOut)
	}
}

func TestDeps(t *testing.T) {
	packit := filepath.Join(depsFixtures, "packit")
	spec := filepath.Join(packit, "packit.spec")
	cfg := filepath.Join(packit, "setup.cfg")
	pyproject := filepath.Join(packit, "pyproject.toml")
	ogr := filepath.Join(depsFixtures, "ogr", "pyproject.toml")
	lua := filepath.Join(depsFixtures, "errors", "lua", "broken.spec")
	badreq := filepath.Join(depsFixtures, "errors", "badreq", "setup.cfg")
	empty := filepath.Join(t.TempDir(), "empty.spec")
	garbage := filepath.Join(t.TempDir(), "garbage.spec")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte("\x00\x01\xffgarbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		stdoutHas  []string
		stdoutNot  []string
		stderrPart string
	}{
		{
			name: "text",
			args: []string{"deps", spec, cfg, pyproject, ogr},
			stdoutHas: []string{
				"target: fedora-43\n",
				"\nrequires (",
				"  python3dist(cachetools) ", " " + ogr + ":13, " + cfg + ":16\n",
				"\nbuildrequires (",
				"  python3-devel ", " " + spec + ":20\n",
				"\nscriptlet (not installed) (1):\n  systemd  " + spec + ":42\n",
				"\ninternal (left out) (7):\n  packit\n",
				"  python3dist(ogr)\n",
				"\ndynamic buildrequires (supplied by the Python metadata) (1):\n  " + spec + "\n",
			},
			stdoutNot: []string{"python3dist(ogr) >=", "python3-packit =", "tomli"},
		},
		{
			name:      "rhel-8 and extras",
			args:      []string{"deps", "--target=rhel-8", "--extras", "testing,docs", "--format", "json", cfg},
			stdoutHas: []string{`"target": "rhel-8"`, `"python3dist(tomli)"`, `"python3dist(pytest)"`, `"python3dist(sphinx-rtd-theme)"`},
			stdoutNot: []string{"sphinx-click"},
		},
		{
			name:      "env var target",
			args:      []string{"deps", spec},
			env:       map[string]string{"STRATA_TARGET": "fedora-41", "STRATA_FORMAT": "json"},
			stdoutHas: []string{`"target": "fedora-41"`, `"python3.13-packit"`},
		},
		{
			name:      "no storage needed",
			args:      []string{"--root", "/nonexistent/strata-root", "deps", spec},
			stdoutHas: []string{"target: fedora-43"},
		},
		{name: "lua spec", args: []string{"deps", lua}, code: 2, stderrPart: "strata: " + lua + ":8: cannot evaluate %{lua:...}"},
		{name: "bad requirement", args: []string{"deps", cfg, badreq}, code: 2, stderrPart: "strata: " + badreq + ":7: "},
		{name: "missing file", args: []string{"deps", filepath.Join(packit, "requirements.txt")}, code: 2, stderrPart: "requirements.txt: reading dependency file: no such file or directory"},
		{name: "unknown file kind", args: []string{"deps", "README.md"}, code: 2, stderrPart: `README.md: unknown dependency file kind: want *.spec, setup.cfg, pyproject.toml or requirements*.txt`},
		{name: "empty spec", args: []string{"deps", empty}, code: 2, stderrPart: "strata: " + empty + ": Name field must be present"},
		{name: "binary garbage", args: []string{"deps", garbage}, code: 2, stderrPart: "strata: " + garbage + ":1: unknown tag: "},
		{name: "no file", args: []string{"deps"}, code: 2, stderrPart: "missing FILE argument"},
		{name: "bad format", args: []string{"deps", "--format", "yaml", spec}, code: 2, stderrPart: `invalid --format "yaml": want text or json`},
		{name: "bad target", args: []string{"deps", "--target", "debian-12", spec}, code: 2, stderrPart: `--target: unknown target "debian-12"`},
		{name: "bad spec eval", args: []string{"deps", "--spec-eval", "rpm", spec}, code: 2, stderrPart: `invalid --spec-eval "rpm": want native or rpmspec`},
		{name: "unknown extra", args: []string{"deps", "--extras", "tests", cfg}, code: 2, stderrPart: `--extras: unknown extra "tests": want one of "docs", "testing"`},
		{name: "unknown flag", args: []string{"deps", "--strict", spec}, code: 2, stderrPart: "flag provided but not defined: -strict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out, errOut, code := runApp(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			for _, s := range tt.stdoutHas {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.stdoutNot {
				if strings.Contains(out, s) {
					t.Errorf("stdout has %q:\n%s", s, out)
				}
			}
			if tt.stderrPart != "" && !strings.Contains(errOut, tt.stderrPart) {
				t.Errorf("stderr %q lacks %q", errOut, tt.stderrPart)
			}
			if tt.code != 0 && out != "" {
				t.Errorf("stdout %q on failure, want nothing", out)
			}
		})
	}
}

func TestDepsRPMSpec(t *testing.T) {
	if _, err := exec.LookPath("rpmspec"); err != nil {
		t.Skip("rpmspec not installed")
	}
	spec := filepath.Join(depsFixtures, "packit", "packit.spec")
	native, errOut, code := runApp(t, "deps", "--format", "json", spec)
	if code != 0 {
		t.Fatalf("native: exit %d: %s", code, errOut)
	}
	host, errOut, code := runApp(t, "deps", "--format", "json", "--spec-eval", "rpmspec", spec)
	if code != 0 {
		t.Fatalf("rpmspec: exit %d: %s", code, errOut)
	}
	if native != host {
		t.Errorf("native and rpmspec differ:\n%s\n%s", native, host)
	}
}
