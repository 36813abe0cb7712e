package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/strata-build/strata/internal/fixtures"
)

// updatedPackage is the package the "one package updated" scenario gives
// a new release: a mid-sized library of the core chain (4 MiB of payload),
// which every app needs, as openssl-libs is needed by everything.
const updatedPackage = "bench-core-5"

// updateReps is how many repetitions the scenario runs (at most): each
// buildah side reinstalls the whole base, which is long.
const updateReps = 3

// packageRelease returns the new release of updatedPackage that
// repetition rep publishes: the same files with a changed module (as a
// security fix changes a few) and a version above every earlier one.
func packageRelease(rep int) fixtures.Package {
	for _, p := range benchPackages() {
		if p.Name != updatedPackage {
			continue
		}
		p.Version = fmt.Sprintf("1.%d", rep+1)
		files := map[string]string{}
		for k, v := range p.Files {
			files[k] = v
		}
		files[fmt.Sprintf("/usr/lib/bench/%s/mod0.py", p.Name)] += fmt.Sprintf("VERSION = %q  # the security fix of release %s\n", p.Version, p.Version)
		p.Files = files
		return p
	}
	panic("hack/bench: no package " + updatedPackage) // the fixture layout is this file's own
}

// publishRelease builds pkg into a scratch repository and adds its RPM to
// the build context's repository (the cache's files stay as they are:
// the context holds hard links, and createrepo_c replaces repodata/ whole).
// It returns the new .rpm file in the repository and its size: the
// package's files, compressed.
func (b *bench) publishRelease(pkg fixtures.Package, rep int) (string, int64, error) {
	scratch := filepath.Join(b.tmp, "release", fmt.Sprint(rep))
	if err := fixtures.BuildRepoWith(scratch, []fixtures.Package{pkg}, repoEpoch+int64(rep+1)*86400, fixtures.RepoOptions{BinaryPayload: payloadCompressor}); err != nil {
		return "", 0, fmt.Errorf("building %s %s: %w", pkg.Name, pkg.Version, err)
	}
	rpms, err := filepath.Glob(filepath.Join(scratch, "*", pkg.Name+"-*.rpm"))
	if err != nil || len(rpms) != 1 {
		return "", 0, fmt.Errorf("building %s %s: want one RPM in %s, found %d (%v)", pkg.Name, pkg.Version, scratch, len(rpms), err)
	}
	st, err := os.Stat(rpms[0])
	if err != nil {
		return "", 0, err
	}
	repo := filepath.Join(b.ctxDir, "repo")
	dir := filepath.Join(repo, filepath.Base(filepath.Dir(rpms[0])))
	if out, err := exec.Command("cp", rpms[0], dir).CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("adding %s to %s: %v: %s", filepath.Base(rpms[0]), dir, err, out)
	}
	if err := refreshRepo(repo); err != nil {
		return "", 0, err
	}
	return filepath.Join(dir, filepath.Base(rpms[0])), st.Size(), nil
}

// refreshRepo makes the repository's metadata anew, as tests/e2e's
// refreshRepo does.
func refreshRepo(repo string) error {
	if out, err := exec.Command("createrepo_c", "--no-database", "--simple-md-filenames", repo).CombinedOutput(); err != nil {
		return fmt.Errorf("createrepo_c %s: %v\n%s", repo, err, out)
	}
	return nil
}

// packageUpdate: (8) one package updated. A runner whose store holds the
// previous base and image (each tool's own), and a cluster node whose
// store holds the previous image; the repository gains a new release of
// updatedPackage; strata runs `build --refresh --push`, buildah `bud
// --layers --no-cache` (its only way to rerun the RUN dnf step: the
// Containerfile did not change) and `buildah push`; then the node pulls
// the new image. Bytes sent and received are counted by the proxy.
//
// It runs first, on repositories of its own (bench/update, its cache
// bench/update-cache, bench/buildah-update), and takes the new releases
// out of the RPM repository again when it ends, so the other scenarios
// see the fixture repository as it is.
func (b *bench) packageUpdate(ctx context.Context) (err error) {
	if err := b.writeInputs(nil); err != nil {
		return err
	}
	recipe := filepath.Join(b.tmp, "strata", "bench-update.yaml")
	text := strings.ReplaceAll(b.recipeText("bench", "container", nil, true), "/bench/strata", "/bench/update")
	if err := os.WriteFile(recipe, []byte(text), 0o644); err != nil {
		return err
	}
	var added []string
	defer func() {
		if len(added) == 0 {
			return
		}
		for _, f := range added {
			if rerr := os.Remove(f); rerr != nil && err == nil {
				err = rerr
			}
		}
		if rerr := refreshRepo(filepath.Join(b.ctxDir, "repo")); rerr != nil && err == nil {
			err = rerr
		}
	}()
	stores := map[string]*store{}
	for _, t := range []string{toolStrata, toolBuildah} {
		s, err := b.newStore("update-" + t)
		if err != nil {
			return err
		}
		stores[t] = s
	}
	node, err := b.newStore("update-node")
	if err != nil {
		return err
	}
	budDest := b.reg.Host + "/bench/buildah-update:latest"
	strataDest := b.reg.Host + "/bench/update:latest"
	// The previous images, built and pushed (not measured): strata's base
	// is built on this store, so that it is the previous base here.
	if _, err := b.strata(ctx, stores[toolStrata], false, "build", "--refresh", "--push", "--tls-verify=false", recipe); err != nil {
		return fmt.Errorf("one package updated: the previous strata image: %w", err)
	}
	if _, _, err := b.budBuild(ctx, stores[toolBuildah], true); err != nil {
		return fmt.Errorf("one package updated: the previous buildah image: %w", err)
	}
	if _, err := b.buildah(ctx, stores[toolBuildah], "push", "--quiet", "--tls-verify=false", budImage, "docker://"+budDest); err != nil {
		return fmt.Errorf("one package updated: pushing the previous buildah image: %w", err)
	}
	for _, ref := range []string{strataDest, budDest} {
		if _, err := b.buildah(ctx, node, "pull", "--quiet", "--tls-verify=false", "docker://"+ref); err != nil {
			return fmt.Errorf("one package updated: the node's previous image %s: %w", ref, err)
		}
	}
	prev := map[string]*manifest{}
	for tool, repo := range map[string]string{toolStrata: "bench/update", toolBuildah: "bench/buildah-update"} {
		m, err := b.reg.Manifest(ctx, repo, "latest")
		if err != nil {
			return err
		}
		prev[tool] = m
	}

	for rep := range min(b.cfg.Reps, updateReps) {
		pkg := packageRelease(rep)
		rpmFile, rpmSize, err := b.publishRelease(pkg, rep)
		if err != nil {
			return err
		}
		added = append(added, rpmFile)
		progress("rep %d/%d published %s %s-1 (%s .rpm)", rep+1, min(b.cfg.Reps, updateReps), pkg.Name, pkg.Version, mb(rpmSize))
		if err := pair(rep, func(tool string, order int) error {
			var sm sample
			repo, dest := "bench/update", strataDest
			if tool == toolStrata {
				b.reg.ResetCount()
				var r *result
				sm, r, err = b.strataBuild(ctx, stores[tool], "--refresh", "--push", "--tls-verify=false", recipe)
				if err != nil {
					return fmt.Errorf("one package updated, strata, repetition %d: %w", rep+1, err)
				}
				sm.Bytes = b.reg.Sent()
				sm.Changed = changedGroups(r)
			} else {
				repo, dest = "bench/buildah-update", budDest
				if sm, _, err = b.budBuild(ctx, stores[tool], false, "--no-cache"); err != nil {
					return fmt.Errorf("one package updated, buildah bud, repetition %d: %w", rep+1, err)
				}
				b.reg.ResetCount()
				r, err := b.buildah(ctx, stores[tool], "push", "--quiet", "--tls-verify=false", budImage, "docker://"+dest)
				if err != nil {
					return fmt.Errorf("one package updated, buildah push, repetition %d: %w", rep+1, err)
				}
				sm.Wall += r.Wall
				sm.Phases["push"] = r.Wall
				sm.Bytes = b.reg.Sent()
			}
			m, err := b.reg.Manifest(ctx, repo, "latest")
			if err != nil {
				return err
			}
			sm.NewLayers, sm.NewCount = m.newSince(prev[tool])
			prev[tool] = m
			// The node pulls the new image.
			b.reg.ResetCount()
			r, err := b.buildah(ctx, node, "pull", "--policy", "always", "--quiet", "--tls-verify=false", "docker://"+dest)
			if err != nil {
				return fmt.Errorf("one package updated, %s, repetition %d: the node's pull: %w", tool, rep+1, err)
			}
			sm.Pulled, sm.PullWall = b.reg.Received(), r.Wall
			sm.Reference = rpmSize
			if tool == toolStrata {
				sm.Reference += rpmdbLayer(m)
			}
			sm.Rep, sm.Order = rep, order
			b.res.add(scUpdate, tool, sm)
			progress("rep %d/%d %-9s %-8s %8s%s; %d new layers (%s), the node pulled %s in %s%s", rep+1, min(b.cfg.Reps, updateReps), scUpdate, tool, round(sm.Wall),
				phaseSummary(tool, sm), sm.NewCount, mb(sm.NewLayers), mb(sm.Pulled), round(sm.PullWall), changedText(sm.Changed))
			return nil
		}); err != nil {
			return err
		}
	}
	for _, s := range []*store{stores[toolStrata], stores[toolBuildah], node} {
		if err := b.discard(s.Dir); err != nil {
			return err
		}
	}
	return nil
}

// rpmdbLayer is the compressed size of the base's last layer (the rpm
// database and the files no package owns) in the new manifest m: the
// layer just below the sources' layers.
func rpmdbLayer(m *manifest) int64 {
	i := len(m.Layers) - 1 - 2*len(sources())
	if i < 0 {
		return 0
	}
	return m.Layers[i].Size
}

// changedGroups are strata's log lines on the base's layers: how many
// were reused, and each changed group ("layer 12 (bench-core-5):
// bench-core-5 1.0-1.x86_64 -> 1.1-1.x86_64").
func changedGroups(r *result) []string {
	var out []string
	for _, l := range r.Lines {
		text := strings.TrimRight(l.Text, "\" ")
		if i := strings.Index(text, "base: changed "); i >= 0 {
			out = append(out, text[i+len("base: changed "):])
		} else if i := strings.Index(text, " layers by package ("); i >= 0 {
			if j := strings.LastIndex(text, ": "); j > i {
				out = append(out, text[j+2:])
			}
		}
	}
	return out
}

func changedText(c []string) string {
	if len(c) == 0 {
		return ""
	}
	return " [" + strings.Join(c, "; ") + "]"
}
