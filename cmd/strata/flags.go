package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/strata-build/strata/build"
	"github.com/strata-build/strata/internal/stores"
	"github.com/urfave/cli/v2"
	"go.podman.io/storage/pkg/unshare"
)

func oneArg(c *cli.Context, name string) (string, error) {
	switch c.NArg() {
	case 1:
		return c.Args().First(), nil
	case 0:
		return "", fmt.Errorf("%w: missing %s argument (see strata %s --help)", build.ErrUsage, name, c.Command.Name)
	}
	return "", fmt.Errorf("%w: want one %s argument, got %d", build.ErrUsage, name, c.NArg())
}

func storeOptions(c *cli.Context) stores.Options {
	return stores.Options{Root: c.String("root"), RunRoot: c.String("runroot"), Driver: c.String("storage-driver")}
}

// enterUserNamespace re-executes strata in a user namespace when it runs
// unprivileged, after checking what that needs; root continues as is.
func enterUserNamespace() error {
	if !unshare.IsRootless() || os.Geteuid() == 0 {
		return nil // root, or already inside the user namespace
	}
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if err := stores.CheckRootless(name); err != nil {
		return err
	}
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		dir := filepath.Join(os.TempDir(), "strata-run-"+strconv.Itoa(os.Getuid()))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating a runtime directory (set XDG_RUNTIME_DIR): %w", err)
		}
		if st, err := os.Lstat(dir); err != nil || !st.IsDir() || st.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
			return fmt.Errorf("%q is not a directory of yours: set XDG_RUNTIME_DIR to one", dir)
		}
		os.Setenv("XDG_RUNTIME_DIR", dir)
	}
	unshare.MaybeReexecUsingUserNamespace(false)
	return nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (nil when unset).
func sourceDateEpoch() (*time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%w: invalid SOURCE_DATE_EPOCH %q: want seconds since 1970", build.ErrUsage, v)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}
