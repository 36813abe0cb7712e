// Package stores opens the containers/storage store strata builds in, with
// the same defaults as podman and buildah (root: /var/lib/containers/storage;
// rootless: $XDG_DATA_HOME/containers/storage), and holds the settings every
// buildah call needs on these machines: the signature policy, the OCI
// runtime, the process limits and the temporary directory.
package stores

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
	"go.podman.io/storage"
	"go.podman.io/storage/pkg/unshare"
	"golang.org/x/sys/unix"
)

// Options selects a store. Empty fields take podman's defaults.
type Options struct {
	Root    string // --root
	RunRoot string // --runroot
	Driver  string // --storage-driver: overlay, vfs; "" tries overlay, then vfs
}

// Open opens the store. The caller must call Close on every path.
func Open(opts Options, log *logrus.Logger) (*Store, error) {
	so, err := storage.DefaultStoreOptions()
	if err != nil {
		return nil, fmt.Errorf("reading storage defaults: %w", err)
	}
	if opts.Root != "" {
		so.GraphRoot = opts.Root
	}
	if opts.RunRoot != "" {
		so.RunRoot = opts.RunRoot
	}
	drivers := []string{opts.Driver}
	if opts.Driver == "" {
		drivers = []string{"overlay", "vfs"}
		if so.GraphDriverName != "" && so.GraphDriverName != "overlay" {
			drivers = []string{so.GraphDriverName}
		}
	}
	var errs []error
	for _, d := range drivers {
		so.GraphDriverName = d
		so.GraphDriverPriority = nil
		if d != "overlay" {
			so.GraphDriverOptions = nil
		}
		s, err := storage.GetStore(so)
		if err == nil {
			log.Debugf("opened store %s (driver %s, run root %s)", so.GraphRoot, d, so.RunRoot)
			return &Store{Store: s, runRoot: so.RunRoot}, nil
		}
		log.Debugf("storage driver %s: %v", d, err)
		errs = append(errs, fmt.Errorf("driver %q: %w", d, err))
	}
	return nil, fmt.Errorf("opening storage at %q: %w", so.GraphRoot, errors.Join(errs...))
}

// Store is an open store plus the files strata keeps beside it.
type Store struct {
	storage.Store
	runRoot string
}

// Close unmounts everything this process mounted and releases the store.
func (s *Store) Close() {
	if _, err := s.Shutdown(false); err != nil {
		logrus.Debugf("shutting down storage: %v", err)
	}
}

// defaultPolicy accepts any image: strata builds from the images it is
// given and signs nothing; verification belongs to the consumer.
const defaultPolicy = `{"default":[{"type":"insecureAcceptAnything"}]}` + "\n"

// PolicyPath returns the signature policy to use: the system's
// /etc/containers/policy.json when present, else one written beside the
// store's run root.
func (s *Store) PolicyPath() (string, error) {
	if _, err := os.Stat("/etc/containers/policy.json"); err == nil && !unshare.IsRootless() {
		return "/etc/containers/policy.json", nil
	}
	if home, err := os.UserConfigDir(); err == nil && unshare.IsRootless() {
		p := filepath.Join(home, "containers", "policy.json")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p := filepath.Join(s.runRoot, "strata-policy.json")
	if err := os.MkdirAll(s.runRoot, 0o700); err != nil {
		return "", fmt.Errorf("writing signature policy: %w", err)
	}
	if err := os.WriteFile(p, []byte(defaultPolicy), 0o600); err != nil {
		return "", fmt.Errorf("writing signature policy: %w", err)
	}
	return p, nil
}

// Ulimits returns buildah ulimit settings that fit this process's own hard
// limits (buildah asks for more than an unprivileged root may have).
func Ulimits() []string {
	var out []string
	for name, res := range map[string]int{"nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC} {
		var rl unix.Rlimit
		if err := unix.Getrlimit(res, &rl); err != nil {
			continue
		}
		out = append(out, fmt.Sprintf("%s=%d:%d", name, rl.Max, rl.Max))
	}
	return out
}

// Runtime finds the OCI runtime by name or path (default runc).
func Runtime(name string) (string, error) {
	if name == "" {
		name = "runc"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("OCI runtime %q not found: install it (apt-get install runc, or dnf install runc) or pass --runtime: %w", name, err)
	}
	return p, nil
}

// CheckRootless verifies what an unprivileged user needs before the
// user-namespace re-exec: newuidmap/newgidmap and subordinate id ranges.
func CheckRootless(user string) error {
	if !unshare.IsRootless() {
		return nil
	}
	var missing []string
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("rootless builds need %s: install the uidmap package (apt-get install uidmap, or dnf install shadow-utils)", strings.Join(missing, " and "))
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		if !hasRange(f, user, os.Getuid()) {
			return fmt.Errorf("no subordinate id range for user %q in %s: add one, e.g. `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s`", user, f, user)
		}
	}
	return nil
}

// hasRange reports whether file (/etc/subuid format) has a range for the
// user, by name or by uid.
func hasRange(file, user string, id int) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	uid := fmt.Sprint(id)
	for _, line := range strings.Split(string(data), "\n") {
		name, _, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (name == user || name == uid) {
			return true
		}
	}
	return false
}
