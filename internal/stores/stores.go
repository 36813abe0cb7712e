// Package stores opens the containers/storage store strata builds in, with
// the same defaults as podman and buildah (root: /var/lib/containers/storage;
// rootless: $XDG_DATA_HOME/containers/storage), and holds the settings every
// buildah call needs on these machines: the signature policy, the OCI
// runtime, the process limits and the temporary directory.
package stores

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
	"go.podman.io/common/pkg/config"
	"go.podman.io/image/v5/signature"
	"go.podman.io/storage"
	graphdriver "go.podman.io/storage/drivers"
	"go.podman.io/storage/pkg/configfile"
	"go.podman.io/storage/pkg/unshare"
	"golang.org/x/sys/unix"
)

// Options selects a store. Empty fields take podman's defaults.
type Options struct {
	Root    string // --root
	RunRoot string // --runroot
	Driver  string // --storage-driver: overlay, vfs; "" tries overlay, then vfs
	// Policy is --signature-policy: the signature policy file; "" for
	// containers/image's lookup (CONTAINERS_POLICY_JSON, then the user's
	// ~/.config/containers/policy.json, then /etc/containers/policy.json).
	Policy string
}

// Drivers are the storage drivers strata can use.
var Drivers = []string{"overlay", "vfs"}

// ErrUnknownDriver is wrapped by the error for a storage driver that is
// not one of Drivers (a usage error).
var ErrUnknownDriver = errors.New("unknown storage driver")

// CheckDriver checks a --storage-driver value ("" is the default).
func CheckDriver(name string) error {
	if name != "" && !slices.Contains(Drivers, name) {
		return fmt.Errorf("%w %q: want %s", ErrUnknownDriver, name, strings.Join(Drivers, " or "))
	}
	return nil
}

// Open opens the store. The caller must call Close on every path.
func Open(opts Options, log *logrus.Logger) (*Store, error) {
	if err := CheckDriver(opts.Driver); err != nil {
		return nil, err
	}
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
			st := &Store{Store: s, runRoot: so.RunRoot, policy: opts.Policy}
			if err := checkReadable(s); err != nil {
				st.Close()
				return nil, err
			}
			if err := holdOwner(s.GraphRoot()); err != nil {
				st.Close()
				return nil, err
			}
			st.Collected = st.Collect(log)
			return st, nil
		}
		log.Debugf("storage driver %s: %v", d, err)
		if !driverUnusable(err) {
			// Not a driver that cannot work here but a store that
			// cannot be read: falling back to another driver would
			// hide it behind a store that seems empty.
			return nil, damaged(so.GraphRoot, err)
		}
		errs = append(errs, fmt.Errorf("driver %q: %w", d, err))
	}
	return nil, fmt.Errorf("opening storage at %q: %w", so.GraphRoot, errors.Join(errs...))
}

// driverUnusable says whether err, from opening a store, means that the
// driver does not work here (kernel, file system, privileges), so that
// another driver may be tried.
func driverUnusable(err error) bool {
	return errors.Is(err, graphdriver.ErrNotSupported) || errors.Is(err, graphdriver.ErrPrerequisites) || errors.Is(err, graphdriver.ErrIncompatibleFS)
}

// damaged is the error of a store whose records cannot be read.
func damaged(root string, err error) error {
	return fmt.Errorf("the store at %q is damaged: %w (restore the file, or remove the store to start over: strata never repairs it by dropping records)", root, err)
}

// checkReadable reads the store's lists of layers, images and containers,
// so that a damaged list (a truncated overlay-images/images.json, say) is
// an error here, naming the file, and not images that seem to be missing
// and a build that writes into a store that cannot record it.
func checkReadable(s storage.Store) error {
	for _, list := range []struct {
		what string
		read func() error
	}{
		{"layers", func() error { _, err := s.Layers(); return err }},
		{"images", func() error { _, err := s.Images(); return err }},
		{"containers", func() error { _, err := s.Containers(); return err }},
	} {
		if err := list.read(); err != nil {
			return damaged(s.GraphRoot(), fmt.Errorf("reading its %s: %w", list.what, err))
		}
	}
	return nil
}

// Store is an open store plus the files strata keeps beside it.
type Store struct {
	storage.Store
	runRoot string
	policy  string
	// Collected says what Open collected: what strata processes that are
	// gone left (see Collect).
	Collected []string
}

// Close unmounts everything this process mounted and releases the store.
func (s *Store) Close() {
	if _, err := s.Shutdown(false); err != nil {
		logrus.Debugf("shutting down storage: %v", err)
	}
}

// PolicyPath returns the signature policy file in effect, as podman,
// buildah and skopeo find it: the --signature-policy file, else
// containers/image's lookup. The file must parse; strata never writes or
// assumes a policy of its own.
func (s *Store) PolicyPath() (string, error) {
	return PolicyPath(s.policy)
}

// PolicyPath returns the signature policy file: flag when set, else the
// first file of containers/image's lookup (signature.DefaultPolicy's:
// $CONTAINERS_POLICY_JSON, ~/.config/containers/policy.json,
// /etc/containers/policy.json). A missing or invalid policy is an error
// that names the files looked at.
func PolicyPath(flag string) (string, error) {
	if flag != "" {
		if _, err := signature.NewPolicyFromFile(flag); err != nil {
			return "", fmt.Errorf("reading --signature-policy %q: %w", flag, err)
		}
		return flag, nil
	}
	files := &configfile.File{
		Name: "policy", Extension: "json", DoNotLoadDropInFiles: true,
		EnvironmentName: "CONTAINERS_POLICY_JSON", ErrorIfNotFound: true,
	}
	for item, err := range configfile.Read(files) {
		if err != nil {
			if errors.Is(err, configfile.ErrConfigFileNotFound) {
				looked := "the default locations"
				if paths, perr := configfile.GetSearchPaths(files); perr == nil {
					looked = strings.Join(paths.MainFiles, ", ")
				}
				return "", fmt.Errorf("no signature policy (looked for %s): install containers-common (Debian: golang-github-containers-common), or pass --signature-policy FILE", looked)
			}
			return "", fmt.Errorf("reading the signature policy: %w", err)
		}
		data, err := io.ReadAll(item.Reader)
		if err != nil {
			return "", fmt.Errorf("reading the signature policy %s: %w", item.Name, err)
		}
		if _, err := signature.NewPolicyFromBytes(data); err != nil {
			return "", fmt.Errorf("invalid signature policy %s: %w", item.Name, err)
		}
		return item.Name, nil
	}
	return "", errors.New("no signature policy found")
}

// PolicyError explains an image refused by the signature policy at path;
// other errors are returned as they are.
func PolicyError(err error, path, image string) error {
	var pe signature.PolicyRequirementError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s is refused by the signature policy %s: %w", image, path, err)
	}
	return err
}

// Ulimits returns buildah ulimit settings that fit this process's own hard
// limits (buildah asks for more than an unprivileged root may have), after
// containers.conf's default_ulimits.
func Ulimits() []string {
	var out, set []string
	if conf, err := config.Default(); err == nil {
		// containers.conf's default_ulimits, as podman applies them.
		for _, u := range conf.Containers.DefaultUlimits.Get() {
			name, _, _ := strings.Cut(u, "=")
			out, set = append(out, u), append(set, name)
		}
	}
	for name, res := range map[string]int{"nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC} {
		if slices.Contains(set, name) {
			continue
		}
		var rl unix.Rlimit
		if err := unix.Getrlimit(res, &rl); err != nil {
			continue
		}
		out = append(out, fmt.Sprintf("%s=%d:%d", name, rl.Max, rl.Max))
	}
	return out
}

// Runtime finds the OCI runtime by name or path; without one, the one
// containers.conf names (engine.runtime, at the paths of its
// engine.runtimes), as podman picks it: when the files set none, the first
// of crun and runc installed.
func Runtime(name string) (string, error) {
	var paths []string
	from := "--runtime"
	if name == "" {
		if conf, err := config.Default(); err == nil && conf.Engine.OCIRuntime != "" {
			name, paths, from = conf.Engine.OCIRuntime, conf.Engine.OCIRuntimes[conf.Engine.OCIRuntime], "containers.conf (engine.runtime)"
		}
	}
	if name == "" {
		name, from = "runc", "the default"
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("OCI runtime %q (from %s) not found: install it (apt-get install runc, or dnf install runc), pass --runtime, or --isolation chroot: %w", name, from, err)
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
