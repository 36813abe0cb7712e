// Package sbom owns strata's software bill of materials: the CycloneDX 1.6
// JSON document of an image made from the facts strata records in it (the
// RPMs of the base's rpm database, the sources at their commits, the Python
// distributions each install command added, the base image and its key),
// the rpm query those RPMs are read with, and the reading of Python
// distribution metadata from a layer's tar stream. It is pure: no storage,
// no network; the same facts give the same bytes.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// MediaType is the media type of the document, as an OCI artifact type.
const MediaType = "application/vnd.cyclonedx+json"

// RPM is one package of an rpm database.
type RPM struct {
	Name      string `json:"name"`
	Epoch     string `json:"epoch,omitempty"` // "" or "0" for none
	Version   string `json:"version"`
	Release   string `json:"release"`
	Arch      string `json:"arch"`
	License   string `json:"license,omitempty"`
	SourceRPM string `json:"sourcerpm,omitempty"`
	Vendor    string `json:"vendor,omitempty"`
	Packager  string `json:"packager,omitempty"`
}

// EVR is [EPOCH:]VERSION-RELEASE.
func (r RPM) EVR() string {
	evr := r.Version + "-" + r.Release
	if r.Epoch != "" && r.Epoch != "0" {
		evr = r.Epoch + ":" + evr
	}
	return evr
}

// NEVRA is NAME-[EPOCH:]VERSION-RELEASE.ARCH.
func (r RPM) NEVRA() string { return r.Name + "-" + r.EVR() + "." + r.Arch }

// Python is one Python distribution an install command put into the image.
type Python struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	License string `json:"license,omitempty"`
	// Path is its metadata directory (or file) in the image.
	Path string `json:"path"`
}

// Source is one internal project of the image.
type Source struct {
	Name   string `json:"name"`
	Git    string `json:"git"` // credentials removed
	Branch string `json:"branch"`
	Commit string `json:"commit"`
	Path   string `json:"path"`
	// Python lists the distributions its install command added.
	Python []Python `json:"-"`
}

// Image is every fact of an image's bill of materials.
type Image struct {
	Name     string // the recipe's name
	FinalKey string
	Created  time.Time
	// From is the base image the RPMs were installed over: a registry
	// reference with its digest (NAME@DIGEST), or "scratch".
	From    string
	BaseKey string
	// Distro is the distribution of the RPMs, as purl's distro qualifier
	// (fedora-43, rhel-9); its part before the dash is purl's namespace.
	Distro  string
	RPMs    []RPM
	Sources []Source
}

// Encode returns the CycloneDX 1.6 JSON document of img: components sorted
// (the base image, the RPMs, the sources, their Python distributions), no
// clock time but the image's date, a serial number derived from the facts.
func Encode(img Image) ([]byte, error) {
	bom := img.sorted().bom()
	var b bytes.Buffer
	enc := cdx.NewBOMEncoder(&b, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("encoding the SBOM: %w", err)
	}
	return b.Bytes(), nil
}

// sorted returns img with its RPMs sorted by name, then EVR and arch, and
// each source's Python distributions by path.
func (img Image) sorted() Image {
	img.RPMs = slices.Clone(img.RPMs)
	slices.SortFunc(img.RPMs, func(a, b RPM) int {
		return strings.Compare(a.Name+"\x00"+a.EVR()+"\x00"+a.Arch, b.Name+"\x00"+b.EVR()+"\x00"+b.Arch)
	})
	img.Sources = slices.Clone(img.Sources)
	for i := range img.Sources {
		py := slices.Clone(img.Sources[i].Python)
		slices.SortFunc(py, func(a, b Python) int { return strings.Compare(a.Path, b.Path) })
		img.Sources[i].Python = py
	}
	return img
}

func (img Image) bom() *cdx.BOM {
	bom := cdx.NewBOM()
	var comps []cdx.Component
	// The base image.
	base := cdx.Component{BOMRef: "base", Type: cdx.ComponentTypeContainer, Name: "scratch",
		Properties: props("strata:base-key", img.BaseKey)}
	if img.From != "" && img.From != "scratch" {
		name, dig, _ := strings.Cut(img.From, "@")
		base.Name, base.Version = name, dig
		base.PackageURL = ociPURL(name, dig)
	}
	comps = append(comps, base)
	for _, r := range img.RPMs {
		c := cdx.Component{
			BOMRef:     "rpm:" + r.NEVRA(),
			Type:       cdx.ComponentTypeLibrary,
			Name:       r.Name,
			Version:    r.EVR(),
			Publisher:  r.Vendor,
			PackageURL: img.rpmPURL(r),
			Licenses:   licenses(r.License),
			Properties: props("strata:arch", r.Arch, "strata:sourcerpm", r.SourceRPM, "strata:packager", r.Packager, "strata:layer", "base"),
		}
		comps = append(comps, c)
	}
	// The sources, in recipe order, each followed by its Python
	// distributions.
	for _, s := range img.Sources {
		c := cdx.Component{
			BOMRef:     "source:" + s.Name,
			Type:       cdx.ComponentTypeApplication,
			Name:       s.Name,
			Version:    s.Commit,
			PackageURL: gitPURL(s),
			Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA1, Value: s.Commit}},
			ExternalReferences: &[]cdx.ExternalReference{{
				Type: cdx.ERTypeVCS, URL: vcsURL(s),
			}},
			Properties: props("strata:branch", s.Branch, "strata:commit", s.Commit, "strata:path", s.Path, "strata:layer", "checkout:"+s.Name),
		}
		comps = append(comps, c)
		for _, p := range s.Python {
			comps = append(comps, cdx.Component{
				BOMRef:     "python:" + s.Name + ":" + p.Path,
				Type:       cdx.ComponentTypeLibrary,
				Name:       p.Name,
				Version:    p.Version,
				PackageURL: pypiPURL(p),
				Licenses:   licenses(p.License),
				Properties: props("strata:source", s.Name, "strata:path", p.Path, "strata:layer", "install:"+s.Name),
			})
		}
	}
	bom.Components = &comps
	bom.SerialNumber = serial(img)
	bom.Metadata = &cdx.Metadata{
		Timestamp: img.Created.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "strata",
			ExternalReferences: &[]cdx.ExternalReference{{Type: cdx.ERTypeVCS, URL: "https://github.com/strata-build/strata"}},
		}}},
		Component: &cdx.Component{
			BOMRef: "image", Type: cdx.ComponentTypeContainer, Name: img.Name,
			Properties: props("strata:final-key", img.FinalKey, "strata:base-key", img.BaseKey),
		},
	}
	var deps []cdx.Dependency
	on := []string{"base"}
	for _, c := range comps[1:] {
		on = append(on, c.BOMRef)
	}
	deps = append(deps, cdx.Dependency{Ref: "image", Dependencies: &on})
	bom.Dependencies = &deps
	return bom
}

// serial is a version-5-shaped UUID URN from the facts, so that the same
// image has the same serial number everywhere.
func serial(img Image) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d", img.Name, img.FinalKey, img.BaseKey, img.Created.Unix())
	for _, r := range img.RPMs {
		fmt.Fprintf(h, "\x00%s", r.NEVRA())
	}
	for _, s := range img.Sources {
		fmt.Fprintf(h, "\x00%s@%s", s.Name, s.Commit)
		for _, p := range s.Python {
			fmt.Fprintf(h, "\x00%s=%s", p.Name, p.Version)
		}
	}
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// props makes CycloneDX properties of name/value pairs, leaving out the
// empty values.
func props(kv ...string) *[]cdx.Property {
	var out []cdx.Property
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, cdx.Property{Name: kv[i], Value: kv[i+1]})
		}
	}
	if out == nil {
		return nil
	}
	return &out
}

// licenses is a license by name: RPM and Python license fields are often
// not SPDX expressions (GPLv2+), and a name is what they are.
func licenses(l string) *cdx.Licenses {
	l = strings.TrimSpace(l)
	if l == "" || l == "UNKNOWN" {
		return nil
	}
	return &cdx.Licenses{{License: &cdx.License{Name: l}}}
}

// rpmPURL is pkg:rpm/NAMESPACE/NAME@VERSION-RELEASE?arch=...&epoch=...&distro=...
func (img Image) rpmPURL(r RPM) string {
	ns, _, _ := strings.Cut(img.Distro, "-")
	if ns == "" {
		ns = "rpm"
	}
	q := url.Values{}
	q.Set("arch", r.Arch)
	if r.Epoch != "" && r.Epoch != "0" {
		q.Set("epoch", r.Epoch)
	}
	if img.Distro != "" {
		q.Set("distro", img.Distro)
	}
	if r.SourceRPM != "" {
		q.Set("upstream", r.SourceRPM)
	}
	return "pkg:rpm/" + purlEscape(strings.ToLower(ns)) + "/" + purlEscape(r.Name) + "@" + purlEscape(r.Version+"-"+r.Release) + "?" + q.Encode()
}

// pypiPURL is pkg:pypi/NAME@VERSION, the name normalized as PEP 503 says.
func pypiPURL(p Python) string {
	name := strings.ToLower(p.Name)
	name = strings.NewReplacer("_", "-", ".", "-").Replace(name)
	for strings.Contains(name, "--") {
		name = strings.ReplaceAll(name, "--", "-")
	}
	s := "pkg:pypi/" + purlEscape(name)
	if p.Version != "" {
		s += "@" + purlEscape(p.Version)
	}
	return s
}

// ociPURL is pkg:oci/NAME@DIGEST?repository_url=REGISTRY/PATH.
func ociPURL(ref, dig string) string {
	last := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.Index(last, ":"); i >= 0 {
		last = last[:i]
	}
	repo := ref
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	s := "pkg:oci/" + purlEscape(last)
	if dig != "" {
		s += "@" + purlEscape(dig)
	}
	return s + "?" + url.Values{"repository_url": {repo}}.Encode()
}

// gitPURL is pkg:github/OWNER/REPO@COMMIT for GitHub remotes, else
// pkg:generic/NAME@COMMIT with the remote as vcs_url.
func gitPURL(s Source) string {
	if u, err := url.Parse(s.Git); err == nil && strings.EqualFold(u.Host, "github.com") {
		parts := strings.Split(strings.Trim(strings.TrimSuffix(u.Path, ".git"), "/"), "/")
		if len(parts) == 2 {
			return "pkg:github/" + purlEscape(strings.ToLower(parts[0])) + "/" + purlEscape(strings.ToLower(parts[1])) + "@" + s.Commit
		}
	}
	return "pkg:generic/" + purlEscape(s.Name) + "@" + s.Commit + "?" + url.Values{"vcs_url": {"git+" + s.Git + "@" + s.Commit}}.Encode()
}

// vcsURL is the remote as CycloneDX's vcs reference (a URL; an scp-like
// ssh remote is written as ssh://).
func vcsURL(s Source) string {
	g := s.Git
	if !strings.Contains(g, "://") {
		if host, path, ok := strings.Cut(g, ":"); ok {
			g = "ssh://" + host + "/" + path
		}
	}
	return g
}

// purlEscape percent-encodes a purl segment (a colon included, as the purl
// specification's examples do for digests).
func purlEscape(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
}
