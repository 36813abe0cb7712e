package rpmspec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/strata-build/strata/recipes/targets"
)

// rpmspecArgs returns the rpmspec command-line arguments (without the
// spec path) that make the host's rpmspec see opts: the target macros,
// Defines, With/Without, and --load of macrosFile (which must hold
// MacroFile()).
func rpmspecArgs(opts Options, macrosFile string) []string {
	args := []string{"--load", macrosFile}
	tm := targetMacros(opts)
	for _, k := range sortedKeys(tm) {
		args = append(args, "--define", k+" "+tm[k])
	}
	for _, k := range sortedKeys(opts.Defines) {
		args = append(args, "--define", k+" "+opts.Defines[k])
	}
	for _, w := range opts.With {
		args = append(args, "--with", w)
	}
	for _, w := range opts.Without {
		args = append(args, "--without", w)
	}
	return args
}

// writeMacroFile writes the macros the host's rpmspec needs into dir.
func writeMacroFile(dir string) (string, error) {
	f := filepath.Join(dir, "macros.strata")
	if err := os.WriteFile(f, []byte(compatMacros+rpmOnlyMacros), 0o644); err != nil {
		return "", fmt.Errorf("write rpm macros: %w", err)
	}
	return f, nil
}

// ParseWithRPMSpec evaluates the spec at path with the host's rpmspec
// (rpmspec --parse, with the target's macros and the Fedora Python
// macros loaded) and reads the dependencies from the expanded spec.
// Lines in the result are 0 because the expanded text no longer maps
// to the spec's lines. It fails when rpmspec is not installed.
func ParseWithRPMSpec(ctx context.Context, path string, opts Options) (*Result, error) {
	if opts.Target.Name == "" {
		t, err := targets.Lookup("")
		if err != nil {
			return nil, err
		}
		opts.Target = t
	}
	bin, err := exec.LookPath("rpmspec")
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot run rpmspec: %v; install rpm (rpm-build) or use the native evaluator", err), Err: err}
	}
	dir, err := os.MkdirTemp("", "strata-rpmspec-")
	if err != nil {
		return nil, fmt.Errorf("rpmspec: %w", err)
	}
	defer os.RemoveAll(dir)
	mf, err := writeMacroFile(dir)
	if err != nil {
		return nil, err
	}
	args := append([]string{"--parse"}, rpmspecArgs(opts, mf)...)
	args = append(args, "--", path)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, &Error{File: path, Msg: fmt.Sprintf("rpmspec --parse failed: %s", msg), Err: err}
	}
	p := newParser(path, opts, "x86_64")
	p.raw = true
	if err := p.run(stdout.String()); err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			pe.Line = 0
			pe.Msg = "in rpmspec --parse output: " + pe.Msg
		}
		return nil, err
	}
	r := p.result()
	// rpm 4.18's --parse output leaves out %generate_buildrequires, so
	// look for the section in the spec itself too.
	if src, err := os.ReadFile(path); err == nil && declaresDynamic(string(src)) {
		r.Dynamic = true
	}
	for _, l := range [][]Dep{r.Provides, r.Requires, r.BuildRequires, r.Scriptlet} {
		for i := range l {
			l[i].Line = 0
		}
	}
	return r, nil
}

// declaresDynamic reports whether src has a %generate_buildrequires
// section or uses %pyproject_buildrequires (conditionals are not
// evaluated).
func declaresDynamic(src string) bool {
	for _, l := range strings.Split(src, "\n") {
		if s, _ := sectionOf(strings.TrimSpace(l)); s == "generate_buildrequires" {
			return true
		}
	}
	return strings.Contains(src, "%pyproject_buildrequires") || strings.Contains(src, "%{pyproject_buildrequires")
}
