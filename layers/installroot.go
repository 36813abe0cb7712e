package layers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/strata-build/strata/recipes"
	"github.com/strata-build/strata/recipes/targets"
)

// installRoot runs the host's dnf with --installroot into the mounted root
// of the working container, so the base image needs no package manager
// (from scratch included).
type installRoot struct{}

// hostDNF writes into tmp what the host's dnf needs to install into root
// (its configuration, the recipe's repository files, rpm macros of the
// target in a home of their own) and returns the options every such run
// takes, installs and lock resolution alike (they decide the transaction),
// and that home.
func hostDNF(tmp, root string, target targets.Target, repos []recipes.Repo) (args []string, home string, err error) {
	conf := filepath.Join(tmp, "dnf.conf")
	if err := os.WriteFile(conf, []byte(dnfConf), 0o644); err != nil {
		return nil, "", err
	}
	reposDir := filepath.Join(tmp, "repos.d")
	if err := writeRepos(reposDir, repos); err != nil {
		return nil, "", fmt.Errorf("writing repository files: %w", err)
	}
	home = filepath.Join(tmp, "home")
	if err := rpmMacros(home, target); err != nil {
		return nil, "", err
	}
	return []string{
		"-y", "--config", conf, "--installroot", root,
		"--releasever", target.Releasever, "--noplugins",
		"--setopt=reposdir=" + reposDir,
		"--setopt=install_weak_deps=False",
		"--setopt=tsflags=nodocs",
	}, home, nil
}

func (installRoot) Install(ctx context.Context, w *Work, pkgs []string) error {
	dnf, err := exec.LookPath("dnf")
	if err != nil {
		return fmt.Errorf("dnf not found on this host: install it (apt-get install dnf, or dnf on Fedora), or set base.install: container with a base image that has dnf")
	}
	args, home, err := hostDNF(w.TempDir, w.Root, w.Target, w.Repos)
	if err != nil {
		return err
	}
	args = append(append(args, "install", "--"), pkgs...)
	t := &tail{}
	cmd := command(ctx, w.Env.Output, t, dnf, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "LC_ALL=C.UTF-8", "SOURCE_DATE_EPOCH="+strconv.FormatInt(w.installEpoch(), 10))
	w.Env.Log.Debugf("running %s %v", dnf, args)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("dnf interrupted: %w", ctx.Err())
		}
		return dnfError(err, t.buf.String(), w.Repos)
	}
	return nil
}
