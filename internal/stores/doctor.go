package stores

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"go.podman.io/storage"
	"go.podman.io/storage/pkg/configfile"
	"go.podman.io/storage/pkg/unshare"
)

// Check is one finding of Doctor: what a build needs, whether this
// machine has it for the current user, and the fix when it does not.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	// Optional checks fail without stopping builds (a push needs no dnf
	// when the base is cached); they say when they matter.
	Optional bool `json:"optional,omitempty"`
}

// DoctorOptions say what Doctor looks at.
type DoctorOptions struct {
	Store   Options
	Runtime string // --runtime; "" for runc
}

// RootlessReady reports whether an unprivileged user can enter a user
// namespace (newuidmap, newgidmap, subordinate ranges); root always can.
func RootlessReady() bool {
	return !unshare.IsRootless() || os.Geteuid() == 0 || CheckRootless(currentUser()) == nil
}

// currentUser is the name of the user strata runs for (inside the user
// namespace too, where the process is uid 0).
func currentUser() string {
	uid := os.Getuid()
	if r := unshare.GetRootlessUID(); r > 0 {
		uid = r
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

// Doctor checks what a build needs for the current user: the OCI runtime,
// the user namespace tools and ranges (rootless), a storage driver that
// works, dnf and rpm, and the configuration in effect (storage,
// registries, signature policy). Container networks are never needed:
// install steps run with --network none, dnf in container mode with the
// host's network. It opens the store only when inStore is set (the caller
// has entered the user namespace).
func Doctor(opts DoctorOptions, inStore bool) []Check {
	var out []Check
	add := func(c Check) { out = append(out, c) }

	rootless := unshare.IsRootless() || unshare.GetRootlessUID() > 0
	who := "root"
	if rootless {
		who = fmt.Sprintf("rootless, user %s (uid %d)", currentUser(), unshare.GetRootlessUID())
	}
	add(Check{Name: "user", OK: true, Detail: who})

	if rt, err := Runtime(opts.Runtime); err != nil {
		add(Check{Name: "runtime", Detail: err.Error(), Fix: "apt-get install runc (Debian/Ubuntu) or dnf install runc (Fedora), or pass --runtime"})
	} else {
		add(Check{Name: "runtime", OK: true, Detail: rt + " " + firstLine(rt, "--version")})
	}

	if rootless {
		for _, tool := range []string{"newuidmap", "newgidmap"} {
			if p, err := exec.LookPath(tool); err != nil {
				add(Check{Name: tool, Detail: "not found", Fix: "apt-get install uidmap (Debian/Ubuntu) or dnf install shadow-utils (Fedora)"})
			} else {
				add(Check{Name: tool, OK: true, Detail: p})
			}
		}
		name := currentUser()
		uid := unshare.GetRootlessUID()
		if uid < 0 {
			uid = os.Getuid()
		}
		for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
			if hasRange(f, name, uid) {
				add(Check{Name: f, OK: true, Detail: "a range for " + name})
			} else {
				add(Check{Name: f, Detail: "no range for " + name,
					Fix: fmt.Sprintf("usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s (as root)", name)})
			}
		}
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
			add(Check{Name: "XDG_RUNTIME_DIR", OK: true, Detail: d})
		} else {
			add(Check{Name: "XDG_RUNTIME_DIR", OK: true, Detail: "unset: strata uses " + os.TempDir() + "/strata-run-UID"})
		}
	}

	so, err := storage.DefaultStoreOptions()
	if err != nil {
		add(Check{Name: "storage config", Detail: err.Error(), Fix: "check storage.conf (man containers-storage.conf)"})
	} else {
		add(Check{Name: "storage config", OK: true, Detail: fmt.Sprintf("%s: graph root %s, run root %s",
			configFiles("storage", "conf", "CONTAINERS_STORAGE_CONF"), or(opts.Store.Root, so.GraphRoot), or(opts.Store.RunRoot, so.RunRoot))})
	}
	switch {
	case !inStore:
		add(Check{Name: "storage", Detail: "not opened: the user namespace needs the checks above", Fix: "fix the checks above"})
	default:
		log := logrus.New()
		log.SetOutput(io.Discard)
		s, err := Open(opts.Store, log)
		if err != nil {
			add(Check{Name: "storage", Detail: err.Error(), Fix: "pass --storage-driver vfs, or --root to a directory of yours"})
		} else {
			detail := "driver " + s.GraphDriverName()
			if s.GraphDriverName() == "vfs" {
				detail += " (overlay does not work here: every layer is a full copy)"
			}
			add(Check{Name: "storage", OK: true, Detail: detail + " at " + s.GraphRoot()})
			s.Close()
		}
	}

	for _, tool := range []string{"dnf", "rpm"} {
		if p, err := exec.LookPath(tool); err != nil {
			add(Check{Name: tool, Detail: "not found: needed to build a base with install: installroot", Optional: true,
				Fix: "apt-get install dnf rpm (Debian/Ubuntu) or dnf install dnf rpm (Fedora)"})
		} else {
			add(Check{Name: tool, OK: true, Detail: p})
		}
	}

	add(Check{Name: "registries config", OK: true, Detail: configFiles("registries", "conf", "CONTAINERS_REGISTRIES_CONF")})
	if p, err := PolicyPath(opts.Store.Policy); err != nil {
		add(Check{Name: "signature policy", Detail: err.Error(),
			Fix: "apt-get install golang-github-containers-common (Debian/Ubuntu) or dnf install containers-common (Fedora), or pass --signature-policy"})
	} else {
		add(Check{Name: "signature policy", OK: true, Detail: p})
	}
	add(Check{Name: "network", OK: true, Detail: "no container network backend needed: install steps run with --network none (or host), dnf in container mode with the host's"})
	return out
}

// Ready reports whether a build can run: every check that is not
// optional passed.
func Ready(checks []Check) bool {
	for _, c := range checks {
		if !c.OK && !c.Optional {
			return false
		}
	}
	return true
}

func firstLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return "(" + l + ")"
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// configFiles lists the configuration files of a kind that
// containers/storage's lookup reads here (NAME.EXT and its drop-ins).
func configFiles(name, ext, env string) string {
	var files []string
	for item, err := range configfile.Read(&configfile.File{Name: name, Extension: ext, EnvironmentName: env, UserId: unshare.GetRootlessUID()}) {
		if err != nil {
			return "unreadable: " + err.Error()
		}
		files = append(files, item.Name)
	}
	if len(files) == 0 {
		return "built-in defaults (no " + name + "." + ext + ")"
	}
	return strings.Join(files, ", ")
}
