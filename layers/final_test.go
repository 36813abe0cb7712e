package layers

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/strata-build/strata/recipes"
)

func finalSpec() *FinalSpec {
	return &FinalSpec{
		Name: "web", BaseID: "b1", BaseKey: "k1", Network: "none",
		Epoch: time.Unix(1750000000, 0).UTC(),
		Image: recipes.Image{Cmd: []string{"web"}, Env: map[string]string{"A": "1", "B": "2"}},
		Sources: []Source{
			{Name: "web", Git: "https://example.com/web", Branch: "main", Commit: "c1", Path: "/src/web", Install: []string{"pip3", "install", "."}, Dir: "/cache/a"},
			{Name: "lib", Git: "https://example.com/lib", Branch: "main", Commit: "c2", Path: "/src/lib", Dir: "/cache/b"},
		},
	}
}

// TestFinalKey: the key depends on what makes the image, and on nothing
// else (where the checkout sits on the host, the order of env entries).
func TestFinalKey(t *testing.T) {
	base := finalSpec().Key()
	same := finalSpec()
	same.Sources[0].Dir = "/elsewhere"
	same.Image.Env = map[string]string{"B": "2", "A": "1"}
	if got := same.Key(); got != base {
		t.Errorf("the checkout directory or env order changed the key")
	}
	for name, change := range map[string]func(*FinalSpec){
		"base image":      func(s *FinalSpec) { s.BaseID = "b2" },
		"commit":          func(s *FinalSpec) { s.Sources[1].Commit = "c3" },
		"branch":          func(s *FinalSpec) { s.Sources[0].Branch = "stable" },
		"install command": func(s *FinalSpec) { s.Sources[0].Install = []string{"pip3", "install", "-e", "."} },
		"path":            func(s *FinalSpec) { s.Sources[1].Path = "/opt/lib" },
		"source order":    func(s *FinalSpec) { s.Sources[0], s.Sources[1] = s.Sources[1], s.Sources[0] },
		"image config":    func(s *FinalSpec) { s.Image.Cmd = []string{"worker"} },
		"network":         func(s *FinalSpec) { s.Network = "host" },
		"date":            func(s *FinalSpec) { s.Epoch = s.Epoch.Add(time.Second) },
		"name":            func(s *FinalSpec) { s.Name = "web2" },
	} {
		s := finalSpec()
		change(s)
		if s.Key() == base {
			t.Errorf("changing the %s kept the key", name)
		}
	}
}

func TestFinalLabels(t *testing.T) {
	s := finalSpec()
	l := s.Labels()
	var sources []map[string]string
	if err := json.Unmarshal([]byte(l[LabelSources]), &sources); err != nil {
		t.Fatal(err)
	}
	if len(sources) != 2 || sources[1]["name"] != "lib" || sources[1]["commit"] != "c2" || len(sources[0]) != 4 {
		t.Errorf("io.strata.sources = %s", l[LabelSources])
	}
	if l[LabelSource] != "https://example.com/web" || l[LabelRevision] != "c1" || l[LabelFinalKey] != s.Key() || l[LabelBaseKey] != "k1" {
		t.Errorf("labels %v", l)
	}
	if l[LabelCreated] != "2025-06-15T15:06:40Z" {
		t.Errorf("created %q", l[LabelCreated])
	}
}

func TestNested(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		want  bool
	}{
		{[]string{"/src/a", "/src/b"}, false},
		{[]string{"/src", "/src/ogr"}, true},
		{[]string{"/src/ogr", "/src"}, true},
		{[]string{"/src/a", "/src/ab"}, false},
		{[]string{"/opt/a/", "/opt/a"}, true},
	} {
		var s []Source
		for _, p := range tc.paths {
			s = append(s, Source{Path: p})
		}
		if got := nested(s); got != tc.want {
			t.Errorf("nested(%q) = %v", tc.paths, got)
		}
	}
}
