package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/internal/gitsrc"
	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/layers/lock"
	"github.com/strata-build/strata/recipes"
	"github.com/strata-build/strata/recipes/pyreq"
	"go.podman.io/storage"
)

// GitOptions are how the sources are fetched.
type GitOptions struct {
	// CacheDir is the root of the clone cache, e.g. $XDG_CACHE_HOME/strata/git.
	CacheDir string
	// Token authenticates to https remotes without credentials in their
	// URL; it never appears in logs, errors, labels or layers.
	Token string
	// SSHKeyFile is an unencrypted private key for ssh remotes; without
	// it the ssh-agent at SSH_AUTH_SOCK is used.
	SSHKeyFile string
	// Log receives the fetches' progress; nil: the build's logger.
	Log *logrus.Logger
}

// PlanOptions choose what a build takes from a recipe's sources.
type PlanOptions struct {
	Profile string     // --profile; "" for the recipe's first
	Branch  string     // --branch: overrides the profile's branch
	Offline bool       // --offline: no network access at all
	Network string     // --network of install steps: "none" (default) or "host"
	Epoch   *time.Time // SOURCE_DATE_EPOCH
	// Git configures clones: the cache directory and credentials.
	Git GitOptions
	// Partial lets an offline plan go on when a source is neither local
	// nor in the clone cache: the base set is then marked incomplete.
	Partial bool
	// Registry is how registries are reached: base.from's digest, the
	// registry cache, push.
	Registry RegistryOptions
	// Cache is --cache: local, registry or off ("" for the default:
	// local, plus the registry when the recipe names a repository).
	Cache string
	// Refresh (--refresh) rebuilds the base whatever is cached.
	Refresh bool
	// Explain adds the key document to the plan (--explain).
	Explain bool
	// CacheDir is strata's cache directory (records of resolved digests).
	CacheDir string
	// IgnoreLock plans without RECIPE.lock (strata lock resolves anew).
	IgnoreLock bool
	// Labels (--label) are added to the image's, over the recipe's;
	// Annotations (--annotation) to its manifest. Both are in the final key.
	Labels, Annotations map[string]string
}

// LockFile is where a recipe's lock lives: beside it, RECIPE.lock.
func LockFile(r *recipes.Recipe) string { return r.File + ".lock" }

// applyLock pins the base to RECIPE.lock when there is one: its digest
// joins the key and its packages are what dnf installs. A lock made for
// another base set or target is an error, not silently ignored.
func (p *Plan) applyLock() error {
	path := LockFile(p.recipe)
	lf, err := lock.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %v", recipes.ErrInvalid, err)
	}
	spec := &p.Base.spec
	if lf.Target != spec.Target {
		return fmt.Errorf("%w: %s was made for target %s, the recipe builds %s: run strata lock --update", recipes.ErrInvalid, path, lf.Target, spec.Target)
	}
	if !slices.Equal(lf.Packages, spec.Packages) {
		added, removed := setDiff(lf.Packages, spec.Packages)
		return fmt.Errorf("%w: %s is stale: the base set changed (added: %s; removed: %s): run strata lock --update",
			recipes.ErrInvalid, path, orNone(added), orNone(removed))
	}
	if spec.Mode == recipes.InstallContainer {
		return fmt.Errorf("%w: %s: locks need base.install: installroot for now", recipes.ErrInvalid, path)
	}
	pkgs, ok := lf.For(lock.HostArch())
	if !ok {
		return fmt.Errorf("%w: %s has no packages for %s: run strata lock --update on this architecture", recipes.ErrInvalid, path, lock.HostArch())
	}
	spec.Lock, spec.Locked = lf.Digest(), pkgs
	p.rekey()
	p.Base.Lock = path
	return nil
}

// rekey computes the base key and image name again after the spec changed.
func (p *Plan) rekey() {
	p.Base.Key = p.Base.spec.Key()
	p.Base.Image = layers.BaseImageName(p.recipe.Name, p.Base.Key)
}

func setDiff(old, cur []string) (added, removed []string) {
	for _, c := range cur {
		if !slices.Contains(old, c) {
			added = append(added, c)
		}
	}
	for _, o := range old {
		if !slices.Contains(cur, o) {
			removed = append(removed, o)
		}
	}
	return added, removed
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// Lock resolves the plan's base set to exact RPMs with dnf and writes
// RECIPE.lock. It returns what changed against the previous lock (every
// package when there was none), one line each. Progress goes to log,
// dnf's output to output.
func (p *Plan) Lock(ctx context.Context, log *logrus.Logger, output io.Writer) ([]string, error) {
	env := &layers.Env{Log: log, Output: output}
	if p.Base.Incomplete != "" {
		return nil, fmt.Errorf("cannot lock: %s", p.Base.Incomplete)
	}
	spec := p.Base.spec
	spec.Lock, spec.Locked = "", nil
	pkgs, err := layers.ResolveLock(ctx, env, spec)
	if err != nil {
		return nil, err
	}
	path := LockFile(p.recipe)
	old, err := lock.Read(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		old = nil // a broken lock is replaced
	}
	lf := &lock.Lock{Version: lock.Version, Target: spec.Target, Packages: spec.Packages,
		Arches: map[string][]lock.Package{}}
	if old != nil && old.Target == spec.Target && slices.Equal(old.Packages, spec.Packages) {
		for arch, list := range old.Arches {
			lf.Arches[arch] = list // other architectures stay as they were
		}
	}
	lf.Arches[lock.HostArch()] = pkgs
	changes := lf.Diff(old, lock.HostArch())
	if err := lf.Write(path); err != nil {
		return nil, err
	}
	return changes, nil
}

// LockUpToDate says whether the recipe's lock file was resolved from the
// base set and target planned, for this host's architecture: locking again
// without --update would change nothing a build reads.
func (p *Plan) LockUpToDate() bool {
	old, err := lock.Read(LockFile(p.recipe))
	if err != nil {
		return false
	}
	spec := p.Base.spec
	_, ok := old.Arches[lock.HostArch()]
	return ok && old.Target == spec.Target && slices.Equal(old.Packages, spec.Packages)
}

// Prepare plans a build: it picks the profile, resolves every source's
// branch to a commit, fetches the sources into the clone cache, reads their
// dependency files and computes the base set and key. It does not touch
// the store.
func Prepare(ctx context.Context, r *recipes.Recipe, opts PlanOptions) (*Plan, error) {
	name, prof, err := r.Profile(opts.Profile)
	if err != nil {
		return nil, fmt.Errorf("%w: --profile: %v", ErrUsage, err)
	}
	branch := prof.Branch
	if opts.Branch != "" {
		if err := recipes.CheckBranch(opts.Branch); err != nil {
			return nil, fmt.Errorf("%w: --branch: %v", ErrUsage, err)
		}
		branch = opts.Branch
	}
	switch opts.Network {
	case "", "none", "host":
	default:
		return nil, fmt.Errorf("%w: invalid --network %q: want none or host", ErrUsage, opts.Network)
	}
	switch opts.Cache {
	case "", CacheLocal, CacheRegistry, CacheOff:
	default:
		return nil, fmt.Errorf("%w: invalid --cache %q: want local, registry or off", ErrUsage, opts.Cache)
	}
	if opts.Cache == CacheRegistry && cacheRepo(r) == "" {
		return nil, fmt.Errorf("%w: --cache=registry needs push.cache or push.repository in the recipe %s", ErrUsage, r.File)
	}
	sys, err := opts.Registry.SystemContext()
	if err != nil {
		return nil, err
	}
	p := &Plan{recipe: r, Recipe: r.File, Profile: name, Branch: branch, Tags: prof.Tags, Sources: []PlanSource{},
		opts: opts, maxAge: r.MaxAgeDuration()}
	client := gitsrc.New(gitsrc.Options{CacheDir: opts.Git.CacheDir, Offline: opts.Offline, Token: opts.Git.Token,
		SSHKeyFile: opts.Git.SSHKeyFile, Log: opts.Git.Log})
	var missing []string
	// Sources are resolved and checked out side by side: each is mostly
	// waiting on the network or the disk. Errors are reported in recipe
	// order, the first one winning.
	planned := make([]PlanSource, len(r.Sources))
	errs := make([]error, len(r.Sources))
	var wg sync.WaitGroup
	for i, s := range r.Sources {
		planned[i] = PlanSource{Name: s.Name, Git: gitsrc.Redact(s.Git), Branch: branch, Path: s.Dest(),
			Deps: nonNil(s.Deps), Install: nonNil(s.Install), Needs: s.Needs}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = resolveSource(ctx, client, s, &planned[i])
		}()
	}
	wg.Wait()
	for i, s := range r.Sources {
		ps := planned[i]
		if err := errs[i]; err != nil {
			if opts.Partial && errors.Is(err, gitsrc.ErrOffline) {
				ps.Problem = err.Error()
				missing = append(missing, s.Name)
				p.Sources = append(p.Sources, ps)
				continue
			}
			return nil, fmt.Errorf("source %q: %w", s.Name, err)
		}
		p.Sources = append(p.Sources, ps)
	}
	sd, err := p.readSourceDeps(ctx)
	if err != nil {
		return nil, err
	}
	fromDigest, fromRef, err := resolveFrom(ctx, sys, r.BaseFrom(), opts.CacheDir, opts.Offline)
	if err != nil && !(opts.Partial && errors.Is(err, errFromOffline)) {
		return nil, err
	}
	p.planBase(sd.deps, sd.internal, sd.scriptlet, fromDigest)
	if fromRef != "" {
		p.Base.spec.FromResolved = fromRef
		p.Base.Pull = p.Base.spec.PullRef()
	}
	p.Base.Warnings = sd.warnings
	if content := localRepoContent(r.Base.Repos, opts.CacheDir); len(content) > 0 {
		p.Base.spec.RepoContent = content
		p.rekey()
	}
	if !opts.IgnoreLock {
		if err := p.applyLock(); err != nil {
			return nil, err
		}
	}
	var incomplete []string
	if len(missing) > 0 {
		incomplete = append(incomplete, fmt.Sprintf("the dependencies of %s are not known offline", strings.Join(missing, ", ")))
	}
	if err != nil {
		incomplete = append(incomplete, err.Error())
	}
	if len(incomplete) > 0 {
		p.Base.Incomplete = strings.Join(incomplete, "; ")
		p.Base.Key = ""
	} else if opts.Explain {
		p.Base.KeyDocument = p.Base.spec.KeyDocument()
	}
	switch {
	case opts.Epoch != nil:
		p.Epoch = opts.Epoch.UTC()
	default:
		for _, s := range p.Sources {
			if s.Date.After(p.Epoch) {
				p.Epoch = s.Date.UTC()
			}
		}
	}
	p.network = opts.Network
	if p.network == "" {
		p.network = "none"
	}
	return p, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func resolveSource(ctx context.Context, client *gitsrc.Client, s recipes.Source, ps *PlanSource) error {
	c, err := client.Resolve(ctx, s.Git, ps.Branch)
	if err != nil {
		return err
	}
	dir, commit, err := client.Checkout(ctx, s.Git, ps.Branch, c.Hash)
	if err != nil {
		return err
	}
	ps.Commit, ps.Date, ps.dir = commit.Hash, commit.Time.UTC(), dir
	return nil
}

// sourceDeps is what the sources' dependency files declare.
type sourceDeps struct {
	deps, scriptlet []recipes.Requirement
	internal        []Internal
	warnings        []string // SOURCE:FILE:LINE: message
}

// readSourceDeps reads the dependency files of all resolved sources at
// once, so that what one source provides is internal for all, and leaves
// out the sources' own names. Provenance reads SOURCE:FILE:LINE.
func (p *Plan) readSourceDeps(ctx context.Context) (*sourceDeps, error) {
	t, _ := p.recipe.TargetProfile()
	out := &sourceDeps{}
	var files []string
	rename := map[string]string{} // checkout dir + "/" -> "SOURCE:"
	seen := map[string]bool{}
	addInternal := func(name, reason string) {
		if !seen[name] {
			seen[name] = true
			out.internal = append(out.internal, Internal{Name: name, Reason: reason})
		}
	}
	trees := checkoutFiles{}
	defer trees.close()
	for _, s := range p.Sources {
		addInternal(s.Name, "the name of source "+s.Name)
		addInternal("python3dist("+pyreq.Normalize(s.Name)+")", "the Python project of source "+s.Name)
		if s.dir == "" || len(s.Deps) == 0 {
			continue
		}
		tree, err := gitsrc.OpenTree(s.dir)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", s.Name, err)
		}
		trees[s.dir] = tree
		var own []string
		for _, f := range s.Deps {
			if _, err := tree.ReadFile(f); err != nil {
				return nil, fmt.Errorf("source %q: deps file %q is not in %s at %s", s.Name, f, s.Git, s.Commit[:12])
			}
			own = append(own, filepath.Join(s.dir, filepath.FromSlash(f)))
		}
		rename[s.dir+string(filepath.Separator)] = s.Name + ":"
		d, err := recipes.ReadDepsContext(ctx, own, recipes.DepsOptions{Target: t, ReadFile: trees.readFile})
		if err != nil {
			return nil, renamedError{err, rename}
		}
		for _, n := range d.Internal {
			addInternal(n, fmt.Sprintf("provided by source %s (%s)", s.Name, strings.Join(s.Deps, ", ")))
		}
		files = append(files, own...)
	}
	if len(files) == 0 {
		return out, nil
	}
	d, err := recipes.ReadDepsContext(ctx, files, recipes.DepsOptions{Target: t, ReadFile: trees.readFile})
	if err != nil {
		return nil, renamedError{err, rename}
	}
	// A source's own name, also with an extra or an ISA qualifier.
	internal := func(dep string) bool {
		name := recipes.DepName(dep)
		return seen[name] || seen[stripExtra(name)] || seen[recipes.StripISA(name)]
	}
	fix := func(list []recipes.Requirement) []recipes.Requirement {
		out := make([]recipes.Requirement, 0, len(list))
		for _, r := range list {
			if internal(r.Dep) {
				continue
			}
			from := make([]string, len(r.From))
			for i, f := range r.From {
				from[i] = renamePaths(f, rename)
			}
			out = append(out, recipes.Requirement{Dep: r.Dep, From: from})
		}
		return out
	}
	for _, w := range d.Warnings {
		if !internal(w.Dep) {
			out.warnings = append(out.warnings, renamePaths(w.String(), rename))
		}
	}
	out.deps, out.scriptlet = fix(d.BaseSet()), fix(d.Scriptlet)
	return out, nil
}

// checkoutFiles reads the files of checkouts from their git objects:
// the checkouts are not on disk. Keyed by the clone cache entry.
type checkoutFiles map[string]*gitsrc.Tree

// readFile reads name, a path under one of the clone cache entries.
func (c checkoutFiles) readFile(name string) ([]byte, error) {
	for dir, tree := range c {
		rel, err := filepath.Rel(dir, name)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return tree.ReadFile(filepath.ToSlash(rel))
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (c checkoutFiles) close() {
	for _, t := range c {
		_ = t.Close()
	}
}

// stripExtra turns python3dist(name[extra]) into python3dist(name).
func stripExtra(name string) string {
	if i := strings.Index(name, "["); i > 0 && strings.HasPrefix(name, "python3dist(") {
		return name[:i] + ")"
	}
	return name
}

func renamePaths(s string, rename map[string]string) string {
	for dir, to := range rename {
		s = strings.ReplaceAll(s, dir, to)
	}
	return s
}

// renamedError shows checkout paths as SOURCE:FILE.
type renamedError struct {
	err    error
	rename map[string]string
}

func (e renamedError) Error() string { return renamePaths(e.err.Error(), e.rename) }
func (e renamedError) Unwrap() error { return e.err }

// finalSpec returns the final image's spec over the base image baseID.
func (p *Plan) finalSpec(baseID string, epoch *time.Time) (*layers.FinalSpec, error) {
	spec := &layers.FinalSpec{
		Name: p.recipe.Name, BaseID: baseID, BaseKey: p.Base.Key, Image: p.recipe.Image,
		Network: p.network, Epoch: p.Epoch, SourceDateEpoch: p.opts.Epoch, Container: "strata-" + p.recipe.Name,
	}
	if epoch != nil && spec.Epoch.IsZero() {
		spec.Epoch = epoch.UTC()
	}
	if len(p.opts.Labels) > 0 {
		labels := maps.Clone(spec.Image.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, p.opts.Labels)
		spec.Image.Labels = labels
	}
	spec.Annotations = p.opts.Annotations
	if b := p.Base.spec; b.FromResolved != "" && b.FromDigest != "" {
		spec.BaseName, spec.BaseDigest = b.FromResolved, b.FromDigest
	}
	for _, s := range p.Sources {
		if s.Commit == "" {
			return nil, fmt.Errorf("source %q is not resolved: %s", s.Name, s.Problem)
		}
		spec.Sources = append(spec.Sources, layers.Source{
			Name: s.Name, Git: s.Git, Branch: s.Branch, Commit: s.Commit, Time: s.Date,
			Path: s.Path, Install: s.Install, Needs: s.Needs, Dir: s.dir,
		})
	}
	return spec, nil
}

// findFinal returns the ID of the image in the store whose final key is
// key, or "". Images named after the recipe are looked at first.
func findFinal(store storage.Store, recipeName, key string) (string, error) {
	images, err := store.Images()
	if err != nil {
		return "", fmt.Errorf("listing images: %w", err)
	}
	prefix := "localhost/" + recipeName + ":"
	var first, rest []storage.Image
	for _, img := range images {
		named := false
		for _, n := range img.Names {
			named = named || strings.HasPrefix(n, prefix)
		}
		if named {
			first = append(first, img)
		} else if len(img.Names) > 0 {
			rest = append(rest, img)
		}
	}
	for _, img := range append(first, rest...) {
		labels, err := layers.ImageLabels(context.Background(), store, img.ID)
		if err != nil {
			continue // not readable as an image we made
		}
		if labels[layers.LabelFinalKey] == key {
			return img.ID, nil
		}
	}
	return "", nil
}
