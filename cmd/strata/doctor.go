package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/strata-build/strata/build"
	"github.com/strata-build/strata/internal/stores"
	"github.com/urfave/cli/v2"
)

// errNotReady makes doctor exit 1 when a build cannot run.
var errNotReady = errors.New("a build cannot run here: see the FAIL lines above")

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check what a build needs for the current user (root or rootless) and say how to fix what is missing",
		Description: "Checks the OCI runtime, newuidmap/newgidmap and the subordinate id ranges (rootless), " +
			"a storage driver that works (overlay, else vfs), dnf and rpm (for install: installroot), and the " +
			"storage, registries and signature policy configuration in effect. No container network backend " +
			"(netavark, CNI) is needed. Exit 0 when a build can run, 1 when not.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "runtime", Usage: "OCI runtime to check (default: containers.conf's engine.runtime, else crun or runc)", EnvVars: []string{"STRATA_RUNTIME", "BUILDAH_RUNTIME"}},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json", EnvVars: []string{"STRATA_FORMAT"}},
		},
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "text" && format != "json" {
				return fmt.Errorf("%w: invalid --format %q: want text or json", build.ErrUsage, format)
			}
			inStore := stores.RootlessReady()
			if inStore {
				if err := enterUserNamespace(); err != nil {
					return err
				}
			}
			checks := stores.Doctor(stores.DoctorOptions{Store: storeOptions(c), Runtime: c.String("runtime")}, inStore)
			if format == "json" {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				if err := enc.Encode(checks); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				for _, ch := range checks {
					state := "ok"
					switch {
					case !ch.OK && ch.Optional:
						state = "warn"
					case !ch.OK:
						state = "FAIL"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", state, ch.Name, ch.Detail)
					if !ch.OK && ch.Fix != "" {
						fmt.Fprintf(tw, "\t\tfix: %s\n", ch.Fix)
					}
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if !stores.Ready(checks) {
				return errNotReady
			}
			return nil
		},
	}
}
