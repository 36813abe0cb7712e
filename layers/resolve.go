package layers

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/strata-build/strata/layers/lock"
	"github.com/strata-build/strata/recipes"
	"github.com/strata-build/strata/recipes/targets"
)

// ResolveLock resolves spec.Packages with spec.Repos for spec.Target to
// the exact RPMs the host's dnf would install on this arch, without
// installing anything: dnf install --downloadonly into an empty throwaway
// root (same dnf.conf and options as the installroot installer, so the same
// transaction), then each downloaded file's NEVRA (rpm -qp) and sha256, and
// the repository it came from (dnf repoquery on the same cached metadata).
// The result is sorted by name, then arch.
func ResolveLock(ctx context.Context, env *Env, spec BaseSpec) ([]lock.Package, error) {
	switch spec.Mode {
	case recipes.InstallRoot, "":
	case recipes.InstallContainer:
		return nil, fmt.Errorf("locks need base.install: installroot for now (base.install: container resolves with the base image's dnf, which strata lock does not run yet)")
	default:
		return nil, fmt.Errorf("unknown install mode %q", spec.Mode)
	}
	target, err := targets.Lookup(spec.Target)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock interrupted: %w", err)
	}
	pkgs := make([]string, 0, len(spec.Packages))
	for _, p := range spec.Packages {
		pkgs = append(pkgs, recipes.NormalizeDep(p))
	}
	sort.Strings(pkgs)
	if len(pkgs) == 0 {
		return nil, errors.New("nothing to lock: the base set is empty")
	}
	dnf, err := exec.LookPath("dnf")
	if err != nil {
		return nil, fmt.Errorf("dnf not found on this host: install it (apt-get install dnf, or dnf on Fedora): strata lock resolves with the host's dnf")
	}
	out := env.Output
	if out == nil {
		out = io.Discard
	}

	tmp, err := os.MkdirTemp("", "strata-lock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	download := filepath.Join(tmp, "download")
	for _, d := range []string{root, download} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	// The same options as installRoot.Install: they decide the transaction.
	common, home, err := hostDNF(tmp, root, target, spec.Repos)
	if err != nil {
		return nil, err
	}
	cmdEnv := append(os.Environ(), "HOME="+home, "LC_ALL=C.UTF-8")
	interrupted := func(what string) error {
		return fmt.Errorf("%s interrupted: %w", what, ctx.Err())
	}

	// 1. The transaction, downloaded (and signature-checked) but not run.
	if env.Log != nil {
		env.Log.Infof("lock: resolving %d packages for %s with dnf (%s): %s", len(pkgs), lock.HostArch(), target.Name, strings.Join(pkgs, ", "))
	}
	args := append(append([]string(nil), common...), "install", "--downloadonly", "--downloaddir", download, "--")
	args = append(args, pkgs...)
	t := &tail{}
	cmd := command(ctx, out, t, dnf, args...)
	// One writer for both streams: one copying goroutine, so the tail is
	// never written concurrently.
	cmd.Stderr = cmd.Stdout
	cmd.Env = cmdEnv
	debugf(env, "running %s %v", dnf, args)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, interrupted("dnf")
		}
		return nil, dnfError(err, t.buf.String(), spec.Repos)
	}
	files, err := filepath.Glob(filepath.Join(download, "*.rpm"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("dnf resolved no packages to download for %s: %s", strings.Join(pkgs, ", "), lastLine(t.buf.String()))
	}
	sort.Strings(files)

	// 2. What each file is, read from the file itself.
	locked := make([]lock.Package, len(files))
	qf := "%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n"
	rargs := append([]string{"-qp", "--nosignature", "--qf", qf, "--"}, files...)
	var stdout bytes.Buffer
	t = &tail{}
	cmd = command(ctx, out, t, "rpm", rargs...)
	cmd.Stdout = &stdout
	cmd.Env = cmdEnv
	debugf(env, "running rpm -qp on %d files", len(files))
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, interrupted("rpm")
		}
		return nil, fmt.Errorf("reading the downloaded packages with rpm -qp: %w: %s", err, lastLine(t.buf.String()))
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != len(files) {
		return nil, fmt.Errorf("rpm -qp printed %d lines for %d packages", len(lines), len(files))
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("rpm -qp %s: unexpected output %q", filepath.Base(files[i]), line)
		}
		epoch, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("rpm -qp %s: epoch %q: %w", filepath.Base(files[i]), f[1], err)
		}
		sum, err := fileSHA256(files[i])
		if err != nil {
			return nil, err
		}
		locked[i] = lock.Package{Name: f[0], Epoch: epoch, Version: f[2], Release: f[3], Arch: f[4], SHA256: sum}
	}
	if err := ctx.Err(); err != nil {
		return nil, interrupted("lock")
	}

	// 3. The repository of each: repoquery on the metadata dnf just used
	// (--cacheonly, so a repository that changes meanwhile cannot give
	// another answer).
	repos, err := repoIDs(ctx, env, out, dnf, cmdEnv, common, locked, spec.Repos)
	if err != nil {
		return nil, err
	}
	for i := range locked {
		locked[i].Repo = repos[locked[i].NEVRA()]
	}
	lock.Sort(locked)
	debugf(env, "lock: %d packages resolved", len(locked))
	return locked, nil
}

// repoIDs returns the repository id of each package, by NEVRA. A NEVRA
// found in several repositories gets the id that sorts first: strata
// writes every repository with the same priority and cost, and dnf then
// takes the package from the repository whose id sorts first (the same
// choice, so the file whose sha256 is locked comes from that one).
func repoIDs(ctx context.Context, env *Env, out io.Writer, dnf string, cmdEnv, common []string, pkgs []lock.Package, repos []recipes.Repo) (map[string]string, error) {
	want := map[string]bool{}
	args := append(append([]string(nil), common...), "-q", "--cacheonly", "repoquery",
		"--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch} %{repoid}\n", "--")
	for _, p := range pkgs {
		want[p.NEVRA()] = true
		args = append(args, p.NEVRA())
	}
	var stdout bytes.Buffer
	t := &tail{}
	cmd := command(ctx, out, t, dnf, args...)
	cmd.Stdout = &stdout
	cmd.Env = cmdEnv
	debugf(env, "running %s repoquery for %d packages", dnf, len(pkgs))
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dnf interrupted: %w", ctx.Err())
		}
		return nil, dnfError(err, t.buf.String()+stdout.String(), repos)
	}
	found := map[string][]string{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || !want[f[0]] {
			continue
		}
		found[f[0]] = append(found[f[0]], f[1])
	}
	ids := map[string]string{}
	for nevra := range want {
		r := found[nevra]
		if len(r) == 0 {
			return nil, fmt.Errorf("dnf downloaded %s but repoquery finds it in no repository of %s", nevra, repoList(repos))
		}
		sort.Strings(r)
		if len(r) > 1 {
			debugf(env, "lock: %s is in repositories %s: recording %s", nevra, strings.Join(r, ", "), r[0])
		}
		ids[nevra] = r[0]
	}
	return ids, nil
}

func debugf(env *Env, format string, args ...any) {
	if env.Log != nil {
		env.Log.Debugf(format, args...)
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", filepath.Base(path), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
