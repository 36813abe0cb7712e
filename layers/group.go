package layers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"go.podman.io/storage/pkg/reexec"
	"golang.org/x/sys/unix"
)

// groupCommand is the name under which strata re-executes itself to run a
// host command (dnf, with the scriptlets rpm starts) as a process group
// that dies with strata.
const groupCommand = "strata-process-group"

func init() {
	reexec.Register(groupCommand, groupMain)
}

// groupMain runs os.Args[1:] in a process group of its own and ends that
// whole group, the command's children included, when it gets SIGTERM,
// SIGINT or SIGHUP, and when strata dies (its parent-death signal is
// SIGTERM, SIGKILL of strata included): first SIGTERM, SIGKILL 5 seconds
// later. When the command exits, what is left of its group is killed. It
// exits with the command's status.
func groupMain() {
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if os.Getppid() == 1 || len(os.Args) < 2 {
		os.Exit(1) // strata is gone already
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(127)
	}
	pgid := cmd.Process.Pid
	go func() {
		for range sigs {
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			go func() {
				time.Sleep(5 * time.Second)
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}()
		}
	}()
	err := cmd.Wait()
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	var ee *exec.ExitError
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			os.Exit(128 + int(ws.Signal()))
		}
		os.Exit(ee.ExitCode())
	default:
		os.Exit(1)
	}
}

// command prepares a host command that runs as a process group of its own
// (through groupMain), stopped with SIGTERM (then SIGKILL) when ctx ends
// and when strata dies, with its output sent to w and to a tail.
func command(ctx context.Context, w io.Writer, t *tail, name string, args ...string) *exec.Cmd {
	cmd := reexec.CommandContext(ctx, append([]string{groupCommand, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	// One writer for both: exec then copies both streams in one goroutine
	// (two writers around one tail would race).
	out := io.MultiWriter(w, t)
	cmd.Stdout, cmd.Stderr = out, out
	return cmd
}
