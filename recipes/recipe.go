package recipes

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/strata-build/strata/recipes/targets"
)

// Install modes of the base layer.
const (
	// InstallRoot runs the host's dnf with --installroot into the mounted
	// image root: the base image needs no package manager.
	InstallRoot = "installroot"
	// InstallContainer runs dnf inside a working container of the base
	// image: the base image must have dnf.
	InstallContainer = "container"
)

// Scratch names the empty base image.
const Scratch = "scratch"

// Recipe is one strata recipe file.
type Recipe struct {
	// Required: the image name; also the default output name.
	Name string `yaml:"name" json:"name"`
	// Optional: the distribution profile, fedora-NN or rhel-N (default fedora-43).
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// Required: the base layer.
	Base Base `yaml:"base" json:"base"`
	// Optional: the configuration of the final image.
	Image Image `yaml:"image,omitempty" json:"image,omitempty"`
	// Optional: the internal projects cloned from git into the final layer,
	// all at the branch of the chosen profile.
	Sources []Source `yaml:"sources,omitempty" json:"sources,omitempty"`
	// Optional: named profiles (such as stg and prod), each a branch and
	// the tags the image gets; the first in the file is the default.
	Profiles map[string]Profile `yaml:"profiles,omitempty" json:"profiles,omitempty"`
	// Optional: where `strata build --push` sends the image.
	Push Push `yaml:"push,omitempty" json:"push,omitempty"`

	// File is the path the recipe was loaded from ("" when built in code).
	File string `yaml:"-" json:"-"`
	pos  positions
}

// Base describes the base layer: the RPMs installed over a base image.
type Base struct {
	// Optional: "scratch" (default), or an image: registry/name:tag,
	// oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE,
	// containers-storage:NAME.
	From string `yaml:"from,omitempty" json:"from,omitempty"`
	// Optional: installroot (default) or container.
	Install string `yaml:"install,omitempty" json:"install,omitempty"`
	// Optional: the dnf repositories used by the install step only.
	Repos []Repo `yaml:"repos,omitempty" json:"repos,omitempty"`
	// Optional: package names or provides, each with an optional version
	// ("python3dist(requests) >= 2").
	Packages []string `yaml:"packages,omitempty" json:"packages,omitempty"`
	// Optional: dependencies never installed (matched by name).
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
	// Optional: how old a cached base may be before it is rebuilt, so
	// that security updates reach it: 7d (default), 36h, 90m; 0 or
	// "never" for no limit.
	MaxAge string `yaml:"max_age,omitempty" json:"max_age,omitempty"`
	// Optional: how many layers the base is split into by package
	// (DefaultBaseLayers; 1 for one layer): packages' files in layers of
	// their own, grouped by source RPM, and a last layer with the rpm
	// database and the files no package owns.
	Layers int `yaml:"layers,omitempty" json:"layers,omitempty"`
}

// DefaultBaseLayers is the default base.layers, MaxBaseLayers its
// largest value, and MaxImageLayers the most layers strata lets a whole
// image have (base.from's, the base's and the sources').
const (
	DefaultBaseLayers = 40
	MaxBaseLayers     = 100
	MaxImageLayers    = 120
)

// BaseLayers returns base.layers, or its default.
func (r *Recipe) BaseLayers() int {
	if r.Base.Layers == 0 {
		return DefaultBaseLayers
	}
	return r.Base.Layers
}

// DefaultMaxAge is the default base.max_age.
const DefaultMaxAge = "7d"

// MaxAgeDuration returns base.max_age as a duration (0: no limit).
func (r *Recipe) MaxAgeDuration() time.Duration {
	v := r.Base.MaxAge
	if v == "" {
		v = DefaultMaxAge
	}
	d, _ := ParseAge(v) // validated when loaded
	return d
}

// ParseAge reads a duration with day units: 7d, 36h, 90m, 1d12h; "0" and
// "never" mean no limit.
func ParseAge(s string) (time.Duration, error) {
	if s == "0" || s == "never" {
		return 0, nil
	}
	var days time.Duration
	rest := s
	if i := strings.Index(s, "d"); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid age %q: want e.g. 7d, 36h, 90m, or never", s)
		}
		days, rest = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil || d < 0 {
			return 0, fmt.Errorf("invalid age %q: want e.g. 7d, 36h, 90m, or never", s)
		}
	}
	if days+d <= 0 {
		return 0, fmt.Errorf("invalid age %q: want a positive duration (or never)", s)
	}
	return days + d, nil
}

// Repo is one dnf repository. Exactly one of BaseURL, Metalink and
// Mirrorlist is set.
type Repo struct {
	// Required: the repository id.
	ID string `yaml:"id" json:"id"`
	// Optional: the repository's base URL (file://, http://, https://).
	BaseURL string `yaml:"baseurl,omitempty" json:"baseurl,omitempty"`
	// Optional: a metalink URL.
	Metalink string `yaml:"metalink,omitempty" json:"metalink,omitempty"`
	// Optional: a mirrorlist URL.
	Mirrorlist string `yaml:"mirrorlist,omitempty" json:"mirrorlist,omitempty"`
	// Optional: whether package signatures are checked (default true).
	GPGCheck *bool `yaml:"gpgcheck,omitempty" json:"gpgcheck,omitempty"`
	// Optional: the URL of the signing key(s), space separated.
	GPGKey string `yaml:"gpgkey,omitempty" json:"gpgkey,omitempty"`
}

// Source is an internal project installed from git into the final layer.
type Source struct {
	// Required: the project's name, unique in the recipe. It is internal:
	// never installed as an RPM, nor is python3dist(NAME).
	Name string `yaml:"name" json:"name"`
	// Required: the repository: https://, http://, ssh://, git@HOST:PATH,
	// file:// or a local path (relative to the recipe's directory).
	Git string `yaml:"git" json:"git"`
	// Optional: files in the repository whose dependencies go to the base
	// layer: *.spec, setup.cfg, pyproject.toml, requirements*.txt.
	Deps []string `yaml:"deps,omitempty" json:"deps,omitempty"`
	// Optional: where the clone goes in the image (default /src/NAME).
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Optional: the command run in the image after the copy, in exec form,
	// with the working directory at Path. It runs over the base and this
	// source's checkout only (and those of Needs), and what it writes is a
	// layer of its own.
	Install []string `yaml:"install,omitempty" json:"install,omitempty"`
	// Optional: other sources whose checkouts the install command must
	// see (a plugin built against its application). The install command
	// then runs again when one of them changes.
	Needs []string `yaml:"needs,omitempty" json:"needs,omitempty"`
}

// Dest returns where the source goes in the image.
func (s Source) Dest() string {
	if s.Path == "" {
		return "/src/" + s.Name
	}
	return s.Path
}

// Profile is a deployment profile: the branch every source is taken from
// and the tags of the image.
type Profile struct {
	// Required: the git branch of every source, e.g. main or stable.
	Branch string `yaml:"branch" json:"branch"`
	// Optional: the image's tags (default: the profile's name).
	Tags []string `yaml:"tags,omitempty" json:"tags,omitempty"`
}

// Push says where images and shared bases go.
type Push struct {
	// Optional: the image repository, registry/name without a tag
	// (quay.io/packit/packit-service).
	Repository string `yaml:"repository,omitempty" json:"repository,omitempty"`
	// Optional: the repository of shared base images (default: Repository
	// with "-cache" appended, beside it).
	Cache string `yaml:"cache,omitempty" json:"cache,omitempty"`
	// Optional: a tag template pushed besides the profile's tags and never
	// moved once pushed: {profile}, {branch}, {commit}, {commit7}, {date}
	// (e.g. "{branch}-{commit7}").
	ImmutableTag string `yaml:"immutable_tag,omitempty" json:"immutable_tag,omitempty"`
}

// TagValues are the values of an immutable tag template's placeholders.
type TagValues struct {
	Profile, Branch, Commit, Date string
}

var (
	placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)
	tagUnsafeRE   = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
)

// ExpandTag fills a tag template. Characters a tag cannot hold (such as
// the "/" of release/1.2) become "-".
func ExpandTag(template string, v TagValues) (string, error) {
	var bad []string
	out := placeholderRE.ReplaceAllStringFunc(template, func(p string) string {
		switch p {
		case "{profile}":
			return v.Profile
		case "{branch}":
			return v.Branch
		case "{commit}":
			return v.Commit
		case "{commit7}":
			if len(v.Commit) >= 7 {
				return v.Commit[:7]
			}
			return v.Commit
		case "{date}":
			return v.Date
		}
		bad = append(bad, p)
		return ""
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("unknown placeholder %s in %q: want {profile}, {branch}, {commit}, {commit7} or {date}", bad[0], template)
	}
	out = strings.TrimLeft(tagUnsafeRE.ReplaceAllString(out, "-"), ".-")
	if len(out) > 128 {
		out = out[:128]
	}
	if !tagRE.MatchString(out) {
		return "", fmt.Errorf("tag template %q gives the invalid tag %q", template, out)
	}
	return out, nil
}

// DefaultBranch is the branch of recipes without profiles.
const DefaultBranch = "main"

// ProfileNames returns the profile names in the order of the file (sorted
// for recipes built in code); the first is the default.
func (r *Recipe) ProfileNames() []string {
	names := slices.Sorted(maps.Keys(r.Profiles))
	sort.SliceStable(names, func(i, j int) bool {
		return r.pos["profiles."+names[i]].Line < r.pos["profiles."+names[j]].Line
	})
	return names
}

// Profile returns the named profile, or the default one for "". A recipe
// without profiles has one implicit profile: branch main, tag latest.
func (r *Recipe) Profile(name string) (string, Profile, error) {
	if len(r.Profiles) == 0 {
		if name != "" {
			return "", Profile{}, fmt.Errorf("unknown profile %q: the recipe defines no profiles", name)
		}
		return "", Profile{Branch: DefaultBranch, Tags: []string{"latest"}}, nil
	}
	if name == "" {
		name = r.ProfileNames()[0]
	}
	p, ok := r.Profiles[name]
	if !ok {
		return "", Profile{}, fmt.Errorf("unknown profile %q: want one of %s", name, strings.Join(r.ProfileNames(), ", "))
	}
	if len(p.Tags) == 0 {
		p.Tags = []string{name}
	}
	return name, p, nil
}

// CheckSignatures reports whether dnf checks this repository's signatures.
func (r Repo) CheckSignatures() bool { return r.GPGCheck == nil || *r.GPGCheck }

// Image is the configuration of the final image.
type Image struct {
	// Optional: the entrypoint, in exec form.
	Entrypoint []string `yaml:"entrypoint,omitempty" json:"entrypoint,omitempty"`
	// Optional: the default command, in exec form.
	Cmd []string `yaml:"cmd,omitempty" json:"cmd,omitempty"`
	// Optional: environment variables.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Optional: the working directory (absolute).
	Workdir string `yaml:"workdir,omitempty" json:"workdir,omitempty"`
	// Optional: the user (name or uid, with optional :group).
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// Optional: image labels.
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Optional: exposed ports: "8080", "8080/tcp" or "53/udp".
	Ports []string `yaml:"ports,omitempty" json:"ports,omitempty"`
}

// TargetProfile returns the recipe's target profile.
func (r *Recipe) TargetProfile() (targets.Target, error) { return targets.Lookup(r.Target) }

// BaseFrom returns the base image reference ("scratch" when unset).
func (r *Recipe) BaseFrom() string {
	if r.Base.From == "" {
		return Scratch
	}
	return r.Base.From
}

// InstallMode returns the base install mode (installroot when unset).
func (r *Recipe) InstallMode() string {
	if r.Base.Install == "" {
		return InstallRoot
	}
	return r.Base.Install
}

// Where returns "FILE:LINE" of a field of a loaded recipe (such as
// "base.packages[2]"), for provenance; just the file when unknown.
func (r *Recipe) Where(field string) string {
	p := r.pos.lookup(field)
	if p.Line == 0 {
		return r.File
	}
	return fmt.Sprintf("%s:%d", r.File, p.Line)
}

func (r *Recipe) hasDepFiles() bool {
	for _, s := range r.Sources {
		if len(s.Deps) > 0 {
			return true
		}
	}
	return false
}
