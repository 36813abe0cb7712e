package layers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/buildah"
	"go.podman.io/buildah/define"
)

// Labels of the final image.
const (
	LabelFinalKey = "io.strata.final.key"
	LabelSources  = "io.strata.sources"
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelTitle    = "org.opencontainers.image.title"
)

// SourcesFile is where the image records its sources, the same JSON as the
// io.strata.sources label.
const SourcesFile = "/usr/share/strata/sources.json"

// finalKeyVersion changes whenever the meaning of a final key changes.
const finalKeyVersion = 1

// Source is one internal project of the final layer: a checkout of one
// commit, copied to Path with its .git.
type Source struct {
	Name    string    `json:"name"`
	Git     string    `json:"git"`
	Branch  string    `json:"branch"`
	Commit  string    `json:"commit"`
	Time    time.Time `json:"-"`
	Path    string    `json:"-"`
	Install []string  `json:"-"`
	Dir     string    `json:"-"` // the checkout on the host
}

// FinalSpec is everything that determines the final image over a base.
type FinalSpec struct {
	Name      string        // the recipe's name (the image title)
	BaseID    string        // the base image's ID
	BaseKey   string        // the base key, recorded as a label
	Sources   []Source      // in recipe order
	Image     recipes.Image // the image configuration
	Network   string        // network of install steps: "none" or "host"
	Epoch     time.Time     // the image date and file time clamp
	Runtime   string        // OCI runtime for install steps
	Container string        // working container name
}

// SourcesJSON returns the provenance record of the sources: name, git,
// branch and commit of each, in recipe order.
func (s *FinalSpec) SourcesJSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	list := s.Sources
	if list == nil {
		list = []Source{}
	}
	_ = enc.Encode(list) // plain strings: cannot fail
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// finalKeyDoc is the canonical document hashed into a final key.
type finalKeyDoc struct {
	Version int           `json:"version"`
	Name    string        `json:"name"`
	Base    string        `json:"base"`
	Sources []keySource   `json:"sources"`
	Image   recipes.Image `json:"image"`
	Network string        `json:"network"`
	Epoch   int64         `json:"epoch"`
}

type keySource struct {
	Name    string   `json:"name"`
	Git     string   `json:"git"`
	Branch  string   `json:"branch"`
	Commit  string   `json:"commit"`
	Path    string   `json:"path"`
	Install []string `json:"install"`
}

// Key returns the final key: the sha256 of the base image, the sources'
// commits and install commands, the image configuration and the date. An
// image with this key is the image a build would make.
func (s *FinalSpec) Key() string {
	doc := finalKeyDoc{Version: finalKeyVersion, Name: s.Name, Base: s.BaseID, Image: s.Image,
		Network: s.Network, Epoch: s.Epoch.Unix(), Sources: []keySource{}}
	for _, src := range s.Sources {
		doc.Sources = append(doc.Sources, keySource{src.Name, src.Git, src.Branch, src.Commit, src.Path, src.Install})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(doc) // maps are encoded with sorted keys
	sum := sha256.Sum256(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	return hex.EncodeToString(sum[:])
}

// Labels returns the provenance labels of the final image.
func (s *FinalSpec) Labels() map[string]string {
	l := map[string]string{
		LabelFinalKey: s.Key(),
		LabelBaseKey:  s.BaseKey,
		LabelCreated:  s.Epoch.UTC().Format(time.RFC3339),
		LabelTitle:    s.Name,
	}
	if len(s.Sources) > 0 {
		l[LabelSources] = string(s.SourcesJSON())
		l[LabelSource] = s.Sources[0].Git
		l[LabelRevision] = s.Sources[0].Commit
	}
	return l
}

// PrepareFinal makes the working container of the final image over the
// base: the image configuration, the sources copied with their .git, the
// sources record, and each source's install command run in the image. The
// caller commits the returned builder and must Delete it on every path.
func PrepareFinal(ctx context.Context, env *Env, spec *FinalSpec) (*buildah.Builder, error) {
	opts, err := env.BuilderOptions(spec.BaseID, spec.Container)
	if err != nil {
		return nil, err
	}
	b, err := buildah.NewBuilder(ctx, env.Store, opts)
	if err != nil {
		return nil, fmt.Errorf("preparing the final image: %w", err)
	}
	if err := prepareFinal(ctx, env, spec, b); err != nil {
		if derr := b.Delete(); derr != nil {
			env.Log.Warnf("removing working container %q: %v", b.Container, derr)
		}
		return nil, err
	}
	return b, nil
}

func prepareFinal(ctx context.Context, env *Env, spec *FinalSpec, b *buildah.Builder) error {
	ApplyConfig(b, spec.Image)
	for k, v := range spec.Labels() {
		b.SetLabel(k, v)
	}
	if len(spec.Sources) == 0 {
		b.SetCreatedBy("strata: image configuration of recipe " + spec.Name)
		return nil
	}
	root, err := b.Mount(b.MountLabel)
	if err != nil {
		return fmt.Errorf("mounting the working container: %w", err)
	}
	defer func() {
		if err := b.Unmount(); err != nil {
			env.Log.Warnf("unmounting working container %q: %v", b.Container, err)
		}
	}()
	if err := copySources(ctx, env, spec, root); err != nil {
		return err
	}
	record, err := securejoin.SecureJoin(root, SourcesFile)
	if err != nil {
		return err
	}
	if err := mkdirAllOwned(root, filepath.Dir(record)); err != nil {
		return err
	}
	if err := replaceWith(record, func() error {
		return os.WriteFile(record, append(spec.SourcesJSON(), '\n'), 0o644)
	}, false); err != nil {
		return fmt.Errorf("writing %s: %w", SourcesFile, err)
	}
	if err := os.Chtimes(record, spec.Epoch, spec.Epoch); err != nil {
		return err
	}
	var steps []string
	for _, src := range spec.Sources {
		if len(src.Install) == 0 {
			continue
		}
		if err := runInstall(ctx, env, spec, b, src); err != nil {
			return err
		}
		steps = append(steps, src.Name+": "+strings.Join(src.Install, " "))
	}
	var names []string
	for _, src := range spec.Sources {
		names = append(names, src.Name+"@"+src.Commit[:12])
	}
	desc := "strata final: sources " + strings.Join(names, " ")
	if len(steps) > 0 {
		desc += "; install " + strings.Join(steps, "; ")
	}
	b.SetCreatedBy(desc)
	return nil
}

// copySources copies every source into the mounted root. Creating files
// through the overlay mount is kernel time, so sources whose paths do not
// nest are copied side by side; nested ones keep the recipe's order (a
// later source overwrites an earlier one).
func copySources(ctx context.Context, env *Env, spec *FinalSpec, root string) error {
	copyOne := func(src Source) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		env.Log.Infof("final: copying %s at %s to %s", src.Name, src.Commit[:12], src.Path)
		if err := copyTree(root, src.Path, src.Dir, spec.Epoch); err != nil {
			return fmt.Errorf("copying source %q: %w", src.Name, err)
		}
		return nil
	}
	if nested(spec.Sources) {
		for _, src := range spec.Sources {
			if err := copyOne(src); err != nil {
				return err
			}
		}
		return nil
	}
	// Shared parents (such as /src) first, so that the copies do not race
	// to create them.
	for _, src := range spec.Sources {
		top, err := securejoin.SecureJoin(root, filepath.Dir(path.Clean(src.Path)))
		if err != nil {
			return err
		}
		if err := mkdirAllOwned(root, top); err != nil {
			return err
		}
	}
	errs := make([]error, len(spec.Sources))
	var wg sync.WaitGroup
	for i, src := range spec.Sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = copyOne(src)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// nested reports whether one source's path is inside another's.
func nested(sources []Source) bool {
	for i, a := range sources {
		for j, b := range sources {
			pa, pb := path.Clean(a.Path), path.Clean(b.Path)
			if i != j && (pa == pb || strings.HasPrefix(pb, pa+"/")) {
				return true
			}
		}
	}
	return false
}

func runInstall(ctx context.Context, env *Env, spec *FinalSpec, b *buildah.Builder, src Source) error {
	if env.Runtime == "" {
		return fmt.Errorf("no OCI runtime configured for the install command of source %q", src.Name)
	}
	env.Log.Infof("final: running the install command of %s: %s", src.Name, strings.Join(src.Install, " "))
	ns := define.NamespaceOptions{{Name: "network", Host: spec.Network == "host"}}
	t := &tail{}
	err := b.Run(src.Install, buildah.RunOptions{
		Isolation:        define.IsolationOCI,
		Runtime:          env.Runtime,
		WorkingDir:       src.Path,
		User:             "0:0", // installs write system directories whatever image.user is
		Env:              []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(spec.Epoch.Unix(), 10)},
		NamespaceOptions: ns,
		ConfigureNetwork: define.NetworkDisabled,
		Stdout:           multi(env.Output, t),
		Stderr:           multi(env.Output, t),
		Logger:           env.Log,
		Quiet:            true,
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("install command of source %q interrupted: %w", src.Name, ctx.Err())
		}
		msg := strings.TrimSpace(t.buf.String())
		if msg != "" {
			msg = ": " + lastLines(msg, 5)
		}
		return fmt.Errorf("running the install command of source %q (%s): %w%s", src.Name, strings.Join(src.Install, " "), err, msg)
	}
	return ctx.Err()
}

// ApplyConfig sets the recipe's image configuration on a builder.
func ApplyConfig(b *buildah.Builder, im recipes.Image) {
	if im.Entrypoint != nil {
		b.SetEntrypoint(im.Entrypoint)
	}
	if im.Cmd != nil {
		b.SetCmd(im.Cmd)
	}
	for _, k := range slices.Sorted(maps.Keys(im.Env)) {
		b.SetEnv(k, im.Env[k])
	}
	if im.Workdir != "" {
		b.SetWorkDir(im.Workdir)
	}
	if im.User != "" {
		b.SetUser(im.User)
	}
	for _, k := range slices.Sorted(maps.Keys(im.Labels)) {
		b.SetLabel(k, im.Labels[k])
	}
	for _, p := range im.Ports {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		b.SetPort(p)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
