package layers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/internal/stores"
	"github.com/strata-build/strata/layers/lock"
	"github.com/strata-build/strata/layers/sbom"
	"github.com/strata-build/strata/recipes"
	"github.com/strata-build/strata/recipes/targets"
	"go.podman.io/buildah"
	"go.podman.io/buildah/define"
	"go.podman.io/common/pkg/config"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"
)

// Label names strata writes.
const (
	LabelBaseKey      = "io.strata.base.key"
	LabelBasePackages = "io.strata.base.packages"
	LabelCreated      = "org.opencontainers.image.created"
	// LabelBaseRPMs lists every package of the base's rpm database (JSON:
	// name, epoch, version, release, arch, license, source RPM, vendor,
	// packager), read with the host's rpm after the install: the RPM part
	// of the SBOM, in the configuration so that an image composed in a
	// registry has it without pulling a layer.
	LabelBaseRPMs = "io.strata.base.rpms"
	// LabelBaseFrom is the image the base was installed over: NAME@DIGEST
	// for a registry image, else base.from as written ("scratch").
	LabelBaseFrom = "io.strata.base.from"
)

// BaseSBOMFile is the base layer's own bill of materials (its RPMs and
// the image under them), a CycloneDX document in the layer its facts are
// in.
const BaseSBOMFile = "/usr/share/strata/sbom/base.cdx.json"

// Env is what assembling a layer needs from its caller.
type Env struct {
	Store      *stores.Store
	Log        *logrus.Logger // progress and decisions
	Output     io.Writer      // the output of dnf and of run steps
	PolicyPath string
	Runtime    string // OCI runtime path (runc); "" with chroot isolation
	// Isolation of run steps (dnf in container mode, install commands):
	// buildah's oci (the default: Runtime in its namespaces) or chroot.
	Isolation     define.Isolation
	SystemContext *types.SystemContext
	// Epoch, when set (SOURCE_DATE_EPOCH), dates the image and clamps file
	// times; otherwise the base is dated by its newest package build time.
	Epoch *time.Time
}

// Installer installs packages into a working container: the strategy of a
// base install mode.
type Installer interface {
	Install(ctx context.Context, w *Work, pkgs []string) error
}

// Work is one working container being assembled.
type Work struct {
	Builder *buildah.Builder
	Root    string // where the container's root is mounted
	Target  targets.Target
	Repos   []recipes.Repo
	TempDir string // scratch space outside the image, removed afterwards
	Env     *Env
}

// installEpoch is the SOURCE_DATE_EPOCH rpm records as install time: the
// caller's, or 0, so that the rpm database is the same on every build.
func (w *Work) installEpoch() int64 {
	if w.Env.Epoch != nil {
		return w.Env.Epoch.Unix()
	}
	return 0
}

var (
	_ Installer = installRoot{}
	_ Installer = inContainer{}
)

// InstallerFor returns the strategy for an install mode.
func InstallerFor(mode string) (Installer, error) {
	switch mode {
	case recipes.InstallRoot, "":
		return installRoot{}, nil
	case recipes.InstallContainer:
		return inContainer{}, nil
	}
	return nil, fmt.Errorf("unknown install mode %q", mode)
}

// BaseImageName is the local name of the base image with key key.
func BaseImageName(recipeName, key string) string {
	return fmt.Sprintf("localhost/%s-base:%s", recipeName, key[:16])
}

// BuilderOptions returns the buildah options strata uses for every working
// container: OCI isolation with the chosen runtime, the usual capabilities,
// and process limits that fit this machine.
func (e *Env) BuilderOptions(from, container string) (buildah.BuilderOptions, error) {
	conf, err := config.Default()
	if err != nil {
		return buildah.BuilderOptions{}, fmt.Errorf("reading containers.conf: %w", err)
	}
	caps, err := conf.Capabilities("root", nil, nil)
	if err != nil {
		return buildah.BuilderOptions{}, fmt.Errorf("computing default capabilities: %w", err)
	}
	if from == recipes.Scratch {
		from = ""
	}
	return buildah.BuilderOptions{
		FromImage: from,
		// Unique per process, and known as this process's: concurrent
		// builds of one recipe share a store, and what a killed one left
		// is collected (stores.Collect).
		Container:           container + "-" + stores.Owner(),
		PullPolicy:          define.PullIfMissing,
		SignaturePolicyPath: e.PolicyPath,
		SystemContext:       e.SystemContext,
		ReportWriter:        e.Output,
		Isolation:           e.isolation(),
		Capabilities:        caps,
		CommonBuildOpts:     &define.CommonBuildOptions{Ulimit: stores.Ulimits()},
		Format:              define.OCIv1ImageManifest,
		Logger:              e.Log,
		NetworkInterface:    noNetworks{},
		ConfigureNetwork:    define.NetworkDisabled,
	}, nil
}

// isolation is the isolation of run steps: oci unless chroot was asked for.
func (e *Env) isolation() define.Isolation {
	if e.Isolation == define.IsolationChroot {
		return define.IsolationChroot
	}
	return define.IsolationOCI
}

// checkRunner says what is missing to run a step: an OCI runtime, unless
// the isolation is chroot.
func (e *Env) checkRunner(what string) error {
	if e.isolation() == define.IsolationOCI && e.Runtime == "" {
		return fmt.Errorf("no OCI runtime configured for %s", what)
	}
	return nil
}

// BuildBase installs spec's packages over spec.From and commits the result
// to the local store as BaseImageName(recipeName, key). It returns the new
// image's ID. On any failure, cancellation included, the working container
// and its mount are removed and nothing is tagged.
func BuildBase(ctx context.Context, env *Env, spec BaseSpec, recipeName string) (id string, err error) {
	target, err := targets.Lookup(spec.Target)
	if err != nil {
		return "", err
	}
	inst, err := InstallerFor(spec.Mode)
	if err != nil {
		return "", err
	}
	key := spec.Key()
	opts, err := env.BuilderOptions(spec.PullRef(), "strata-"+recipeName+"-base")
	if err != nil {
		return "", err
	}
	env.Log.Infof("base: preparing %s", displayFrom(spec.From))
	b, err := buildah.NewBuilder(ctx, env.Store, opts)
	if err != nil {
		return "", fmt.Errorf("preparing base image %q: %w", spec.From, stores.PolicyError(err, env.PolicyPath, spec.From))
	}
	defer func() {
		if derr := b.Delete(); derr != nil {
			env.Log.Warnf("removing working container %q: %v", b.Container, derr)
		}
	}()
	root, err := b.Mount("")
	if err != nil {
		return "", fmt.Errorf("mounting working container: %w", err)
	}
	tmp, err := os.MkdirTemp("", "strata-base-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	w := &Work{Builder: b, Root: root, Target: target, Repos: spec.Repos, TempDir: tmp, Env: env}

	pkgs := append([]string(nil), spec.Packages...)
	sort.Strings(pkgs)
	install := pkgs
	if len(spec.Locked) > 0 {
		install = nil
		for _, p := range spec.Locked {
			install = append(install, p.NEVRA())
		}
		env.Log.Infof("base: installing %d locked packages with dnf (%s): %s", len(install), spec.Mode, strings.Join(install, ", "))
	} else {
		env.Log.Infof("base: installing %d packages with dnf (%s): %s", len(pkgs), spec.Mode, strings.Join(pkgs, ", "))
	}
	// What base.from has installed stays in its layers.
	before, err := installedNEVRAs(ctx, root, target)
	if err != nil {
		return "", err
	}
	if err := inst.Install(ctx, w, install); err != nil {
		return "", err
	}
	rpms, err := queryRPMs(ctx, root, target)
	if err != nil {
		return "", err
	}
	if len(spec.Locked) > 0 {
		if err := checkLocked(rpms, spec.Locked); err != nil {
			return "", err
		}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	epoch := env.Epoch
	if epoch == nil {
		t := newestBuildTime(ctx, root, target)
		epoch = &t
	}
	if err := cleanDNF(root, target); err != nil {
		return "", err
	}
	from := spec.FromRef()
	doc, err := sbom.Encode(sbom.Image{Name: recipeName + "-base", Created: *epoch, From: from, BaseKey: key, Distro: target.Name, RPMs: rpms})
	if err != nil {
		return "", err
	}
	if err := writeRootFile(root, BaseSBOMFile, doc); err != nil {
		return "", fmt.Errorf("writing %s into the base: %w", BaseSBOMFile, err)
	}
	prev := previousLayout(ctx, env.Store, recipeName)
	if prev == nil && spec.PreviousLayout != nil {
		prev = spec.PreviousLayout()
	}
	env.Log.Infof("base: splitting into layers by package (at most %d)", spec.layers())
	createdBy := fmt.Sprintf("strata base: dnf install (%s, %s) %s", spec.Mode, target.Name, clip(strings.Join(pkgs, " "), 400))
	layerList, layout, err := baseLayers(ctx, env, b, root, target, spec, prev, *epoch, before, createdBy)
	if err != nil {
		return "", err
	}
	logLayout(env, layerList, layout, prev)
	labels := map[string]string{
		LabelBaseRPMs:     string(compactJSON(rpms)),
		LabelBaseFrom:     from,
		LabelBaseKey:      key,
		LabelBaseKeyDoc:   string(spec.KeyDocument()),
		LabelBasePackages: strings.Join(pkgs, " "),
		LabelCreated:      epoch.UTC().Format(time.RFC3339),
		LabelBaseLayers:   string(compactJSON(layout)),
	}
	name := BaseImageName(recipeName, key)
	env.Log.Infof("base: committing %s", name)
	id, err = compose(ctx, env.Store, composition{
		base: b.FromImageID, layers: layerList, created: *epoch, names: []string{name},
		edit: func(c *v1.ImageConfig) {
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			maps.Copy(c.Labels, labels)
		},
	})
	if err != nil {
		return "", fmt.Errorf("committing base image: %w", err)
	}
	if err := ctx.Err(); err != nil {
		// Interrupted while committing: do not leave a tagged image.
		if _, rerr := env.Store.DeleteImage(id, true); rerr != nil {
			env.Log.Warnf("removing interrupted base image %s: %v", id, rerr)
		}
		return "", err
	}
	if err := MarkBuilt(env.Store, id, time.Now()); err != nil {
		env.Log.Warnf("recording the build time of base %s: %v", id, err)
	}
	return id, nil
}

// logLayout says how the base was split, and which groups changed from
// the previous base of the recipe.
func logLayout(env *Env, list []Layer, layout BaseLayout, prev *BaseLayout) {
	reused := 0
	for _, l := range list {
		if l.How != HowBuilt {
			reused++
		}
	}
	groups := fmt.Sprintf("%d package groups", len(list)-1)
	if len(list) == 2 {
		groups = "1 package group"
	}
	env.Log.Infof("base: %d layers by package (%s and the rpm database layer): %d reused, %d written", len(list), groups, reused, len(list)-reused)
	if prev == nil {
		return
	}
	changed := ExplainLayout(*prev, layout)
	if len(changed) == 0 {
		env.Log.Infof("base: no package group changed from the previous base")
	}
	for _, c := range changed {
		env.Log.Infof("base: changed %s", c)
	}
}

// installedNEVRAs lists the packages installed under root (none when it
// has no rpm database: scratch).
func installedNEVRAs(ctx context.Context, root string, t targets.Target) (map[string]bool, error) {
	out := map[string]bool{}
	if _, err := os.Stat(filepath.Join(root, t.RPMDBPath)); err != nil {
		return out, nil
	}
	cmd := exec.CommandContext(ctx, "rpm", "--root", root, "--dbpath", t.RPMDBPath, "-qa", "--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\n")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	list, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the packages of base.from (rpm --root --dbpath %s -qa): %w: %s", t.RPMDBPath, err, strings.TrimSpace(stderr.String()))
	}
	for _, n := range strings.Fields(string(list)) {
		out[n] = true
	}
	return out, nil
}

// Local records kept beside a base image in the store (not in the image,
// so that they do not change its digest).
const (
	bigDataBuilt    = "strata.built"
	bigDataLastUsed = "strata.last-used"
)

// MarkBuilt records when a base was built (or pulled: when it was built
// by the runner that pushed it).
func MarkBuilt(store storage.Store, id string, t time.Time) error {
	return store.SetImageBigData(id, bigDataBuilt, []byte(t.UTC().Format(time.RFC3339)), nil)
}

// MarkUsed records that a build used a base now.
func MarkUsed(store storage.Store, id string) error {
	return store.SetImageBigData(id, bigDataLastUsed, []byte(time.Now().UTC().Format(time.RFC3339)), nil)
}

// BuiltAt returns when a base was built: the recorded time, else when the
// store got it.
func BuiltAt(store storage.Store, img *storage.Image) time.Time {
	if t, ok := bigDataTime(store, img, bigDataBuilt); ok {
		return t
	}
	return img.Created
}

// LastUsed returns when a build last used a base (BuiltAt when never).
func LastUsed(store storage.Store, img *storage.Image) time.Time {
	if t, ok := bigDataTime(store, img, bigDataLastUsed); ok {
		return t
	}
	return BuiltAt(store, img)
}

// bigDataTime reads a time strata recorded beside an image.
func bigDataTime(store storage.Store, img *storage.Image, key string) (time.Time, bool) {
	data, err := store.ImageBigData(img.ID, key)
	if err != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, string(data))
	return t, err == nil
}

// queryRPMs lists the packages of the root's rpm database with the host's
// rpm (nothing runs inside the image).
func queryRPMs(ctx context.Context, root string, t targets.Target) ([]sbom.RPM, error) {
	// rpm lists nothing, successfully, where there is no database: the
	// SBOM would be silently empty.
	if _, err := os.Stat(filepath.Join(root, t.RPMDBPath)); err != nil {
		return nil, fmt.Errorf("listing the installed packages for the SBOM: no rpm database at %s in the base (target %s): %w", t.RPMDBPath, t.Name, err)
	}
	cmd := exec.CommandContext(ctx, "rpm", "--root", root, "--dbpath", t.RPMDBPath, "-qa", "--qf", sbom.QueryFormat)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the installed packages for the SBOM (rpm --root --dbpath %s -qa): %w: %s", t.RPMDBPath, err, strings.TrimSpace(stderr.String()))
	}
	return sbom.ParseRPMQuery(out)
}

// writeRootFile writes a file of strata's into a mounted root, with its
// parent directories (0755, as the image's own).
func writeRootFile(root, name string, data []byte) error {
	p := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(name, "/")))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// compactJSON encodes v without HTML escaping or a final newline.
func compactJSON(v any) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // plain values
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}

// checkLocked checks that the installed packages are exactly the locked
// ones.
func checkLocked(installed []sbom.RPM, locked []lock.Package) error {
	var got, want []string
	for _, r := range installed {
		epoch := r.Epoch
		if epoch == "" {
			epoch = "0"
		}
		got = append(got, fmt.Sprintf("%s-%s:%s-%s.%s", r.Name, epoch, r.Version, r.Release, r.Arch))
	}
	for _, p := range locked {
		want = append(want, p.NEVRA())
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("the installed packages differ from the lock: installed %s, locked %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	return nil
}

func displayFrom(from string) string {
	if from == "" || from == recipes.Scratch {
		return "an empty root (scratch)"
	}
	return from
}

// cleanDNF removes what dnf leaves behind that is cache, log or history,
// not content: none of it belongs in a layer, and it is not reproducible.
func cleanDNF(root string, t targets.Target) error {
	var errs []error
	for _, pattern := range []string{
		"var/cache/dnf", "var/cache/yum", "var/cache/libdnf5", "var/lib/dnf", "var/lib/yum",
		"var/log/dnf*.log", "var/log/hawkey.log", "var/log/yum.log",
		strings.TrimPrefix(t.RPMDBPath, "/") + "/*-shm",
		strings.TrimPrefix(t.RPMDBPath, "/") + "/.rpm.lock",
		"var/lib/rpm/__db.*",
	} {
		matches, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing dnf caches from the layer: %w", err)
	}
	return nil
}
