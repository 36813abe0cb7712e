// Command bench measures strata against buildah's own CLI (`buildah bud
// --layers`) on an equivalent Containerfile, in the same run, on the same
// generated fixtures, and writes the report docs/benchmarks.md with the
// chart docs/benchmarks.svg. `make bench` runs it; see docs/benchmarks.md
// for what it measures.
//
// Usage (as root, from the repository's top):
//
//	go run ./hack/bench [-strata bin/strata] [-dnf-image FILE] [-reps N] [-go-bench FILE] [-report docs/benchmarks.md]
//
// BENCH_REPS sets the default number of repetitions (5), BENCH_TMPDIR the
// directory of the stores (/var/tmp).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// config is what the command line chooses.
type config struct {
	Strata    string // the strata binary
	DNFImage  string // oci-archive of Debian with dnf
	Reps      int
	GoBench   string // output of go test -bench for the recipes packages, or ""
	Report    string // the markdown report; the SVG goes beside it
	CacheRoot string // cached fixtures
	TmpDir    string // where stores, registry and build context go
	KeepTmp   bool
	Render    string // re-render the report from this results file, measuring nothing
	Only      string // run only the steps whose name starts with this (a trial of one scenario)
	Started   time.Time
}

func main() {
	home, _ := os.UserHomeDir()
	reps := 5
	if v := os.Getenv("BENCH_REPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: BENCH_REPS=%q: want a positive number\n", v)
			os.Exit(2)
		}
		reps = n
	}
	cfg := config{Started: time.Now()}
	flag.StringVar(&cfg.Strata, "strata", "bin/strata", "the strata binary")
	flag.StringVar(&cfg.DNFImage, "dnf-image", filepath.Join(home, ".cache", "strata-test", "debian-dnf.tar"), "oci-archive of the Debian root with dnf (make's DNF_IMAGE)")
	flag.IntVar(&cfg.Reps, "reps", reps, "repetitions per scenario (default: BENCH_REPS, else 5)")
	flag.StringVar(&cfg.GoBench, "go-bench", "", "output of `go test -bench` of ./recipes/... to fold into the report")
	flag.StringVar(&cfg.Report, "report", "docs/benchmarks.md", "the report to write (the chart goes beside it, .svg)")
	flag.StringVar(&cfg.CacheRoot, "cache", filepath.Join(home, ".cache", "strata-bench"), "where generated fixtures are kept between runs")
	tmpDir := os.Getenv("BENCH_TMPDIR")
	if tmpDir == "" {
		tmpDir = "/var/tmp"
	}
	flag.StringVar(&cfg.TmpDir, "tmp", tmpDir, "where the stores, the registry and the build context go (default: BENCH_TMPDIR, else /var/tmp)")
	flag.StringVar(&cfg.Render, "render", "", "write the report from a results file of an earlier run (CACHE/last-run.json) instead of measuring")
	flag.StringVar(&cfg.Only, "only", "", "run only the steps whose name starts with this, e.g. \"one package\" (a trial; the report is partial)")
	flag.BoolVar(&cfg.KeepTmp, "keep", false, "keep the temporary directory (stores, registry) for inspection")
	flag.Parse()
	if flag.NArg() != 0 || cfg.Reps < 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	var err error
	if cfg.Render != "" {
		err = render(cfg)
	} else {
		err = runBench(ctx, cfg)
	}
	interrupted := errors.Is(ctx.Err(), context.Canceled)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		if interrupted {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
