package layers

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// SourcesDir is where each source's checkout layer records its provenance:
// SourcesDir/NAME.json (name, git, branch, commit), in that layer only, so
// that a change of one source changes no other source's layer.
const SourcesDir = "/usr/share/strata/sources"

// sourceRecord returns the provenance record of one source.
func sourceRecord(src Source) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(src) // plain strings: cannot fail
	return b.Bytes()
}

// checkoutTar returns the checkout layer of a source as a tar stream: the
// checkout in the clone cache (its files and .git, modes as gitsrc made
// them) at src.Path, and its record in SourcesDir, with the parent
// directories of both. The stream is reproducible: entries sorted by
// name, owned by 0:0 without user or group names, every time when.
func checkoutTar(src Source, when time.Time) (io.ReadCloser, error) {
	type entry struct {
		name string // in the image, without the leading "/"
		file string // on the host, "" for a directory or the record
		mode fs.FileMode
	}
	dest := strings.TrimPrefix(path.Clean("/"+src.Path), "/")
	if dest == "" {
		return nil, fmt.Errorf("source %q: cannot check out to /", src.Name)
	}
	entries := map[string]entry{}
	addParents := func(name string) {
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			entries[d] = entry{name: d, mode: fs.ModeDir | 0o755}
		}
	}
	addParents(dest)
	err := filepath.WalkDir(src.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src.Dir, p)
		if err != nil {
			return err
		}
		name := dest
		if rel != "." {
			name = path.Join(dest, filepath.ToSlash(rel))
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			entries[name] = entry{name: name, mode: fs.ModeDir | 0o755}
		case info.Mode()&fs.ModeSymlink != 0, info.Mode().IsRegular():
			entries[name] = entry{name: name, file: p, mode: info.Mode()}
		}
		return nil // no devices, sockets or pipes in a checkout
	})
	if err != nil {
		return nil, fmt.Errorf("reading the checkout of source %q: %w", src.Name, err)
	}
	record := strings.TrimPrefix(path.Join(SourcesDir, src.Name+".json"), "/")
	addParents(record)
	recordData := sourceRecord(src)
	entries[record] = entry{name: record, mode: 0o644}

	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names) // a directory sorts before what it holds

	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		write := func(e entry) error {
			h := &tar.Header{Name: e.name, ModTime: when, Mode: int64(e.mode.Perm()), Format: tar.FormatPAX}
			var body io.Reader
			switch {
			case e.mode.IsDir():
				h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
			case e.name == record:
				h.Typeflag, h.Size, body = tar.TypeReg, int64(len(recordData)), bytes.NewReader(recordData)
			case e.mode&fs.ModeSymlink != 0:
				target, err := os.Readlink(e.file)
				if err != nil {
					return err
				}
				h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, target, 0o777
			default:
				f, err := os.Open(e.file)
				if err != nil {
					return err
				}
				defer f.Close()
				st, err := f.Stat()
				if err != nil {
					return err
				}
				h.Typeflag, h.Size, body = tar.TypeReg, st.Size(), f
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if body != nil {
				if _, err := io.Copy(tw, body); err != nil {
					return err
				}
			}
			return nil
		}
		for _, n := range names {
			if err := write(entries[n]); err != nil {
				pw.CloseWithError(fmt.Errorf("writing the checkout layer of source %q: %w", src.Name, err))
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr, nil
}
