package build

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	"github.com/strata-build/strata/layers"
	"github.com/strata-build/strata/layers/sbom"
	"github.com/strata-build/strata/recipes"
)

// testRegistry is go-containerregistry's in-process registry, with an
// image pushed at REPO:1; it returns the registry's host and the image's
// digest.
func testRegistry(t *testing.T, repo string) (string, digest.Digest) {
	t.Helper()
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/"+repo+":1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return host, digest.Digest(d.String())
}

func TestAttachAndRead(t *testing.T) {
	host, d := testRegistry(t, "team/web")
	repo := host + "/team/web"
	p, err := newRemoteReader(RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	made := map[string]int{}
	att := func(kind, body string) attestation {
		return attestation{kind, func() ([]byte, error) { made[kind]++; return []byte(body), nil }}
	}
	logf := func(string, ...any) {}
	if err := p.attachAll(ctx, repo, "1", d, "2025-06-15T15:06:40Z", logf, att(sbom.MediaType, `{"sbom":1}`), att(ProvenanceType, `{"prov":1}`)); err != nil {
		t.Fatal(err)
	}
	idx, err := p.referrers(ctx, repo, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 2 || idx.Manifests[0].ArtifactType != sbom.MediaType || idx.Manifests[1].ArtifactType != ProvenanceType {
		t.Fatalf("referrers index %+v, want the SBOM and the provenance", idx.Manifests)
	}
	// Read back: the same bytes, by tag and by digest.
	for _, ref := range []string{repo + ":1", repo + "@" + d.String()} {
		got, err := p.readAttachment(ctx, ref, sbom.MediaType)
		if err != nil || string(got) != `{"sbom":1}` {
			t.Errorf("SBOM of %s: %q, %v", ref, got, err)
		}
	}
	if got, err := p.readAttachment(ctx, repo+":1", "application/x-none"); err != nil || got != nil {
		t.Errorf("an artifact type not attached: %q, %v", got, err)
	}
	// The artifact manifest names the image as its subject.
	raw, _, err := p.rawManifest(ctx, "docker://"+repo+"@"+idx.Manifests[0].Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	var art struct {
		ArtifactType string
		Subject      struct{ Digest string }
		Config       struct{ MediaType string }
	}
	if err := json.Unmarshal(raw, &art); err != nil || art.Subject.Digest != d.String() || art.ArtifactType != sbom.MediaType || art.Config.MediaType != emptyConfigType {
		t.Errorf("artifact manifest %s", raw)
	}
	// Again: one of each is there, nothing is made or moved.
	if err := p.attachAll(ctx, repo, "1", d, "2025-06-15T15:06:40Z", logf, att(sbom.MediaType, `{"sbom":2}`), att(ProvenanceType, `{"prov":2}`)); err != nil {
		t.Fatal(err)
	}
	if made[sbom.MediaType] != 1 || made[ProvenanceType] != 1 {
		t.Errorf("documents made %v, want each once", made)
	}
	if idx, _ := p.referrers(ctx, repo, d); len(idx.Manifests) != 2 {
		t.Errorf("%d referrers after a second attach, want 2", len(idx.Manifests))
	}
	// An image without attachments, and one that is not there.
	if got, err := p.readAttachment(ctx, host+"/team/other:1", sbom.MediaType); err == nil {
		t.Errorf("a missing image: %q", got)
	}
}

func TestProvenance(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(file, []byte("name: web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := &Plan{
		recipe: &recipes.Recipe{File: file}, Target: "fedora-43", Profile: "stg", Branch: "main", Tags: []string{"stg"},
		Sources: []PlanSource{{Name: "web", Git: "https://example.com/web.git", Branch: "main", Commit: "c0ffee"}},
		Base:    PlanBase{Key: "basekey", Lock: "web.yaml.lock", spec: layers.BaseSpec{Lock: "sha256:abc", From: "registry.example/fedora:43", FromDigest: "sha256:def"}},
	}
	res := &Result{FinalKey: "finalkey"}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	doc, err := provenance(plan, Options{BuilderVersion: "1.2.3", Tags: []string{"extra"}}, res, "registry.example/team/web", "sha256:0123", start, start.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Type          string `json:"_type"`
		PredicateType string
		Subject       []struct {
			Name   string
			Digest map[string]string
		}
		Predicate struct {
			BuildDefinition struct {
				BuildType          string
				ExternalParameters struct {
					Recipe struct {
						Path   string
						Digest map[string]string
					}
					Profile, Branch string
					Tags            []string
				}
				InternalParameters struct {
					BaseKey, FinalKey string
					Lock              struct {
						Path   string
						Digest map[string]string
					}
				}
				ResolvedDependencies []struct {
					Name, URI string
					Digest    map[string]string
				}
			}
			RunDetails struct {
				Builder struct {
					ID      string
					Version map[string]string
				}
				Metadata struct{ StartedOn, FinishedOn string }
			}
		}
	}
	if err := json.Unmarshal(doc, &st); err != nil {
		t.Fatal(err)
	}
	bd, rd := st.Predicate.BuildDefinition, st.Predicate.RunDetails
	checks := map[string]bool{
		"statement type":  st.Type == "https://in-toto.io/Statement/v1" && st.PredicateType == "https://slsa.dev/provenance/v1",
		"subject":         len(st.Subject) == 1 && st.Subject[0].Name == "registry.example/team/web" && st.Subject[0].Digest["sha256"] == "0123",
		"recipe":          bd.ExternalParameters.Recipe.Path == file && "sha256:"+bd.ExternalParameters.Recipe.Digest["sha256"] == digest.FromString("name: web\n").String(),
		"profile, tags":   bd.ExternalParameters.Profile == "stg" && bd.ExternalParameters.Branch == "main" && strings.Join(bd.ExternalParameters.Tags, ",") == "stg,extra",
		"keys and lock":   bd.InternalParameters.BaseKey == "basekey" && bd.InternalParameters.FinalKey == "finalkey" && bd.InternalParameters.Lock.Digest["sha256"] == "abc",
		"source and base": len(bd.ResolvedDependencies) == 2 && bd.ResolvedDependencies[0].URI == "git+https://example.com/web.git@refs/heads/main" && bd.ResolvedDependencies[0].Digest["gitCommit"] == "c0ffee" && bd.ResolvedDependencies[1].Digest["sha256"] == "def",
		"builder":         rd.Builder.ID == "https://github.com/strata-build/strata" && rd.Builder.Version["strata"] == "1.2.3",
		"times":           rd.Metadata.StartedOn == "2026-01-02T03:04:05Z" && rd.Metadata.FinishedOn == "2026-01-02T03:05:05Z",
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s is wrong in:\n%s", what, doc)
		}
	}
}
