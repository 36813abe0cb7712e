package layers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"

	"github.com/strata-build/strata/layers/lock"
	"github.com/strata-build/strata/recipes"
	"go.podman.io/image/v5/docker/reference"
)

// keyVersion changes whenever the meaning of a key document changes, so
// that bases built by an older strata are never mistaken for new ones.
const keyVersion = 5 // 5: the base is split into layers by package

// BaseSpec is everything that determines the content of a base layer.
type BaseSpec struct {
	Target string `json:"target"`
	From   string `json:"from"`
	// FromDigest is the manifest digest base.from resolved to ("" for
	// scratch): a new base image release is a new base.
	FromDigest string `json:"from_digest,omitempty"`
	// FromResolved is the fully qualified reference a registry base.from
	// resolved to (a short name through registries.conf); not keyed: the
	// digest is.
	FromResolved string         `json:"-"`
	Mode         string         `json:"install"`
	Repos        []recipes.Repo `json:"repos"`
	Packages     []string       `json:"packages"`
	// Lock is the digest of the lock file's content, when there is one;
	// Locked are the exact packages installed then (not in the document:
	// the digest stands for them).
	Lock   string         `json:"lock,omitempty"`
	Locked []lock.Package `json:"-"`
	// RepoContent maps the ID of each local (file://) repository to the
	// digest of what it serves (RepoContent): the key document names that
	// instead of the path, so that the same recipe in two checkouts has
	// one key.
	RepoContent map[string]string `json:"-"`
	// Layers is base.layers (0: recipes.DefaultBaseLayers): the base is
	// split into at most that many layers by package.
	Layers int `json:"layers"`
	// Reserve is how many layers the image keeps for its sources, so
	// that base.from's, the base's and theirs stay within
	// recipes.MaxImageLayers.
	Reserve int `json:"-"`
	// PreviousLayout, when set, finds the layout of an earlier base to
	// keep when the store has none of its own (the registry cache's
	// newest); called only then. Not keyed.
	PreviousLayout func() *BaseLayout `json:"-"`
}

// layers returns base.layers, or its default.
func (s BaseSpec) layers() int {
	if s.Layers <= 0 {
		return recipes.DefaultBaseLayers
	}
	return s.Layers
}

// keyDoc is the canonical, versioned document hashed into a base key.
type keyDoc struct {
	Version int `json:"version"`
	BaseSpec
}

// Key returns the base key: the sha256 of the canonical key document. The
// order of packages and repositories does not matter.
func (s BaseSpec) Key() string {
	sum := sha256.Sum256(s.KeyDocument())
	return hex.EncodeToString(sum[:])
}

func (s BaseSpec) canonical() BaseSpec {
	c := s
	c.Packages = make([]string, len(s.Packages))
	for i, p := range s.Packages {
		c.Packages[i] = recipes.NormalizeDep(p)
	}
	sort.Strings(c.Packages)
	c.Repos = append([]recipes.Repo(nil), s.Repos...)
	for i, r := range c.Repos {
		if d, ok := s.RepoContent[r.ID]; ok && strings.HasPrefix(r.BaseURL, "file://") {
			c.Repos[i].BaseURL = "local:" + d
		}
	}
	sort.Slice(c.Repos, func(i, j int) bool { return c.Repos[i].ID < c.Repos[j].ID })
	return c
}

// KeyDocument returns the canonical JSON document the key hashes: compact,
// fields in a fixed order, packages and repositories sorted, no HTML
// escaping (so "python3dist(x) >= 2" reads as written).
func (s BaseSpec) KeyDocument() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(keyDoc{Version: keyVersion, BaseSpec: s.canonical()}) // plain strings and slices: cannot fail
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// FromRef names the image the base is installed over, for its SBOM: the
// reference it is built from (NAME@DIGEST for a registry image), or
// "scratch".
func (s BaseSpec) FromRef() string {
	if s.From == "" {
		return recipes.Scratch
	}
	return s.PullRef()
}

// PullRef returns the reference the base is built from: a registry image
// at the digest of the key, so that what is installed over is what was
// keyed; other references as they are.
func (s BaseSpec) PullRef() string {
	if s.FromDigest == "" || !isRegistryRef(s.From) {
		return s.From
	}
	from := s.FromResolved
	if from == "" {
		from = strings.TrimPrefix(s.From, "docker://")
	}
	named, err := reference.ParseNormalizedNamed(from)
	if err != nil {
		return s.From
	}
	return reference.TrimNamed(named).String() + "@" + s.FromDigest
}

func isRegistryRef(from string) bool {
	for _, t := range []string{"oci:", "oci-archive:", "docker-archive:", "containers-storage:"} {
		if strings.HasPrefix(from, t) {
			return false
		}
	}
	return from != "" && from != recipes.Scratch
}
