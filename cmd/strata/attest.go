package main

import (
	"context"

	"github.com/strata-build/strata/build"
	"github.com/urfave/cli/v2"
)

func sbomCommand() *cli.Command {
	return &cli.Command{
		Name:      "sbom",
		Usage:     "print an image's SBOM (CycloneDX 1.6 JSON): its RPMs, sources and Python distributions",
		ArgsUsage: "IMAGE",
		Description: "IMAGE is an image of the local store (a name or an ID), oci:DIR[:TAG], oci-archive:FILE, dir:DIR or\n" +
			"docker://REGISTRY/NAME[:TAG|@DIGEST]. From a registry, the SBOM attached to the image is printed (the bytes\n" +
			"pushed); otherwise it is computed from the facts the image's configuration records, and checked against its\n" +
			"io.strata.sbom label. See docs/supply-chain.md.",
		Flags: registryFlags(),
		Action: func(c *cli.Context) error {
			return readAttestation(c, build.ReadSBOM)
		},
	}
}

func provenanceCommand() *cli.Command {
	return &cli.Command{
		Name:      "provenance",
		Usage:     "print an image's provenance (an in-toto statement with a SLSA v1 provenance predicate)",
		ArgsUsage: "IMAGE",
		Description: "IMAGE is an image of the local store built here (a name or an ID), or docker://REGISTRY/NAME[:TAG|@DIGEST]\n" +
			"(the provenance attached when it was first pushed). See docs/supply-chain.md.",
		Flags: registryFlags(),
		Action: func(c *cli.Context) error {
			return readAttestation(c, build.ReadProvenance)
		},
	}
}

func readAttestation(c *cli.Context, read func(ctx context.Context, img string, opts build.ReadOptions) ([]byte, error)) error {
	img, err := oneArg(c, "IMAGE")
	if err != nil {
		return err
	}
	reg, err := registryOptions(c)
	if err != nil {
		return err
	}
	if !build.HasTransport(img) {
		if err := enterUserNamespace(); err != nil {
			return err
		}
	}
	doc, err := read(c.Context, img, build.ReadOptions{Store: storeOptions(c), Registry: reg, Log: logger(c)})
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(doc)
	return err
}
