package layers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// installRoot runs the host's dnf with --installroot into the mounted root
// of the working container, so the base image needs no package manager
// (from scratch included).
type installRoot struct{}

func (installRoot) Install(ctx context.Context, w *Work, pkgs []string) error {
	dnf, err := exec.LookPath("dnf")
	if err != nil {
		return fmt.Errorf("dnf not found on this host: install it (apt-get install dnf, or dnf on Fedora), or set base.install: container with a base image that has dnf")
	}
	conf := filepath.Join(w.TempDir, "dnf.conf")
	if err := os.WriteFile(conf, []byte(dnfConf), 0o644); err != nil {
		return err
	}
	reposDir := filepath.Join(w.TempDir, "repos.d")
	if err := writeRepos(reposDir, w.Repos); err != nil {
		return fmt.Errorf("writing repository files: %w", err)
	}
	home := filepath.Join(w.TempDir, "home")
	if err := rpmMacros(home, w.Target); err != nil {
		return err
	}
	args := []string{
		"-y", "--config", conf, "--installroot", w.Root,
		"--releasever", w.Target.Releasever, "--noplugins",
		"--setopt=reposdir=" + reposDir,
		"--setopt=install_weak_deps=False",
		"--setopt=tsflags=nodocs",
		"install", "--",
	}
	args = append(args, pkgs...)
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
