package gitsrc

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// refsDirName is the directory, beside the checkouts of a remote, holding
// the last commit resolved or fetched for each branch.
const refsDirName = "refs"

// tmpPrefix starts the names of the work directories of a remote's cache
// directory; they are removed when the operation ends.
const tmpPrefix = ".tmp-"

// staleAge is the age after which a work directory or file is taken as left
// behind by a process that was killed, and removed.
const staleAge = 24 * time.Hour

// removeStale removes, best effort, the work directories and files in keyDir
// and its refs directory that are older than staleAge.
func removeStale(keyDir string, now time.Time) {
	for _, dir := range []string{keyDir, filepath.Join(keyDir, refsDirName)} {
		matches, _ := filepath.Glob(filepath.Join(dir, tmpPrefix+"*"))
		for _, m := range matches {
			if info, err := os.Lstat(m); err == nil && now.Sub(info.ModTime()) > staleAge {
				_ = os.RemoveAll(m)
			}
		}
	}
}

// recordName returns the file name of the record of branch: the branch
// name with '/', '%' and other unsafe bytes percent-escaped, so that it is
// one path element that cannot escape the refs directory.
func recordName(branch string) string {
	name := url.PathEscape(branch)
	if strings.HasPrefix(name, ".") {
		name = "%2E" + name[1:]
	}
	return name
}

// recordPath is the path of the record of branch in the cache directory
// keyDir of a remote.
func recordPath(keyDir, branch string) string {
	return filepath.Join(keyDir, refsDirName, recordName(branch))
}

// readRecord returns the commit last recorded for branch in keyDir, and
// false if there is none.
func readRecord(keyDir, branch string) (string, bool, error) {
	data, err := os.ReadFile(recordPath(keyDir, branch))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading clone cache record: %w", err)
	}
	h := strings.TrimSpace(string(data))
	if !isFullHash(h) {
		return "", false, fmt.Errorf("clone cache record %q is corrupt", recordPath(keyDir, branch))
	}
	return h, true, nil
}

// writeRecord records hash as the commit of branch in keyDir, atomically.
func writeRecord(keyDir, branch, hash string) error {
	return writeFileAtomic(recordPath(keyDir, branch), []byte(hash+"\n"))
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// into place, so that readers see the old or the new content, never a part.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// isFullHash reports whether s is a full lower-case 40-hex sha1.
func isFullHash(s string) bool {
	if len(s) != 40 || !plumbing.IsHash(s) {
		return false
	}
	return strings.ToLower(s) == s
}
