package main

import (
	"fmt"

	"github.com/strata-build/strata/build"
	"github.com/urfave/cli/v2"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build the image a recipe describes and print its ID",
		ArgsUsage: "RECIPE",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the image: NAME[:TAG] or containers-storage:NAME[:TAG] (default: the local store, named after the recipe), oci:DIR[:TAG], oci-archive:FILE[:NAME] or docker-archive:FILE[:NAME]", EnvVars: []string{"STRATA_OUTPUT"}},
			&cli.StringFlag{Name: "iidfile", Usage: "write the image ID to `FILE`"},
			&cli.StringFlag{Name: "runtime", Usage: "OCI runtime for run steps (default: containers.conf's engine.runtime, else crun or runc, as podman picks it)", EnvVars: []string{"STRATA_RUNTIME", "BUILDAH_RUNTIME"}},
			&cli.StringFlag{Name: "isolation", Value: "oci", Usage: "isolation of run steps (dnf in container mode, install commands): oci (an OCI runtime, own namespaces) or chroot (no runtime: for unprivileged containers and CI jobs in containers)", EnvVars: []string{"STRATA_ISOLATION", "BUILDAH_ISOLATION"}},
			&cli.StringFlag{Name: "network", Value: "none", Usage: "network of the sources' install commands: none or host", EnvVars: []string{"STRATA_NETWORK"}},
			&cli.BoolFlag{Name: "push", Usage: "push the image to the recipe's push.repository with the profile's tags, --tag and push.immutable_tag; stdout then lists REPOSITORY@DIGEST per tag", EnvVars: []string{"STRATA_PUSH"}},
			&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "push with this `TAG` too (repeatable)"},
			&cli.StringFlag{Name: "digestfile", Usage: "with --push, write the pushed manifest's digest to `FILE`"},
			&cli.StringFlag{Name: "sbom", Usage: "write the image's SBOM (CycloneDX 1.6 JSON) to `FILE`"},
		}, append(append(append(sourceFlags(), imageFlags()...), registryFlags()...), signFlags()...)...),
		Action: func(c *cli.Context) error {
			r, err := recipeArg(c)
			if err != nil {
				return err
			}
			if _, err := build.ParseDestination(c.String("output"), r.Name); err != nil {
				return err
			}
			popts, err := planOptions(c)
			if err != nil {
				return err
			}
			popts.Network = c.String("network")
			if n := popts.Network; n != "none" && n != "host" {
				return fmt.Errorf("%w: invalid --network %q: want none or host", build.ErrUsage, n)
			}
			if !c.Bool("push") && (len(c.StringSlice("tag")) > 0 || c.String("digestfile") != "") {
				return fmt.Errorf("%w: --tag and --digestfile need --push", build.ErrUsage)
			}
			if !c.Bool("push") && c.String("sign-by-sigstore-private-key") != "" {
				return fmt.Errorf("%w: --sign-by-sigstore-private-key signs what --push pushes: add --push", build.ErrUsage)
			}
			if err := enterUserNamespace(); err != nil {
				return err
			}
			res, err := build.Run(c.Context, build.Options{
				Recipe:      r,
				Output:      c.String("output"),
				IIDFile:     c.String("iidfile"),
				Store:       storeOptions(c),
				Runtime:     c.String("runtime"),
				Isolation:   c.String("isolation"),
				Log:         logger(c),
				Progress:    progress(c),
				PlanOptions: popts,
				Push:        c.Bool("push"),
				Tags:        c.StringSlice("tag"),
				DigestFile:  c.String("digestfile"),
				SBOMFile:    c.String("sbom"),

				BuilderVersion: version,
			})
			if err != nil {
				return err
			}
			if c.Bool("push") {
				for _, p := range res.Pushed {
					fmt.Fprintln(c.App.Writer, p)
				}
				return nil
			}
			fmt.Fprintln(c.App.Writer, res.ImageID)
			return nil
		},
	}
}
