package build

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/storage"
)

// Plan is what a build would do, decided before doing any of it.
type Plan struct {
	Recipe  string       `json:"recipe"`
	Target  string       `json:"target"`
	Profile string       `json:"profile,omitempty"`
	Branch  string       `json:"branch"`
	Tags    []string     `json:"tags"`
	Sources []PlanSource `json:"sources"`
	Base    PlanBase     `json:"base"`
	Final   PlanFinal    `json:"final"`
	// Epoch is the image date: SOURCE_DATE_EPOCH, else the newest source
	// commit time, else the base's date (zero until the base is known).
	Epoch time.Time `json:"epoch"`

	recipe  *recipes.Recipe
	network string
	opts    PlanOptions
	maxAge  time.Duration
}

// PlanSource is a source at its resolved commit.
type PlanSource struct {
	Name    string    `json:"name"`
	Git     string    `json:"git"`
	Branch  string    `json:"branch"`
	Commit  string    `json:"commit"` // "" when it could not be resolved (offline)
	Date    time.Time `json:"date,omitzero"`
	Path    string    `json:"path"`
	Deps    []string  `json:"deps"`
	Install []string  `json:"install"`
	Needs   []string  `json:"needs,omitempty"`
	// Problem says why the source could not be resolved or read.
	Problem string `json:"problem,omitempty"`
	dir     string // the checkout
}

// PlanBase is the planned base layer.
type PlanBase struct {
	Key   string `json:"key"`   // "" when incomplete
	Image string `json:"image"` // its name in the local store
	From  string `json:"from"`
	// Pull is the reference the base is built from when base.from is a
	// registry image: the name it resolved to (registries.conf aliases
	// and search registries) at the digest in the key.
	Pull     string                `json:"pull,omitempty"`
	Install  string                `json:"install"`
	Packages []recipes.Requirement `json:"packages"`
	Excluded []recipes.Requirement `json:"excluded"`
	// Internal are the names left out because a source provides them.
	Internal []Internal `json:"internal"`
	// Scriptlet are the sources' Requires(pre/post/...), not installed.
	Scriptlet []recipes.Requirement `json:"scriptlet"`
	// Warnings are requirements of the sources read in a simplified form
	// (SOURCE:FILE:LINE: message).
	Warnings []string `json:"warnings,omitempty"`
	// Incomplete says why the package set is not known (offline plans).
	Incomplete string      `json:"incomplete,omitempty"`
	Cache      *CacheState `json:"cache,omitempty"`
	// LayerChanges are the package groups a build of a locked base
	// changes against the newest earlier base of the recipe in the store
	// ("layer 12 (openssl): openssl-libs 3.2.2-3 -> 3.2.2-4").
	LayerChanges []string `json:"layer_changes,omitempty"`
	// Lock is the lock file the base is pinned to ("" without one).
	Lock string `json:"lock,omitempty"`
	// KeyDocument is the document the key hashes (with --explain).
	KeyDocument json.RawMessage `json:"key_document,omitempty"`
	spec        layers.BaseSpec
}

// Internal is a name that is never installed as an RPM, and why.
type Internal struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// PlanFinal is the planned final image.
type PlanFinal struct {
	Key   string      `json:"key,omitempty"` // known once the base is
	Cache *CacheState `json:"cache,omitempty"`
	// Layers are the layers over the base, bottom first.
	Layers []PlanLayer `json:"layers,omitempty"`
}

// PlanLayer is one layer over the base and whether the store has it.
type PlanLayer struct {
	Source string      `json:"source"`
	Kind   string      `json:"kind"`          // checkout or install
	Key    string      `json:"key,omitempty"` // "" while the base is not known
	Cache  *CacheState `json:"cache"`
}

// Decision is what a cache lookup found.
type Decision string

// The decisions of a cache lookup.
const (
	DecisionHit     Decision = "hit"
	DecisionMiss    Decision = "miss"
	DecisionUnknown Decision = "unknown" // not looked up (an offline or incomplete plan)
)

// Where is the cache a hit came from.
type Where string

// The caches.
const (
	WhereLocal    Where = "local"    // the local store
	WhereRegistry Where = "registry" // the registry (the tag, or push.cache)
)

// CacheState says whether an image with the plan's key exists.
type CacheState struct {
	Decision Decision  `json:"decision"`
	Where    Where     `json:"where,omitempty"` // with a hit
	ImageID  string    `json:"image_id,omitempty"`
	Ref      string    `json:"ref,omitempty"` // the registry's REPO:TAG@DIGEST
	Built    time.Time `json:"built,omitzero"`
	Age      string    `json:"age,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	digest   string    // of a registry hit
}

// planRecipe plans the base layer of a recipe from its own packages only,
// ignoring its sources: the package set with the provenance of each entry,
// what is excluded, and the base key. It touches neither storage nor
// network. Prepare plans a whole build.
func planRecipe(r *recipes.Recipe) *Plan {
	p := &Plan{recipe: r, Recipe: r.File, Sources: []PlanSource{}, Tags: []string{}}
	p.planBase(nil, nil, nil, "")
	return p
}

// planBase computes the base set: the recipe's packages and the sources'
// dependencies, minus what base.exclude names, merged with provenance.
func (p *Plan) planBase(deps []recipes.Requirement, internal []Internal, scriptlet []recipes.Requirement, fromDigest string) {
	r := p.recipe
	excluded := map[string]bool{}
	for _, e := range r.Base.Exclude {
		excluded[e] = true
	}
	merged := map[string]*recipes.Requirement{}
	ex := map[string]*recipes.Requirement{}
	add := func(dep, from string) {
		d := recipes.NormalizeDep(dep)
		into := merged
		if excluded[recipes.DepName(d)] {
			into = ex
		}
		if m, ok := into[d]; ok {
			if !containsString(m.From, from) {
				m.From = append(m.From, from)
			}
			return
		}
		into[d] = &recipes.Requirement{Dep: d, From: []string{from}}
	}
	for i, dep := range r.Base.Packages {
		add(dep, r.Where(fmt.Sprintf("base.packages[%d]", i)))
	}
	for _, d := range deps {
		for _, f := range d.From {
			add(d.Dep, f)
		}
	}
	pkgs, names := sortedRequirements(merged)
	excl, _ := sortedRequirements(ex)
	t, _ := r.TargetProfile() // validated when the recipe was loaded
	// Each source may add a checkout and an install layer.
	reserve := 2 * len(r.Sources)
	spec := layers.BaseSpec{Target: t.Name, From: r.BaseFrom(), FromDigest: fromDigest, Mode: r.InstallMode(), Repos: r.Base.Repos, Packages: names,
		Layers: max(min(r.BaseLayers(), recipes.MaxImageLayers-reserve), 1), Reserve: reserve}
	key := spec.Key()
	p.Target = t.Name
	if internal == nil {
		internal = []Internal{}
	}
	p.Base = PlanBase{
		Key: key, Image: layers.BaseImageName(r.Name, key), From: spec.From, Install: spec.Mode,
		Packages: pkgs, Excluded: excl, Internal: internal, Scriptlet: scriptlet, spec: spec,
	}
	if p.Base.Scriptlet == nil {
		p.Base.Scriptlet = []recipes.Requirement{}
	}
}

func sortedRequirements(m map[string]*recipes.Requirement) ([]recipes.Requirement, []string) {
	reqs := make([]recipes.Requirement, 0, len(m))
	names := make([]string, 0, len(m))
	for _, r := range m {
		reqs = append(reqs, *r)
		names = append(names, r.Dep)
	}
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].Dep < reqs[j].Dep })
	sort.Strings(names)
	return reqs, names
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CheckCache looks the planned base up in the local store, then in the
// registry cache when the plan uses one, and the final image when the
// base is local. Registry trouble is logged, not fatal.
func (p *Plan) CheckCache(ctx context.Context, store storage.Store, log *logrus.Logger) error {
	if p.Base.Incomplete != "" {
		p.Base.Cache = &CacheState{Decision: DecisionUnknown, Reason: p.Base.Incomplete}
		return nil
	}
	img, err := p.checkLocalBase(store)
	if err != nil {
		return err
	}
	if img == nil {
		if p.registryCache() && !p.opts.Refresh {
			p.checkRegistryBase(ctx, log)
		}
		reason := "the base will be built"
		if p.Base.Cache.Decision == DecisionHit {
			reason = "the base comes from the registry cache"
		} else {
			p.Base.LayerChanges = layers.PlanLayerChanges(ctx, store, p.recipe.Name, p.Base.spec)
		}
		p.Final.Cache = &CacheState{Decision: DecisionMiss, Reason: reason}
		return nil
	}
	spec, err := p.finalSpec(img.ID, nil)
	if err != nil {
		p.Final.Cache = &CacheState{Decision: DecisionUnknown, Reason: err.Error()}
		return nil
	}
	p.Final.Layers = nil
	for _, l := range spec.Planned() {
		c := &CacheState{Decision: DecisionMiss, Reason: "not in the local store: it will be built"}
		if layers.HasLayer(store, l.Kind, l.Key) {
			c = &CacheState{Decision: DecisionHit, Where: WhereLocal}
		}
		p.Final.Layers = append(p.Final.Layers, PlanLayer{Source: l.Source, Kind: l.Kind, Key: l.Key, Cache: c})
	}
	p.Final.Key = spec.Key()
	id, err := findFinal(store, p.recipe.Name, p.Final.Key)
	if err != nil {
		return err
	}
	if id != "" {
		p.Final.Cache = &CacheState{Decision: DecisionHit, Where: WhereLocal, ImageID: id}
	} else {
		p.Final.Cache = &CacheState{Decision: DecisionMiss, Reason: "no image with this key in the local store"}
	}
	return nil
}

// WriteText prints the plan as a readable table.
func (p *Plan) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "recipe:\t%s\n", p.Recipe)
	fmt.Fprintf(tw, "target:\t%s\n", p.Target)
	if p.Profile != "" {
		fmt.Fprintf(tw, "profile:\t%s (branch %s, tags %s)\n", p.Profile, p.Branch, strings.Join(p.Tags, ", "))
	}
	fmt.Fprintf(tw, "base:\t%s (install: %s)\n", p.Base.From, p.Base.Install)
	if p.Base.Pull != "" {
		fmt.Fprintf(tw, "  pulled as:\t%s\n", p.Base.Pull)
	}
	if p.Base.Lock != "" {
		fmt.Fprintf(tw, "lock:\t%s (%d packages pinned)\n", p.Base.Lock, len(p.Base.spec.Locked))
	}
	if p.Base.Incomplete != "" {
		fmt.Fprintf(tw, "base key:\tunknown: %s\n", p.Base.Incomplete)
	} else {
		fmt.Fprintf(tw, "base key:\t%s\n", p.Base.Key)
	}
	if c := p.Base.Cache; c != nil {
		fmt.Fprintf(tw, "base cache:\t%s\n", c)
	}
	for i, c := range p.Base.LayerChanges {
		label := ""
		if i == 0 {
			label = "base layers:"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, c)
	}
	if len(p.Base.KeyDocument) > 0 {
		fmt.Fprintf(tw, "key document:\t%s\n", p.Base.KeyDocument)
	}
	if len(p.Sources) > 0 {
		if p.Final.Key != "" {
			fmt.Fprintf(tw, "final key:\t%s\n", p.Final.Key)
		}
		if c := p.Final.Cache; c != nil {
			fmt.Fprintf(tw, "final image:\t%s\n", c)
		}
		if len(p.Final.Layers) > 0 {
			fmt.Fprintf(tw, "\nlayers over the base (%d)\tkind\tkey\tcache\n", len(p.Final.Layers))
			for _, l := range p.Final.Layers {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", l.Source, l.Kind, l.Key[:16], l.Cache)
			}
		}
		fmt.Fprintf(tw, "\nsources (%d)\tbranch\tcommit\tdate\tpath\tgit\n", len(p.Sources))
		for _, s := range p.Sources {
			commit, date := "?", "?"
			if s.Commit != "" {
				commit, date = s.Commit[:12], s.Date.UTC().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Branch, commit, date, s.Path, s.Git)
		}
		for _, s := range p.Sources {
			if s.Problem != "" {
				fmt.Fprintf(tw, "  %s:\t%s\n", s.Name, s.Problem)
			}
		}
	}
	incomplete := ""
	if p.Base.Incomplete != "" {
		incomplete = ", without the sources' dependencies"
	}
	requirements := func(title string, list []recipes.Requirement, always bool) {
		if len(list) == 0 && !always {
			return
		}
		fmt.Fprintf(tw, "\n%s\tfrom\n", title)
		for _, r := range list {
			fmt.Fprintf(tw, "  %s\t%s\n", r.Dep, strings.Join(r.From, ", "))
		}
	}
	requirements(fmt.Sprintf("packages (%d%s)", len(p.Base.Packages), incomplete), p.Base.Packages, true)
	requirements(fmt.Sprintf("excluded by base.exclude (%d)", len(p.Base.Excluded)), p.Base.Excluded, false)
	if len(p.Base.Internal) > 0 {
		fmt.Fprintf(tw, "\ninternal, never installed as RPMs (%d)\twhy\n", len(p.Base.Internal))
		for _, i := range p.Base.Internal {
			fmt.Fprintf(tw, "  %s\t%s\n", i.Name, i.Reason)
		}
	}
	requirements(fmt.Sprintf("scriptlet requirements, not installed (%d)", len(p.Base.Scriptlet)), p.Base.Scriptlet, false)
	if len(p.Base.Warnings) > 0 {
		fmt.Fprintf(tw, "\nwarnings (%d)\n", len(p.Base.Warnings))
		for _, w := range p.Base.Warnings {
			fmt.Fprintf(tw, "  %s\n", w)
		}
	}
	return tw.Flush()
}

func (c *CacheState) String() string {
	s := strings.ToUpper(string(c.Decision))
	if c.Decision == DecisionHit {
		what := "image " + short(c.ImageID)
		switch {
		case c.Where == WhereRegistry:
			what = c.Ref
		case c.ImageID == "":
			return s + " (" + string(c.Where) + ")"
		}
		if c.Age != "" {
			what += ", built " + c.Age + " ago"
		}
		return s + fmt.Sprintf(" (%s, %s)", c.Where, what)
	}
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}
