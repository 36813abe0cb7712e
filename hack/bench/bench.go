package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The two tools, as the report names them.
const (
	toolStrata  = "strata"
	toolBuildah = "buildah"
)

// The scenarios, in the order of the report.
const (
	scCold      = "cold"
	scNoChange  = "nochange"
	scCode      = "code"
	scDep       = "dep"
	scFresh     = "fresh"
	scFreshCode = "freshcode"
	scPush      = "push"
	scWarmup    = "warmup"
	scUpdate    = "update"     // one package updated: wall time of build and push
	scUpdPush   = "updatepush" // the same samples: bytes pushed
	scUpdPull   = "updatepull" // the same samples: bytes a node pulls
)

const (
	budImage   = "localhost/bench-bud:latest"
	baseImage  = "localhost/debian-dnf:latest" // the ref name inside the oci-archive
	changedSrc = "worker"                      // the source the code-change scenarios edit: the middle one
)

// sample is one measured build (or push) of one tool.
type sample struct {
	Rep       int
	Wall      time.Duration
	Phases    map[string]time.Duration // strata: phase -> duration; buildah: step -> duration
	Steps     map[string]time.Duration // strata: the steps its log messages mark
	Decisions map[string]string        // strata: phase -> decision; buildah: step -> "cached"/"run"
	VmHWM     int64                    // strata: peak RSS of the process itself
	MaxRSS    int64                    // wait4's ru_maxrss (the process and its waited-for descendants)
	Bytes     int64                    // push: bytes the client sent to the registry
	LastLayer int64                    // push: compressed size of the image's last layer
	NewLayers int64                    // push: compressed size of the layers the registry did not have
	Attached  int64                    // push: bytes of the new image's attachments (strata's SBOM and provenance)
	Docs      int64                    // push: bytes of the new image's configuration and manifest
	NewCount  int                      // push: how many such layers
	Requests  int64                    // push: HTTP requests the client made (through the proxy)
	Pulled    int64                    // update: bytes a node holding the previous image received to pull the new one
	PullWall  time.Duration            // update: the node's pull
	Reference int64                    // update: the updated package's .rpm plus (strata) its rpm database layer, compressed
	Changed   []string                 // update: strata's log lines on the base's layers
	Order     int                      // 0 when the tool ran first in its pair
}

// results holds every sample, by scenario and tool.
type results struct {
	Samples map[string]map[string][]sample
	Extra   map[string]string // free-form facts for the report
	Sizes   []imageSize
	Deps    depsResult
	Fixture *fixtureSet
	Machine []kv
	Started time.Time
	Runtime time.Duration
	Reps    int
	Notes   []string // oddities met during the run
}

type kv struct{ K, V string }

func (r *results) add(scenario, tool string, s sample) {
	if r.Samples[scenario] == nil {
		r.Samples[scenario] = map[string][]sample{}
	}
	r.Samples[scenario][tool] = append(r.Samples[scenario][tool], s)
}

// store is one tool's containers/storage store (and strata's clone cache).
type store struct {
	Dir, Root, Run, Git string
}

// bench is one run of the harness.
type bench struct {
	cfg     config
	fx      *fixtureSet
	tmp     string
	ctxDir  string // buildah's build context: repo, repos.d, the sources, Containerfile
	recipe  string // strata's recipe (rewritten per scenario)
	pushRc  string // strata's recipe with push.repository and push.cache
	reg     *registry
	pkgs    []string // the base set strata resolves from the recipe and the sources' deps
	res     *results
	trashed int
}

func runBench(ctx context.Context, cfg config) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("run as root (make bench does): both tools build with runc and kernel overlay")
	}
	for _, tool := range []string{"buildah", "runc", "dnf", "rpm", "rpmbuild", "createrepo_c", "git", registryBin} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: run make deps", tool)
		}
	}
	if cfg.Strata, err = filepath.Abs(cfg.Strata); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Strata); err != nil {
		return fmt.Errorf("the strata binary: %w (run make build)", err)
	}
	if _, err := os.Stat(cfg.DNFImage); err != nil {
		return fmt.Errorf("the Debian+dnf base image: %w (make builds it: the DNF_IMAGE target)", err)
	}
	fx, err := prepareFixtures(cfg.CacheRoot)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(cfg.TmpDir, "strata-bench-")
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, fx: fx, tmp: tmp, res: &results{
		Samples: map[string]map[string][]sample{}, Extra: map[string]string{},
		Fixture: fx, Started: cfg.Started, Reps: cfg.Reps,
	}}
	defer func() {
		if b.reg != nil {
			b.reg.Stop()
		}
		if cfg.KeepTmp {
			progress("kept %s", tmp)
			return
		}
		start := time.Now()
		rerr := removeTree(tmp)
		progress("removed the stores and the registry (%s) in %s", tmp, round(time.Since(start)))
		if rerr != nil && err == nil {
			err = fmt.Errorf("removing %s: %w", tmp, rerr)
		}
	}()
	if err := b.setup(ctx); err != nil {
		return err
	}
	b.res.Machine = machine(ctx, cfg)

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		// First: it fails early if it fails, and it leaves the fixture
		// repository and the registry's other repositories as they were.
		{"one package updated (a new release of " + updatedPackage + ", build --refresh --push, a node pulls)", b.packageUpdate},
		{"local scenarios (cold, no change, code change, dependency added)", b.localScenarios},
		{"registry scenarios (fresh store with a warm registry cache, push after a code change)", b.registryScenarios},
		{"image sizes (container and installroot modes)", b.imageSizes},
		{"strata deps on 20 files", b.depsBench},
	}
	for _, s := range steps {
		if !strings.HasPrefix(s.name, cfg.Only) {
			continue
		}
		start := time.Now()
		progress("== %s", s.name)
		if err := s.fn(ctx); err != nil {
			return err
		}
		progress("== %s: done in %s", s.name, round(time.Since(start)))
	}
	b.res.Runtime = time.Since(cfg.Started)
	if cfg.GoBench != "" {
		if err := b.res.Deps.readGoBench(cfg.GoBench); err != nil {
			return err
		}
	}
	raw := filepath.Join(cfg.CacheRoot, "last-run.json")
	if cfg.Only != "" {
		raw = filepath.Join(cfg.CacheRoot, "last-partial-run.json") // a trial keeps the last full run's results
	}
	if data, err := json.MarshalIndent(b.res, "", " "); err == nil {
		if err := os.WriteFile(raw, data, 0o644); err != nil {
			return err
		}
		progress("results in %s (go run ./hack/bench -render %s re-renders the report)", raw, raw)
	}
	if err := writeReport(cfg.Report, b.res); err != nil {
		return err
	}
	progress("wrote %s and %s in %s", cfg.Report, svgPath(cfg.Report), round(time.Since(cfg.Started)))
	return nil
}

// render writes the report from the results of an earlier run.
func render(cfg config) error {
	data, err := os.ReadFile(cfg.Render)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("%s: %w", cfg.Render, err)
	}
	if err := writeReport(cfg.Report, &res); err != nil {
		return err
	}
	progress("wrote %s and %s from %s", cfg.Report, svgPath(cfg.Report), cfg.Render)
	return nil
}

// setup lays out the build context and the recipe, starts the registry
// and finds the base set.
func (b *bench) setup(ctx context.Context) error {
	b.ctxDir = filepath.Join(b.tmp, "context")
	if err := os.MkdirAll(filepath.Join(b.ctxDir, "repos.d"), 0o755); err != nil {
		return err
	}
	// The RPM repository: hard links to the cache (nothing writes to it).
	if err := exec.Command("cp", "-al", b.fx.Repo, filepath.Join(b.ctxDir, "repo")).Run(); err != nil {
		// Another file system: copy (after what cp -al left).
		if err := os.RemoveAll(filepath.Join(b.ctxDir, "repo")); err != nil {
			return err
		}
		if out, err := exec.Command("cp", "-a", b.fx.Repo, filepath.Join(b.ctxDir, "repo")).CombinedOutput(); err != nil {
			return fmt.Errorf("copying the RPM repository: %v\n%s", err, out)
		}
	}
	// The git repositories: copies, since the scenarios commit to them.
	for _, s := range sources() {
		if out, err := exec.Command("cp", "-a", b.fx.Git[s.Name], filepath.Join(b.ctxDir, s.Name)).CombinedOutput(); err != nil {
			return fmt.Errorf("copying git repository %s: %v\n%s", s.Name, err, out)
		}
	}
	repo := "[bench]\nname=bench\nbaseurl=file:///srv/bench-repo\nenabled=1\ngpgcheck=0\n"
	if err := os.WriteFile(filepath.Join(b.ctxDir, "repos.d", "bench.repo"), []byte(repo), 0o644); err != nil {
		return err
	}
	b.recipe = filepath.Join(b.tmp, "strata", "bench.yaml")
	b.pushRc = filepath.Join(b.tmp, "strata", "bench-push.yaml")
	if err := os.MkdirAll(filepath.Dir(b.recipe), 0o755); err != nil {
		return err
	}
	var err error
	if b.reg, err = startRegistry(filepath.Join(b.tmp, "registry")); err != nil {
		return err
	}
	progress("registry on %s (behind the counting proxy)", b.reg.Host)
	if err := b.writeInputs(nil); err != nil {
		return err
	}
	// The base set strata derives from the recipe and the sources' deps:
	// the Containerfile installs exactly these.
	s, err := b.newStore("plan")
	if err != nil {
		return err
	}
	r, err := b.strata(ctx, s, false, "plan", "--format", "json", "--no-cache-check", b.recipe)
	if err != nil {
		return err
	}
	var plan struct {
		Base struct {
			Packages []struct {
				Dep string `json:"dep"`
			} `json:"packages"`
		} `json:"base"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &plan); err != nil {
		return fmt.Errorf("strata plan --format json: %w", err)
	}
	for _, p := range plan.Base.Packages {
		b.pkgs = append(b.pkgs, p.Dep)
	}
	if len(b.pkgs) == 0 {
		return errors.New("strata plan: an empty base set")
	}
	progress("base set: %d entries (%s ... %s)", len(b.pkgs), b.pkgs[0], b.pkgs[len(b.pkgs)-1])
	if err := b.writeInputs(nil); err != nil {
		return err
	}
	for key, p := range map[string]string{"recipe": b.recipe, "containerfile": filepath.Join(b.ctxDir, "Containerfile")} {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b.res.Extra[key] = scrubWork(string(data))
	}
	return nil
}

var (
	dnfCountRE = regexp.MustCompile(`^Install\s+(\d+) Packages`)
	dnfSizeRE  = regexp.MustCompile(`^Installed size: (.+)$`)
)

// noteDNF records what dnf installed, from a strata build's output.
func (b *bench) noteDNF(r *result) {
	var count, size string
	for _, l := range r.Lines {
		var e struct {
			Msg    string `json:"msg"`
			Output bool   `json:"output"`
		}
		if json.Unmarshal([]byte(l.Text), &e) != nil || !e.Output {
			continue
		}
		if m := dnfCountRE.FindStringSubmatch(e.Msg); m != nil {
			count = m[1]
		}
		if m := dnfSizeRE.FindStringSubmatch(e.Msg); m != nil {
			size = m[1]
		}
	}
	if count != "" {
		b.res.Extra["dnf install"] = count + " packages (" + size + "B installed, as dnf counts)"
	}
}

// writeInputs writes strata's recipes and buildah's Containerfile for
// the base set plus extra packages.
func (b *bench) writeInputs(extra []string) error {
	if err := os.WriteFile(b.recipe, []byte(b.recipeText("bench", "container", extra, false)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(b.pushRc, []byte(b.recipeText("bench", "container", extra, true)), 0o644); err != nil {
		return err
	}
	if b.pkgs == nil {
		return nil
	}
	return os.WriteFile(filepath.Join(b.ctxDir, "Containerfile"), []byte(b.containerfile(extra)), 0o644)
}

// installCmd is the command each source runs in the image.
func installCmd(name string) string {
	return "find . -name '*.py' | wc -l > /usr/share/" + name + ".count"
}

// recipeText is the strata recipe: mode "container" (dnf inside the
// Debian image, as the Containerfile does) or "installroot" (from
// scratch, the host's dnf, busybox for the sources' install commands).
func (b *bench) recipeText(name, mode string, extra []string, push bool) string {
	var w strings.Builder
	fmt.Fprintf(&w, "# generated by hack/bench\nname: %s\ntarget: fedora-43\nbase:\n", name)
	pkgs := append(recipePackages(), extra...)
	if mode == "container" {
		fmt.Fprintf(&w, "  from: oci-archive:%s\n  install: container\n", b.cfg.DNFImage)
	} else {
		w.WriteString("  from: scratch\n  install: installroot\n")
		pkgs = append(pkgs, "busybox")
	}
	fmt.Fprintf(&w, "  repos:\n    - {id: bench, baseurl: %q, gpgcheck: false}\n", "file://"+filepath.Join(b.ctxDir, "repo"))
	fmt.Fprintf(&w, "  packages: [%s]\n", strings.Join(pkgs, ", "))
	w.WriteString("sources:\n")
	for _, s := range sources() {
		fmt.Fprintf(&w, "  - name: %s\n    git: %s\n    deps: [%s]\n    install: [sh, -c, %q]\n",
			s.Name, filepath.Join(b.ctxDir, s.Name), strings.Join(s.Deps, ", "), installCmd(s.Name))
	}
	w.WriteString("image:\n  cmd: [cat, /usr/share/api.count]\n")
	if push {
		fmt.Fprintf(&w, "push:\n  repository: %s/bench/strata\n  cache: %s/bench/strata-cache\n", b.reg.Host, b.reg.Host)
	}
	return w.String()
}

// containerfile is what a user would write for buildah: the same base,
// one RUN dnf install of the same set with the same options as strata's
// container mode (the repository bind-mounted from the context, never in
// the image), then each source COPYed with its .git and installed.
func (b *bench) containerfile(extra []string) string {
	var w strings.Builder
	fmt.Fprintf(&w, "# generated by hack/bench: the equivalent of %s\n", filepath.Base(b.recipe))
	fmt.Fprintf(&w, "FROM %s\n", baseImage)
	w.WriteString("RUN --mount=type=bind,source=repo,target=/srv/bench-repo --mount=type=bind,source=repos.d,target=/run/bench/repos.d \\\n")
	w.WriteString("    LC_ALL=C.UTF-8 dnf -y --releasever 43 --setopt=install_weak_deps=False --setopt=tsflags=nodocs --setopt=keepcache=False \\\n")
	w.WriteString("      --setopt=skip_if_unavailable=False --setopt=best=True --setopt=reposdir=/run/bench/repos.d install --")
	for _, p := range append(slices.Clone(b.pkgs), extra...) {
		fmt.Fprintf(&w, " '%s'", p)
	}
	w.WriteString(" \\\n    && dnf clean all && rm -rf /var/cache/dnf /var/log/dnf* /var/lib/dnf\n")
	for _, s := range sources() {
		fmt.Fprintf(&w, "COPY %s /src/%s\nRUN cd /src/%s && %s\n", s.Name, s.Name, s.Name, installCmd(s.Name))
	}
	w.WriteString("CMD [\"cat\", \"/usr/share/api.count\"]\n")
	return w.String()
}

// newStore gives a tool a fresh, empty store.
func (b *bench) newStore(name string) (*store, error) {
	dir := filepath.Join(b.tmp, "stores", name)
	if err := b.discard(dir); err != nil {
		return nil, err
	}
	s := &store{Dir: dir, Root: filepath.Join(dir, "root"), Run: filepath.Join(dir, "run"), Git: filepath.Join(dir, "git")}
	for _, d := range []string{s.Root, s.Run, s.Git} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// strata runs bin/strata on a store. Its log is JSON (phase events with
// their durations), except for commands that talk to the registry: there
// strata's JSON line logger panics when containers/image prints from its
// parallel layer copies (it is not safe for concurrent writes; see the
// report's notes), so these use the text format, whose lines end with the
// same "(phase, decision, duration)".
func (b *bench) strata(ctx context.Context, s *store, poll bool, args ...string) (*result, error) {
	format := "json"
	if slices.Contains(args, "--push") || slices.Contains(args, b.pushRc) || (len(args) > 0 && args[0] == "push") {
		format = "text"
	}
	full := append([]string{"--root", s.Root, "--runroot", s.Run, "--storage-driver", "overlay", "--log-format", format}, args...)
	return run(ctx, runOpts{Env: []string{"STRATA_GIT_CACHE_DIR=" + s.Git}, PollRSS: poll}, b.cfg.Strata, full...)
}

// buildah runs the buildah CLI on a store, in the build context.
func (b *bench) buildah(ctx context.Context, s *store, args ...string) (*result, error) {
	full := append([]string{"--root", s.Root, "--runroot", s.Run, "--storage-driver", "overlay"}, args...)
	return run(ctx, runOpts{Merge: true, Dir: b.ctxDir}, "buildah", full...)
}

// budArgs are the flags of every buildah bud of the benchmark.
func (b *bench) budArgs(extra ...string) []string {
	args := []string{"bud", "--pull-never", "--layers", "--runtime", "runc", "--network", "host",
		"-t", budImage, "-f", filepath.Join(b.ctxDir, "Containerfile")}
	return append(append(args, extra...), b.ctxDir)
}

// strataBuild is one measured strata build.
func (b *bench) strataBuild(ctx context.Context, s *store, args ...string) (sample, *result, error) {
	r, err := b.strata(ctx, s, true, append([]string{"build"}, args...)...)
	if err != nil {
		return sample{}, r, err
	}
	sm := sample{Wall: r.Wall, VmHWM: r.VmHWM, MaxRSS: r.MaxRSS, Phases: map[string]time.Duration{}, Decisions: map[string]string{}}
	for _, e := range strataPhases(r) {
		d, _ := time.ParseDuration(e.Duration)
		sm.Phases[e.Phase] += d
		sm.Decisions[e.Phase] = e.Decision
	}
	sm.Steps = strataSteps(r)
	return sm, r, nil
}

// budBuild is one measured buildah build; withPull pulls the base into
// the (fresh) store first, as part of the measurement.
func (b *bench) budBuild(ctx context.Context, s *store, withPull bool, extra ...string) (sample, *result, error) {
	sm := sample{Phases: map[string]time.Duration{}, Decisions: map[string]string{}}
	if withPull {
		r, err := b.buildah(ctx, s, "pull", "--quiet", "oci-archive:"+b.cfg.DNFImage)
		if err != nil {
			return sm, r, err
		}
		sm.Wall += r.Wall
		sm.Phases["0 pull base (oci-archive)"] = r.Wall
		sm.Decisions["0 pull base (oci-archive)"] = "run"
	}
	r, err := b.buildah(ctx, s, b.budArgs(extra...)...)
	if err != nil {
		return sm, r, err
	}
	sm.Wall += r.Wall
	sm.MaxRSS = r.MaxRSS
	for _, st := range buildahSteps(r) {
		k := stepLabel(st.Step)
		sm.Phases[k] += st.Dur
		if st.Cached {
			sm.Decisions[k] = "cached"
		} else {
			sm.Decisions[k] = "run"
		}
	}
	return sm, r, nil
}

// stepLabel shortens "STEP 2/9: RUN --mount=... dnf ..." to "2 RUN dnf install".
func stepLabel(step string) string {
	rest := strings.TrimPrefix(step, "STEP ")
	num, instr, _ := strings.Cut(rest, ": ")
	num, _, _ = strings.Cut(num, "/")
	f := strings.Fields(instr)
	if len(f) == 0 {
		return num
	}
	label := f[0]
	switch {
	case f[0] == "RUN" && strings.Contains(instr, "/src/"):
		i := strings.Index(instr, "/src/")
		name, _, _ := strings.Cut(instr[i+5:], " ")
		label = "RUN install " + name
	case f[0] == "RUN": // the other RUN: its line goes on with dnf
		label = "RUN dnf install"
	case f[0] == "COPY" && len(f) > 1:
		label = "COPY " + f[1]
	}
	if len(num) == 1 {
		num = " " + num
	}
	return num + " " + label
}

// pair runs fn for both tools, strata first on even repetitions and
// buildah first on odd ones, to spread drift between them.
func pair(rep int, fn func(tool string, order int) error) error {
	tools := []string{toolStrata, toolBuildah}
	if rep%2 == 1 {
		tools = []string{toolBuildah, toolStrata}
	}
	for i, t := range tools {
		if err := fn(t, i); err != nil {
			return err
		}
	}
	return nil
}

// localScenarios: per repetition, fresh stores, then (1) a cold build,
// (2) a rebuild with nothing changed, (3) a rebuild after a one-line
// commit in one source, (4) a rebuild with one more package.
func (b *bench) localScenarios(ctx context.Context) error {
	for rep := range b.cfg.Reps {
		if err := b.writeInputs(nil); err != nil {
			return err
		}
		stores := map[string]*store{}
		for _, t := range []string{toolStrata, toolBuildah} {
			s, err := b.newStore("local-" + t)
			if err != nil {
				return err
			}
			stores[t] = s
		}
		build := func(scenario string, coldBuildah bool) func(string, int) error {
			return func(tool string, order int) error {
				var sm sample
				var err error
				if tool == toolStrata {
					var r *result
					sm, r, err = b.strataBuild(ctx, stores[tool], b.recipe)
					if err == nil && scenario == scCold {
						b.noteDNF(r)
					}
				} else {
					sm, _, err = b.budBuild(ctx, stores[tool], coldBuildah)
				}
				if err != nil {
					return fmt.Errorf("%s, %s, repetition %d: %w", scenario, tool, rep+1, err)
				}
				sm.Rep, sm.Order = rep, order
				b.res.add(scenario, tool, sm)
				progress("rep %d/%d %-9s %-8s %8s%s", rep+1, b.cfg.Reps, scenario, tool, round(sm.Wall), phaseSummary(tool, sm))
				return nil
			}
		}
		if err := pair(rep, build(scCold, true)); err != nil {
			return err
		}
		if err := pair(rep, build(scNoChange, false)); err != nil {
			return err
		}
		commit, err := changeSource(filepath.Join(b.ctxDir, changedSrc), changedSrc, rep)
		if err != nil {
			return err
		}
		progress("rep %d/%d committed a one-line change to %s: %s", rep+1, b.cfg.Reps, changedSrc, commit[:12])
		if err := pair(rep, build(scCode, false)); err != nil {
			return err
		}
		if err := b.writeInputs([]string{extraPackage(rep)}); err != nil {
			return err
		}
		progress("rep %d/%d added %s to the base set", rep+1, b.cfg.Reps, extraPackage(rep))
		if err := pair(rep, build(scDep, false)); err != nil {
			return err
		}
		for _, s := range stores {
			if err := b.discard(s.Dir); err != nil {
				return err
			}
		}
	}
	return b.writeInputs(nil)
}

// phaseSummary is the progress line's detail: strata's phases or
// buildah's uncached steps.
func phaseSummary(tool string, sm sample) string {
	keys := make([]string, 0, len(sm.Phases))
	for k := range sm.Phases {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		if tool == toolBuildah && sm.Decisions[k] == "cached" {
			continue
		}
		d := sm.Decisions[k]
		if tool == toolBuildah {
			d = ""
		}
		parts = append(parts, fmt.Sprintf("%s%s %s", strings.TrimSpace(k), decorate(d), round(sm.Phases[k])))
	}
	s := ""
	if len(parts) > 0 {
		s = "  [" + strings.Join(parts, "; ") + "]"
	}
	if sm.VmHWM > 0 {
		s += fmt.Sprintf(" rss %.0f MiB", float64(sm.VmHWM)/(1<<20))
	}
	if sm.Bytes > 0 {
		s += fmt.Sprintf(" pushed %s (last layer %s, new layers %s, attachments %s)", mb(sm.Bytes), mb(sm.LastLayer), mb(sm.NewLayers), mb(sm.Attached))
	}
	return s
}

func decorate(d string) string {
	if d == "" {
		return ""
	}
	return "(" + d + ")"
}

func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }

// registryScenarios: (5) a fresh store and clone cache with a warm
// registry cache, after one warm-up build per tool that fills it; (6) the
// same after a one-line commit, building and pushing; (7) the bytes each tool sends to push the image after a code change, the
// previous image being in the registry already.
func (b *bench) registryScenarios(ctx context.Context) error {
	if err := b.writeInputs(nil); err != nil {
		return err
	}
	cacheRepo := b.reg.Host + "/bench/buildah-cache"
	budCacheTo := []string{"--cache-to", cacheRepo, "--cache-from", cacheRepo, "--tls-verify=false"}
	budCacheFrom := []string{"--cache-from", cacheRepo, "--tls-verify=false"}

	// Warm-up: a cold build that fills the registry cache.
	if err := pair(0, func(tool string, order int) error {
		s, err := b.newStore("warmup-" + tool)
		if err != nil {
			return err
		}
		var sm sample
		if tool == toolStrata {
			sm, _, err = b.strataBuild(ctx, s, "--push", "--tls-verify=false", b.pushRc)
		} else {
			if sm, _, err = b.budBuild(ctx, s, true, budCacheTo...); err == nil {
				_, err = b.buildah(ctx, s, "push", "--quiet", "--tls-verify=false", budImage, "docker://"+b.reg.Host+"/bench/buildah:latest")
			}
		}
		if err != nil {
			return fmt.Errorf("warm-up build with the registry cache, %s: %w", tool, err)
		}
		b.res.add(scWarmup, tool, sm)
		progress("warm-up   %-8s %8s%s", tool, round(sm.Wall), phaseSummary(tool, sm))
		return b.discard(s.Dir)
	}); err != nil {
		return err
	}

	stores := map[string]*store{}
	for rep := range b.cfg.Reps {
		if err := pair(rep, func(tool string, order int) error {
			s, err := b.newStore("fresh-" + tool)
			if err != nil {
				return err
			}
			stores[tool] = s
			var sm sample
			if tool == toolStrata {
				b.reg.ResetCount()
				sm, _, err = b.strataBuild(ctx, s, "--push", "--tls-verify=false", b.pushRc)
				sm.Bytes = b.reg.Sent()
				if err == nil && sm.Decisions["final"] != "hit" {
					b.res.Notes = append(b.res.Notes, fmt.Sprintf("fresh store, repetition %d: strata's final decision was %q, not a \"hit\" in the registry", rep+1, sm.Decisions["final"]))
				}
			} else {
				sm, _, err = b.budBuild(ctx, s, true, budCacheFrom...)
				if err == nil && sm.Decisions[dnfStep(sm)] != "cached" {
					b.res.Notes = append(b.res.Notes, fmt.Sprintf("fresh store, repetition %d: buildah ran its dnf step instead of taking it from --cache-from", rep+1))
				}
				if err == nil {
					b.reg.ResetCount()
					var r *result
					if r, err = b.buildah(ctx, s, "push", "--quiet", "--tls-verify=false", budImage, "docker://"+b.reg.Host+"/bench/buildah:latest"); err == nil {
						sm.Wall += r.Wall
						sm.Bytes = b.reg.Sent()
					}
				}
			}
			if err != nil {
				return fmt.Errorf("fresh store with a warm registry cache, %s, repetition %d: %w", tool, rep+1, err)
			}
			sm.Rep, sm.Order = rep, order
			b.res.add(scFresh, tool, sm)
			progress("rep %d/%d %-9s %-8s %8s%s", rep+1, b.cfg.Reps, scFresh, tool, round(sm.Wall), phaseSummary(tool, sm))
			return nil
		}); err != nil {
			return err
		}
	}

	// Fresh store after a code change: the registry has the previous
	// image (strata's at its tag, buildah's layers in its --cache-to
	// repository); each tool builds and pushes the new one.
	for rep := range b.cfg.Reps {
		commit, err := changeSource(filepath.Join(b.ctxDir, changedSrc), changedSrc, 200+rep)
		if err != nil {
			return err
		}
		progress("rep %d/%d committed a one-line change to %s: %s", rep+1, b.cfg.Reps, changedSrc, commit[:12])
		if err := pair(rep, func(tool string, order int) error {
			s, err := b.newStore("freshcode-" + tool)
			if err != nil {
				return err
			}
			var sm sample
			if tool == toolStrata {
				b.reg.ResetCount()
				sm, _, err = b.strataBuild(ctx, s, "--push", "--tls-verify=false", b.pushRc)
				sm.Bytes = b.reg.Sent()
				if err == nil && sm.Decisions["final"] != "composed" {
					b.res.Notes = append(b.res.Notes, fmt.Sprintf("fresh store after a code change, repetition %d: strata's final decision was %q, not \"composed\" in the registry", rep+1, sm.Decisions["final"]))
				}
			} else {
				sm, _, err = b.budBuild(ctx, s, true, budCacheTo...)
				if err == nil {
					b.reg.ResetCount()
					var r *result
					if r, err = b.buildah(ctx, s, "push", "--quiet", "--tls-verify=false", budImage, "docker://"+b.reg.Host+"/bench/buildah:latest"); err == nil {
						sm.Wall += r.Wall
						sm.Bytes = b.reg.Sent()
					}
				}
			}
			if err != nil {
				return fmt.Errorf("fresh store after a code change, %s, repetition %d: %w", tool, rep+1, err)
			}
			sm.Rep, sm.Order = rep, order
			b.res.add(scFreshCode, tool, sm)
			progress("rep %d/%d %-9s %-8s %8s%s", rep+1, b.cfg.Reps, scFreshCode, tool, round(sm.Wall), phaseSummary(tool, sm))
			return b.discard(s.Dir)
		}); err != nil {
			return err
		}
	}

	// Push: the previous image is built in the store (the fresh runs made
	// none: the registry had it) and goes up first (not measured).
	if _, err := b.strata(ctx, stores[toolStrata], false, "build", "--tls-verify=false", b.pushRc); err != nil {
		return fmt.Errorf("first strata build: %w", err)
	}
	if _, err := b.strata(ctx, stores[toolStrata], false, "build", "--push", "--tls-verify=false", b.pushRc); err != nil {
		return fmt.Errorf("first strata push: %w", err)
	}
	budDest := "docker://" + b.reg.Host + "/bench/buildah:latest"
	if _, err := b.buildah(ctx, stores[toolBuildah], "push", "--quiet", "--tls-verify=false", budImage, budDest); err != nil {
		return fmt.Errorf("first buildah push: %w", err)
	}
	prev := map[string]*manifest{}
	for tool, repo := range map[string]string{toolStrata: "bench/strata", toolBuildah: "bench/buildah"} {
		m, err := b.reg.Manifest(ctx, repo, "latest")
		if err != nil {
			return err
		}
		prev[tool] = m
	}
	for rep := range b.cfg.Reps {
		commit, err := changeSource(filepath.Join(b.ctxDir, changedSrc), changedSrc, 100+rep)
		if err != nil {
			return err
		}
		progress("rep %d/%d committed a one-line change to %s: %s", rep+1, b.cfg.Reps, changedSrc, commit[:12])
		if err := pair(rep, func(tool string, order int) error {
			var sm sample
			repo := "bench/strata"
			if tool == toolStrata {
				b.reg.ResetCount()
				sm, _, err = b.strataBuild(ctx, stores[tool], "--push", "--tls-verify=false", b.pushRc)
				if err != nil {
					return fmt.Errorf("push after a code change, strata, repetition %d: %w", rep+1, err)
				}
				sm.Bytes = b.reg.Sent()
			} else {
				repo = "bench/buildah"
				if _, _, err := b.budBuild(ctx, stores[tool], false); err != nil {
					return fmt.Errorf("push after a code change, buildah bud, repetition %d: %w", rep+1, err)
				}
				b.reg.ResetCount()
				r, err := b.buildah(ctx, stores[tool], "push", "--quiet", "--tls-verify=false", budImage, budDest)
				if err != nil {
					return fmt.Errorf("push after a code change, buildah push, repetition %d: %w", rep+1, err)
				}
				sm = sample{Wall: r.Wall, MaxRSS: r.MaxRSS, Bytes: b.reg.Sent()}
			}
			m, err := b.reg.Manifest(ctx, repo, "latest")
			if err != nil {
				return err
			}
			sm.LastLayer = m.Layers[len(m.Layers)-1].Size
			sm.Docs = m.Config.Size + m.size
			sm.Requests = b.reg.Requests()
			sm.NewLayers, sm.NewCount = m.newSince(prev[tool])
			if sm.Attached, err = b.reg.Attached(ctx, repo, m.digest); err != nil {
				return err
			}
			prev[tool] = m
			sm.Rep, sm.Order = rep, order
			b.res.add(scPush, tool, sm)
			progress("rep %d/%d %-9s %-8s %8s%s", rep+1, b.cfg.Reps, scPush, tool, round(sm.Wall), phaseSummary(tool, sm))
			return nil
		}); err != nil {
			return err
		}
	}
	for _, s := range stores {
		if err := b.discard(s.Dir); err != nil {
			return err
		}
	}
	return nil
}

// dnfStep is the key of buildah's dnf step in a sample.
func dnfStep(sm sample) string {
	for k := range sm.Phases {
		if strings.HasSuffix(k, "RUN dnf install") {
			return k
		}
	}
	return ""
}

// imageSize is one image's size, uncompressed (as the store counts it)
// and compressed (the layers of its manifest in the registry).
type imageSize struct {
	What         string
	Layers       int
	Uncompressed int64
	Compressed   int64
}

// imageSizes builds the recipe in both strata modes and buildah's
// image once each, in fresh stores, pushes them and reads their sizes.
func (b *bench) imageSizes(ctx context.Context) error {
	type variant struct {
		what, tool, recipe, mode, repo string
	}
	vs := []variant{
		{"strata, base.install: container (Debian+dnf base)", toolStrata, filepath.Join(b.tmp, "strata", "size-container.yaml"), "container", "bench/size-container"},
		{"strata, base.install: installroot (from scratch)", toolStrata, filepath.Join(b.tmp, "strata", "size-installroot.yaml"), "installroot", "bench/size-installroot"},
		{"buildah bud --layers (Debian+dnf base)", toolBuildah, "", "", "bench/size-buildah"},
	}
	for _, v := range vs {
		s, err := b.newStore("size")
		if err != nil {
			return err
		}
		dest := "docker://" + b.reg.Host + "/" + v.repo + ":latest"
		var image string
		if v.tool == toolStrata {
			name := "bench-" + v.mode
			if err := os.WriteFile(v.recipe, []byte(b.recipeText(name, v.mode, nil, false)), 0o644); err != nil {
				return err
			}
			sm, _, err := b.strataBuild(ctx, s, v.recipe)
			if err != nil {
				return fmt.Errorf("image size, %s: %w", v.what, err)
			}
			if v.mode == "installroot" {
				b.res.Extra["installroot build"] = round(sm.Wall).String()
				b.res.add("installroot", toolStrata, sm)
			}
			image = "localhost/" + name + ":latest"
			if _, err := b.strata(ctx, s, false, "push", "--tls-verify=false", image, dest); err != nil {
				return err
			}
		} else {
			if _, _, err := b.budBuild(ctx, s, true); err != nil {
				return fmt.Errorf("image size, %s: %w", v.what, err)
			}
			image = budImage
			if _, err := b.buildah(ctx, s, "push", "--quiet", "--tls-verify=false", image, dest); err != nil {
				return err
			}
		}
		size, err := b.storeSize(ctx, s, image)
		if err != nil {
			return err
		}
		m, err := b.reg.Manifest(ctx, v.repo, "latest")
		if err != nil {
			return err
		}
		is := imageSize{What: v.what, Layers: len(m.Layers), Uncompressed: size}
		for _, l := range m.Layers {
			is.Compressed += l.Size
		}
		b.res.Sizes = append(b.res.Sizes, is)
		progress("size: %s: %d layers, %s uncompressed, %s compressed", v.what, is.Layers, mb(is.Uncompressed), mb(is.Compressed))
		if err := b.discard(s.Dir); err != nil {
			return err
		}
	}
	return nil
}

// storeSize is an image's size as buildah's store reports it (buildah
// images prints it rounded to three digits).
func (b *bench) storeSize(ctx context.Context, s *store, image string) (int64, error) {
	// stdout alone: buildah warns on stderr (a CNI configuration without
	// its plugins, on a fresh Debian machine).
	r, err := run(ctx, runOpts{Dir: b.ctxDir}, "buildah", "--root", s.Root, "--runroot", s.Run, "--storage-driver", "overlay", "images", "--json", image)
	if err != nil {
		return 0, err
	}
	var imgs []struct {
		Size string `json:"size"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &imgs); err != nil || len(imgs) == 0 {
		return 0, fmt.Errorf("buildah images --json %s: %v: %s", image, err, r.Stdout)
	}
	return parseHumanSize(imgs[0].Size)
}

// parseHumanSize reads go-units' HumanSize ("583 MB", "1.2 GB", "93.4 kB").
func parseHumanSize(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, fmt.Errorf("size %q", s)
	}
	n, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	mult := map[string]float64{"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[f[1]]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit", s)
	}
	return int64(n * mult), nil
}

// discard moves a directory that is no longer needed out of the way; the
// trash is removed with the rest at the end of the run. Deleting stores
// during the run would make the next builds pay for it: on ext4 without
// a journal (this machine's root) the inode allocator skips and rereads
// every recently deleted inode, and a store holds tens of thousands.
func (b *bench) discard(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	trash := filepath.Join(b.tmp, "trash")
	if err := os.MkdirAll(trash, 0o700); err != nil {
		return err
	}
	b.trashed++
	return os.Rename(dir, filepath.Join(trash, strconv.Itoa(b.trashed)))
}

// removeTree unmounts whatever is mounted under dir and removes it.
func removeTree(dir string) error {
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var mounts []string
		for l := range strings.SplitSeq(string(data), "\n") {
			f := strings.Fields(l)
			if len(f) > 4 {
				mp := unescapeMount(f[4])
				if mp == dir || strings.HasPrefix(mp, dir+"/") {
					mounts = append(mounts, mp)
				}
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
		for _, mp := range mounts {
			_ = syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	}
	return os.RemoveAll(dir)
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
