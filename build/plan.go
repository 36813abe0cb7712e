package build

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/storage"
)

// Plan is what a build would do, decided before doing any of it.
type Plan struct {
	Recipe  string   `json:"recipe"`
	Target  string   `json:"target"`
	Base    PlanBase `json:"base"`
	Sources []string `json:"sources"` // none until recipes have sources
}

// PlanBase is the planned base layer.
type PlanBase struct {
	Key      string                `json:"key"`
	Image    string                `json:"image"` // its name in the local store
	From     string                `json:"from"`
	Install  string                `json:"install"`
	Packages []recipes.Requirement `json:"packages"`
	Excluded []recipes.Requirement `json:"excluded"`
	Cache    *CacheState           `json:"cache,omitempty"`
	spec     layers.BaseSpec
}

// CacheState says whether a base with the plan's key exists.
type CacheState struct {
	Decision string `json:"decision"` // "hit" or "miss"
	Where    string `json:"where,omitempty"`
	ImageID  string `json:"image_id,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// PlanRecipe plans the base layer of a recipe: its package set with the
// provenance of each entry, what is excluded, and the base key. It touches
// neither storage nor network.
func PlanRecipe(r *recipes.Recipe) *Plan {
	excluded := map[string]bool{}
	for _, e := range r.Base.Exclude {
		excluded[e] = true
	}
	p := &Plan{Recipe: r.File, Sources: []string{}}
	merged := map[string]*recipes.Requirement{}
	var ex []recipes.Requirement
	for i, dep := range r.Base.Packages {
		d := recipes.NormalizeDep(dep)
		from := r.Where(fmt.Sprintf("base.packages[%d]", i))
		if excluded[recipes.DepName(d)] {
			ex = append(ex, recipes.Requirement{Dep: d, From: []string{from}})
			continue
		}
		if m, ok := merged[d]; ok {
			m.From = append(m.From, from)
			continue
		}
		merged[d] = &recipes.Requirement{Dep: d, From: []string{from}}
	}
	pkgs := make([]recipes.Requirement, 0, len(merged))
	names := make([]string, 0, len(merged))
	for _, m := range merged {
		pkgs = append(pkgs, *m)
		names = append(names, m.Dep)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Dep < pkgs[j].Dep })
	sort.Strings(names)
	t, _ := r.TargetProfile() // validated when the recipe was loaded
	spec := layers.BaseSpec{Target: t.Name, From: r.BaseFrom(), Mode: r.InstallMode(), Repos: r.Base.Repos, Packages: names}
	key := spec.Key()
	p.Target = t.Name
	p.Base = PlanBase{
		Key: key, Image: layers.BaseImageName(r.Name, key), From: spec.From, Install: spec.Mode,
		Packages: pkgs, Excluded: ex, spec: spec,
	}
	if p.Base.Excluded == nil {
		p.Base.Excluded = []recipes.Requirement{}
	}
	return p
}

// CheckCache looks the planned base up in the local store.
func (p *Plan) CheckCache(store storage.Store) error {
	img, err := store.Image(p.Base.Image)
	switch {
	case err == nil:
		p.Base.Cache = &CacheState{Decision: "hit", Where: "local", ImageID: img.ID}
	case errors.Is(err, storage.ErrImageUnknown):
		p.Base.Cache = &CacheState{Decision: "miss", Reason: "no base image with this key in the local store"}
	default:
		return fmt.Errorf("looking up the base image: %w", err)
	}
	return nil
}

// WriteText prints the plan as a readable table.
func (p *Plan) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "recipe:\t%s\n", p.Recipe)
	fmt.Fprintf(tw, "target:\t%s\n", p.Target)
	fmt.Fprintf(tw, "base:\t%s (install: %s)\n", p.Base.From, p.Base.Install)
	fmt.Fprintf(tw, "base key:\t%s\n", p.Base.Key)
	if c := p.Base.Cache; c != nil {
		state := strings.ToUpper(c.Decision)
		if c.Decision == "hit" {
			state += fmt.Sprintf(" (%s, image %s)", c.Where, short(c.ImageID))
		} else if c.Reason != "" {
			state += " (" + c.Reason + ")"
		}
		fmt.Fprintf(tw, "base cache:\t%s\n", state)
	}
	fmt.Fprintf(tw, "\npackages (%d)\tfrom\n", len(p.Base.Packages))
	for _, r := range p.Base.Packages {
		fmt.Fprintf(tw, "  %s\t%s\n", r.Dep, strings.Join(r.From, ", "))
	}
	if len(p.Base.Excluded) > 0 {
		fmt.Fprintf(tw, "\nexcluded by base.exclude (%d)\tfrom\n", len(p.Base.Excluded))
		for _, r := range p.Base.Excluded {
			fmt.Fprintf(tw, "  %s\t%s\n", r.Dep, strings.Join(r.From, ", "))
		}
	}
	return tw.Flush()
}
