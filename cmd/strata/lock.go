package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/build"
	"github.com/urfave/cli/v2"
)

func lockCommand() *cli.Command {
	return &cli.Command{
		Name:      "lock",
		Usage:     "resolve the base set to exact RPMs with dnf, without installing, and write RECIPE.lock",
		ArgsUsage: "RECIPE",
		Description: "The lock lists, per architecture, the name, epoch, version, release, arch, repository and sha256 of\n" +
			"every RPM of the base. While it exists, builds install exactly those and the base key includes it.\n" +
			"Without --update, a lock resolved from the same base set is left as it is (exit 0, nothing printed), and a lock\n" +
			"of another base set is resolved again. Stdout: what changed, one line per package (+ added, - removed, ~ changed).",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "update", Usage: "resolve again what the repositories offer now, even when the base set is unchanged"},
		}, append(sourceFlags(), registryFlags()...)...),
		Action: func(c *cli.Context) error {
			r, err := recipeArg(c)
			if err != nil {
				return err
			}
			if _, err := os.Stat(build.LockFile(r)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			popts, err := planOptions(c)
			if err != nil {
				return err
			}
			popts.IgnoreLock = true
			if err := enterUserNamespace(); err != nil {
				return err
			}
			plan, err := build.Prepare(c.Context, r, popts)
			if err != nil {
				return err
			}
			log := logger(c)
			if !c.Bool("update") && plan.LockUpToDate() {
				// Idempotent: the lock was resolved from this very base
				// set; only --update resolves it again.
				log.Infof("%s is up to date with the recipe's base set: nothing changed (--update resolves it again)", build.LockFile(r))
				return nil
			}
			changes, err := plan.Lock(c.Context, log, progress(c))
			if err != nil {
				return err
			}
			for _, line := range changes {
				fmt.Fprintln(c.App.Writer, line)
			}
			log.WithFields(logrus.Fields{"changes": len(changes)}).Infof("wrote %s", build.LockFile(r))
			return nil
		},
	}
}
