package rpmspec

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/strata-build/strata/recipes/targets"
)

var update = flag.Bool("update", false, "regenerate testdata/corpus goldens with the host's rpmspec")

var corpusTargets = []string{"fedora-43", "rhel-9"}

// golden is what a corpus golden file records; every list is sorted and
// free of duplicates because rpm stores dependencies sorted.
type golden struct {
	Packages      []string `json:"packages"`
	Provides      []string `json:"provides"`
	Requires      []string `json:"requires"`
	BuildRequires []string `json:"build_requires"`
	Scriptlet     []string `json:"scriptlet"`
	Dynamic       bool     `json:"dynamic"`
}

func uniqSorted(in []string) []string {
	sort.Strings(in)
	out := []string{}
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func goldenOf(r *Result) golden {
	names := func(d []Dep) []string { return uniqSorted(sortedNames(d)) }
	return golden{
		Packages:      uniqSorted(append([]string(nil), r.Packages...)),
		Provides:      names(r.Provides),
		Requires:      names(r.Requires),
		BuildRequires: names(r.BuildRequires),
		Scriptlet:     names(r.Scriptlet),
		Dynamic:       r.Dynamic,
	}
}

func corpusSpecs(t testing.TB) []string {
	specs, err := filepath.Glob("testdata/corpus/*.spec")
	if err != nil || len(specs) == 0 {
		t.Fatalf("no corpus specs: %v", err)
	}
	return specs
}

func mustTarget(t testing.TB, name string) targets.Target {
	tg, err := targets.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestCorpus(t *testing.T) {
	for _, spec := range corpusSpecs(t) {
		for _, tn := range corpusTargets {
			base := strings.TrimSuffix(filepath.Base(spec), ".spec")
			t.Run(base+"/"+tn, func(t *testing.T) {
				opts := Options{Target: mustTarget(t, tn)}
				gf := strings.TrimSuffix(spec, ".spec") + "." + tn + ".json"
				if *update {
					g, err := rpmGolden(spec, opts)
					if err != nil {
						t.Fatalf("rpmspec: %v", err)
					}
					b, _ := json.MarshalIndent(g, "", "  ")
					if err := os.WriteFile(gf, append(b, '\n'), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				b, err := os.ReadFile(gf)
				if err != nil {
					t.Fatalf("missing golden (run with -update): %v", err)
				}
				var want golden
				if err := json.Unmarshal(b, &want); err != nil {
					t.Fatal(err)
				}
				src, err := os.ReadFile(spec)
				if err != nil {
					t.Fatal(err)
				}
				r, err := Parse(spec, src, opts)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if d := cmp.Diff(want, goldenOf(r)); d != "" {
					t.Errorf("native evaluation differs from rpmspec golden (-rpm +native):\n%s", d)
				}
			})
		}
	}
}

// TestCorpusRPMSpec checks that ParseWithRPMSpec agrees with Parse.
func TestCorpusRPMSpec(t *testing.T) {
	if _, err := exec.LookPath("rpmspec"); err != nil {
		t.Skip("rpmspec not installed")
	}
	for _, spec := range corpusSpecs(t) {
		for _, tn := range corpusTargets {
			base := strings.TrimSuffix(filepath.Base(spec), ".spec")
			t.Run(base+"/"+tn, func(t *testing.T) {
				opts := Options{Target: mustTarget(t, tn)}
				src, err := os.ReadFile(spec)
				if err != nil {
					t.Fatal(err)
				}
				native, err := Parse(spec, src, opts)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				host, err := ParseWithRPMSpec(context.Background(), spec, opts)
				if err != nil {
					t.Fatalf("ParseWithRPMSpec: %v", err)
				}
				if d := cmp.Diff(goldenOf(host), goldenOf(native)); d != "" {
					t.Errorf("(-rpmspec +native):\n%s", d)
				}
				// Order of appearance must agree too.
				for _, l := range [][2][]Dep{{host.Requires, native.Requires}, {host.BuildRequires, native.BuildRequires}} {
					h, n := depNames(l[0]), depNames(l[1])
					if d := cmp.Diff(h, n); d != "" {
						t.Errorf("order differs (-rpmspec +native):\n%s", d)
					}
				}
			})
		}
	}
}

func depNames(d []Dep) []string {
	out := []string{}
	for _, x := range d {
		out = append(out, x.Name)
	}
	return out
}

// rpm dependency flag bits (rpmds.h).
const (
	senseLess      = 1 << 1
	senseGreater   = 1 << 2
	senseEqual     = 1 << 3
	senseScriptlet = 1<<5 | 1<<6 | 1<<7 | 1<<9 | 1<<10 | 1<<11 | 1<<12 | 1<<13
	senseInterp    = 1 << 8
	senseRPMLib    = 1 << 24
)

// rpmGolden computes a golden with the host's rpmspec: binary package
// queries for names, Requires and Provides, the source package query
// for BuildRequires, and --parse for %generate_buildrequires.
func rpmGolden(spec string, opts Options) (golden, error) {
	dir, err := os.MkdirTemp("", "rpmspec-golden-")
	if err != nil {
		return golden{}, err
	}
	defer os.RemoveAll(dir)
	mf, err := writeMacroFile(dir)
	if err != nil {
		return golden{}, err
	}
	args := rpmspecArgs(opts, mf)
	run := func(extra ...string) (string, error) {
		a := append(append([]string{}, args...), extra...)
		a = append(a, spec)
		cmd := exec.Command("rpmspec", a...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return "", &Error{File: spec, Msg: errb.String(), Err: err}
		}
		return out.String(), nil
	}
	const dep = "|%{REQUIREFLAGS}|%{REQUIRENAME}|%{REQUIREFLAGS:depflags}|%{REQUIREVERSION}\n"
	bin, err := run("-q", "--qf", "N|%{NAME}|%{EVR}\n[R"+dep+"][P|%{PROVIDEFLAGS}|%{PROVIDENAME}|%{PROVIDEFLAGS:depflags}|%{PROVIDEVERSION}\n]")
	if err != nil {
		return golden{}, err
	}
	src, err := run("-q", "--srpm", "--qf", "[R"+dep+"]")
	if err != nil {
		return golden{}, err
	}
	parsed, err := run("--parse")
	if err != nil {
		return golden{}, err
	}
	var g golden
	var name, evr string
	format := func(f []string) (int, string) {
		flags, _ := strconv.Atoi(f[1])
		s := f[2]
		if flags&(senseLess|senseGreater|senseEqual) != 0 {
			s += " " + f[3] + " " + f[4]
		}
		return flags, s
	}
	for _, l := range strings.Split(bin, "\n") {
		f := strings.Split(l, "|")
		switch f[0] {
		case "N":
			name, evr = f[1], f[2]
			g.Packages = append(g.Packages, name)
		case "R":
			flags, s := format(f)
			switch {
			case flags&(senseInterp|senseRPMLib) != 0:
			case flags&senseScriptlet != 0:
				g.Scriptlet = append(g.Scriptlet, s)
			default:
				g.Requires = append(g.Requires, s)
			}
		case "P":
			_, s := format(f)
			if s == name+" = "+evr || s == name+"(x86-64) = "+evr {
				continue // rpm's automatic self-provides
			}
			g.Provides = append(g.Provides, s)
		}
	}
	for _, l := range strings.Split(src, "\n") {
		f := strings.Split(l, "|")
		if f[0] != "R" {
			continue
		}
		flags, s := format(f)
		if flags&senseRPMLib != 0 || strings.HasPrefix(s, "rpmlib(") {
			continue
		}
		g.BuildRequires = append(g.BuildRequires, s)
	}
	for _, l := range strings.Split(parsed, "\n") {
		if s, _ := sectionOf(l); s == "generate_buildrequires" {
			g.Dynamic = true
		}
	}
	// rpm 4.18 --parse drops %generate_buildrequires; fall back to the
	// spec text.
	if text, err := os.ReadFile(spec); err == nil && declaresDynamic(string(text)) {
		g.Dynamic = true
	}
	g.Packages = uniqSorted(g.Packages)
	g.Provides = uniqSorted(g.Provides)
	g.Requires = uniqSorted(g.Requires)
	g.BuildRequires = uniqSorted(g.BuildRequires)
	g.Scriptlet = uniqSorted(g.Scriptlet)
	return g, nil
}

func BenchmarkParse(b *testing.B) {
	opts := Options{Target: mustTarget(b, "fedora-43")}
	var srcs [][]byte
	var names []string
	for _, spec := range corpusSpecs(b) {
		src, err := os.ReadFile(spec)
		if err != nil {
			b.Fatal(err)
		}
		srcs = append(srcs, src)
		names = append(names, spec)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, src := range srcs {
			if _, err := Parse(names[i], src, opts); err != nil {
				b.Fatal(err)
			}
		}
	}
}
