// Package e2e runs the strata binary end to end, as users run it: real
// containers/storage stores, runc, the host's dnf against RPM repositories
// the tests build with rpmbuild and createrepo_c, and other tools (buildah,
// skopeo, rpm) to check what strata made. The same tests run as root and,
// through `make test-rootless`, as an unprivileged user.
package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/fixtures"
)

var (
	strataBin string // the binary under test
	repoDir   string // the shared fixture RPM repository
	dnfImage  string // an oci-archive of a Debian root with dnf, for container mode
	rootless  = os.Getuid() != 0
)

// fixtureBaseLayers is how many layers a base of the shared fixture
// repository has: its packages are one source RPM, so one package group,
// and the rpm database layer.
const fixtureBaseLayers = 2

// testPackages are the fixture RPMs every test can install.
func testPackages() []fixtures.Package {
	return append(fixtures.Demo(),
		fixtures.Package{
			Name: "demo-data", Version: "2.0",
			Files: map[string]string{"/usr/share/demo-data/README": "demo data\n"},
		},
		fixtures.Package{
			Name: "demo-lib", Requires: []string{"demo-data >= 2"},
			Files: map[string]string{"/usr/lib/demo-lib/lib.txt": "lib\n"},
		},
		fixtures.Package{
			// A big, incompressible layer for interrupted pushes.
			Name: "fixture-big", Payload: 8 << 20,
		},
		fixtures.Package{
			// A Python dependency as Fedora names it.
			Name: "python3-requests", Version: "2.31.0", Requires: []string{"busybox"},
			Provides: []string{"python3dist(requests) = 2.31.0"},
			Files:    map[string]string{"/usr/lib/python3/requests/__init__.py": "# requests\n"},
		},
		fixtures.Package{
			// A scriptlet that takes long: the SIGTERM test stops strata in it.
			Name: "fixture-slow", Requires: []string{"busybox"},
			Files: map[string]string{"/usr/share/fixture-slow/x": "x\n"},
			Post:  "echo fixture-slow-post-started\nsleep 4217", // a length no other process sleeps (the test looks for it)
		},
	)
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	strataBin = os.Getenv("STRATA_BIN")
	if strataBin == "" {
		strataBin, _ = filepath.Abs("../../bin/strata")
	}
	if _, err := os.Stat(strataBin); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the strata binary %s is missing: run make build (or set STRATA_BIN)\n", strataBin)
		return 1
	}
	dnfImage = os.Getenv("STRATA_DNF_IMAGE")
	tmp, err := os.MkdirTemp("", "strata-e2e-repo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	repoDir = filepath.Join(tmp, "repo")
	if err := fixtures.BuildRepo(repoDir, testPackages(), 1700000000); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building the fixture repository: %v\n", err)
		return 1
	}
	return m.Run()
}

// store is one test's own storage root.
type store struct {
	root, runroot string
}

func newStore(t *testing.T) store {
	t.Helper()
	dir, err := os.MkdirTemp("", "strata-e2e-store-")
	if err != nil {
		t.Fatal(err)
	}
	s := store{root: filepath.Join(dir, "root"), runroot: filepath.Join(dir, "run")}
	t.Cleanup(func() {
		// Rootless stores hold files owned by subordinate ids: remove
		// them from inside the user namespace.
		if rootless {
			_ = exec.Command("buildah", "unshare", "rm", "-rf", dir).Run()
		}
		_ = os.RemoveAll(dir)
	})
	return s
}

func (s store) flags() []string {
	return []string{"--root", s.root, "--runroot", s.runroot, "--storage-driver", "overlay"}
}

// result is what one strata run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// strata runs the binary with the store's flags.
func strata(t *testing.T, s store, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, strataBin, append(s.flags(), args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running strata: %v", err)
	}
	return result{out.String(), errb.String(), code}
}

// mustBuild runs strata build and fails the test unless it succeeds.
func mustBuild(t *testing.T, s store, env []string, args ...string) string {
	t.Helper()
	r := strata(t, s, env, append([]string{"build"}, args...)...)
	if r.code != 0 {
		t.Fatalf("strata build %v: exit %d\nstderr:\n%s", args, r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if len(id) != 64 {
		t.Fatalf("stdout is %q, want only the 64-hex image ID", r.stdout)
	}
	return id
}

// tool runs another container tool (buildah, skopeo) against the store
// and returns its stdout. Its stderr is kept apart: buildah warns there
// (a CNI configuration without its plugins on a fresh Debian machine),
// and a warning must never be read as a container name.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, stderr.Bytes())
	}
	return string(out)
}

func (s store) buildah(t *testing.T, args ...string) string {
	t.Helper()
	return tool(t, "buildah", append(s.flags(), args...)...)
}

// assertClean checks that nothing is left in the store: no working
// container, no mount.
func (s store) assertClean(t *testing.T) {
	t.Helper()
	if out := s.buildah(t, "containers", "--quiet"); strings.TrimSpace(out) != "" {
		t.Errorf("working containers left behind:\n%s", out)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err == nil && strings.Contains(string(mounts), s.root) {
		t.Errorf("mounts left under %s", s.root)
	}
}

// writeRecipe writes a recipe into a temporary directory.
func writeRecipe(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "recipe.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// recipe returns an installroot recipe over the fixture repository.
func recipe(name string, packages ...string) string {
	return fmt.Sprintf(`name: %s
base:
  repos:
    - {id: local, baseurl: "file://%s", gpgcheck: false}
  packages: [%s]
image:
  cmd: ["/usr/bin/hello"]
  env: {GREETING: hi}
  labels: {team: e2e}
`, name, repoDir, strings.Join(packages, ", "))
}

// ociImage is an image read back from an oci: layout.
type ociImage struct {
	manifestDigest string
	manifest       struct {
		Layers []struct {
			Digest    string `json:"digest"`
			MediaType string `json:"mediaType"`
		} `json:"layers"`
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	config struct {
		Created string `json:"created"`
		Config  struct {
			Cmd    []string          `json:"Cmd"`
			Env    []string          `json:"Env"`
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
		History []struct {
			CreatedBy  string `json:"created_by"`
			EmptyLayer bool   `json:"empty_layer"`
		} `json:"history"`
	}
	dir string
}

func readOCI(t *testing.T, dir string) *ociImage {
	t.Helper()
	var index struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	readJSON(t, filepath.Join(dir, "index.json"), &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("oci layout %s has %d manifests, want 1", dir, len(index.Manifests))
	}
	img := &ociImage{dir: dir, manifestDigest: index.Manifests[0].Digest}
	readJSON(t, blobPath(dir, img.manifestDigest), &img.manifest)
	readJSON(t, blobPath(dir, img.manifest.Config.Digest), &img.config)
	return img
}

func blobPath(dir, digest string) string {
	return filepath.Join(dir, "blobs", strings.Replace(digest, ":", "/", 1))
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// unpack extracts every layer (regular files, directories, symlinks) into
// a directory and returns it with the list of paths in the layers.
func (img *ociImage) unpack(t *testing.T) (string, []string) {
	t.Helper()
	root := t.TempDir()
	var paths []string
	for _, l := range img.manifest.Layers {
		f, err := os.Open(blobPath(img.dir, l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = f
		if strings.HasSuffix(l.MediaType, "gzip") {
			gz, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			r = gz
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			name := strings.TrimPrefix(filepath.Clean("/"+h.Name), "/")
			paths = append(paths, name)
			target := filepath.Join(root, name)
			switch h.Typeflag {
			case tar.TypeDir:
				_ = os.MkdirAll(target, 0o755)
			case tar.TypeReg:
				_ = os.MkdirAll(filepath.Dir(target), 0o755)
				w, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(w, tr); err != nil {
					t.Fatal(err)
				}
				w.Close()
			case tar.TypeSymlink:
				_ = os.MkdirAll(filepath.Dir(target), 0o755)
				_ = os.Symlink(h.Linkname, target)
			}
		}
		f.Close()
	}
	sort.Strings(paths)
	return root, paths
}

// rpmNames lists the packages in an unpacked root's rpm database.
func rpmNames(t *testing.T, root, dbpath string) []string {
	t.Helper()
	out, err := exec.Command("rpm", "--root", root, "--dbpath", dbpath, "-qa", "--qf", "%{NAME}\n").CombinedOutput()
	if err != nil {
		t.Fatalf("rpm -qa in the image: %v\n%s", err, out)
	}
	names := strings.Fields(string(out))
	sort.Strings(names)
	return names
}
