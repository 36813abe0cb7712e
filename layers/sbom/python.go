package sbom

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"io"
	"path"
	"slices"
	"strings"
)

// PythonDists reads a layer's tar stream to its end and returns the Python
// distributions whose metadata it adds: *.dist-info/METADATA (wheels,
// pip) and *.egg-info/PKG-INFO or an *.egg-info file (setuptools), with
// their name, version and license. Paths are absolute, sorted.
func PythonDists(r io.Reader) ([]Python, error) {
	tr := tar.NewReader(r)
	var out []Python
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := "/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		var at string
		switch {
		case base == "METADATA" && strings.HasSuffix(dir, ".dist-info"):
			at = dir
		case base == "PKG-INFO" && strings.HasSuffix(dir, ".egg-info"):
			at = dir
		case strings.HasSuffix(base, ".egg-info"):
			at = name
		default:
			continue
		}
		if h.Size > 4<<20 {
			continue // not metadata
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		p := parseMetadata(b)
		if p.Name == "" {
			continue
		}
		p.Path = at
		out = append(out, p)
	}
	// Drain what follows the archive's end, so that a tee sees it all.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Python) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// parseMetadata reads the header fields of Python core metadata (an
// email-style header block): Name, Version, and License-Expression, else
// License, else the license classifiers.
func parseMetadata(b []byte) Python {
	var p Python
	var expr, lic string
	var classifiers []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	last := ""
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // the body (the description) follows
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "License" {
				lic += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		last = k
		switch strings.ToLower(k) {
		case "name":
			p.Name = v
		case "version":
			p.Version = v
		case "license-expression":
			expr = v
		case "license":
			lic = v
		case "classifier":
			// License :: OSI Approved :: MIT License -> MIT License
			if c, ok := strings.CutPrefix(v, "License :: "); ok {
				parts := strings.Split(c, " :: ")
				classifiers = append(classifiers, parts[len(parts)-1])
			}
		}
	}
	switch {
	case expr != "":
		p.License = expr
	case lic != "" && lic != "UNKNOWN" && !strings.Contains(lic, "\n"):
		p.License = lic
	case len(classifiers) > 0:
		p.License = strings.Join(classifiers, " AND ")
	}
	return p
}
