package sbom

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/cdxschema"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sample() Image {
	return Image{
		Name: "web", FinalKey: "f1", BaseKey: "b1", Distro: "fedora-43",
		Created: time.Date(2025, 6, 15, 15, 6, 40, 0, time.UTC),
		From:    "registry.fedoraproject.org/fedora:43@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		RPMs: []RPM{
			{Name: "python3-requests", Version: "2.32.3", Release: "4.fc43", Arch: "noarch", License: "Apache-2.0", SourceRPM: "python-requests-2.32.3-4.fc43.src.rpm", Vendor: "Fedora Project", Packager: "Fedora Project"},
			{Name: "bash", Epoch: "0", Version: "5.2.37", Release: "1.fc43", Arch: "x86_64", License: "GPL-3.0-or-later", SourceRPM: "bash-5.2.37-1.fc43.src.rpm"},
			{Name: "openssl-libs", Epoch: "1", Version: "3.2.4", Release: "2.fc43", Arch: "x86_64", License: "Apache-2.0", SourceRPM: "openssl-3.2.4-2.fc43.src.rpm"},
		},
		Sources: []Source{
			{Name: "packit-service", Git: "https://github.com/packit/packit-service.git", Branch: "main", Commit: "0123456789abcdef0123456789abcdef01234567", Path: "/src/packit-service",
				Python: []Python{{Name: "packit_service", Version: "0.1.dev1", License: "MIT", Path: "/usr/lib/python3.13/site-packages/packit_service-0.1.dev1.dist-info"}}},
			{Name: "ogr", Git: "git@example.com:team/ogr.git", Branch: "main", Commit: "89abcdef0123456789abcdef0123456789abcdef", Path: "/src/ogr"},
		},
	}
}

func TestEncodeValidatesAndIsStable(t *testing.T) {
	doc, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if err := cdxschema.Validate(doc); err != nil {
		t.Fatalf("the SBOM does not validate against CycloneDX 1.6: %v\n%s", err, doc)
	}
	again, _ := Encode(sample())
	if !bytes.Equal(doc, again) {
		t.Error("two encodings of the same facts differ")
	}
	// The order of the RPMs in the database does not matter.
	img := sample()
	slices.Reverse(img.RPMs)
	if other, _ := Encode(img); !bytes.Equal(doc, other) {
		t.Error("the RPMs' order changed the document")
	}
	golden := filepath.Join("testdata", "sample.cdx.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(doc, want) {
		t.Errorf("the SBOM differs from %s (go test ./layers/sbom -update if deliberate):\n%s", golden, doc)
	}
}

func TestEncodeContent(t *testing.T) {
	doc, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		SpecVersion  string `json:"specVersion"`
		SerialNumber string `json:"serialNumber"`
		Metadata     struct {
			Timestamp string `json:"timestamp"`
		} `json:"metadata"`
		Components []struct {
			Type, Name, Version, Purl, Publisher string
			Licenses                             []struct{ License struct{ Name string } }
			Properties                           []struct{ Name, Value string }
			ExternalReferences                   []struct{ Type, URL string }
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != "1.6" || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") || bom.Metadata.Timestamp != "2025-06-15T15:06:40Z" {
		t.Errorf("header: %s %s %s", bom.SpecVersion, bom.SerialNumber, bom.Metadata.Timestamp)
	}
	var got []string
	for _, c := range bom.Components {
		got = append(got, c.Type+" "+c.Name+" "+c.Version+" "+c.Purl)
	}
	want := []string{
		"container registry.fedoraproject.org/fedora:43 sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef pkg:oci/fedora@sha256%3A0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef?repository_url=registry.fedoraproject.org%2Ffedora",
		"library bash 5.2.37-1.fc43 pkg:rpm/fedora/bash@5.2.37-1.fc43?arch=x86_64&distro=fedora-43&upstream=bash-5.2.37-1.fc43.src.rpm",
		"library openssl-libs 1:3.2.4-2.fc43 pkg:rpm/fedora/openssl-libs@3.2.4-2.fc43?arch=x86_64&distro=fedora-43&epoch=1&upstream=openssl-3.2.4-2.fc43.src.rpm",
		"library python3-requests 2.32.3-4.fc43 pkg:rpm/fedora/python3-requests@2.32.3-4.fc43?arch=noarch&distro=fedora-43&upstream=python-requests-2.32.3-4.fc43.src.rpm",
		"application packit-service 0123456789abcdef0123456789abcdef01234567 pkg:github/packit/packit-service@0123456789abcdef0123456789abcdef01234567",
		"library packit_service 0.1.dev1 pkg:pypi/packit-service@0.1.dev1",
		"application ogr 89abcdef0123456789abcdef0123456789abcdef pkg:generic/ogr@89abcdef0123456789abcdef0123456789abcdef?vcs_url=git%2Bgit%40example.com%3Ateam%2Fogr.git%4089abcdef0123456789abcdef0123456789abcdef",
	}
	if !slices.Equal(got, want) {
		t.Errorf("components:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	req := bom.Components[3]
	if req.Publisher != "Fedora Project" || len(req.Licenses) != 1 || req.Licenses[0].License.Name != "Apache-2.0" {
		t.Errorf("python3-requests: %+v", req)
	}
	py := bom.Components[5]
	if !slices.Contains(py.Properties, struct{ Name, Value string }{"strata:source", "packit-service"}) {
		t.Errorf("the Python distribution does not name its source: %+v", py.Properties)
	}
	if ogr := bom.Components[6]; len(ogr.ExternalReferences) != 1 || ogr.ExternalReferences[0].URL != "ssh://git@example.com/team/ogr.git" {
		t.Errorf("ogr's vcs reference: %+v", ogr.ExternalReferences)
	}
	// Scratch.
	img := sample()
	img.From = "scratch"
	doc, _ = Encode(img)
	if !strings.Contains(string(doc), `"name": "scratch"`) {
		t.Errorf("a scratch base is not named scratch")
	}
}

func TestParseRPMQuery(t *testing.T) {
	out := "bash\t0\t5.2\t1.fc43\tx86_64\tGPL-3.0-or-later\tbash-5.2-1.fc43.src.rpm\tFedora Project\t(none)\n" +
		"gpg-pubkey\t0\tabc\tdef\t(none)\tpubkey\t(none)\t(none)\t(none)\n"
	got, err := ParseRPMQuery([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []RPM{{Name: "bash", Epoch: "0", Version: "5.2", Release: "1.fc43", Arch: "x86_64", License: "GPL-3.0-or-later", SourceRPM: "bash-5.2-1.fc43.src.rpm", Vendor: "Fedora Project"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got[0].NEVRA() != "bash-5.2-1.fc43.x86_64" {
		t.Errorf("NEVRA %s", got[0].NEVRA())
	}
	if _, err := ParseRPMQuery([]byte("bash\t0\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a short line: %v", err)
	}
	if got, err := ParseRPMQuery(nil); err != nil || len(got) != 0 {
		t.Errorf("no output: %v %v", got, err)
	}
}

func TestPythonDists(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(name, body string) {
		typ := byte(tar.TypeReg)
		if strings.HasSuffix(name, "/") {
			typ = tar.TypeDir
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Size: int64(len(body)), Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	add("usr/lib/python3.13/site-packages/web-1.0.dist-info/", "")
	add("usr/lib/python3.13/site-packages/web-1.0.dist-info/METADATA", "Metadata-Version: 2.4\nName: web\nVersion: 1.0\nLicense-Expression: MIT OR Apache-2.0\nLicense: ignored\n\nName: not-a-header\n")
	add("usr/lib/python3.13/site-packages/web-1.0.dist-info/RECORD", "web/__init__.py,,\n")
	add("usr/lib/python3.13/site-packages/old.egg-info/PKG-INFO", "Metadata-Version: 1.1\nName: old\nVersion: 0.9\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: BSD License\n")
	add("usr/lib/python3.13/site-packages/flat-2.0-py3.13.egg-info", "Name: flat\nVersion: 2.0\nLicense: GPLv2+\n")
	add("usr/lib/python3.13/site-packages/broken.dist-info/METADATA", "no header here\n")
	add("src/web/METADATA", "Name: not-a-dist\n")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := PythonDists(&b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Python{
		{Name: "flat", Version: "2.0", License: "GPLv2+", Path: "/usr/lib/python3.13/site-packages/flat-2.0-py3.13.egg-info"},
		{Name: "old", Version: "0.9", License: "BSD License", Path: "/usr/lib/python3.13/site-packages/old.egg-info"},
		{Name: "web", Version: "1.0", License: "MIT OR Apache-2.0", Path: "/usr/lib/python3.13/site-packages/web-1.0.dist-info"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := PythonDists(strings.NewReader("not a tar stream, long enough to have a header block? " + strings.Repeat("x", 600))); err == nil {
		t.Error("garbage read as a tar stream")
	}
}

// TestSchemaRejects: the validator the tests rely on refuses what the
// schema forbids.
func TestSchemaRejects(t *testing.T) {
	doc, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ from, to string }{
		{`"type": "library"`, `"type": "rpm-package"`},
		{`"specVersion": "1.6"`, `"specVersion": 1.6`},
		{`"serialNumber": "urn:uuid:`, `"serialNumber": "uuid:`},
	} {
		broken := strings.Replace(string(doc), bad.from, bad.to, 1)
		if broken == string(doc) {
			t.Fatalf("%q is not in the document", bad.from)
		}
		if err := cdxschema.Validate([]byte(broken)); err == nil {
			t.Errorf("a document with %s validates", bad.to)
		}
	}
}
