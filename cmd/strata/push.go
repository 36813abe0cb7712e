package main

import (
	"fmt"

	"github.com/strata-build/strata/build"
	"github.com/urfave/cli/v2"
)

func pushCommand() *cli.Command {
	return &cli.Command{
		Name:      "push",
		Usage:     "push an image of the local store to a registry or an archive, sending only the blobs the registry lacks",
		ArgsUsage: "IMAGE DESTINATION",
		Description: "DESTINATION is docker://REGISTRY/NAME[:TAG], oci:DIR[:TAG], oci-archive:FILE[:NAME], docker-archive:FILE[:NAME],\n" +
			"dir:DIR, containers-storage:NAME, or REGISTRY/NAME[:TAG]. An archive without :NAME carries the name IMAGE was\n" +
			"given by (none for an ID). The manifest goes last: a failed push never leaves a tag on a partial image.\n" +
			"Stdout: REPOSITORY@DIGEST (or the digest for the other transports).",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "digestfile", Usage: "write the pushed manifest's digest to `FILE`"},
		}, append(registryFlags(), signFlags()...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("%w: want IMAGE and DESTINATION arguments, got %d", build.ErrUsage, c.NArg())
			}
			image, dest := c.Args().Get(0), c.Args().Get(1)
			dest, err := build.ParsePushDestination(dest)
			if err != nil {
				return err
			}
			reg, err := registryOptions(c)
			if err != nil {
				return err
			}
			if err := enterUserNamespace(); err != nil {
				return err
			}
			d, err := build.Push(c.Context, image, dest, build.PushOptions{
				Store:      storeOptions(c),
				Log:        logger(c),
				Progress:   progress(c),
				Registry:   reg,
				DigestFile: c.String("digestfile"),
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, build.Canonical(dest, d))
			return nil
		},
	}
}
