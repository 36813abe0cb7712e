package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/cdxschema"
	"github.com/strata-build/strata/internal/fixtures"
	"github.com/strata-build/strata/recipes/examples"
)

// cdxDoc is what the tests read of a CycloneDX document.
type cdxDoc struct {
	SpecVersion string `json:"specVersion"`
	Components  []struct {
		Type, Name, Version, Purl string
		Licenses                  []struct{ License struct{ Name string } }
		Properties                []struct{ Name, Value string }
	} `json:"components"`
}

func (d cdxDoc) prop(i int, name string) string {
	for _, p := range d.Components[i].Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

func parseCDX(t *testing.T, doc []byte) cdxDoc {
	t.Helper()
	if err := cdxschema.Validate(doc); err != nil {
		t.Fatalf("the SBOM does not validate against the CycloneDX 1.6 schema: %v\n%s", err, doc)
	}
	var d cdxDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// demoRecipe writes recipes/examples/demo.yaml over the demo's inputs
// (fixtures.MakeDemo, what make demo uses) in a directory of its own, with
// a push section for reg.
func demoRecipe(t *testing.T, reg *registry) string {
	t.Helper()
	dir := t.TempDir()
	if err := fixtures.MakeDemo(filepath.Join(dir, ".demo")); err != nil {
		t.Fatal(err)
	}
	body, err := examples.FS.ReadFile("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(body), "../../.demo/", dir+"/.demo/")
	// A Python distribution, as pip would leave it, from the source's
	// install command: the SBOM lists it as coming from that source.
	text = strings.Replace(text, `chmod 755 /usr/bin/hello-app"]`, `chmod 755 /usr/bin/hello-app && d=/usr/lib/python3.13/site-packages/hello_app-1.0.dist-info && mkdir -p $d && printf 'Metadata-Version: 2.1\nName: hello-app\nVersion: 1.0\nLicense: MIT\n' > $d/METADATA"]`, 1)
	if reg != nil {
		text += fmt.Sprintf("push:\n  repository: %s/e2e/demo\n", reg.Host)
	}
	file := filepath.Join(dir, "demo.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestSBOM: the demo image's SBOM (CycloneDX 1.6, valid against the
// official schema) lists exactly the RPMs rpm -qa lists in the image's
// rootfs, with their version-release and license, the source at its
// commit with its path, the Python distribution its install command
// added, and the base; its digest is the io.strata.sbom label; build
// --sbom, strata sbom of the local image, of an oci: copy and of the
// registry image (the attachment) give the same bytes; the base layer
// carries its own part; a second store makes the same bytes; strata
// provenance prints an in-toto SLSA statement naming the pushed digest.
func TestSBOM(t *testing.T) {
	reg := startRegistry(t, registryOptions{})
	file := demoRecipe(t, reg)
	s := newStore(t)
	env := cacheEnv(t)
	sbomFile := filepath.Join(t.TempDir(), "sbom.json")
	r := strata(t, s, env, "build", "--sbom", sbomFile, file)
	if r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	doc, err := os.ReadFile(sbomFile)
	if err != nil {
		t.Fatal(err)
	}
	bom := parseCDX(t, doc)
	if bom.SpecVersion != "1.6" {
		t.Errorf("specVersion %q", bom.SpecVersion)
	}
	sum := sha256.Sum256(doc)
	if got := s.labels(t, id)["io.strata.sbom"]; got != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("io.strata.sbom = %q, want the SBOM's digest sha256:%x", got, sum)
	}
	local := strata(t, s, env, "sbom", "localhost/demo:stg")
	if local.code != 0 || local.stdout != string(doc) {
		t.Errorf("strata sbom localhost/demo:stg: exit %d, same bytes as --sbom: %v\n%s", local.code, local.stdout == string(doc), local.stderr)
	}

	// The RPMs are those of the image's rpm database, as the host's rpm
	// reads it in the image's rootfs.
	out := t.TempDir()
	if r := strata(t, s, env, "build", "--output", "oci:"+out, file); r.code != 0 {
		t.Fatalf("build to oci: %s", r.stderr)
	}
	root, _ := readOCI(t, out).unpack(t)
	q, err := exec.Command("rpm", "--root", root, "--dbpath", "/usr/lib/sysimage/rpm", "-qa", "--qf", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH} %{LICENSE}\n").CombinedOutput()
	if err != nil {
		t.Fatalf("rpm -qa: %v\n%s", err, q)
	}
	want := strings.Split(strings.TrimSpace(string(q)), "\n")
	slices.Sort(want)
	var got []string
	var sources, python []int
	for i, c := range bom.Components {
		switch {
		case strings.HasPrefix(c.Purl, "pkg:rpm/"):
			lic := ""
			if len(c.Licenses) == 1 {
				lic = c.Licenses[0].License.Name
			}
			got = append(got, c.Name+" "+c.Version+" "+bom.prop(i, "strata:arch")+" "+lic)
		case c.Type == "application":
			sources = append(sources, i)
		case strings.HasPrefix(c.Purl, "pkg:pypi/"):
			python = append(python, i)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) || len(want) < 3 {
		t.Errorf("SBOM RPMs:\n%s\nrpm -qa in the image:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	commit := strings.TrimSpace(tool(t, "git", "-C", filepath.Join(filepath.Dir(file), ".demo/src/hello-app"), "rev-parse", "main"))
	if len(sources) != 1 || bom.Components[sources[0]].Name != "hello-app" || bom.Components[sources[0]].Version != commit ||
		bom.prop(sources[0], "strata:branch") != "main" || bom.prop(sources[0], "strata:path") != "/src/hello-app" {
		t.Errorf("sources in the SBOM: %v, want hello-app at %s", sources, commit)
	}
	if len(python) != 1 || bom.Components[python[0]].Name != "hello-app" || bom.Components[python[0]].Version != "1.0" ||
		bom.prop(python[0], "strata:source") != "hello-app" || len(bom.Components[python[0]].Licenses) != 1 || bom.Components[python[0]].Licenses[0].License.Name != "MIT" {
		t.Errorf("Python distributions in the SBOM: %v, want hello-app 1.0 (MIT) from hello-app", python)
	}
	if c := bom.Components[0]; c.Type != "container" || c.Name != "scratch" || bom.prop(0, "strata:base-key") == "" {
		t.Errorf("the first component is %+v, want the scratch base with its key", c)
	}
	// The base layer's own part, in the image.
	baseDoc, err := os.ReadFile(filepath.Join(root, "usr/share/strata/sbom/base.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if b := parseCDX(t, baseDoc); len(b.Components) != len(want)+1 {
		t.Errorf("base.cdx.json has %d components, want the base and %d RPMs", len(b.Components), len(want))
	}
	if r := strata(t, s, env, "sbom", "oci:"+out); r.code != 0 || r.stdout != string(doc) {
		t.Errorf("strata sbom oci:: exit %d, same bytes: %v\n%s", r.code, r.stdout == string(doc), r.stderr)
	}

	// Another store, same inputs: the same bytes.
	other := newStore(t)
	other2 := filepath.Join(t.TempDir(), "sbom.json")
	if r := strata(t, other, cacheEnv(t), "build", "--sbom", other2, file); r.code != 0 {
		t.Fatalf("build on another store: %s", r.stderr)
	}
	if b, _ := os.ReadFile(other2); !bytes.Equal(b, doc) {
		t.Errorf("another store made another SBOM")
	}

	// Pushed: the SBOM is attached (the referrers tag), and strata sbom
	// docker:// reads back the same bytes.
	r = strata(t, s, env, "build", "--push", "--tls-verify=false", file)
	if r.code != 0 {
		t.Fatalf("build --push: %s", r.stderr)
	}
	digest := reg.Digest(t, "e2e/demo:stg")
	att := reg.attachments(t, "e2e/demo", digest)
	if att["application/vnd.cyclonedx+json"] != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("attachments %v, want the SBOM sha256:%x", att, sum)
	}
	if r := strata(t, s, env, "sbom", "--tls-verify=false", "docker://"+reg.Host+"/e2e/demo:stg"); r.code != 0 || r.stdout != string(doc) {
		t.Errorf("strata sbom docker://: exit %d, same bytes: %v\n%s", r.code, r.stdout == string(doc), r.stderr)
	}
	// The provenance: an in-toto statement with a SLSA v1 predicate.
	r = strata(t, s, env, "provenance", "--tls-verify=false", "docker://"+reg.Host+"/e2e/demo:stg")
	if r.code != 0 {
		t.Fatalf("strata provenance: %s", r.stderr)
	}
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Name   string
			Digest map[string]string
		}
		PredicateType string
		Predicate     struct {
			BuildDefinition struct {
				ExternalParameters struct {
					Recipe struct {
						Digest map[string]string
					}
					Profile string
				}
				InternalParameters struct {
					BaseKey string
				}
				ResolvedDependencies []struct {
					URI    string
					Digest map[string]string
				}
			}
			RunDetails struct {
				Builder struct{ ID string }
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("provenance: %v\n%s", err, r.stdout)
	}
	recipeBytes, _ := os.ReadFile(file)
	rsum := sha256.Sum256(recipeBytes)
	bd := st.Predicate.BuildDefinition
	if st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType != "https://slsa.dev/provenance/v1" ||
		len(st.Subject) != 1 || "sha256:"+st.Subject[0].Digest["sha256"] != digest || st.Subject[0].Name != reg.Host+"/e2e/demo" ||
		bd.ExternalParameters.Recipe.Digest["sha256"] != hex.EncodeToString(rsum[:]) || bd.ExternalParameters.Profile != "stg" ||
		bd.InternalParameters.BaseKey == "" || len(bd.ResolvedDependencies) != 1 || bd.ResolvedDependencies[0].Digest["gitCommit"] != commit ||
		!strings.Contains(st.Predicate.RunDetails.Builder.ID, "strata") {
		t.Errorf("provenance:\n%s", r.stdout)
	}
	if r := strata(t, s, env, "provenance", "localhost/demo:stg"); r.code != 0 || !strings.Contains(r.stdout, "https://slsa.dev/provenance/v1") {
		t.Errorf("strata provenance of the local image: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Pushed again, nothing changed: nothing more is attached.
	before := reg.attachments(t, "e2e/demo", digest)
	if r := strata(t, s, env, "build", "--push", "--tls-verify=false", file); r.code != 0 {
		t.Fatalf("second build --push: %s", r.stderr)
	}
	if after := reg.attachments(t, "e2e/demo", digest); !equalMaps(before, after) {
		t.Errorf("attachments changed on a push of the same image: %v -> %v", before, after)
	}
	// strata push attaches the SBOM too.
	if r := strata(t, s, env, "push", "--tls-verify=false", "localhost/demo:stg", reg.Host+"/e2e/pushed:1"); r.code != 0 {
		t.Fatalf("push: %s", r.stderr)
	}
	if a := reg.attachments(t, "e2e/pushed", reg.Digest(t, "e2e/pushed:1")); a["application/vnd.cyclonedx+json"] != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("strata push attached %v, want the SBOM", a)
	}
	// Not a strata image: a usage error.
	if r := strata(t, s, env, "sbom", "no-such-image"); r.code != 2 {
		t.Errorf("strata sbom of a missing image: exit %d, want 2\n%s", r.code, r.stderr)
	}
	s.assertClean(t)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
