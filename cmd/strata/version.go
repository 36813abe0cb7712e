package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
	"go.podman.io/buildah/define"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of strata and of the libraries it is built with",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "strata version %s\nbuildah library %s\ngo %s %s/%s\n",
				version, define.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
