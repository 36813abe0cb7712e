package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/strata-build/strata/build"
	"github.com/strata-build/strata/recipes"
	"github.com/strata-build/strata/recipes/targets"
	"github.com/urfave/cli/v2"
)

func depsCommand() *cli.Command {
	return &cli.Command{
		Name:  "deps",
		Usage: "list the RPM dependencies that spec files and Python metadata declare for a target",
		Description: "FILE is a *.spec, setup.cfg, pyproject.toml or requirements*.txt. Spec Requires and Python " +
			"requirements are run-time requires, spec BuildRequires and pyproject [build-system] requires are " +
			"buildrequires; the files' own packages and Python projects (internal) are left out. " +
			"See docs/dependencies.md.",
		ArgsUsage: "FILE...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "target", Value: targets.Default, Usage: "distribution profile: fedora-NN or rhel-N", EnvVars: []string{"STRATA_TARGET"}},
			&cli.StringSliceFlag{Name: "extras", Usage: "Python extras to include, comma-separated or repeated", EnvVars: []string{"STRATA_EXTRAS"}},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json", EnvVars: []string{"STRATA_FORMAT"}},
			&cli.StringFlag{Name: "spec-eval", Value: recipes.SpecEvalNative, Usage: "how spec files are evaluated: native, or rpmspec (the host's)", EnvVars: []string{"STRATA_SPEC_EVAL"}},
		},
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "text" && format != "json" {
				return fmt.Errorf("%w: invalid --format %q: want text or json", build.ErrUsage, format)
			}
			evalMode := c.String("spec-eval")
			if evalMode != recipes.SpecEvalNative && evalMode != recipes.SpecEvalRPMSpec {
				return fmt.Errorf("%w: invalid --spec-eval %q: want %s or %s", build.ErrUsage, evalMode, recipes.SpecEvalNative, recipes.SpecEvalRPMSpec)
			}
			target, err := targets.Lookup(c.String("target"))
			if err != nil {
				return fmt.Errorf("%w: --target: %w", build.ErrUsage, err)
			}
			if c.NArg() == 0 {
				return fmt.Errorf("%w: missing FILE argument (see strata deps --help)", build.ErrUsage)
			}
			d, err := recipes.ReadDepsContext(c.Context, c.Args().Slice(), recipes.DepsOptions{
				Target:   target,
				Extras:   c.StringSlice("extras"),
				SpecEval: evalMode,
			})
			if errors.Is(err, recipes.ErrUnknownExtra) {
				return fmt.Errorf("%w: --extras: %w", build.ErrUsage, err)
			}
			if err != nil {
				if c.Err() != nil {
					return err
				}
				return badInput{err} // a file that cannot be read as what its name says
			}
			for _, w := range d.Warnings {
				logger(c).Warn(w.String())
			}
			if format == "json" {
				return writeDepsJSON(c.App.Writer, d)
			}
			return writeDepsText(c.App.Writer, d)
		},
	}
}

// depsJSON is the JSON form of `strata deps`: plain dependency strings.
type depsJSON struct {
	Target        string   `json:"target"`
	Requires      []string `json:"requires"`
	BuildRequires []string `json:"buildrequires"`
	Internal      []string `json:"internal"`
	Dynamic       []string `json:"dynamic"`
	Scriptlet     []string `json:"scriptlet"`
	Warnings      []string `json:"warnings,omitempty"`
}

func depStrings(list []recipes.Requirement) []string {
	out := make([]string, 0, len(list))
	for _, r := range list {
		out = append(out, r.Dep)
	}
	return out
}

func writeDepsJSON(w io.Writer, d *recipes.Deps) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(depsJSON{
		Target:        d.Target,
		Requires:      depStrings(d.Requires),
		BuildRequires: depStrings(d.BuildRequires),
		Internal:      d.Internal,
		Dynamic:       d.Dynamic,
		Scriptlet:     depStrings(d.Scriptlet),
		Warnings:      warningStrings(d.Warnings),
	})
}

func warningStrings(list []recipes.Warning) []string {
	var out []string
	for _, w := range list {
		out = append(out, w.String())
	}
	return out
}

// writeDepsText prints one section per list, each dependency with the
// places that declare it.
func writeDepsText(w io.Writer, d *recipes.Deps) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "target: %s\n", d.Target)
	section := func(title string, list []recipes.Requirement) {
		fmt.Fprintf(tw, "\n%s (%d):\n", title, len(list))
		for _, r := range list {
			fmt.Fprintf(tw, "  %s\t%s\n", r.Dep, strings.Join(r.From, ", "))
		}
	}
	names := func(title string, list []string) {
		fmt.Fprintf(tw, "\n%s (%d):\n", title, len(list))
		for _, n := range list {
			fmt.Fprintf(tw, "  %s\n", n)
		}
	}
	section("requires", d.Requires)
	section("buildrequires", d.BuildRequires)
	section("scriptlet (not installed)", d.Scriptlet)
	names("internal (left out)", d.Internal)
	names("dynamic buildrequires (supplied by the Python metadata)", d.Dynamic)
	return tw.Flush()
}

// badInput is an error about the content of an input file: exit code 2,
// like a recipe error, with the message as it is.
type badInput struct{ err error }

func (e badInput) Error() string        { return e.err.Error() }
func (e badInput) Unwrap() error        { return e.err }
func (e badInput) Is(target error) bool { return target == recipes.ErrInvalid }
