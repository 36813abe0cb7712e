package build

import (
	"fmt"
	"os"
	"path/filepath"
)

// checkOutputFile checks, before any work, that an output file (the
// value of flag) can be written: its directory exists and is writable.
func checkOutputFile(flag, file string) error {
	if file == "" {
		return nil
	}
	dir := filepath.Dir(file)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%w: %s %q: %v", ErrUsage, flag, file, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s %q: %s is not a directory", ErrUsage, flag, file, dir)
	}
	f, err := os.CreateTemp(dir, ".strata-check-")
	if err != nil {
		return fmt.Errorf("%w: %s %q: the directory is not writable: %v", ErrUsage, flag, file, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// writeFileAtomic writes data to file through a temporary file in the same
// directory and a rename: a failure leaves no partial file.
func writeFileAtomic(file string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
