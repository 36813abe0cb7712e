package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/layers/sbom"
	"github.com/strata-build/strata/recipes"
)

func TestCheckOutputFile(t *testing.T) {
	dir := t.TempDir()
	if err := checkOutputFile("--iidfile", ""); err != nil {
		t.Errorf("no file: %v", err)
	}
	if err := checkOutputFile("--iidfile", filepath.Join(dir, "id")); err != nil {
		t.Errorf("a writable directory: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the check left %v", entries)
	}
	for name, file := range map[string]string{
		"a missing directory": filepath.Join(dir, "no", "id"),
		"a file as directory": filepath.Join(dir, "f", "id"),
	} {
		if name == "a file as directory" {
			if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		err := checkOutputFile("--sbom", file)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "--sbom") || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: %v, want a usage error naming --sbom and the file", name, err)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sbom.json")
	if err := writeSBOM(file, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := writeSBOM(file, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "two" {
		t.Errorf("the file holds %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := writeSBOM("", []byte("x")); err != nil {
		t.Errorf("no --sbom: %v", err)
	}
	if err := writeSBOM(filepath.Join(dir, "no", "f"), []byte("x")); err == nil || !strings.Contains(err.Error(), "--sbom") {
		t.Errorf("an unwritable --sbom: %v", err)
	}
}

func TestSBOMOfLabels(t *testing.T) {
	if _, err := sbomOfLabels(map[string]string{"a": "b"}); !errors.Is(err, ErrUsage) || !errors.Is(err, layers.ErrNoSBOM) {
		t.Errorf("an image without the facts: %v", err)
	}
	labels := map[string]string{
		layers.LabelFinalKey: "fk", layers.LabelBaseKey: "bk", layers.LabelTitle: "web", layers.LabelBaseFrom: "scratch",
		layers.LabelCreated: "2025-06-15T15:06:40Z", layers.LabelBaseKeyDoc: `{"target":"fedora-43"}`,
		layers.LabelBaseRPMs: `[{"name":"bash","version":"5.2","release":"1.fc43","arch":"x86_64"}]`,
		layers.LabelSources:  `[{"name":"web","git":"https://example.com/web","branch":"main","commit":"c1","path":"/src/web"}]`,
		layers.LabelLayers:   `[{"kind":"install","source":"web","key":"k","diff_id":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1,"python":[{"name":"web","version":"1.0","path":"/p"}]}]`,
	}
	doc, err := sbomOfLabels(labels)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"pkg:rpm/fedora/bash@5.2-1.fc43?arch=x86_64&distro=fedora-43"`, `"pkg:pypi/web@1.0"`, `"value": "/src/web"`, `"timestamp": "2025-06-15T15:06:40Z"`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("the SBOM lacks %s:\n%s", want, doc)
		}
	}
	labels[layers.LabelBaseRPMs] = "not json"
	if _, err := sbomOfLabels(labels); err == nil || !strings.Contains(err.Error(), layers.LabelBaseRPMs) {
		t.Errorf("a broken label: %v", err)
	}
}

// TestReadFromRegistry: strata sbom and strata provenance of docker://
// read the attachments; an image without them is an error.
func TestReadFromRegistry(t *testing.T) {
	host, d := testRegistry(t, "team/web")
	repo := host + "/team/web"
	ctx := context.Background()
	opts := ReadOptions{}
	if _, err := ReadSBOM(ctx, "docker://"+repo+":1", opts); !errors.Is(err, ErrUsage) {
		t.Errorf("no attachment and no facts: %v, want a usage error", err)
	}
	if _, err := ReadProvenance(ctx, "docker://"+repo+":1", opts); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "no provenance") {
		t.Errorf("no provenance: %v", err)
	}
	p, err := newRemoteReader(RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doc := func(s string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(s), nil } }
	if err := p.attachAll(ctx, repo, "1", d, "2025-06-15T15:06:40Z", func(string, ...any) {}, attestation{sbom.MediaType, doc("S")}, attestation{ProvenanceType, doc("P")}); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadSBOM(ctx, "docker://"+repo+":1", opts); err != nil || string(b) != "S" {
		t.Errorf("SBOM %q, %v", b, err)
	}
	if b, err := ReadProvenance(ctx, "docker://"+repo+"@"+d.String(), opts); err != nil || string(b) != "P" {
		t.Errorf("provenance %q, %v", b, err)
	}
	if _, err := ReadProvenance(ctx, "oci:/tmp/x", opts); !errors.Is(err, ErrUsage) {
		t.Errorf("provenance of oci:: %v", err)
	}
}

func TestNamesAndRepos(t *testing.T) {
	got, err := qualify([]string{"web", "localhost/web:stg", "web:latest", "quay.io/team/web:1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"docker.io/library/web:latest", "localhost/web:stg", "quay.io/team/web:1"}; !slices.Equal(got, want) {
		t.Errorf("qualify = %v, want %v", got, want)
	}
	if _, err := qualify([]string{"Bad Name"}); err == nil || !strings.Contains(err.Error(), `"Bad Name"`) {
		t.Errorf("an invalid name: %v", err)
	}
	r := &recipes.Recipe{}
	if cacheRepo(r) != "" {
		t.Errorf("no repository: cache %q", cacheRepo(r))
	}
	r.Push.Repository = "quay.io/team/web"
	if got := cacheRepo(r); got != "quay.io/team/web-cache" {
		t.Errorf("default cache %q", got)
	}
	r.Push.Cache = "quay.io/team/bases"
	if got := cacheRepo(r); got != "quay.io/team/bases" {
		t.Errorf("push.cache %q", got)
	}
	key := strings.Repeat("ab", 32)
	if baseTag(key) != "base-abababababababab" || !strings.HasPrefix(stampPrefix(key), "base-abababababababab-built-") {
		t.Errorf("tags %s %s", baseTag(key), stampPrefix(key))
	}
	if hasInstall(&recipes.Recipe{Sources: []recipes.Source{{Name: "a"}}}) || !hasInstall(&recipes.Recipe{Sources: []recipes.Source{{Name: "a"}, {Name: "b", Install: []string{"true"}}}}) {
		t.Error("hasInstall")
	}
	if got := referrersTag("sha256:abc"); got != "sha256-abc" {
		t.Errorf("referrers tag %q", got)
	}
	if d := (Destination{Transport: "oci", Path: "/tmp/x:1"}); d.String() != "oci:/tmp/x:1" {
		t.Errorf("destination %s", d)
	}
}

// TestParseStamp: build stamp tags are read back to their key and time;
// the base tag itself and other tags are not stamps.
func TestParseStamp(t *testing.T) {
	key := "0123456789abcdef0123456789abcdef"
	tag := stampPrefix(key) + "20261128T165500Z"
	key16, at, ok := parseStamp(tag)
	if !ok || key16 != key[:16] || !at.Equal(time.Date(2026, 11, 28, 16, 55, 0, 0, time.UTC)) {
		t.Errorf("parseStamp(%q) = %q, %v, %v", tag, key16, at, ok)
	}
	for _, bad := range []string{baseTag(key), "latest", "base-0123", stampPrefix(key) + "yesterday", "v1-built-20261128T165500Z"} {
		if _, _, ok := parseStamp(bad); ok {
			t.Errorf("parseStamp(%q) is a stamp", bad)
		}
	}
}
