// Command strata builds container images from a recipe: a base layer of
// RPM dependencies, cached by the hash of its dependency set, and a thin
// final layer, without a container daemon, as root or rootless.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/build"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/recipes"
	"github.com/urfave/cli/v2"
	"go.podman.io/buildah"
	"go.podman.io/buildah/define"
	"golang.org/x/sys/unix"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1   // the build (or another operation) failed
	exitUsage       = 2   // bad flags, arguments or recipe
	exitRefused     = 3   // strata verify: the signature policy refuses the image
	exitInterrupted = 130 // stopped by SIGINT or SIGTERM
)

func main() {
	if filepath.Base(os.Args[0]) == define.Package+"-oci-runtime" {
		dieWithParent()
	}
	if buildah.InitReexec() {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile()
	app := newApp(os.Stdout, os.Stderr)
	err := app.RunContext(ctx, interspersed(app, os.Args))
	stopProfile()
	interrupted := ctx.Err() != nil
	stop()
	os.Exit(reportTo(app, err, interrupted, os.Stderr))
}

// reportTo reports err as report does, but as the last JSON event on
// stderr when the app logs JSON (--log-format json), so that every line
// of stderr parses: {"level":"error","msg":"…","exit_code":N,…}.
func reportTo(app *cli.App, err error, interrupted bool, stderr io.Writer) int {
	log, ok := app.Metadata["logger"].(*logrus.Logger)
	if err == nil || !ok {
		return report(err, interrupted, stderr)
	}
	if _, isJSON := log.Formatter.(*logrus.JSONFormatter); !isJSON {
		return report(err, interrupted, stderr)
	}
	code := report(err, interrupted, io.Discard)
	log.WithField("exit_code", code).Error(err.Error())
	return code
}

// dieWithParent is for buildah's process that runs the OCI runtime for
// a working container (an install command, dnf in container mode): when
// strata dies, SIGKILL included, it gets SIGTERM rather than buildah's
// SIGKILL, on which it kills the container (its PID namespace, so every
// process of the command) and deletes it, instead of leaving the command
// running without a parent.
func dieWithParent() {
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	if os.Getppid() == 1 {
		os.Exit(exitFailure) // the parent is gone already
	}
}

// startProfile writes a CPU profile to $STRATA_CPUPROFILE when it is set
// (for `go tool pprof`; see docs/benchmarks.md) and returns its stop.
func startProfile() func() {
	path := os.Getenv("STRATA_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "strata: STRATA_CPUPROFILE: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "strata: STRATA_CPUPROFILE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// report prints err in strata's voice and returns the exit code.
func report(err error, interrupted bool, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "strata: %v\n", err)
	switch {
	case interrupted || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, recipes.ErrInvalid), errors.Is(err, build.ErrUsage), errors.Is(err, stores.ErrUnknownDriver):
		return exitUsage
	case errors.Is(err, build.ErrRefused):
		return exitRefused
	}
	return exitFailure
}
