package layers

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/strata-build/strata/internal/gitsrc"
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
// checkout in the clone cache at src.Path, its files read from the git
// objects and its .git from the cache entry, and its record in
// SourcesDir, with the parent directories of both. Each file is read once
// and written only where the stream goes. The stream is reproducible:
// entries sorted by name, owned by 0:0 without user or group names, every
// time when.
func checkoutTar(src Source, when time.Time) (io.ReadCloser, error) {
	dest := strings.TrimPrefix(path.Clean("/"+src.Path), "/")
	if dest == "" {
		return nil, fmt.Errorf("source %q: cannot check out to /", src.Name)
	}
	tree, err := gitsrc.OpenTree(src.Dir)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", src.Name, err)
	}
	list, err := tree.Entries()
	if err != nil {
		tree.Close()
		return nil, fmt.Errorf("source %q: %w", src.Name, err)
	}
	entries := map[string]gitsrc.Entry{}
	addParents := func(name string) {
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			entries[d] = gitsrc.Entry{Name: d, Mode: fs.ModeDir | 0o755}
		}
	}
	addParents(dest)
	entries[dest] = gitsrc.Entry{Name: dest, Mode: fs.ModeDir | 0o755}
	for _, e := range list {
		e.Name = path.Join(dest, e.Name)
		entries[e.Name] = e
	}
	record := strings.TrimPrefix(path.Join(SourcesDir, src.Name+".json"), "/")
	addParents(record)
	recordData := sourceRecord(src)
	entries[record] = gitsrc.Entry{Name: record, Mode: 0o644, Size: int64(len(recordData))}

	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names) // a directory sorts before what it holds

	pr, pw := io.Pipe()
	go func() {
		defer tree.Close()
		tw := tar.NewWriter(pw)
		write := func(e gitsrc.Entry) error {
			h := &tar.Header{Name: e.Name, ModTime: when, Mode: int64(e.Mode.Perm()), Format: tar.FormatPAX}
			var body io.ReadCloser
			switch {
			case e.Mode.IsDir():
				h.Typeflag, h.Name = tar.TypeDir, e.Name+"/"
			case e.Name == record:
				h.Typeflag, h.Size, body = tar.TypeReg, e.Size, io.NopCloser(bytes.NewReader(recordData))
			case e.Mode&fs.ModeSymlink != 0:
				h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.Link, 0o777
			default:
				rc, err := e.Open()
				if err != nil {
					return err
				}
				h.Typeflag, h.Size, body = tar.TypeReg, e.Size, rc
			}
			if body != nil {
				defer body.Close()
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
