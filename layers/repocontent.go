package layers

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// RepoContent returns the digest of what the local RPM repository in dir
// serves: the sha256 over its packages' sorted checksums, read from the
// primary metadata that repodata/repomd.xml names. Two copies of one
// repository give one digest wherever they live, and so does the same set
// of packages indexed again (repomd.xml and primary.xml carry times, so
// their bytes are not hashed).
func RepoContent(dir string) (string, error) {
	repomd := filepath.Join(dir, "repodata", "repomd.xml")
	data, err := os.ReadFile(repomd)
	if err != nil {
		return "", err
	}
	var md struct {
		Data []struct {
			Type     string `xml:"type,attr"`
			Location struct {
				Href string `xml:"href,attr"`
			} `xml:"location"`
		} `xml:"data"`
	}
	if err := xml.Unmarshal(data, &md); err != nil {
		return "", fmt.Errorf("%s: %w", repomd, err)
	}
	href := ""
	for _, d := range md.Data {
		if d.Type == "primary" {
			href = d.Location.Href
		}
	}
	if href == "" || strings.Contains(href, "..") || filepath.IsAbs(href) {
		return "", fmt.Errorf("%s names no primary metadata", repomd)
	}
	sums, err := primaryChecksums(filepath.Join(dir, filepath.FromSlash(href)))
	if err != nil {
		return "", err
	}
	slices.Sort(sums)
	h := sha256.New()
	for _, s := range sums {
		_, _ = io.WriteString(h, s+"\n") // a hash never fails
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// primaryChecksums reads the package checksums ("TYPE:HEX") of a primary
// metadata file, plain or compressed with gzip, zstd or xz.
func primaryChecksums(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch filepath.Ext(file) {
	case ".gz":
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		defer zr.Close()
		r = zr
	case ".zst":
		zr, err := zstd.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		defer zr.Close()
		r = zr
	case ".xz":
		if r, err = xz.NewReader(f); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	var sums []string
	dec := xml.NewDecoder(r)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return sums, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "checksum" {
			continue
		}
		var c struct {
			Type  string `xml:"type,attr"`
			PkgID string `xml:"pkgid,attr"`
			Value string `xml:",chardata"`
		}
		if err := dec.DecodeElement(&c, &se); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if c.PkgID == "YES" {
			sums = append(sums, c.Type+":"+strings.TrimSpace(c.Value))
		}
	}
}
