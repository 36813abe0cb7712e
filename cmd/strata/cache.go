package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/strata-build/strata/build"
	"github.com/strata-build/strata/recipes"
	"github.com/urfave/cli/v2"
)

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "list and prune the base images cached in the local store",
		Subcommands: []*cli.Command{
			{
				Name:  "ls",
				Usage: "list cached bases: key, image, size, built, last used (most recently used first)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json"},
				},
				Action: func(c *cli.Context) error {
					format := c.String("format")
					if format != "text" && format != "json" {
						return fmt.Errorf("%w: invalid --format %q: want text or json", build.ErrUsage, format)
					}
					if c.NArg() > 0 {
						return fmt.Errorf("%w: cache ls takes no arguments", build.ErrUsage)
					}
					store, err := openStore(c)
					if err != nil {
						return err
					}
					defer store.Close()
					list, err := build.ListBases(c.Context, store)
					if err != nil {
						return err
					}
					if format == "json" {
						if list == nil {
							list = []build.BaseEntry{}
						}
						enc := json.NewEncoder(c.App.Writer)
						enc.SetIndent("", "  ")
						return enc.Encode(list)
					}
					return writeBases(c, list)
				},
			},
			{
				Name:  "gc",
				Usage: "remove what killed strata processes left in the store: working containers (their runtime containers and mounts) and working images; every command that opens the store does it too",
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return fmt.Errorf("%w: cache gc takes no arguments", build.ErrUsage)
					}
					store, err := openStore(c)
					if err != nil {
						return err
					}
					defer store.Close()
					for _, line := range store.Collected {
						fmt.Fprintln(c.App.Writer, line)
					}
					if len(store.Collected) == 0 {
						fmt.Fprintln(c.App.ErrWriter, "nothing to collect")
					}
					return nil
				},
			},
			{
				Name:  "prune",
				Usage: "remove cached bases: all but the --keep most recently used, and those unused for --older-than",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "keep", Value: -1, DefaultText: "no limit", Usage: "keep the `N` most recently used bases"},
					&cli.StringFlag{Name: "older-than", Usage: "remove bases not used for `AGE` (7d, 36h, ...)"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return fmt.Errorf("%w: cache prune takes no arguments", build.ErrUsage)
					}
					var older time.Duration
					if v := c.String("older-than"); v != "" {
						d, err := recipes.ParseAge(v)
						if err != nil || d == 0 {
							return fmt.Errorf("%w: invalid --older-than %q: want e.g. 7d or 36h", build.ErrUsage, v)
						}
						older = d
					}
					keep := c.Int("keep")
					if keep < -1 {
						return fmt.Errorf("%w: invalid --keep %d", build.ErrUsage, keep)
					}
					if keep < 0 && older == 0 {
						return fmt.Errorf("%w: say what to remove: --keep N and/or --older-than AGE", build.ErrUsage)
					}
					store, err := openStore(c)
					if err != nil {
						return err
					}
					defer store.Close()
					removed, err := build.PruneBases(c.Context, store, keep, older)
					for _, b := range removed {
						fmt.Fprintf(c.App.Writer, "%s %s\n", b.ID, b.Image)
					}
					return err
				},
			},
		},
	}
}

func writeBases(c *cli.Context, list []build.BaseEntry) error {
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tIMAGE\tSIZE\tBUILT\tLAST USED")
	for _, b := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Key[:16], b.Image, units.HumanSize(float64(b.Size)),
			ago(b.Built), ago(b.LastUsed))
	}
	return tw.Flush()
}

func ago(t time.Time) string {
	return units.HumanDuration(time.Since(t)) + " ago"
}
