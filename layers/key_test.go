package layers

import (
	"slices"
	"strings"
	"testing"

	"github.com/strata-build/strata/layers/lock"
	"github.com/strata-build/strata/recipes"
)

func baseSpec() BaseSpec {
	return BaseSpec{
		Target: "fedora-43", From: "scratch", Mode: "installroot",
		Repos:    []recipes.Repo{{ID: "b", BaseURL: "https://b.example.com/repo"}, {ID: "a", BaseURL: "file:///srv/a"}},
		Packages: []string{"python3dist(requests) >= 2", "busybox"},
	}
}

// TestBaseKey: the key is a function of what decides the base's content,
// whatever the order of packages and repositories; fields that are not
// in the document (the resolved pull name, the locked list, local paths
// when their content is known) do not change it.
func TestBaseKey(t *testing.T) {
	want := baseSpec().Key()
	if len(want) != 64 {
		t.Fatalf("key %q", want)
	}
	same := map[string]func(*BaseSpec){
		"packages reordered": func(s *BaseSpec) { slices.Reverse(s.Packages) },
		"repos reordered":    func(s *BaseSpec) { slices.Reverse(s.Repos) },
		"spacing of a dep":   func(s *BaseSpec) { s.Packages[0] = "python3dist(requests)>=2" },
		"resolved pull name": func(s *BaseSpec) { s.FromResolved = "quay.io/x/y:1" },
		"locked list":        func(s *BaseSpec) { s.Locked = []lock.Package{{Name: "busybox"}} },
		"unread local repo":  func(s *BaseSpec) { s.RepoContent = map[string]string{"other": "sha256:1"} },
	}
	for name, edit := range same {
		s := baseSpec()
		edit(&s)
		if got := s.Key(); got != want {
			t.Errorf("%s changed the key", name)
		}
	}
	differ := map[string]func(*BaseSpec){
		"target":             func(s *BaseSpec) { s.Target = "fedora-42" },
		"from":               func(s *BaseSpec) { s.From = "quay.io/fedora/fedora:43" },
		"from digest":        func(s *BaseSpec) { s.FromDigest = "sha256:2222" },
		"mode":               func(s *BaseSpec) { s.Mode = "container" },
		"a package":          func(s *BaseSpec) { s.Packages = append(s.Packages, "git") },
		"a version":          func(s *BaseSpec) { s.Packages[0] = "python3dist(requests) >= 3" },
		"a repo URL":         func(s *BaseSpec) { s.Repos[0].BaseURL = "https://c.example.com/repo" },
		"gpgcheck":           func(s *BaseSpec) { s.Repos[0].GPGCheck = new(bool) },
		"lock":               func(s *BaseSpec) { s.Lock = "sha256:3333" },
		"local repo content": func(s *BaseSpec) { s.RepoContent = map[string]string{"a": "sha256:4444"} },
	}
	for name, edit := range differ {
		s := baseSpec()
		edit(&s)
		if got := s.Key(); got == want {
			t.Errorf("%s did not change the key", name)
		}
	}
	// The same local repository's content under two paths: one key.
	a, b := baseSpec(), baseSpec()
	a.RepoContent = map[string]string{"a": "sha256:5555"}
	b.Repos[1].BaseURL = "file:///home/ci/checkout/repo"
	b.RepoContent = map[string]string{"a": "sha256:5555"}
	if a.Key() != b.Key() {
		t.Errorf("one local repository's content under two paths gives two keys")
	}
}

func TestExplainKeyChange(t *testing.T) {
	tests := []struct {
		name string
		edit func(*BaseSpec)
		want []string
	}{
		{"nothing", func(*BaseSpec) {}, nil},
		{"package added and removed", func(s *BaseSpec) { s.Packages = []string{"busybox", "git"} },
			[]string{"packages added: git", "packages removed: python3dist(requests) >= 2"}},
		{"version changed", func(s *BaseSpec) { s.Packages[0] = "python3dist(requests) >= 3" },
			[]string{"packages changed: python3dist(requests) >= 2 -> python3dist(requests) >= 3"}},
		{"base image digest", func(s *BaseSpec) { s.FromDigest = "sha256:2222" },
			[]string{"base image digest changed: none -> sha256:2222"}},
		{"base image", func(s *BaseSpec) { s.From = "quay.io/fedora/fedora:43" },
			[]string{"base image changed: scratch -> quay.io/fedora/fedora:43"}},
		{"target and mode", func(s *BaseSpec) { s.Target, s.Mode = "rhel-9", "container" },
			[]string{"target changed: fedora-43 -> rhel-9", "install mode changed: installroot -> container"}},
		{"repo added", func(s *BaseSpec) { s.Repos = append(s.Repos, recipes.Repo{ID: "c", BaseURL: "https://c"}) },
			[]string{"repos changed: +c"}},
		{"lock", func(s *BaseSpec) { s.Lock = "sha256:3333" }, []string{"lock changed: none -> sha256:3333"}},
	}
	old := baseSpec().KeyDocument()
	for _, tt := range tests {
		s := baseSpec()
		tt.edit(&s)
		got := ExplainKeyChange(old, s.KeyDocument())
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := ExplainKeyChange([]byte("{"), old); len(got) != 1 || !strings.Contains(got[0], "unreadable") {
		t.Errorf("an unreadable document: %q", got)
	}
}
