package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/fixtures"
)

// TestSameDigestRootless: the same inputs built as root and as an
// unprivileged user (rootless, in a user namespace, with its own store and
// clone cache) give the same image ID: layers and configuration are the
// same bytes whoever builds them. It runs in the root suite, which can
// act as the test user.
func TestSameDigestRootless(t *testing.T) {
	if rootless {
		t.Skip("the root suite builds as both")
	}
	name := os.Getenv("STRATA_TEST_USER")
	if name == "" {
		name = "strata-test"
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("the test user %q: %v (make test creates it)", name, err)
	}
	dir, err := os.MkdirTemp("", "strata-e2e-same-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Everything the user reads is under dir: the RPM repository, the
	// git repositories, the recipe and the binary.
	// A base split into several layers by package.
	if err := fixtures.BuildRepo(filepath.Join(dir, "repo"), splitPackages(), 1700000000); err != nil {
		t.Fatal(err)
	}
	var sources strings.Builder
	for i, src := range []string{"api", "worker"} {
		g, err := fixtures.NewGitRepo(filepath.Join(dir, src), int64(1750000000+i*1000))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Commit("main", "first", map[string]string{"VERSION": src + "-1\n", "bin/run": "#!/bin/sh\necho " + src + "\n"}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sources, "  - name: %s\n    git: %q\n    install: [sh, -c, \"cp VERSION /usr/share/%s-version && ln -s /src/%s/bin/run /usr/bin/%s\"]\n", src, g.Dir, src, src, src)
	}
	rec := filepath.Join(dir, "recipe.yaml")
	body := fmt.Sprintf("name: same\nbase:\n  repos:\n    - {id: local, baseurl: \"file://%s\", gpgcheck: false}\n  packages: [split-a, split-c, split-user]\nsources:\n%sprofiles:\n  stg: {branch: main}\n",
		filepath.Join(dir, "repo"), sources.String())
	if err := os.WriteFile(rec, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "strata")
	if err := copyFile(strataBin, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("chmod", "-R", "a+rX", dir).Run(); err != nil {
		t.Fatal(err)
	}

	rs := newStore(t)
	asRoot := mustBuild(t, rs, cacheEnv(t), rec)
	// 5 source RPMs, the rpm database layer, two sources' checkout and
	// install layers.
	if n := len(rs.diffIDs(t, asRoot)); n != 10 {
		t.Errorf("the image has %d layers, want 10", n)
	}

	xdg := "/tmp/strata-xdg-" + u.Uid
	if err := os.MkdirAll(xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("chown", name, xdg).Run(); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "user")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("chown", name, work).Run(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("runuser", "-u", name, "--", "env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME="+u.HomeDir, "LANG=C.UTF-8",
		"XDG_RUNTIME_DIR="+xdg, "STRATA_GIT_CACHE_DIR="+filepath.Join(work, "git"),
		bin, "--root", filepath.Join(work, "root"), "--runroot", filepath.Join(work, "run"), "--storage-driver", "overlay",
		"build", rec)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("rootless build as %s: %v\n%s", name, err, errb.String())
	}
	if got := strings.TrimSpace(out.String()); got != asRoot {
		t.Errorf("rootless build made %s, the root build %s", got, asRoot)
	}
}

func copyFile(from, to string, mode os.FileMode) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, mode)
}
