package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// depsRuns is how many times `strata deps` runs on the 20 files.
const depsRuns = 30

// depsResult is the measurement of `strata deps` on 20 files.
type depsResult struct {
	Files   int
	Walls   []time.Duration
	VmHWM   int64
	GoBench string // BenchmarkReadDeps's line, from go test -bench
	GoNsOp  float64
}

// depsFiles writes the 20 files recipes/deps_bench_test.go measures: five
// packit-like projects, each with a spec file, setup.cfg, pyproject.toml
// and requirements.txt, depending on one another.
func depsFiles(dir string) ([]string, error) {
	src := filepath.Join("recipes", "testdata", "deps", "packit")
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(src, name))
		return string(b), err
	}
	spec, err := read("packit.spec")
	if err != nil {
		return nil, fmt.Errorf("%w (run from the repository's top)", err)
	}
	cfg, err := read("setup.cfg")
	if err != nil {
		return nil, err
	}
	pyproject, err := read("pyproject.toml")
	if err != nil {
		return nil, err
	}
	var files []string
	for i := range 5 {
		name := fmt.Sprintf("proj%d", i)
		r := strings.NewReplacer("packitos", name+"os", "packit", name, "ogr>=0.50.0", fmt.Sprintf("proj%dos>=1.0", (i+1)%5))
		var req strings.Builder
		fmt.Fprintf(&req, "# pinned for %s\n-r requirements-base.txt\n", name)
		for j := range 20 {
			fmt.Fprintf(&req, "lib%d-%d>=%d.%d.0,!=%d.5 ; python_version >= \"3.9\"  # pin %d\n", i, j, j, i, j, j)
		}
		for _, f := range []struct{ path, body string }{
			{name + ".spec", r.Replace(spec)},
			{"setup.cfg", r.Replace(cfg)},
			{"pyproject.toml", pyproject},
			{"requirements.txt", req.String()},
			{"requirements-base.txt", "requests>=2.31\nurllib3<3\n"},
		} {
			p := filepath.Join(dir, name, f.path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, []byte(f.body), 0o644); err != nil {
				return nil, err
			}
			if f.path != "requirements-base.txt" {
				files = append(files, p)
			}
		}
	}
	return files, nil
}

// depsBench times the strata binary's deps command on the 20 files: the
// whole process, start-up included.
func (b *bench) depsBench(ctx context.Context) error {
	dir := filepath.Join(b.tmp, "deps")
	files, err := depsFiles(dir)
	if err != nil {
		return err
	}
	d := &b.res.Deps
	d.Files = len(files)
	args := append([]string{"deps", "--extras", "testing"}, files...)
	for i := range depsRuns + 1 {
		r, err := run(ctx, runOpts{PollRSS: true}, b.cfg.Strata, args...)
		if err != nil {
			return err
		}
		if i == 0 {
			continue // warm the page cache
		}
		d.Walls = append(d.Walls, r.Wall)
		d.VmHWM = max(d.VmHWM, r.VmHWM)
	}
	med, lo, hi := stats(durations(d.Walls))
	progress("strata deps on %d files: median %s (min %s, max %s) over %d runs", d.Files, fmtDur(med), fmtDur(lo), fmtDur(hi), len(d.Walls))
	return nil
}

// readGoBench picks BenchmarkReadDeps out of go test -bench's output.
func (d *depsResult) readGoBench(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "BenchmarkReadDeps") {
			continue
		}
		d.GoBench = strings.Join(strings.Fields(l), " ")
		f := strings.Fields(l)
		for i := 1; i < len(f); i++ {
			if f[i] == "ns/op" {
				v, err := strconv.ParseFloat(f[i-1], 64)
				if err != nil {
					return fmt.Errorf("%s: %q: %w", path, l, err)
				}
				d.GoNsOp = v
			}
		}
	}
	return sc.Err()
}

// machine describes the machine and the versions of the tools.
func machine(ctx context.Context, cfg config) []kv {
	first := func(name string, args ...string) string {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).Output() // stdout alone: buildah warns on stderr
		if err != nil {
			return "unknown (" + err.Error() + ")"
		}
		l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if name == cfg.Strata { // two lines: strata's version and the buildah library's
			l = strings.Join(strings.Split(strings.TrimSpace(string(out)), "\n")[:2], "; ")
		}
		return strings.TrimSpace(l)
	}
	var out []kv
	cpu := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	out = append(out, kv{"CPU", fmt.Sprintf("%s, %d cores", cpu, runtime.NumCPU())})
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for l := range strings.SplitSeq(string(data), "\n") {
			if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				out = append(out, kv{"memory", fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))})
			}
		}
	}
	osName := "unknown"
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for l := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	out = append(out, kv{"system", osName + ", kernel " + strings.TrimSpace(string(kernel))})
	out = append(out, kv{"stores", cfg.TmpDir + " (" + describeFS(cfg.TmpDir) + "), storage driver overlay, as root"})
	out = append(out,
		kv{"strata", first(cfg.Strata, "version")},
		kv{"buildah", first("buildah", "--version")},
		kv{"runc", first("runc", "--version")},
		kv{"dnf (host; the image has Debian's too)", first("dnf", "--version")},
		kv{"rpm", first("rpm", "--version")},
		kv{"registry", first(registryBin, "--version")},
		kv{"harness", runtime.Version()},
	)
	return out
}
