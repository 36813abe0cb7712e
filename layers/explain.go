package layers

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/strata-build/strata/recipes"
)

// LabelBaseKeyDoc is the label holding a base's key document, so that a
// later miss can be explained against it.
const LabelBaseKeyDoc = "io.strata.base.keydoc"

// ExplainKeyChange lists what differs between two key documents, in
// words: packages added, removed or changed, the base image, repositories,
// target, install mode, lock, format version. Nil when they are equal.
func ExplainKeyChange(oldDoc, newDoc []byte) []string {
	var o, n keyDoc
	if json.Unmarshal(oldDoc, &o) != nil || json.Unmarshal(newDoc, &n) != nil {
		return []string{"the cached base's key document is unreadable"}
	}
	var out []string
	if o.Version != n.Version {
		out = append(out, fmt.Sprintf("key format changed (version %d -> %d)", o.Version, n.Version))
	}
	if o.Target != n.Target {
		out = append(out, fmt.Sprintf("target changed: %s -> %s", o.Target, n.Target))
	}
	if o.From != n.From {
		out = append(out, fmt.Sprintf("base image changed: %s -> %s", o.From, n.From))
	} else if o.FromDigest != n.FromDigest {
		out = append(out, fmt.Sprintf("base image digest changed: %s -> %s", orNone(o.FromDigest), orNone(n.FromDigest)))
	}
	if o.Mode != n.Mode {
		out = append(out, fmt.Sprintf("install mode changed: %s -> %s", o.Mode, n.Mode))
	}
	if !slices.EqualFunc(o.Repos, n.Repos, func(a, b recipes.Repo) bool { return repoString(a) == repoString(b) }) {
		out = append(out, "repos changed: "+diffRepos(o.Repos, n.Repos))
	}
	added, removed, changed := diffPackages(o.Packages, n.Packages)
	if len(added) > 0 {
		out = append(out, "packages added: "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		out = append(out, "packages removed: "+strings.Join(removed, ", "))
	}
	if len(changed) > 0 {
		out = append(out, "packages changed: "+strings.Join(changed, ", "))
	}
	if o.Lock != n.Lock {
		out = append(out, fmt.Sprintf("lock changed: %s -> %s", orNone(o.Lock), orNone(n.Lock)))
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func repoString(r recipes.Repo) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func diffRepos(old, cur []recipes.Repo) string {
	byID := func(list []recipes.Repo) map[string]string {
		m := map[string]string{}
		for _, r := range list {
			m[r.ID] = repoString(r)
		}
		return m
	}
	o, n := byID(old), byID(cur)
	var parts []string
	for _, r := range cur {
		if prev, ok := o[r.ID]; !ok {
			parts = append(parts, "+"+r.ID)
		} else if prev != n[r.ID] {
			parts = append(parts, "~"+r.ID)
		}
	}
	for _, r := range old {
		if _, ok := n[r.ID]; !ok {
			parts = append(parts, "-"+r.ID)
		}
	}
	return strings.Join(parts, ", ")
}

// diffPackages compares two package sets by name: a name in both with
// another version constraint is changed.
func diffPackages(old, cur []string) (added, removed, changed []string) {
	byName := func(list []string) map[string][]string {
		m := map[string][]string{}
		for _, p := range list {
			name := recipes.DepName(p)
			if name == "" {
				name = p // rich dependencies stand for themselves
			}
			m[name] = append(m[name], p)
		}
		return m
	}
	o, n := byName(old), byName(cur)
	for _, name := range slices.Sorted(maps.Keys(n)) {
		prev, ok := o[name]
		switch {
		case !ok:
			added = append(added, n[name]...)
		case !slices.Equal(prev, n[name]):
			changed = append(changed, strings.Join(prev, ", ")+" -> "+strings.Join(n[name], ", "))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(o)) {
		if _, ok := n[name]; !ok {
			removed = append(removed, o[name]...)
		}
	}
	return added, removed, changed
}
