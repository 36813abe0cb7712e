package recipes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/strata-build/strata/recipes/pyreq"
	"github.com/strata-build/strata/recipes/rpmspec"
	"github.com/strata-build/strata/recipes/targets"
)

// Spec evaluation modes for DepsOptions.SpecEval.
const (
	// SpecEvalNative evaluates spec files with the built-in evaluator
	// (package rpmspec); it needs no rpm on the host.
	SpecEvalNative = "native"
	// SpecEvalRPMSpec evaluates spec files with the host's rpmspec.
	SpecEvalRPMSpec = "rpmspec"
)

// DepFileKinds describes the files ReadDeps accepts, for messages.
const DepFileKinds = "*.spec, setup.cfg, pyproject.toml or requirements*.txt"

var (
	// ErrUnknownExtra is wrapped by ReadDeps errors for an extra that no
	// Python metadata file read defines.
	ErrUnknownExtra = errors.New("unknown extra")
	// ErrUnknownFileKind is wrapped by ReadDeps errors for a file that is
	// not one of DepFileKinds.
	ErrUnknownFileKind = errors.New("unknown dependency file kind")
)

// Requirement is one dependency and where it was declared.
type Requirement struct {
	// Dep is the RPM dependency as rpmspec prints it: "name",
	// "name >= 1.2" or a rich dependency "(a with b)".
	Dep string `json:"dep"`
	// From lists the places that declare it, "FILE:LINE" (or "FILE" when
	// the line is unknown), sorted by file then line, without duplicates.
	From []string `json:"from"`
}

// DepsOptions control ReadDeps.
type DepsOptions struct {
	// Target is the distribution profile spec files and Python markers
	// are evaluated for. Optional: the zero value means targets.Default.
	Target targets.Target
	// Extras are the Python extras (optional features) whose requirements
	// are included, PEP 503 normalised before use. Optional.
	Extras []string
	// SpecEval is how spec files are evaluated: SpecEvalNative (the
	// default when empty) or SpecEvalRPMSpec.
	SpecEval string
	// ReadFile reads the files and the files they refer to (requirements
	// files, setup.cfg's file: lists), by the names they are given as.
	// Optional: the default is os.ReadFile. With SpecEvalRPMSpec a spec
	// file read this way is given to rpmspec as a copy in a temporary
	// directory.
	ReadFile func(name string) ([]byte, error)
}

// Deps is the dependency set declared by a group of files.
type Deps struct {
	// Target is the name of the target the files were evaluated for.
	Target string `json:"target"`
	// Requires are the run-time dependencies: spec Requires and Python
	// requirements (install_requires, dependencies, requirements files).
	Requires []Requirement `json:"requires"`
	// BuildRequires are spec BuildRequires and pyproject.toml
	// [build-system] requires.
	BuildRequires []Requirement `json:"buildrequires"`
	// Internal are the names the files themselves provide: spec package
	// names, explicit Provides names and python3dist(PROJECT) of every
	// Python project read. They are left out of every list.
	Internal []string `json:"internal"`
	// Dynamic lists the spec files that generate BuildRequires at build
	// time (%generate_buildrequires, %pyproject_buildrequires).
	Dynamic []string `json:"dynamic"`
	// Scriptlet are the Requires(pre), Requires(post), ... of the spec
	// files: needed by the scriptlets of packages that are never
	// installed, so they are reported apart and not part of BaseSet.
	Scriptlet []Requirement `json:"scriptlet"`
	// Warnings are requirements read in a simplified form (a direct URL
	// reference taken as its project name), in file order.
	Warnings []Warning `json:"warnings,omitempty"`
}

// Warning is a requirement that was read, but not as written.
type Warning struct {
	From string `json:"from"` // FILE:LINE
	Dep  string `json:"dep"`  // the RPM dependency it became
	Msg  string `json:"message"`
}

func (w Warning) String() string { return w.From + ": " + w.Msg }

// BaseSet returns Requires and BuildRequires merged: every dependency
// once, with the provenance of both, sorted by dependency.
func (d *Deps) BaseSet() []Requirement {
	s := newDepSet()
	for _, list := range [][]Requirement{d.Requires, d.BuildRequires} {
		for _, r := range list {
			for _, f := range r.From {
				s.add(r.Dep, f)
			}
		}
	}
	return s.list()
}

// ReadDeps reads the dependencies declared by files, each read according
// to its name: *.spec (evaluated for opts.Target), setup.cfg,
// pyproject.toml and requirements*.txt. See ReadDepsContext.
func ReadDeps(files []string, opts DepsOptions) (*Deps, error) {
	return ReadDepsContext(context.Background(), files, opts)
}

// ReadDepsContext is ReadDeps with a context for the rpmspec processes
// that SpecEvalRPMSpec runs.
//
// Python requirements whose marker is false for the target are dropped;
// those of an extra count only when the extra is in opts.Extras (markers
// are then evaluated with extra set to it, as pip does). A requirement on
// an extra of an internal Python project pulls in that extra's
// requirements. Errors name FILE:LINE.
func ReadDepsContext(ctx context.Context, files []string, opts DepsOptions) (*Deps, error) {
	target := opts.Target
	if target.Name == "" {
		t, err := targets.Lookup("")
		if err != nil {
			return nil, err
		}
		target = t
	}
	readFile := opts.ReadFile
	if readFile == nil {
		readFile = os.ReadFile
	}
	switch opts.SpecEval {
	case "", SpecEvalNative, SpecEvalRPMSpec:
	default:
		return nil, fmt.Errorf("invalid spec evaluation %q: want %s or %s", opts.SpecEval, SpecEvalNative, SpecEvalRPMSpec)
	}

	type specFile struct {
		name string
		res  *rpmspec.Result
	}
	var specs []specFile
	var pys []*pyFile
	for _, name := range files {
		kind, err := DepFileKind(name)
		switch kind {
		case "spec":
			res, err := readSpec(ctx, name, target, opts.SpecEval, readFile, opts.ReadFile != nil)
			if err != nil {
				return nil, err
			}
			specs = append(specs, specFile{name, res})
		case "python":
			p, err := readPython(name, readFile)
			if err != nil {
				return nil, err
			}
			pys = append(pys, p)
		default:
			return nil, err
		}
	}

	r := &depsReader{
		env:      pyreq.EnvFor(target),
		internal: map[string]bool{},
		projects: map[string][]*pyFile{},
		requires: newDepSet(),
		build:    newDepSet(),
		script:   newDepSet(),
		done:     map[pyWork]bool{},
	}
	out := &Deps{Target: target.Name, Internal: []string{}, Dynamic: []string{}}
	for _, s := range specs {
		for _, p := range s.res.Packages {
			r.internal[p] = true
		}
		for _, p := range s.res.Provides {
			if n := DepName(p.Name); n != "" {
				r.internal[n] = true
			}
		}
		if s.res.Dynamic {
			out.Dynamic = append(out.Dynamic, s.name)
		}
	}
	for _, p := range pys {
		if p.md.Project != "" {
			r.internal[python3dist(p.md.Project)] = true
			r.projects[p.md.Project] = append(r.projects[p.md.Project], p)
		}
	}

	for _, s := range specs {
		for _, d := range s.res.Requires {
			r.add(r.requires, d.Name, from(s.name, d.Line))
		}
		for _, d := range s.res.BuildRequires {
			r.add(r.build, d.Name, from(s.name, d.Line))
		}
		for _, d := range s.res.Scriptlet {
			r.add(r.script, d.Name, from(s.name, d.Line))
		}
	}

	extras := make([]string, 0, len(opts.Extras))
	for _, x := range opts.Extras {
		if x = strings.TrimSpace(x); x != "" {
			extras = append(extras, pyreq.Normalize(x))
		}
	}
	for _, x := range extras {
		if !slices.ContainsFunc(pys, func(p *pyFile) bool { _, ok := p.md.Extras[x]; return ok }) {
			return nil, fmt.Errorf("%w %q: %s", ErrUnknownExtra, x, definedExtras(pys))
		}
	}
	for _, p := range pys {
		for _, req := range p.md.BuildRequires {
			if err := r.addPython(r.build, p, req, ""); err != nil {
				return nil, err
			}
		}
		r.queue = append(r.queue, pyWork{p, ""})
		for _, x := range extras {
			r.queue = append(r.queue, pyWork{p, x})
		}
	}
	for len(r.queue) > 0 {
		w := r.queue[0]
		r.queue = r.queue[1:]
		if r.done[w] {
			continue
		}
		r.done[w] = true
		reqs := w.p.md.Requires
		if w.extra != "" {
			reqs = append(slices.Clip(reqs), w.p.md.Extras[w.extra]...)
		}
		for _, req := range reqs {
			if err := r.addPython(r.requires, w.p, req, w.extra); err != nil {
				return nil, err
			}
		}
	}

	for n := range r.internal {
		out.Internal = append(out.Internal, n)
	}
	sort.Strings(out.Internal)
	sort.Strings(out.Dynamic)
	out.Dynamic = slices.Compact(out.Dynamic)
	out.Requires = r.requires.list()
	out.BuildRequires = r.build.list()
	out.Scriptlet = r.script.list()
	out.Warnings = r.warnings
	return out, nil
}

// DepFileKind returns the kind of a dependency file from its name: "spec",
// "python" or an error wrapping ErrUnknownFileKind.
func DepFileKind(name string) (string, error) {
	base := filepath.Base(name)
	switch {
	case strings.HasSuffix(base, ".spec"):
		return "spec", nil
	case base == "setup.cfg", base == "pyproject.toml", isRequirementsTxt(base):
		return "python", nil
	}
	return "", fmt.Errorf("%s: %w: want %s", name, ErrUnknownFileKind, DepFileKinds)
}

func isRequirementsTxt(base string) bool {
	return strings.HasPrefix(base, "requirements") && strings.HasSuffix(base, ".txt")
}

func readSpec(ctx context.Context, name string, target targets.Target, mode string, readFile func(string) ([]byte, error), copyForRPMSpec bool) (*rpmspec.Result, error) {
	opts := rpmspec.Options{Target: target}
	if mode == SpecEvalRPMSpec {
		return readSpecRPMSpec(ctx, name, opts, readFile, copyForRPMSpec)
	}
	src, err := readFile(name)
	if err != nil {
		return nil, readError(name, err)
	}
	res, err := rpmspec.Parse(name, src, opts)
	if err != nil {
		return nil, located(name, err)
	}
	return res, nil
}

// readSpecRPMSpec evaluates a spec file with rpmspec: the file itself, or
// a copy of it in a temporary directory when it is read with readFile
// (errors name the file as given either way).
func readSpecRPMSpec(ctx context.Context, name string, opts rpmspec.Options, readFile func(string) ([]byte, error), copyIt bool) (*rpmspec.Result, error) {
	path := name
	if copyIt {
		src, err := readFile(name)
		if err != nil {
			return nil, readError(name, err)
		}
		dir, err := os.MkdirTemp("", "strata-spec-")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, filepath.Base(name))
		if err := os.WriteFile(path, src, 0o644); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	res, err := rpmspec.ParseWithRPMSpec(ctx, path, opts)
	if err != nil {
		var pe *rpmspec.Error
		if path != name && errors.As(err, &pe) {
			pe.File, pe.Msg = name, strings.ReplaceAll(pe.Msg, path, name)
		}
		return nil, located(name, err)
	}
	return res, nil
}

// pyFile is one Python metadata file read.
type pyFile struct {
	// name is the file as given; dir its directory, against which the
	// file names pyreq reports (relative to the project) are resolved.
	name, dir string
	md        *pyreq.Metadata
}

// path returns the path of a file pyreq names rel.
func (p *pyFile) path(rel string) string {
	if rel == "" || rel == filepath.Base(p.name) {
		return p.name
	}
	return filepath.Join(p.dir, rel)
}

func readPython(name string, read func(string) ([]byte, error)) (*pyFile, error) {
	src, err := read(name)
	if err != nil {
		return nil, readError(name, err)
	}
	p := &pyFile{name: name, dir: filepath.Dir(name)}
	base := filepath.Base(name)
	readFile := func(rel string) ([]byte, error) {
		return read(filepath.Join(p.dir, filepath.FromSlash(rel)))
	}
	switch {
	case base == "setup.cfg":
		p.md, err = pyreq.ReadSetupCfg(base, src, readFile)
	case base == "pyproject.toml":
		p.md, err = pyreq.ReadPyproject(base, src, readFile)
	default:
		p.md, err = pyreq.ReadRequirementsTxt(base, src, readFile)
	}
	if err != nil {
		return nil, p.fixError(err, "", 0)
	}
	return p, nil
}

// fixError makes err name the file as the user knows it: pyreq names
// files relative to the project directory. An error without a file gets
// file:line.
func (p *pyFile) fixError(err error, file string, line int) error {
	var pe *pyreq.Error
	if !errors.As(err, &pe) {
		return located(p.path(file), err)
	}
	c := *pe
	if c.File == "" {
		c.File, c.Line = file, line
	}
	c.File = p.path(c.File)
	return &c
}

func readError(name string, err error) error {
	if u := errors.Unwrap(err); u != nil {
		err = u
	}
	return fmt.Errorf("%s: reading dependency file: %w", name, err)
}

// located returns err prefixed with name unless it already names its file.
func located(name string, err error) error {
	var se *rpmspec.Error
	var pe *pyreq.Error
	if errors.As(err, &se) && se.File != "" || errors.As(err, &pe) && pe.File != "" {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

func from(file string, line int) string {
	if line <= 0 {
		return file
	}
	return file + ":" + strconv.Itoa(line)
}

func python3dist(project string) string { return "python3dist(" + project + ")" }

// pyWork is one (project file, extra) whose requirements are to be added;
// extra "" stands for the base requirements.
type pyWork struct {
	p     *pyFile
	extra string
}

type depsReader struct {
	env      pyreq.Env
	internal map[string]bool
	// projects maps a normalised Python project name to its files.
	projects                map[string][]*pyFile
	requires, build, script *depSet
	queue                   []pyWork
	done                    map[pyWork]bool
	warnings                []Warning
}

// isInternal reports whether dep is provided by the files read. For
// python3dist(NAME[EXTRA]) of an internal project it also returns NAME and
// EXTRA so that the extra's requirements can be added instead.
func (r *depsReader) isInternal(dep string) (bool, string, string) {
	name := DepName(dep)
	if name == "" {
		return false, "", ""
	}
	if r.internal[name] || r.internal[StripISA(name)] {
		return true, "", ""
	}
	inner, ok := strings.CutPrefix(name, "python3dist(")
	if !ok {
		return false, "", ""
	}
	project, extra, ok := strings.Cut(strings.TrimSuffix(inner, ")"), "[")
	if !ok || !r.internal[python3dist(project)] {
		return false, "", ""
	}
	return true, project, strings.TrimSuffix(extra, "]")
}

// add adds dep to s unless it is internal; a dependency on an extra of an
// internal project queues that extra.
func (r *depsReader) add(s *depSet, dep, from string) {
	internal, project, extra := r.isInternal(dep)
	if !internal {
		s.add(dep, from)
		return
	}
	if extra == "" {
		return
	}
	x := pyreq.Normalize(extra)
	for _, p := range r.projects[project] {
		if _, ok := p.md.Extras[x]; ok {
			r.queue = append(r.queue, pyWork{p, x})
		}
	}
}

// addPython adds the RPM dependencies of a Python requirement of p that
// applies to the target with the given extra.
func (r *depsReader) addPython(s *depSet, p *pyFile, req pyreq.Requirement, extra string) error {
	env := r.env
	env.Extra = extra
	ok, err := req.Applies(env)
	if err != nil {
		return p.fixError(err, req.File, req.Line)
	}
	if !ok {
		return nil
	}
	deps, err := req.RPMDeps()
	if err != nil {
		return p.fixError(err, req.File, req.Line)
	}
	at := from(p.path(req.File), req.Line)
	if req.URL != "" {
		if internal, _, _ := r.isInternal(deps[0]); !internal {
			r.warnings = append(r.warnings, Warning{From: at, Dep: deps[0], Msg: fmt.Sprintf(
				"direct URL requirement %q taken as %s, as Fedora's generators do: the URL is not used", req.String(), deps[0])})
		}
	}
	for _, d := range deps {
		r.add(s, d, at)
	}
	return nil
}

// StripISA returns an RPM name without its ISA qualifier, as %{?_isa}
// writes it: "foo-libs(x86-64)" -> "foo-libs". Other names are returned as
// they are.
func StripISA(name string) string {
	i := strings.LastIndexByte(name, '(')
	if i <= 0 || !strings.HasSuffix(name, ")") {
		return name
	}
	arch, bits, ok := strings.Cut(name[i+1:len(name)-1], "-")
	if !ok || (bits != "32" && bits != "64") || !slices.Contains(isaNames, arch) {
		return name
	}
	return name[:i]
}

// isaNames are the values of rpm's %{__isa_name} (rpmrc's arch_compat
// families), the first half of an ISA qualifier such as (x86-64).
var isaNames = []string{"x86", "aarch", "arm", "ppc", "s390", "sparc", "mips", "riscv", "loongarch", "ia", "alpha"}

// depSet merges dependencies by their normalised string.
type depSet struct {
	from map[string]map[string]bool
}

func newDepSet() *depSet { return &depSet{from: map[string]map[string]bool{}} }

func (s *depSet) add(dep, from string) {
	dep = NormalizeDep(dep)
	if s.from[dep] == nil {
		s.from[dep] = map[string]bool{}
	}
	s.from[dep][from] = true
}

// list returns the dependencies sorted, each with its sorted provenance.
func (s *depSet) list() []Requirement {
	out := make([]Requirement, 0, len(s.from))
	for dep, set := range s.from {
		r := Requirement{Dep: dep, From: make([]string, 0, len(set))}
		for f := range set {
			r.From = append(r.From, f)
		}
		slices.SortFunc(r.From, compareFrom)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Requirement) int { return strings.Compare(a.Dep, b.Dep) })
	return out
}

// compareFrom orders "FILE:LINE" by file, then numerically by line.
func compareFrom(a, b string) int {
	fa, la := splitFrom(a)
	fb, lb := splitFrom(b)
	if c := strings.Compare(fa, fb); c != 0 {
		return c
	}
	return cmp.Compare(la, lb)
}

func splitFrom(s string) (string, int) {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if n, err := strconv.Atoi(s[i+1:]); err == nil {
			return s[:i], n
		}
	}
	return s, 0
}

// definedExtras describes the extras the Python files define.
func definedExtras(pys []*pyFile) string {
	var names []string
	for _, p := range pys {
		for x := range p.md.Extras {
			names = append(names, strconv.Quote(x))
		}
	}
	if len(names) == 0 {
		return "no file read defines extras"
	}
	sort.Strings(names)
	return "want one of " + strings.Join(slices.Compact(names), ", ")
}
