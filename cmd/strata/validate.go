package main

import (
	"fmt"

	"github.com/strata-build/strata/recipes"
	"github.com/urfave/cli/v2"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a recipe and report every problem with its file:line:column",
		ArgsUsage: "RECIPE",
		Action: func(c *cli.Context) error {
			file, err := oneArg(c, "RECIPE")
			if err != nil {
				return err
			}
			if _, err := recipes.LoadFile(file); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s: valid\n", file)
			return nil
		},
	}
}
