package recipes

import (
	"fmt"

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
