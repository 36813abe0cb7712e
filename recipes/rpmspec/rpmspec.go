// Package rpmspec evaluates an RPM .spec file natively, the way rpmspec
// does for a given distribution target, and reports the dependencies it
// declares: Requires, BuildRequires, scriptlet requirements and the
// spec's own package names and Provides.
//
// The evaluator implements rpm's macro language (%define/%global,
// conditional and parametric macros, %{expand:}, %[...] expressions,
// %bcond), conditionals (%if/%elif/%else/%endif, %ifarch, %ifos), the
// preamble tags and Fedora's Python packaging macros (%py3_dist,
// %pyproject_buildrequires, %pyproject_extras_subpkg, ...). Anything it
// cannot evaluate faithfully (%{lua:}, %(shell), %include, ...) is
// reported as a located *Error rather than guessed; such specs can be
// evaluated with the host's rpmspec through ParseWithRPMSpec.
package rpmspec

import (
	"errors"
	"fmt"

	"github.com/strata-build/strata/recipes/targets"
)

// Options control how a spec file is evaluated.
type Options struct {
	// Target is the distribution profile whose macros the spec sees
	// (%fedora, %rhel, %dist, %python3_version, ...). The zero value
	// means targets.Default.
	Target targets.Target
	// Defines are extra macros, like rpmbuild --define "NAME VALUE".
	Defines map[string]string
	// With and Without are bcond overrides, like rpmbuild --with/--without.
	With    []string
	Without []string
}

// Dep is one dependency declared by the spec.
type Dep struct {
	// Name is the dependency as rpmspec prints it: "name",
	// "name >= 1.2" or a whole rich dependency "(a with b)", with
	// single spaces.
	Name string `json:"name"`
	// Line is the 1-based line of the spec that declared it (0 when
	// unknown, e.g. with ParseWithRPMSpec).
	Line int `json:"line"`
}

// Result is what a spec declares.
type Result struct {
	// Packages are the spec's own package names: Name and every
	// %package.
	Packages []string `json:"packages"`
	// Provides are the explicit Provides: of the spec's packages.
	Provides []Dep `json:"provides"`
	// Requires are the Requires: of all packages (not the scriptlet
	// ones), in order of appearance, without duplicates.
	Requires []Dep `json:"requires"`
	// BuildRequires are the static BuildRequires:, in order of
	// appearance, without duplicates.
	BuildRequires []Dep `json:"build_requires"`
	// Scriptlet are Requires(pre), Requires(post,postun), ... of all
	// packages.
	Scriptlet []Dep `json:"scriptlet"`
	// Dynamic reports that the spec generates more BuildRequires at
	// build time (%generate_buildrequires or %pyproject_buildrequires).
	Dynamic bool `json:"dynamic"`
}

// Error is a failure located in a spec file.
type Error struct {
	// File is the spec's file name as given to Parse.
	File string
	// Line is the 1-based line number, or 0 when unknown.
	Line int
	// Msg describes the problem.
	Msg string
	// Err is the underlying error, if any (e.g. ErrUnsupported).
	Err error
}

// Error formats the error as FILE:LINE: msg.
func (e *Error) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ErrUnsupported is wrapped by errors for constructs the native
// evaluator refuses to guess at (lua, shell, included files, ...).
var ErrUnsupported = errors.New("unsupported spec construct")

// ErrRPKGTemplate is wrapped by errors for an rpkg spec template
// ({{{ git_dir_name }}} and the like), which rpm cannot read either.
var ErrRPKGTemplate = errors.New("rpkg spec template")

// ErrNoName is wrapped by the error for a spec without a Name: tag (rpm:
// "Name field must be present in package").
var ErrNoName = errors.New("no Name tag")

// Parse evaluates the spec file src (named filename in errors) for
// opts.Target and returns its dependencies.
func Parse(filename string, src []byte, opts Options) (*Result, error) {
	t := opts.Target
	if t.Name == "" {
		d, err := targets.Lookup("")
		if err != nil {
			return nil, err
		}
		t = d
	}
	opts.Target = t
	p := newParser(filename, opts, "x86_64")
	if err := p.run(string(src)); err != nil {
		return nil, err
	}
	if !p.mainOK {
		p.line = 0
		return nil, p.errorf(ErrNoName, "Name field must be present (none is read for target %s: is it missing or inside a false %%if?)", t.Name)
	}
	if p.buildArch != "" && p.buildArch != "x86_64" {
		// rpm re-reads the spec for the architecture named by the main
		// package's BuildArch (typically noarch).
		p = newParser(filename, opts, p.buildArch)
		if err := p.run(string(src)); err != nil {
			return nil, err
		}
	}
	return p.result(), nil
}
