// Package targets holds the distribution profiles strata builds for
// (fedora-NN, rhel-N): the dnf release version, the rpm macros a spec file
// sees, the Python version that Python markers are evaluated against and the
// path of the rpm database inside the image.
package targets

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Default is the target used when a recipe names none.
const Default = "fedora-43"

// Target is one distribution profile.
type Target struct {
	// Name is the canonical name, e.g. "fedora-43" or "rhel-9".
	Name string `json:"name"`
	// Distro is "fedora" or "rhel".
	Distro string `json:"distro"`
	// Version is the distribution's major version.
	Version int `json:"version"`
	// Releasever is the value passed to dnf --releasever.
	Releasever string `json:"releasever"`
	// PythonVersion is the major.minor of the platform python3, e.g. "3.14".
	PythonVersion string `json:"python_version"`
	// RPMDBPath is where the rpm database lives inside the image.
	RPMDBPath string `json:"rpmdb_path"`
}

// pythonVersions maps each known distribution version to its python3.
var pythonVersions = map[string]map[int]string{
	"fedora": {
		33: "3.9", 34: "3.9", 35: "3.10", 36: "3.10", 37: "3.11", 38: "3.11",
		39: "3.12", 40: "3.12", 41: "3.13", 42: "3.13", 43: "3.14", 44: "3.14",
	},
	"rhel": {8: "3.6", 9: "3.9", 10: "3.12"},
}

// Names lists every known target name, sorted.
func Names() []string {
	var names []string
	for distro, versions := range pythonVersions {
		for v := range versions {
			names = append(names, fmt.Sprintf("%s-%d", distro, v))
		}
	}
	sort.Slice(names, func(i, j int) bool {
		di, vi := split(names[i])
		dj, vj := split(names[j])
		if di != dj {
			return di < dj
		}
		return vi < vj
	})
	return names
}

func split(name string) (string, int) {
	d, v, _ := strings.Cut(name, "-")
	n, _ := strconv.Atoi(v)
	return d, n
}

// Lookup returns the target called name ("" means Default).
func Lookup(name string) (Target, error) {
	if name == "" {
		name = Default
	}
	distro, ver, ok := strings.Cut(name, "-")
	versions, known := pythonVersions[distro]
	n, err := strconv.Atoi(ver)
	if !ok || !known || err != nil {
		return Target{}, fmt.Errorf("unknown target %q: want fedora-NN or rhel-N", name)
	}
	py, ok := versions[n]
	if !ok {
		return Target{}, fmt.Errorf("unknown target %q: known targets are %s", name, strings.Join(Names(), ", "))
	}
	t := Target{
		Name:          name,
		Distro:        distro,
		Version:       n,
		Releasever:    ver,
		PythonVersion: py,
		RPMDBPath:     "/var/lib/rpm",
	}
	if (distro == "fedora" && n >= 36) || (distro == "rhel" && n >= 10) {
		t.RPMDBPath = "/usr/lib/sysimage/rpm"
	}
	return t, nil
}

// Macros returns the rpm macros that identify the target to a spec file:
// fedora/rhel, elN, dist, and the python version macros.
func (t Target) Macros() map[string]string {
	pyNoDot := strings.ReplaceAll(t.PythonVersion, ".", "")
	m := map[string]string{
		"_arch":                  "x86_64",
		"_target_cpu":            "x86_64",
		"_target_os":             "linux",
		"_vendor":                "redhat",
		"python3_pkgversion":     "3",
		"python3_version":        t.PythonVersion,
		"python3_version_nodots": pyNoDot,
		"python_version":         t.PythonVersion,
		"_dbpath":                t.RPMDBPath,
	}
	switch t.Distro {
	case "fedora":
		m["fedora"] = strconv.Itoa(t.Version)
		m["dist"] = ".fc" + strconv.Itoa(t.Version)
		m["fc"+strconv.Itoa(t.Version)] = "1"
	case "rhel":
		m["rhel"] = strconv.Itoa(t.Version)
		m["el"+strconv.Itoa(t.Version)] = "1"
		m["dist"] = ".el" + strconv.Itoa(t.Version)
	}
	return m
}
