package layers

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/buildah"
	"go.podman.io/buildah/define"
)

// inContainer runs dnf inside a working container of the base image with
// the OCI runtime, in the host's network namespace (for downloads). The
// recipe's repository files are bind-mounted for this step only.
type inContainer struct{}

// containerReposDir is where the recipe's repo files appear during the step.
const containerReposDir = "/run/strata/repos.d"

func (inContainer) Install(ctx context.Context, w *Work, pkgs []string) error {
	if err := w.Env.checkRunner("base.install: container"); err != nil {
		return err
	}
	if w.Root != "" && !hasDNF(w.Root) {
		return fmt.Errorf("base.from has no dnf (no /usr/bin/dnf in the image): base.install: container runs dnf inside base.from; use an image with dnf, or base.install: installroot")
	}
	args := []string{"dnf", "-y", "--releasever", w.Target.Releasever,
		"--setopt=install_weak_deps=False", "--setopt=tsflags=nodocs", "--setopt=keepcache=False",
		"--setopt=skip_if_unavailable=False", "--setopt=best=True"}
	var mounts []specs.Mount
	if len(w.Repos) > 0 {
		reposDir := filepath.Join(w.TempDir, "repos.d")
		if err := writeRepos(reposDir, w.Repos); err != nil {
			return fmt.Errorf("writing repository files: %w", err)
		}
		mounts = append(mounts, specs.Mount{Source: reposDir, Destination: containerReposDir, Type: "bind", Options: []string{"rbind", "ro"}})
		args = append(args, "--setopt=reposdir="+containerReposDir)
		// Local repositories are visible at the same path inside.
		for _, r := range w.Repos {
			if u, err := url.Parse(r.BaseURL); err == nil && u.Scheme == "file" && u.Path != "" {
				mounts = append(mounts, specs.Mount{Source: u.Path, Destination: u.Path, Type: "bind", Options: []string{"rbind", "ro"}})
			}
		}
	}
	args = append(args, "install", "--")
	args = append(args, pkgs...)
	t := &tail{}
	run := func(cmd []string) error {
		return w.Builder.Run(cmd, buildah.RunOptions{
			Isolation: w.Env.isolation(),
			Runtime:   w.Env.Runtime,
			Mounts:    mounts,
			Env:       []string{"LC_ALL=C.UTF-8", "SOURCE_DATE_EPOCH=" + strconv.FormatInt(w.installEpoch(), 10)},
			NamespaceOptions: define.NamespaceOptions{
				{Name: "network", Host: true},
			},
			ConfigureNetwork: define.NetworkDisabled,
			Stdout:           multi(w.Env.Output, t),
			Stderr:           multi(w.Env.Output, t),
			Logger:           w.Env.Log,
			Quiet:            true,
		})
	}
	w.Env.Log.Debugf("running in container: %v", args)
	if err := run(args); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("dnf interrupted: %w", ctx.Err())
		}
		return dnfError(err, t.buf.String(), w.Repos)
	}
	return ctx.Err()
}

// hasDNF says whether the image mounted at root has a dnf command (a file
// or a link: links are not followed, they point into the image).
func hasDNF(root string) bool {
	for _, p := range []string{"usr/bin/dnf", "usr/bin/dnf-3", "usr/bin/dnf5", "bin/dnf"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			return true
		}
	}
	return false
}

func multi(a, b io.Writer) io.Writer { return io.MultiWriter(a, b) }
