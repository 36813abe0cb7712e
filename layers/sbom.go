package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/strata-build/strata/layers/sbom"
	"go.podman.io/storage"
)

// LabelSBOM is the digest of the image's SBOM (sha256:...), the CycloneDX
// document SBOMOf makes of the configuration's other labels.
const LabelSBOM = "io.strata.sbom"

// bigDataPython keeps, beside an install layer of the store, the Python
// distributions its diff adds: a layer's bytes never change, so its diff
// is read for them once.
const bigDataPython = "strata.python"

// readPython records, on an install layer of the store, the Python
// distributions its diff adds.
func readPython(store storage.Store, l *Layer) error {
	if rc, err := store.LayerBigData(l.ID, bigDataPython); err == nil {
		var py []sbom.Python
		err := json.NewDecoder(rc).Decode(&py)
		rc.Close()
		if err == nil && py != nil {
			l.Python = &py
			return nil
		}
	}
	rc, err := storedDiff(store, l.ID)
	if err != nil {
		return fmt.Errorf("reading the %s layer of source %q for its Python distributions: %w", l.Kind, l.Source, err)
	}
	defer rc.Close()
	py, err := sbom.PythonDists(rc)
	if err != nil {
		return fmt.Errorf("reading the %s layer of source %q for its Python distributions: %w", l.Kind, l.Source, err)
	}
	if py == nil {
		py = []sbom.Python{}
	}
	l.Python = &py
	// A cache: without it the diff is read again next time.
	_ = store.SetLayerBigData(l.ID, bigDataPython, bytes.NewReader(compactJSON(py)))
	return nil
}

// labelSBOM puts the digest of the SBOM of a configuration's labels in
// them (nothing when the base carries no RPM list: made by an older
// strata).
func (s *FinalSpec) labelSBOM(c *v1.ImageConfig) {
	delete(c.Labels, LabelSBOM)
	doc, err := SBOMOf(c.Labels)
	if err != nil {
		return
	}
	c.Labels[LabelSBOM] = digest.FromBytes(doc).String()
}

// ErrNoSBOM is returned for an image without the facts of an SBOM (not
// made by strata, or by a version before SBOMs).
var ErrNoSBOM = errors.New("no SBOM facts in the image")

// SBOMOf returns the SBOM of a final image from the labels of its
// configuration: the base's RPMs, base image and key, the sources with
// their paths, and the Python distributions of each install layer.
func SBOMOf(labels map[string]string) ([]byte, error) {
	img, err := sbomFacts(labels)
	if err != nil {
		return nil, err
	}
	return sbom.Encode(img)
}

func sbomFacts(labels map[string]string) (sbom.Image, error) {
	var img sbom.Image
	rpms, ok := labels[LabelBaseRPMs]
	if !ok || labels[LabelFinalKey] == "" {
		return img, ErrNoSBOM
	}
	if err := json.Unmarshal([]byte(rpms), &img.RPMs); err != nil {
		return img, fmt.Errorf("reading the label %s: %w", LabelBaseRPMs, err)
	}
	img.Name, img.FinalKey, img.BaseKey, img.From = labels[LabelTitle], labels[LabelFinalKey], labels[LabelBaseKey], labels[LabelBaseFrom]
	if t, err := time.Parse(time.RFC3339, labels[LabelCreated]); err == nil {
		img.Created = t
	}
	var doc struct {
		Target string `json:"target"`
	}
	if err := json.Unmarshal([]byte(labels[LabelBaseKeyDoc]), &doc); err == nil {
		img.Distro = doc.Target
	}
	if raw := labels[LabelSources]; raw != "" {
		var srcs []Source
		if err := json.Unmarshal([]byte(raw), &srcs); err != nil {
			return img, fmt.Errorf("reading the label %s: %w", LabelSources, err)
		}
		for _, s := range srcs {
			img.Sources = append(img.Sources, sbom.Source{Name: s.Name, Git: s.Git, Branch: s.Branch, Commit: s.Commit, Path: s.Path})
		}
	}
	record, err := RecordedLayers(labels)
	if err != nil {
		return img, err
	}
	for _, l := range record {
		if l.Kind != KindInstall || l.Python == nil {
			continue
		}
		for i := range img.Sources {
			if img.Sources[i].Name == l.Source {
				img.Sources[i].Python = append(img.Sources[i].Python, *l.Python...)
			}
		}
	}
	return img, nil
}
