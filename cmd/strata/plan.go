package main

import (
	"encoding/json"
	"fmt"

	"github.com/strata-build/strata/build"
	"github.com/strata-build/strata/internal/stores"
	"github.com/urfave/cli/v2"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "show what a build would do, without doing it: the sources at their commits, the base package set with provenance, the keys and what is cached",
		ArgsUsage: "RECIPE",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json", EnvVars: []string{"STRATA_FORMAT"}},
			&cli.BoolFlag{Name: "no-cache-check", Usage: "do not look for cached images (neither the store nor the registry)"},
			&cli.BoolFlag{Name: "explain", Usage: "show the document the base key hashes"},
		}, append(append(sourceFlags(), imageFlags()...), registryFlags()...)...),
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "text" && format != "json" {
				return fmt.Errorf("%w: invalid --format %q: want text or json", build.ErrUsage, format)
			}
			r, err := recipeArg(c)
			if err != nil {
				return err
			}
			popts, err := planOptions(c)
			if err != nil {
				return err
			}
			popts.Partial = popts.Offline
			popts.Explain = c.Bool("explain")
			if !c.Bool("no-cache-check") {
				// Before any work: the re-exec starts the process again.
				if err := enterUserNamespace(); err != nil {
					return err
				}
			}
			plan, err := build.Prepare(c.Context, r, popts)
			if err != nil {
				return err
			}
			if !c.Bool("no-cache-check") {
				store, err := stores.Open(storeOptions(c), logger(c))
				if err != nil {
					return err
				}
				err = plan.CheckCache(c.Context, store, logger(c))
				store.Close()
				if err == nil {
					plan.CheckRegistryLayers(c.Context, logger(c))
				}
				if err != nil {
					return err
				}
			}
			if format == "json" {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(plan)
			}
			return plan.WriteText(c.App.Writer)
		},
	}
}
