package layers

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/strata-build/strata/recipes"
	"github.com/strata-build/strata/recipes/targets"
	"go.podman.io/buildah"
	is "go.podman.io/image/v5/storage"
	"go.podman.io/storage"
	"go.podman.io/storage/pkg/archive"
	"golang.org/x/sys/unix"
)

// LabelBaseLayers records how a base was split into layers by package
// (BaseLayout, JSON): the next build of the recipe keeps its grouping,
// and says which groups changed.
const LabelBaseLayers = "io.strata.base.layers"

// Kinds of the base's layers.
const (
	// KindRPMs is a layer of the files some packages own: a pure
	// function of their NEVRAs.
	KindRPMs = "rpms"
	// KindRPMDB is the base's last layer: the rpm database and every
	// file no package owns as it installed it (scriptlet output,
	// caches, strata's SBOM), with the whiteouts of removed files.
	KindRPMDB = "rpmdb"
)

// splitVersion changes whenever the bytes a package group's key gives
// change.
const splitVersion = 1

// BaseLayout is how a base's packages are grouped into layers.
type BaseLayout struct {
	// Layers is base.layers as the build applied it: at most Layers-1
	// package groups and the last layer.
	Layers int `json:"layers"`
	// Dedicated are the source RPMs with a layer of their own, in layer
	// order; every other source RPM goes to one of the remaining groups
	// by a hash of its name.
	Dedicated []string    `json:"dedicated"`
	Groups    []BaseGroup `json:"groups"`
}

// BaseGroup is one package-group layer of a base.
type BaseGroup struct {
	Index    int      `json:"index"`
	Sources  []string `json:"sources"`
	Packages []string `json:"packages"` // NEVRAs, sorted
	Key      string   `json:"key"`
}

// groups is how many package groups the layout has.
func (b BaseLayout) groups() int { return max(b.Layers-1, 0) }

// index returns the group of a source RPM.
func (b BaseLayout) index(source string) int {
	if i := slices.Index(b.Dedicated, source); i >= 0 {
		return i
	}
	buckets := b.groups() - len(b.Dedicated)
	h := fnv.New64a()
	h.Write([]byte(source))
	return len(b.Dedicated) + int(h.Sum64()%uint64(buckets))
}

// planLayout chooses the dedicated source RPMs for layers layers: every
// source when they all fit, else the larger half of the groups for the
// largest sources and the rest hashed. A previous layout of as many
// layers keeps its dedicated sources (those still installed), so that
// an update changes the groups of the updated packages only.
func planLayout(layers int, sizes map[string]int64, prev *BaseLayout) BaseLayout {
	out := BaseLayout{Layers: layers, Dedicated: []string{}}
	groups := out.groups()
	if groups == 0 {
		return out
	}
	names := make([]string, 0, len(sizes))
	for n := range sizes {
		names = append(names, n)
	}
	sort.Strings(names)
	if prev != nil && prev.Layers == layers {
		for _, s := range prev.Dedicated {
			if _, ok := sizes[s]; ok {
				out.Dedicated = append(out.Dedicated, s)
			}
		}
	} else {
		prev = nil
	}
	if len(names) <= groups {
		for _, n := range names {
			if !slices.Contains(out.Dedicated, n) {
				out.Dedicated = append(out.Dedicated, n)
			}
		}
		return out
	}
	most := groups / 2
	if prev == nil {
		bySize := slices.Clone(names)
		sort.SliceStable(bySize, func(i, j int) bool { return sizes[bySize[i]] > sizes[bySize[j]] })
		out.Dedicated = bySize[:most]
		sort.Strings(out.Dedicated)
	}
	if len(out.Dedicated) > most {
		out.Dedicated = out.Dedicated[:most]
	}
	return out
}

// rpmFile is one file of an installed package as its header records it.
type rpmFile struct {
	size  int64
	mtime int64
	mode  uint32 // type and permission bits
	flags int
	state int
	link  string
}

// rpmFileGhost is rpm's %ghost flag: the package owns the path, a
// scriptlet or the program makes its content.
const rpmFileGhost = 1 << 6

// rpmPackage is an installed package with its files.
type rpmPackage struct {
	Name, NEVRA string
	Source      string // the source RPM's name
	Size        int64
	BuildTime   int64
	files       map[string]rpmFile
}

// filesQueryFormat lists every installed package and its files, one
// line each.
const filesQueryFormat = "@%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{SIZE}\t%{BUILDTIME}\n" +
	"[%{FILENAMES}\t%{FILESIZES}\t%{FILEMTIMES}\t%{FILEMODES}\t%{FILEFLAGS}\t%{FILESTATES}\t%{FILELINKTOS}\n]"

// queryFiles reads the packages and files of the root's rpm database with
// the host's rpm.
func queryFiles(ctx context.Context, root string, t targets.Target) ([]rpmPackage, error) {
	cmd := exec.CommandContext(ctx, "rpm", "--root", root, "--dbpath", t.RPMDBPath, "-qa", "--qf", filesQueryFormat)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the installed files (rpm --root --dbpath %s -qa): %w: %s", t.RPMDBPath, err, strings.TrimSpace(stderr.String()))
	}
	return parseFiles(string(out))
}

// parseFiles parses filesQueryFormat's output. A file line that cannot
// be read (a name with a tab or a newline) is left out: that file goes to
// the last layer, as a file no package owns.
func parseFiles(out string) ([]rpmPackage, error) {
	var pkgs []rpmPackage
	for line := range strings.SplitSeq(out, "\n") {
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "@"); ok {
			f := strings.Split(rest, "\t")
			if len(f) != 8 {
				return nil, fmt.Errorf("reading rpm's package list: unexpected line %q", line)
			}
			epoch := f[1]
			if epoch == "(none)" || epoch == "" {
				epoch = "0"
			}
			size, _ := strconv.ParseInt(f[6], 10, 64)
			built, _ := strconv.ParseInt(f[7], 10, 64)
			pkgs = append(pkgs, rpmPackage{
				Name: f[0], NEVRA: fmt.Sprintf("%s-%s:%s-%s.%s", f[0], epoch, f[2], f[3], f[4]),
				Source: sourceName(f[5], f[0]), Size: size, BuildTime: built, files: map[string]rpmFile{},
			})
			continue
		}
		if len(pkgs) == 0 {
			return nil, fmt.Errorf("reading rpm's file list: a file before any package: %q", line)
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			continue
		}
		size, err1 := strconv.ParseInt(f[1], 10, 64)
		mtime, err2 := strconv.ParseInt(f[2], 10, 64)
		mode, err3 := strconv.ParseUint(f[3], 10, 32)
		flags, err4 := strconv.Atoi(f[4])
		state, err5 := strconv.Atoi(f[5])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
			continue
		}
		pkgs[len(pkgs)-1].files[f[0]] = rpmFile{size: size, mtime: mtime, mode: uint32(mode), flags: flags, state: state, link: f[6]}
	}
	return pkgs, nil
}

// sourceName returns the name of a source RPM file name
// (openssl-3.2.1-2.fc41.src.rpm -> openssl); a package without one (a
// gpg-pubkey) is its own source.
func sourceName(srpm, pkg string) string {
	s := strings.TrimSuffix(srpm, ".src.rpm")
	if s == srpm || s == "" {
		return pkg
	}
	for range 2 {
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return pkg
		}
		s = s[:i]
	}
	return s
}

// matches says whether the file at p under root (fi) is as its package
// installed it: a scriptlet that rewrote an owned file (a user added to
// /etc/passwd) makes it content of the last layer instead.
func (f rpmFile) matches(root, p string, fi os.FileInfo) bool {
	if f.flags&rpmFileGhost != 0 || (f.state != 0 && f.state != 3) {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Mode != f.mode {
		return false
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return st.Size == f.size && st.Mtim.Sec == f.mtime
	case syscall.S_IFLNK:
		link, err := os.Readlink(filepath.Join(root, p))
		return err == nil && link == f.link
	}
	return true
}

// split is how the files a base install changed are divided into layers.
type split struct {
	layout BaseLayout
	// groups[i] lists the paths of group i's layer; last the paths of
	// the last layer; whiteouts the removed paths.
	groups    [][]string
	last      []string
	whiteouts []string
	// clamps[i] is group i's newest build time, its files' latest time.
	clamps []time.Time
	// moved[i] are the paths group i's packages own that the last layer
	// holds instead (changed after the install), part of its key.
	moved [][]string
	pkgs  [][]rpmPackage
}

// splitChanges assigns every change of the install to a layer. fresh
// says which packages the install added or changed (by NEVRA): the
// others were in base.from, and their files stay where they are.
func splitChanges(root string, changes []archive.Change, pkgs []rpmPackage, fresh func(nevra string) bool, layout BaseLayout, epoch *time.Time) (*split, error) {
	s := &split{layout: layout}
	n := layout.groups()
	s.groups, s.clamps, s.moved, s.pkgs = make([][]string, n), make([]time.Time, n), make([][]string, n), make([][]rpmPackage, n)
	// The owners of each path among the fresh packages.
	type owner struct {
		pkg  int
		file rpmFile
	}
	owners := map[string][]owner{}
	group := make([]int, len(pkgs))
	for i, p := range pkgs {
		group[i] = -1
		if n == 0 || !fresh(p.NEVRA) {
			continue
		}
		g := layout.index(p.Source)
		group[i] = g
		s.pkgs[g] = append(s.pkgs[g], p)
		if t := time.Unix(p.BuildTime, 0).UTC(); t.After(s.clamps[g]) {
			s.clamps[g] = t
		}
		for name, f := range p.files {
			owners[name] = append(owners[name], owner{i, f})
		}
	}
	for g := range s.clamps {
		if epoch != nil && epoch.Before(s.clamps[g]) {
			s.clamps[g] = *epoch
		}
	}
	for _, c := range changes {
		if c.Kind == archive.ChangeDelete {
			s.whiteouts = append(s.whiteouts, c.Path)
			continue
		}
		own := owners[c.Path]
		if len(own) == 0 {
			s.last = append(s.last, c.Path)
			continue
		}
		// The first owner by name that installed it as it is.
		sort.Slice(own, func(i, j int) bool { return pkgs[own[i].pkg].Name < pkgs[own[j].pkg].Name })
		fi, err := os.Lstat(filepath.Join(root, c.Path))
		if err != nil {
			return nil, fmt.Errorf("reading %s in the base: %w", c.Path, err)
		}
		placed := false
		for _, o := range own {
			if o.file.matches(root, c.Path, fi) {
				g := group[o.pkg]
				s.groups[g] = append(s.groups[g], c.Path)
				placed = true
				break
			}
		}
		if !placed {
			s.last = append(s.last, c.Path)
			g := group[own[0].pkg]
			s.moved[g] = append(s.moved[g], c.Path)
		}
	}
	for g := range s.groups {
		sort.Strings(s.groups[g])
		sort.Strings(s.moved[g])
		sort.Slice(s.pkgs[g], func(i, j int) bool { return s.pkgs[g][i].NEVRA < s.pkgs[g][j].NEVRA })
	}
	sort.Strings(s.last)
	sort.Strings(s.whiteouts)
	return s, nil
}

// groupKey is the key of group g's layer: its packages' NEVRAs, its
// clamp time, and the owned paths the last layer holds instead. The same
// key gives the same bytes.
func (s *split) groupKey(g int, fromDigest string) string {
	var nevras []string
	for _, p := range s.pkgs[g] {
		nevras = append(nevras, p.NEVRA)
	}
	return hashDoc(struct {
		Version  int      `json:"version"`
		Packages []string `json:"packages"`
		Clamp    int64    `json:"clamp"`
		Moved    []string `json:"moved"`
		// Over a base image (container mode), what it holds decides
		// which of the packages' files the install changed.
		From string `json:"from,omitempty"`
	}{splitVersion, nevras, s.clamps[g].Unix(), s.moved[g], fromDigest})
}

// rootTar writes the tar stream of a layer: the paths under root (sorted,
// parents before children) and whiteouts for the removed ones, with owners
// as numbers only, file times clamped to clamp and directories dated
// clamp, and the file capabilities rpm sets. A file linked to another of
// the same layer is a hard link entry.
func rootTar(w io.Writer, root string, paths, whiteouts []string, clamp time.Time) error {
	type entry struct {
		name     string
		path     string
		whiteout bool
	}
	var entries []entry
	for _, p := range paths {
		entries = append(entries, entry{name: strings.TrimPrefix(p, "/"), path: p})
	}
	for _, p := range whiteouts {
		dir, base := path.Split(strings.TrimPrefix(p, "/"))
		entries = append(entries, entry{name: dir + archive.WhiteoutPrefix + base, path: p, whiteout: true})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	tw := tar.NewWriter(w)
	type inode struct{ dev, ino uint64 }
	links := map[inode]string{}
	clamp = clamp.UTC().Truncate(time.Second)
	for _, e := range entries {
		if e.whiteout {
			if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: clamp}); err != nil {
				return err
			}
			continue
		}
		full := filepath.Join(root, e.path)
		fi, err := os.Lstat(full)
		if err != nil {
			return fmt.Errorf("reading %s in the base: %w", e.path, err)
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(full); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("reading %s in the base: %w", e.path, err)
		}
		hdr.Name = e.name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.Format = tar.FormatUnknown
		hdr.ModTime = fi.ModTime().UTC().Truncate(time.Second)
		if fi.IsDir() || hdr.ModTime.After(clamp) {
			hdr.ModTime = clamp
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
			k := inode{uint64(st.Dev), st.Ino}
			if first, ok := links[k]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[k] = hdr.Name
			}
		}
		if fi.Mode().IsRegular() {
			buf := make([]byte, 256)
			if n, err := unix.Lgetxattr(full, "security.capability", buf); err == nil && n > 0 {
				hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(buf[:n])}
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(full)
			if err != nil {
				return fmt.Errorf("reading %s in the base: %w", e.path, err)
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("reading %s in the base: %w", e.path, err)
			}
		}
	}
	return tw.Close()
}

// rootProducer makes a layer's tar stream from the mounted root.
func rootProducer(root string, paths, whiteouts []string, clamp time.Time) producer {
	return producer{replayable: true, open: func() (io.ReadCloser, digest.Digest, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(rootTar(pw, root, paths, whiteouts, clamp)) }()
		return pr, "", nil
	}}
}

// baseLayers writes the base's layers over base.from's top layer: a layer
// per package group, then the last layer (KindRPMDB). It returns them and
// the layout, for the label.
func baseLayers(ctx context.Context, env *Env, b *buildah.Builder, root string, t targets.Target, spec BaseSpec, prev *BaseLayout, epoch time.Time, before map[string]bool, createdBy string) ([]Layer, BaseLayout, error) {
	ctr, err := env.Store.Container(b.ContainerID)
	if err != nil {
		return nil, BaseLayout{}, fmt.Errorf("reading the working container: %w", err)
	}
	changes, err := env.Store.Changes("", ctr.LayerID)
	if err != nil {
		return nil, BaseLayout{}, fmt.Errorf("listing what the install changed: %w", err)
	}
	pkgs, err := queryFiles(ctx, root, t)
	if err != nil {
		return nil, BaseLayout{}, err
	}
	fresh := func(nevra string) bool { return !before[nevra] }
	sizes := map[string]int64{}
	for _, p := range pkgs {
		if fresh(p.NEVRA) {
			sizes[p.Source] += p.Size
		}
	}
	top, fromLayers := "", 0
	if b.FromImageID != "" {
		img, err := env.Store.Image(b.FromImageID)
		if err != nil {
			return nil, BaseLayout{}, fmt.Errorf("reading base image %s: %w", short(b.FromImageID), err)
		}
		top = img.TopLayer
		for id := top; id != ""; fromLayers++ {
			l, err := env.Store.Layer(id)
			if err != nil {
				return nil, BaseLayout{}, fmt.Errorf("reading the layers of base image %s: %w", short(b.FromImageID), err)
			}
			id = l.Parent
		}
	}
	n := min(spec.layers(), recipes.MaxImageLayers-spec.Reserve-fromLayers)
	if n < 1 {
		n = 1
	}
	layout := planLayout(n, sizes, prev)
	var sdEpoch *time.Time
	if env.Epoch != nil {
		sdEpoch = &epoch
	}
	sp, err := splitChanges(root, changes, pkgs, fresh, layout, sdEpoch)
	if err != nil {
		return nil, BaseLayout{}, err
	}
	from := ""
	if spec.Mode == recipes.InstallContainer || b.FromImageID != "" {
		from = spec.FromDigest
		if from == "" {
			from = b.FromImageID
		}
	}
	st := &stack{store: env.Store, top: top}
	var out []Layer
	layout.Groups = []BaseGroup{}
	for g := range sp.groups {
		if len(sp.pkgs[g]) == 0 {
			continue
		}
		grp := BaseGroup{Index: g, Sources: []string{}, Packages: []string{}}
		var names []string
		for _, p := range sp.pkgs[g] {
			grp.Packages = append(grp.Packages, p.NEVRA)
			names = append(names, p.Name)
			if !slices.Contains(grp.Sources, p.Source) {
				grp.Sources = append(grp.Sources, p.Source)
			}
		}
		sort.Strings(grp.Sources)
		if len(sp.groups[g]) > 0 {
			grp.Key = sp.groupKey(g, from)
			l, err := st.push(ctx, KindRPMs, grp.Key, rootProducer(root, sp.groups[g], nil, sp.clamps[g]))
			if err != nil {
				return nil, BaseLayout{}, fmt.Errorf("writing the layer of %s: %w", strings.Join(grp.Sources, ", "), err)
			}
			l.Source = strings.Join(grp.Sources, " ")
			l.CreatedBy = "strata base: rpm files of " + clip(strings.Join(names, " "), 400) + " (source " + strings.Join(grp.Sources, " ") + ")"
			l.Created = sp.clamps[g]
			out = append(out, l)
		}
		layout.Groups = append(layout.Groups, grp)
	}
	l, err := st.push(ctx, KindRPMDB, "", rootProducer(root, sp.last, sp.whiteouts, epoch))
	if err != nil {
		return nil, BaseLayout{}, fmt.Errorf("writing the rpm database layer: %w", err)
	}
	l.CreatedBy = createdBy + ": the rpm database and the files no package owns as installed"
	l.Created = epoch
	out = append(out, l)
	return out, layout, nil
}

// clip shortens s to at most n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + " ..."
}

// previousLayout returns the layout of the newest base of the recipe in
// the store, or nil.
func previousLayout(ctx context.Context, store storage.Store, recipeName string) *BaseLayout {
	images, err := store.Images()
	if err != nil {
		return nil
	}
	prefix := "localhost/" + recipeName + "-base:"
	var best *BaseLayout
	var bestAt time.Time
	for i := range images {
		img := &images[i]
		if !slices.ContainsFunc(img.Names, func(n string) bool { return strings.HasPrefix(n, prefix) }) {
			continue
		}
		at := BuiltAt(store, img)
		if best != nil && !at.After(bestAt) {
			continue
		}
		labels, err := ImageLabels(ctx, store, img.ID)
		if err != nil || labels[LabelBaseLayers] == "" {
			continue
		}
		var l BaseLayout
		if json.Unmarshal([]byte(labels[LabelBaseLayers]), &l) == nil {
			best, bestAt = &l, at
		}
	}
	return best
}

// ImageLabels returns the labels of an image in the store.
func ImageLabels(ctx context.Context, store storage.Store, id string) (map[string]string, error) {
	ref, err := is.Transport.NewStoreReference(store, nil, id)
	if err != nil {
		return nil, err
	}
	img, err := ref.NewImage(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	cfg, err := img.OCIConfig(ctx)
	if err != nil {
		return nil, err
	}
	return cfg.Config.Labels, nil
}

// ExplainLayout says which package groups of a base changed from prev to
// cur, and why: "layer 3 (openssl): openssl-libs 3.0.1-1 -> 3.0.2-1".
func ExplainLayout(prev, cur BaseLayout) []string {
	if prev.Layers != cur.Layers {
		return layersChanged(prev.Layers, cur.Layers)
	}
	old := map[int]BaseGroup{}
	for _, g := range prev.Groups {
		old[g.Index] = g
	}
	var out []string
	seen := map[int]bool{}
	for _, g := range cur.Groups {
		seen[g.Index] = true
		o, ok := old[g.Index]
		if ok && o.Key == g.Key {
			continue
		}
		what := strings.Join(describePackages(o.Packages, g.Packages), ", ")
		if what == "" {
			what = "the files its packages own changed"
		}
		out = append(out, fmt.Sprintf("layer %d (%s): %s", g.Index+1, strings.Join(g.Sources, " "), what))
	}
	for _, g := range prev.Groups {
		if !seen[g.Index] {
			out = append(out, fmt.Sprintf("layer %d (%s): removed", g.Index+1, strings.Join(g.Sources, " ")))
		}
	}
	return out
}

// PlanLayerChanges says, before anything is built, which package groups
// of the newest base of the recipe in the store a build of spec would
// change: only for a locked spec, whose lock names every package the build
// installs at its exact version (without one, the versions are known when
// dnf has run, and the build log says it). Nil when spec is not locked or
// the store has no earlier base with a layout.
func PlanLayerChanges(ctx context.Context, store storage.Store, recipeName string, spec BaseSpec) []string {
	if len(spec.Locked) == 0 {
		return nil
	}
	prev := previousLayout(ctx, store, recipeName)
	if prev == nil {
		return nil
	}
	nevras := make([]string, len(spec.Locked))
	for i, p := range spec.Locked {
		nevras[i] = p.NEVRA()
	}
	// Locks are installroot only, so the lock names every package of the
	// base, and one no group holds is new.
	return predictLayout(*prev, spec.layers(), nevras)
}

// layersChanged is the explanation when base.layers changed.
func layersChanged(prev, cur int) []string {
	return []string{fmt.Sprintf("base.layers changed from %d to %d: every group is new", prev, cur)}
}

// predictLayout is ExplainLayout for a base not built yet: each group of
// prev with its packages at the versions of nevras, by package name, and
// the packages no group holds as new.
func predictLayout(prev BaseLayout, layers int, nevras []string) []string {
	if prev.Layers != layers {
		return layersChanged(prev.Layers, layers)
	}
	byName := map[string]string{}
	for _, n := range nevras {
		name, _ := splitNEVRA(n)
		byName[name] = n
	}
	grouped := map[string]bool{}
	var out []string
	for _, g := range prev.Groups {
		var next []string
		for _, p := range g.Packages {
			name, _ := splitNEVRA(p)
			grouped[name] = true
			if n, ok := byName[name]; ok {
				next = append(next, n)
			}
		}
		if d := describePackages(g.Packages, next); len(d) > 0 {
			out = append(out, fmt.Sprintf("layer %d (%s): %s", g.Index+1, strings.Join(g.Sources, " "), strings.Join(d, ", ")))
		}
	}
	var added []string
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		if !grouped[name] {
			_, evr := splitNEVRA(byName[name])
			added = append(added, name+" "+evr)
		}
	}
	if len(added) > 0 {
		out = append(out, "new packages (their layer is chosen when they are installed): "+strings.Join(added, ", "))
	}
	return out
}

// describePackages lists how two NEVRA lists differ by package name.
func describePackages(old, cur []string) []string {
	byName := func(list []string) map[string]string {
		m := map[string]string{}
		for _, n := range list {
			name, evr := splitNEVRA(n)
			m[name] = evr
		}
		return m
	}
	o, c := byName(old), byName(cur)
	var out []string
	for _, name := range slices.Sorted(maps.Keys(c)) {
		switch ov, ok := o[name]; {
		case !ok:
			out = append(out, name+" "+c[name]+" added")
		case ov != c[name]:
			out = append(out, name+" "+ov+" -> "+c[name])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(o)) {
		if _, ok := c[name]; !ok {
			out = append(out, name+" removed")
		}
	}
	return out
}

// splitNEVRA splits name-epoch:version-release.arch into the name and the
// rest (without a zero epoch).
func splitNEVRA(nevra string) (name, evr string) {
	i := strings.LastIndexByte(nevra, ':')
	if i < 0 {
		return nevra, ""
	}
	j := strings.LastIndexByte(nevra[:i], '-')
	if j < 0 {
		return nevra, ""
	}
	name, evr = nevra[:j], nevra[j+1:]
	evr = strings.TrimPrefix(evr, "0:")
	return name, evr
}
