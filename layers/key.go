package layers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/strata-build/strata/recipes"
)

// keyVersion changes whenever the meaning of a key document changes, so
// that bases built by an older strata are never mistaken for new ones.
const keyVersion = 1

// BaseSpec is everything that determines the content of a base layer.
type BaseSpec struct {
	Target   string         `json:"target"`
	From     string         `json:"from"`
	Mode     string         `json:"install"`
	Repos    []recipes.Repo `json:"repos"`
	Packages []string       `json:"packages"`
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
