package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// rssGoal is the ceiling for strata's peak RSS.
const rssGoal = 300 << 20

// pushGoal is the ceiling of the bytes strata pushes after a code change,
// as a multiple of the final layer's compressed size.
const pushGoal = 1.05

// scenarioInfo describes one row of the results table.
type scenarioInfo struct {
	Key, Title string
	Goal       float64 // ceiling of strata/buildah; 0: no goal
	Bytes      bool    // the samples are bytes, not times
}

var scenarioTable = []scenarioInfo{
	{scCold, "(1) cold build (fresh store and clone cache)", 0, false},
	{scNoChange, "(2) rebuild, nothing changed", 0.25, false},
	{scCode, "(3) rebuild after a one-line commit in one source", 0.5, false},
	{scDep, "(4) rebuild with one dependency added", 1.0, false},
	{scFresh, "(5) fresh store, warm registry, nothing changed, build --push", 0.1, false},
	{scFreshCode, "(6) fresh store, warm registry, one-line commit, build --push", 0.6, false},
	{scPush, "(7) push after a code change: bytes sent", 0, true},
	{scUpdate, "(8) one package updated: build --refresh --push", 1.0, false},
	{scUpdPush, "(8) one package updated: bytes pushed", 0.1, true},
	{scUpdPull, "(8) one package updated: bytes a node pulls", 0.1, true},
}

// updateGoal is the ceiling of the bytes strata moves when one package is
// updated, as a multiple of that package's .rpm plus the base's rpm
// database layer (both compressed).
const updateGoal = 1.5

// samplesOf returns the samples a row reads: the rows on bytes of the
// "one package updated" scenario read its samples.
func samplesOf(res *results, key, tool string) []sample {
	if key == scUpdPush || key == scUpdPull {
		key = scUpdate
	}
	return res.Samples[key][tool]
}

// quantity is what a row measures in each sample.
func quantity(key string, ss []sample, bytes bool) []float64 {
	if key != scUpdPull {
		return values(ss, bytes)
	}
	return series(ss, func(s sample) float64 { return float64(s.Pulled) })
}

// median is the median of one figure of the samples.
func median(ss []sample, f func(sample) float64) float64 {
	m, _, _ := stats(series(ss, f))
	return m
}

// series is one figure of every sample.
func series(ss []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// The figures the report takes medians of, besides values.
var (
	newContent = func(s sample) float64 { return float64(s.NewLayers + s.Attached) } // what a push must send
	attached   = func(s sample) float64 { return float64(s.Attached) }
	newLayers  = func(s sample) float64 { return float64(s.NewLayers) }
	pullWalls  = func(s sample) float64 { return s.PullWall.Seconds() }
	references = func(s sample) float64 { return float64(s.Reference) }
	newCount   = func(s sample) float64 { return float64(s.NewCount) }
	docs       = func(s sample) float64 { return float64(s.Docs) }
	requests   = func(s sample) float64 { return float64(s.Requests) }
)

// stats returns the median, minimum and maximum.
func stats(xs []float64) (med, lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

func durations(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// values are the samples' measured quantity: seconds, or bytes for push.
func values(ss []sample, bytes bool) []float64 {
	var out []float64
	for _, s := range ss {
		if bytes {
			out = append(out, float64(s.Bytes))
		} else {
			out = append(out, s.Wall.Seconds())
		}
	}
	return out
}

func fmtDur(sec float64) string {
	switch {
	case math.IsNaN(sec):
		return "n/a"
	case sec < 1:
		return fmt.Sprintf("%.0f ms", sec*1000)
	case sec < 10:
		return fmt.Sprintf("%.2f s", sec)
	default:
		return fmt.Sprintf("%.1f s", sec)
	}
}

func fmtBytes(n float64) string {
	switch {
	case math.IsNaN(n):
		return "n/a"
	case n >= 1e6:
		return fmt.Sprintf("%.2f MB", n/1e6)
	default:
		return fmt.Sprintf("%.1f kB", n/1e3)
	}
}

func fmtVal(v float64, bytes bool) string {
	if bytes {
		return fmtBytes(v)
	}
	return fmtDur(v)
}

// row is one evaluated line of the results table.
type row struct {
	scenarioInfo
	SMed, SLo, SHi float64
	BMed, BLo, BHi float64
	Ratio          float64 // strata/buildah medians
	GoalValue      float64 // the quantity compared with the goal
	GoalText       string
	Met            bool
	HasGoal        bool
	Custom         bool // GoalText says the whole goal
	N              int
}

func evaluate(res *results) []row {
	var rows []row
	for _, sc := range scenarioTable {
		r := row{scenarioInfo: sc}
		ss, bs := samplesOf(res, sc.Key, toolStrata), samplesOf(res, sc.Key, toolBuildah)
		r.N = min(len(ss), len(bs))
		r.SMed, r.SLo, r.SHi = stats(quantity(sc.Key, ss, sc.Bytes))
		r.BMed, r.BLo, r.BHi = stats(quantity(sc.Key, bs, sc.Bytes))
		r.Ratio = r.SMed / r.BMed
		switch {
		case sc.Key == scUpdPush || sc.Key == scUpdPull:
			ref := median(ss, references)
			r.GoalValue = r.Ratio
			r.HasGoal, r.Custom = true, true
			r.Met = r.Ratio <= sc.Goal && r.SMed <= updateGoal*ref
			r.GoalText = fmt.Sprintf("strata/buildah ≤ %.2f, and ≤ %.1f × the package's .rpm and the rpm database layer (%s): %.2f×", sc.Goal, updateGoal, fmtBytes(ref), r.SMed/ref)
		case sc.Key == scPush:
			lm := median(ss, newContent)
			r.GoalValue = r.SMed / lm
			r.HasGoal = true
			r.Met = r.GoalValue <= pushGoal
			r.GoalText = fmt.Sprintf("≤ %.2f × what is new (%s: the changed source's layers and the new image's SBOM and provenance): %.3f×", pushGoal, fmtBytes(lm), r.GoalValue)
		case sc.Goal > 0:
			r.GoalValue = r.Ratio
			r.HasGoal = true
			r.Met = r.Ratio <= sc.Goal
			r.GoalText = fmt.Sprintf("≤ %.2f", sc.Goal)
		default:
			r.GoalText = "none"
		}
		rows = append(rows, r)
	}
	return rows
}

// rssStats are the peak RSS figures of strata: the largest VmHWM of the
// cold builds, of every build, and the largest ru_maxrss.
func rssStats(res *results) (cold, all, maxrss int64) {
	for sc, byTool := range res.Samples {
		for _, s := range byTool[toolStrata] {
			if sc == scCold {
				cold = max(cold, s.VmHWM)
			}
			all = max(all, s.VmHWM)
			maxrss = max(maxrss, s.MaxRSS)
		}
	}
	return
}

func fmtMiB(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func svgPath(report string) string {
	return strings.TrimSuffix(report, filepath.Ext(report)) + ".svg"
}

// writeReport writes the markdown report and the SVG chart beside it.
func writeReport(path string, res *results) error {
	rows := evaluate(res)
	coldRSS, allRSS, maxRSS := rssStats(res)
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	date := res.Started.UTC().Format("2006-01-02 15:04 MST")
	p("<!-- Generated by `make bench` (hack/bench) on %s; do not edit: run `make bench` again. -->\n\n", date)
	p("# Benchmarks: strata against `buildah bud --layers`\n\n")
	p("Generated by `make bench` on %s; do not edit. The run took %s with %d repetitions per scenario (`BENCH_REPS`).\n\n",
		date, res.Runtime.Round(time.Second), res.Reps)
	p("Each scenario builds the same image twice per repetition: once with strata, once with buildah's own CLI on the equivalent Containerfile, ")
	p("on the same fixtures, in the same run, with their own stores; the order alternates (strata first on odd repetitions, buildah first on even ones). ")
	p("Figures are medians with the minimum and maximum; ratios are strata's median over buildah's. Benchmarks are never timed assertions in tests.\n\n")
	p("Run it with `make bench` as root (`BENCH_REPS=N` repetitions, default 5; `BENCH_TMPDIR=DIR` for the stores, default /var/tmp); the harness is `hack/bench`. ")
	p("Stores no longer needed are moved aside and deleted at the end of the run, not between builds: on ext4 without a journal, creating files soon after deleting many is slow (the inode allocator rereads every recently deleted inode), which would charge the harness's own clean-up to the next build.")
	for _, m := range res.Machine {
		if m.K == "stores" && strings.Contains(m.V, "without a journal") {
			p(" The stores of this run are on such a file system, so what the tools delete themselves (working containers, intermediate layers) still slows the file creation of the builds that follow; `BENCH_TMPDIR` on a tmpfs measures the tools without the disk.")
		}
	}
	p(" strata fetches the sources itself (go-git checkouts into its clone cache, timed); buildah builds from working trees already on disk (a CI job would clone them first: not timed here).\n\n")

	p("## Results\n\n![strata/buildah ratios against the goals](%s)\n\n", filepath.Base(svgPath(path)))
	p("| scenario | strata median (min–max) | buildah median (min–max) | strata / buildah | goal | met? |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		goal := r.GoalText
		met := "—"
		if r.HasGoal {
			met = "**missed**"
			if r.Met {
				met = "yes"
			}
			if r.Key != scPush && !r.Custom {
				goal = "strata/buildah " + goal
			}
		}
		p("| %s | %s (%s–%s) | %s (%s–%s) | %.2f | %s | %s |\n", r.Title,
			fmtVal(r.SMed, r.Bytes), fmtVal(r.SLo, r.Bytes), fmtVal(r.SHi, r.Bytes),
			fmtVal(r.BMed, r.Bytes), fmtVal(r.BLo, r.Bytes), fmtVal(r.BHi, r.Bytes), r.Ratio, goal, met)
	}
	rssMet := "yes"
	if coldRSS >= rssGoal {
		rssMet = "**missed**"
	}
	p("| peak RSS of strata (cold builds) | %s | | | < 300 MiB | %s |\n\n", fmtMiB(coldRSS), rssMet)

	p("- **Peak RSS of strata**: %s, the largest `VmHWM` of the strata process itself over the %d cold builds, polled from `/proc/PID/status` every 20 ms and read once more when it has exited (before it is reaped); %s over every strata build of the run. ",
		fmtMiB(coldRSS), len(res.Samples[scCold][toolStrata]), fmtMiB(allRSS))
	p("For comparison, `wait4`'s `ru_maxrss` (the process or the largest descendant it waited for: dnf under runc) was at most %s.\n", fmtMiB(maxRSS))
	d := res.Deps
	if len(d.Walls) > 0 {
		med, lo, hi := stats(durations(d.Walls))
		p("- **`strata deps` on %d files** (the 20 files of `recipes/deps_bench_test.go`: five packit-like projects with a spec, setup.cfg, pyproject.toml and requirements.txt each): %s median (%s–%s) over %d runs of the whole process, start-up included; peak RSS %s.",
			d.Files, fmtDur(med), fmtDur(lo), fmtDur(hi), len(d.Walls), fmtMiB(d.VmHWM))
		if d.GoBench != "" {
			p(" In-process (`go test -bench BenchmarkReadDeps`): %s per run (its goal: under 50 ms): `%s`.", fmtDur(d.GoNsOp/1e9), d.GoBench)
		}
		p("\n")
	}
	if ws, wb := res.Samples[scWarmup][toolStrata], res.Samples[scWarmup][toolBuildah]; len(ws) > 0 && len(wb) > 0 {
		p("- **Warm-up of (5)**, a cold build that also fills the registry cache (one run each): strata %s (it pushes the base as `base-KEY16`), buildah %s (`--cache-to` pushes every layer).\n",
			fmtDur(ws[0].Wall.Seconds()), fmtDur(wb[0].Wall.Seconds()))
	}
	if push := res.Samples[scPush]; len(push[toolStrata]) > 0 && len(push[toolBuildah]) > 0 {
		sl := median(push[toolStrata], newLayers)
		bl := median(push[toolBuildah], newLayers)
		sa := median(push[toolStrata], attached)
		sd := median(push[toolStrata], docs)
		bd := median(push[toolBuildah], docs)
		sr := median(push[toolStrata], requests)
		br := median(push[toolBuildah], requests)
		p("- **Push after a code change**: strata sent %d new layers (%s compressed, median: the changed source's checkout and install layers), its config and manifest (%s), and the new image's SBOM and provenance attachments (%s: artifact manifests, blobs and the referrers-tag index), in %.0f HTTP requests; buildah sent %d new layers (%s compressed: the COPY and RUN layers from the changed source on), its config and manifest (%s), and attaches nothing, in %.0f requests. Counted by a TCP proxy in front of the registry: every byte from the client, HTTP headers and HEAD checks included.\n",
			push[toolStrata][0].NewCount, fmtBytes(sl), fmtBytes(sd), fmtBytes(sa), sr, push[toolBuildah][0].NewCount, fmtBytes(bl), fmtBytes(bd), br)
	}
	if up := res.Samples[scUpdate]; len(up[toolStrata]) > 0 && len(up[toolBuildah]) > 0 {
		s0 := up[toolStrata][0]
		sl := median(up[toolStrata], newLayers)
		bl := median(up[toolBuildah], newLayers)
		ref := median(up[toolStrata], references)
		rpm := median(up[toolBuildah], references)
		sp := median(up[toolStrata], pullWalls)
		bp := median(up[toolBuildah], pullWalls)
		sc := median(up[toolStrata], newCount)
		bc := median(up[toolBuildah], newCount)
		p("- **One package updated** (%d repetitions: each publishes a new release of `%s`, whose .rpm is %s, into the repository): strata's `build --refresh --push` on a runner whose store has the previous base reinstalls the set with dnf, splits it by package and writes only the changed layers: its log said %s. The new image has %.0f new layers (%s compressed, median: that package's group and the rpm database layer; the goal's reference, the .rpm plus the rpm database layer, is %s); buildah's `bud --layers --no-cache` (the Containerfile did not change, so `--layers` alone would keep the old RUN dnf layer) and `buildah push` made %.0f new layers (%s: the whole dnf layer and the layers after it). ",
			len(up[toolStrata]), updatedPackage, fmtBytes(rpm), quoteAll(s0.Changed), sc, fmtBytes(sl), fmtBytes(ref), bc, fmtBytes(bl))
		p("A node whose store holds the previous image (`buildah pull` of the new one, counted by the proxy: registry to client) pulled it in %s for strata's image and %s for buildah's.\n", fmtDur(sp), fmtDur(bp))
	}
	p("\n")

	if len(res.Sizes) > 0 {
		p("### Image sizes\n\n| image | layers | uncompressed (store) | compressed (registry) |\n|---|---|---|---|\n")
		for _, s := range res.Sizes {
			p("| %s | %d | %s | %s |\n", s.What, s.Layers, fmtBytes(float64(s.Uncompressed)), fmtBytes(float64(s.Compressed)))
		}
		p("\nUncompressed is the store's figure (`buildah images`, three digits); compressed is the sum of the layers in the pushed manifest (gzip). The installroot image has no Debian below it: dnf, python and the rest of the base image are not in it, only the packages (plus busybox, for the sources' install commands).\n\n")
	}

	p("## Where the time goes\n\n")
	p("Medians per scenario. strata: its phases, from the `phase`/`duration` fields of `--log-format json` (the rest of the wall time is start-up, the base key and the store). buildah: each STEP, from the time its line appeared in buildah's output to the next; *cached* marks steps it took from its layer cache.\n\n")
	for _, sc := range append(scenarioTable, scenarioInfo{Key: scWarmup, Title: "warm-up of (5): cold build filling the registry cache"}) {
		if sc.Bytes {
			continue
		}
		ss, bs := res.Samples[sc.Key][toolStrata], res.Samples[sc.Key][toolBuildah]
		if len(ss) == 0 || len(bs) == 0 {
			continue
		}
		p("- %s:\n  - strata %s\n", sc.Title, phaseText(ss, false))
		if st := stepText(ss); st != "" {
			p("  - strata's steps: %s\n", st)
		}
		p("  - buildah %s\n", phaseText(bs, true))
	}
	p("\n")

	p("## Where a goal is missed\n\n")
	missed := 0
	for _, r := range rows {
		if !r.HasGoal || r.Met {
			continue
		}
		missed++
		p("### %s\n\n", r.Title)
		if r.Bytes && r.Key != scPush {
			p("strata %s (%s–%s) against buildah %s (%s–%s). The goal: %s.\n\n",
				fmtBytes(r.SMed), fmtBytes(r.SLo), fmtBytes(r.SHi), fmtBytes(r.BMed), fmtBytes(r.BLo), fmtBytes(r.BHi), r.GoalText)
		} else if r.Key == scPush {
			p("strata sent %s (median; %s–%s) for new layers and attachments of %s: %.3f× (goal ≤ %.2f×). buildah sent %s.",
				fmtBytes(r.SMed), fmtBytes(r.SLo), fmtBytes(r.SHi), fmtBytes(r.SMed/r.GoalValue), r.GoalValue, pushGoal, fmtBytes(r.BMed))
			ss := res.Samples[scPush][toolStrata]
			if d := median(ss, docs); d > 0 {
				n := median(ss, requests)
				extra := r.SMed - r.SMed/r.GoalValue
				p(" Beyond what is new, strata sent %s: the image's config and manifest are %s of it, and the rest (%s) is the HTTP of its %.0f requests (request lines and headers of the blob checks, uploads and manifests).",
					fmtBytes(extra), fmtBytes(d), fmtBytes(math.Max(0, extra-d)), n)
			}
			p("\n\n")
		} else {
			p("strata %s (%s–%s) against buildah %s (%s–%s): ratio %.2f, goal ≤ %.2f.\n\n",
				fmtDur(r.SMed), fmtDur(r.SLo), fmtDur(r.SHi), fmtDur(r.BMed), fmtDur(r.BLo), fmtDur(r.BHi), r.Ratio, r.Goal)
			p("Mechanically (medians), strata: %s", phaseText(res.Samples[r.Key][toolStrata], false))
			if st := stepText(res.Samples[r.Key][toolStrata]); st != "" {
				p("; by step: %s", st)
			}
			p(". buildah: %s.\n\n", phaseText(res.Samples[r.Key][toolBuildah], true))
			if hint := missHint(r.Key, res); hint != "" {
				p("%s\n\n", hint)
			}
		}
		if text, ok := analysis[r.Key]; ok {
			p("%s\n\n", text)
		} else {
			p("<!-- analysis: %s -->\n\n", r.Key)
		}
	}
	if coldRSS >= rssGoal {
		missed++
		p("### Peak RSS of strata\n\n%s on the cold build (goal < 300 MiB).\n\n<!-- analysis: rss -->\n\n", fmtMiB(coldRSS))
	}
	if missed == 0 {
		p("Every goal is met in this run.\n\n")
	}

	p("## Machine\n\n| | |\n|---|---|\n")
	for _, m := range res.Machine {
		p("| %s | %s |\n", m.K, m.V)
	}
	p("\n## Fixtures\n\n")
	fx := res.Fixture
	p("Generated by `hack/bench` and cached in `~/.cache/strata-bench/%s` (a second `make bench` reuses them):\n\n", filepath.Base(fx.Dir))
	p("- **RPM repository**: %d packages, %.0f MiB of incompressible payload (%.0f MiB of `.rpm` files, zstd level 3 payloads, as Fedora's are zstd: about 4× faster to build than rpmbuild's default gzip -9 on such data, 0.3 s against 1.3 s per 50 MB here). ", fx.Packages, fx.PayloadMB, fx.RepoMB)
	p("Dependency chains: %d core libraries in a chain, %d apps each over a binary tree of %d libraries whose leaves need a core library, %d `python3dist()` providers, %d leaves for the dependency-added scenario, busybox and a filesystem package.", numCore, numApps, libsPerApp, numPy, numExtra)
	if v := res.Extra["dnf install"]; v != "" {
		p(" The base set installs %s.", v)
	}
	p("\n- **Sources**: three git repositories (")
	var names []string
	for _, s := range sources() {
		names = append(names, fmt.Sprintf("%s: %d files", s.Name, fx.Files[s.Name]))
	}
	p("%s) of small Python modules, tests and data files, packed; their `deps` (setup.cfg, a spec, pyproject.toml) add two apps and 16 `python3dist()` packages to the recipe's six apps. Each source's install step runs `%s` in the image. ", strings.Join(names, "; "), installCmd("NAME"))
	p("The code-change scenarios commit a one-line change to `%s/%s` in `%s` (the middle source of the Containerfile); the working tree changes with it, for buildah's COPY.\n", changedSrc, changeModule, changedSrc)
	p("- **Base**: the Debian 12 root with dnf (`hack/debian-dnf-image.sh`, an oci-archive). strata: `base.install: container`, `base.from: oci-archive:…`. buildah: `buildah pull oci-archive:…` into its fresh store, timed as part of its cold and fresh-store builds, then `FROM localhost/debian-dnf:latest` with `--pull-never` (a `FROM oci-archive:` line would re-read the 334 MB archive on every build, which a registry base would not).\n")
	p("- **buildah**: `buildah --root … --runroot … --storage-driver overlay bud --pull-never --layers --runtime runc --network host`; (5) adds `--cache-to/--cache-from REGISTRY/bench/buildah-cache --tls-verify=false` on the warm-up and `--cache-from` on the fresh stores, and `buildah push` of the result (the warm-up's and every fresh store's; its time is part of (5)); (6), after a one-line commit, `--cache-to/--cache-from` on a fresh store and `buildah push`, both timed; (8) `--no-cache` on the runner's store and `buildah push`, both timed. **strata**: `strata --root … --runroot … --storage-driver overlay --log-format json build`, a fresh `STRATA_GIT_CACHE_DIR` with each fresh store; (5), (6) and (7) use the recipe with `push.repository` and `push.cache`, `--tls-verify=false`, and `--push` on the warm-up, in (5) and in (6); (8) runs `build --refresh --push` on the store that built the previous image.\n")
	p("- **Registry**: one `docker-registry` (distribution) on 127.0.0.1 with its own configuration and storage, for the whole run, behind the harness's counting TCP proxy.\n")
	p("- **strata's log**: `--log-format json` (phase events with their durations; the steps come from the arrival times of its info messages), except for the builds that talk to the registry, which use `--log-format text` (the same `(phase, decision, duration)` at the end of each phase line): with `json`, strata's stderr line logger (`lineLogger` in cmd/strata/app.go) is not safe for concurrent writes, and containers/image's parallel layer copies made it panic (`slice bounds out of range`) while this harness was written.\n\n")
	if t := res.Extra["recipe"]; t != "" {
		p("<details><summary>The strata recipe and the Containerfile (WORK is the run's temporary directory)</summary>\n\n```yaml\n%s```\n\n```dockerfile\n%s```\n\n</details>\n\n", t, res.Extra["containerfile"])
	}
	if len(res.Notes) > 0 {
		p("## Notes from this run\n\n")
		for _, n := range res.Notes {
			p("- %s\n", n)
		}
		p("\n")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(w.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(svgPath(path), []byte(chart(rows, coldRSS, date)), 0o644)
}

// quoteAll quotes log lines for the report.
func quoteAll(lines []string) string {
	if len(lines) == 0 {
		return "nothing about its layers"
	}
	q := make([]string, len(lines))
	for i, l := range lines {
		q[i] = "`" + l + "`"
	}
	return strings.Join(q, ", ")
}

// phaseText lists the median of each phase (or step) over the samples.
func phaseText(ss []sample, buildah bool) string {
	durs := map[string][]float64{}
	decisions := map[string]map[string]int{}
	for _, s := range ss {
		for k, d := range s.Phases {
			durs[k] = append(durs[k], d.Seconds())
			if decisions[k] == nil {
				decisions[k] = map[string]int{}
			}
			decisions[k][s.Decisions[k]]++
		}
	}
	keys := make([]string, 0, len(durs))
	for k := range durs {
		keys = append(keys, k)
	}
	if buildah {
		sort.Strings(keys)
	} else {
		order := map[string]int{"sources": 0, "base": 1, "final": 2, "push": 3}
		sort.Slice(keys, func(i, j int) bool { return order[keys[i]] < order[keys[j]] })
	}
	wall, _, _ := stats(values(ss, false))
	var parts []string
	var sum float64
	for _, k := range keys {
		med, _, _ := stats(durs[k])
		sum += med
		var ds []string
		for d := range decisions[k] {
			ds = append(ds, d)
		}
		sort.Strings(ds)
		dec := strings.Join(ds, "/")
		if buildah && dec == "run" {
			dec = ""
		}
		if dec != "" {
			dec = " *" + dec + "*"
		}
		parts = append(parts, fmt.Sprintf("%s%s %s", strings.TrimSpace(k), dec, fmtDur(med)))
	}
	text := fmt.Sprintf("%s = ", fmtDur(wall)) + strings.Join(parts, ", ")
	if !buildah {
		text += fmt.Sprintf(", other %s", fmtDur(math.Max(0, wall-sum)))
	}
	return text
}

// stepText lists the median of each of strata's steps, in order.
func stepText(ss []sample) string {
	durs := map[string][]float64{}
	for _, s := range ss {
		for k, d := range s.Steps {
			durs[k] = append(durs[k], d.Seconds())
		}
	}
	if len(durs) == 0 {
		return ""
	}
	keys := make([]string, 0, len(durs))
	for k := range durs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		med, _, _ := stats(durs[k])
		_, label, _ := strings.Cut(k, " ")
		parts = append(parts, fmt.Sprintf("%s %s", label, fmtDur(med)))
	}
	return strings.Join(parts, ", ")
}

// missHint is what the harness can say about a missed goal from the
// structure of the two builds alone.
func missHint(key string, res *results) string {
	switch key {
	case scCode:
		return fmt.Sprintf("Structure: both tools have a layer per source checkout and per install command (%d sources); after a commit in %s (the middle one), strata checks it out into the clone cache, writes its checkout layer from one tar stream, runs its install command over the base and that checkout, and restacks the last source's stored layers without running its install again; buildah redoes the COPY and RUN of the changed source and of every one after it.", len(sources()), changedSrc)
	case scDep:
		return "Structure: both rebuild the dnf layer; strata then restacks every source's checkout layer on the new base and reruns every install command (their keys include the base), as buildah redoes every step after its RUN dnf."
	case scFresh:
		return "Structure: strata reads two manifests (the base cache's and the tag's, no blob), finds the image it would build at the tag and points every tag at it; buildah pulls the base image from the archive and every layer from --cache-from, then pushes."
	case scFreshCode:
		return fmt.Sprintf("Structure: strata reads the base cache's and the tag's manifests and configurations, streams the changed source's checkout layer from git objects to the registry, pulls the base and runs only %s's install command over it, uploads that layer, and puts the config and manifest (the other layers stay where they are, the base's mounted from the cache); buildah pulls the base from the archive and every cached layer up to the changed COPY, reruns the COPY and RUN of the changed source and of every one after it, and pushes.", changedSrc)
	case scNoChange:
		return "Structure: strata resolves each source's branch and looks the final key up; buildah checks every step against its cache, hashing the COPY sources."
	}
	return ""
}

// chart draws the goal rows as horizontal bars: each bar is the measured
// ratio, the tick the goal; green when met, red when missed, grey without
// a goal.
func chart(rows []row, coldRSS int64, date string) string {
	type bar struct {
		label, sub  string
		text        string
		value, goal float64
		hasGoal     bool
		met         bool
	}
	var bars []bar
	for _, r := range rows {
		b := bar{label: r.Title, value: r.Ratio, goal: r.Goal, hasGoal: r.HasGoal, met: r.Met, sub: "strata / buildah time"}
		switch {
		case r.Key == scPush:
			b.value, b.goal, b.sub = r.GoalValue, pushGoal, "strata bytes sent / its new layers and attachments"
		case r.Bytes:
			b.sub = "strata / buildah bytes"
		}
		bars = append(bars, b)
	}
	bars = append(bars, bar{label: "peak RSS of strata", sub: "MiB / 300 MiB", value: float64(coldRSS) / rssGoal, goal: 1, hasGoal: true, met: coldRSS < rssGoal})
	for i := range bars {
		bars[i].text = fmt.Sprintf("%.2f", bars[i].value)
		if bars[i].goal == pushGoal || bars[i].value < 0.1 {
			bars[i].text = fmt.Sprintf("%.3f", bars[i].value)
		}
	}
	scale := 1.25
	for _, b := range bars {
		if !math.IsNaN(b.value) {
			scale = math.Max(scale, b.value*1.1)
		}
	}
	const left, width, rowH, top = 330, 420, 44, 56
	height := top + rowH*len(bars) + 40
	x := func(v float64) float64 { return left + width*math.Min(v, scale)/scale }
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", left+width+90, height, left+width+90, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="10" y="22" font-size="15" font-weight="bold">strata against buildah bud: ratios and goals (lower is better)</text>` + "\n")
	p(`<text x="10" y="40" fill="#555">make bench, %s. Bar: measured; black tick: goal; dashed: 1.0</text>`+"\n", html.EscapeString(date))
	for i, b := range bars {
		y := top + i*rowH
		p(`<text x="10" y="%d">%s</text>`+"\n", y+16, html.EscapeString(shorten(b.label, 52)))
		p(`<text x="10" y="%d" fill="#666" font-size="11">%s</text>`+"\n", y+31, html.EscapeString(b.sub))
		color := "#9e9e9e"
		if b.hasGoal {
			color = "#c62828"
			if b.met {
				color = "#2e7d32"
			}
		}
		if !math.IsNaN(b.value) {
			p(`<rect x="%d" y="%d" width="%.1f" height="22" fill="%s"/>`+"\n", left, y+6, x(b.value)-left, color)
			// The value right of the bar and of the goal tick.
			lx := x(b.value)
			if b.hasGoal {
				lx = math.Max(lx, x(b.goal))
			}
			p(`<text x="%.1f" y="%d">%s</text>`+"\n", lx+6, y+22, b.text)
		}
		if b.hasGoal {
			gx := x(b.goal)
			p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-width="3"/>`+"\n", gx, y+2, gx, y+32)
			p(`<text x="%.1f" y="%d" font-size="10" text-anchor="middle">≤ %.2f</text>`+"\n", gx, y+42, b.goal)
		}
	}
	one := x(1)
	p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333" stroke-dasharray="4 3"/>`+"\n", one, top, one, top+rowH*len(bars))
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", left, top, left, top+rowH*len(bars))
	p("</svg>\n")
	return w.String()
}

// statfsType names the file system of path.
func statfsType(path string) (string, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "", err
	}
	names := map[int64]string{0xEF53: "ext4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs", 0x794c7630: "overlay"}
	if n, ok := names[int64(st.Type)]; ok {
		return n, nil
	}
	return fmt.Sprintf("fs 0x%x", st.Type), nil
}

// describeFS names the file system of path, and says when it is ext4
// without a journal (which makes creating files right after deleting many
// slow: the inode allocator skips recently deleted inodes one by one).
func describeFS(path string) string {
	typ, err := statfsType(path)
	if err != nil {
		return "unknown file system"
	}
	if typ != "ext4" {
		return typ
	}
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return typ
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return typ
	}
	devID := fmt.Sprintf("%d:%d", unixMajor(st.Dev), unixMinor(st.Dev))
	for l := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 10 || f[2] != devID {
			continue
		}
		// After the " - " separator: fstype, source, options.
		for i, x := range f {
			if x == "-" && i+2 < len(f) {
				dev := filepath.Base(f[i+2])
				if m, _ := filepath.Glob("/proc/fs/jbd2/" + dev + "-*"); len(m) == 0 {
					return "ext4 without a journal"
				}
				return "ext4 with a journal"
			}
		}
	}
	return typ
}

func unixMajor(dev uint64) uint64 { return (dev >> 8) & 0xfff }
func unixMinor(dev uint64) uint64 { return (dev & 0xff) | ((dev >> 12) & 0xfff00) }

var workRE = regexp.MustCompile(`/[^\s"]*/strata-bench-[0-9]+`)

// scrubWork replaces the run's temporary directory with WORK.
func scrubWork(s string) string { return workRE.ReplaceAllString(s, "WORK") }
