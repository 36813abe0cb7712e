package main

import (
	"fmt"

	"github.com/strata-build/strata/build"
	"github.com/urfave/cli/v2"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check an image's signatures against a signature policy, as podman pull would",
		ArgsUsage: "IMAGE",
		Description: "IMAGE is docker://REGISTRY/NAME[:TAG|@DIGEST] (the default transport), oci:DIR[:TAG] or dir:DIR. With --key,\n" +
			"the image must carry a sigstore signature by that key for its repository; with --policy, the policy.json\n" +
			"decides (containers-policy.json(5)); with neither, the policy podman uses. Sigstore signatures in a registry\n" +
			"are read where registries.d sets use-sigstore-attachments: true (see docs/supply-chain.md).\n" +
			"Stdout: REPOSITORY@DIGEST when accepted. Exit 3 when the policy refuses the image.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "key", Usage: "the sigstore public key `FILE` the image must be signed with"},
			&cli.StringFlag{Name: "policy", Usage: "the signature policy `FILE` (policy.json)"},
		}, registryFlags()...),
		Action: func(c *cli.Context) error {
			img, err := oneArg(c, "IMAGE")
			if err != nil {
				return err
			}
			reg, err := registryOptions(c)
			if err != nil {
				return err
			}
			d, err := build.Verify(c.Context, img, build.VerifyOptions{Registry: reg, KeyFile: c.String("key"), PolicyFile: c.String("policy")})
			if err != nil {
				return err
			}
			logger(c).Infof("%s: accepted by the signature policy", img)
			fmt.Fprintln(c.App.Writer, build.Canonical(dockerOf(img), d))
			return nil
		},
	}
}

// dockerOf names img as a docker:// reference when it has no transport.
func dockerOf(img string) string {
	if build.HasTransport(img) {
		return img
	}
	return "docker://" + img
}
