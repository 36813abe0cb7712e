package layers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/strata-build/strata/recipes"
	"github.com/strata-build/strata/recipes/targets"
)

// dnfConf is strata's own dnf configuration: never the host's (Debian's
// sets skip_if_unavailable and best=False, which hide failures).
const dnfConf = `[main]
gpgcheck=1
installonly_limit=3
clean_requirements_on_remove=True
best=True
skip_if_unavailable=False
install_weak_deps=False
tsflags=nodocs
keepcache=False
`

// writeRepos writes one .repo file per recipe repository into dir.
func writeRepos(dir string, repos []recipes.Repo) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, r := range repos {
		var b strings.Builder
		fmt.Fprintf(&b, "[%s]\nname=%s\nenabled=1\n", r.ID, r.ID)
		if r.BaseURL != "" {
			fmt.Fprintf(&b, "baseurl=%s\n", r.BaseURL)
		}
		if r.Metalink != "" {
			fmt.Fprintf(&b, "metalink=%s\n", r.Metalink)
		}
		if r.Mirrorlist != "" {
			fmt.Fprintf(&b, "mirrorlist=%s\n", r.Mirrorlist)
		}
		fmt.Fprintf(&b, "gpgcheck=%d\n", boolInt(r.CheckSignatures()))
		if r.GPGKey != "" {
			fmt.Fprintf(&b, "gpgkey=%s\n", r.GPGKey)
		}
		if err := os.WriteFile(filepath.Join(dir, r.ID+".repo"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tail keeps the last lines written to it, for error messages.
type tail struct {
	buf bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if t.buf.Len() > 64<<10 {
		b := t.buf.Bytes()
		t.buf = *bytes.NewBuffer(append([]byte(nil), b[len(b)-32<<10:]...))
	}
	return len(p), nil
}

var (
	noMatchRE     = regexp.MustCompile(`(?m)^No match for argument: (.+)$`)
	nothingProvRE = regexp.MustCompile(`(?m)nothing provides (.+?) needed by (\S+)`)
	repoFailRE    = regexp.MustCompile(`(?m)Failed to download metadata for repo '([^']+)'|Cannot download repomd.xml.*|Curl error.*`)
	repoIDRE      = regexp.MustCompile(`Failed to download metadata for repo '([^']+)': ?(.*)`)
	// What dnf (librepo) says when it read the metadata but cannot use it.
	corruptRE = regexp.MustCompile(`(?i)parser error|parse error|checksum doesn't match|bad checksum|invalid checksum`)
)

// dnfError turns dnf's output into an error that names the cause and the
// fix; out is the tail of what dnf printed. A repository that cannot be
// read comes first: dnf may go on without it and then miss packages.
func dnfError(err error, out string, repos []recipes.Repo) error {
	if repoFailRE.MatchString(out) {
		id, why := "", lastLine(out)
		if m := repoIDRE.FindStringSubmatch(out); m != nil {
			id, why = m[1], strings.TrimSpace(m[2])
		}
		corrupt := corruptRE.MatchString(why)
		for _, r := range repos {
			if r.ID != id {
				continue
			}
			if corrupt {
				return fmt.Errorf("repository %q (%s) has corrupt metadata: dnf said %q: regenerate its repodata (createrepo_c) or fix the mirror", id, repoURL(r), why)
			}
			return fmt.Errorf("repository %q (%s) is unreachable: check the URL in base.repos and the network (dnf said %q)", id, repoURL(r), why)
		}
		if corrupt {
			return fmt.Errorf("a repository has corrupt metadata (%s): %s", repoList(repos), why)
		}
		return fmt.Errorf("a repository is unreachable (%s): check base.repos and the network: %s", repoList(repos), why)
	}
	if m := noMatchRE.FindAllStringSubmatch(out, -1); m != nil {
		var names []string
		for _, x := range m {
			names = append(names, strconv.Quote(strings.TrimSpace(x[1])))
		}
		return fmt.Errorf("package %s not found in the repositories %s: check the name in base.packages (or the spec file it came from) and base.repos", strings.Join(names, ", "), repoList(repos))
	}
	if m := nothingProvRE.FindStringSubmatch(out); m != nil {
		return fmt.Errorf("cannot resolve dependencies: nothing provides %q needed by %q in the repositories %s", m[1], m[2], repoList(repos))
	}
	return fmt.Errorf("dnf failed: %w: %s", err, lastLine(out))
}

func repoURL(r recipes.Repo) string {
	for _, u := range []string{r.BaseURL, r.Metalink, r.Mirrorlist} {
		if u != "" {
			return u
		}
	}
	return ""
}

func repoList(repos []recipes.Repo) string {
	if len(repos) == 0 {
		return "of the base image"
	}
	var ids []string
	for _, r := range repos {
		ids = append(ids, strconv.Quote(r.ID))
	}
	return strings.Join(ids, ", ")
}

func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return "no output"
}

// rpmMacros points Debian's rpm (whose database is in ~/.rpmdb by
// default) at the target's database path.
func rpmMacros(home string, t targets.Target) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(home, ".rpmmacros"), []byte("%_dbpath "+t.RPMDBPath+"\n"), 0o644)
}

// newestBuildTime returns the newest build time of the packages installed
// under root, read with the host's rpm; the epoch when it cannot be read.
func newestBuildTime(ctx context.Context, root string, t targets.Target) time.Time {
	out, err := exec.CommandContext(ctx, "rpm", "--root", root, "--dbpath", t.RPMDBPath, "-qa", "--qf", "%{BUILDTIME}\n").Output()
	if err != nil {
		return time.Unix(0, 0).UTC()
	}
	var newest int64
	for _, f := range strings.Fields(string(out)) {
		if n, err := strconv.ParseInt(f, 10, 64); err == nil && n > newest {
			newest = n
		}
	}
	return time.Unix(newest, 0).UTC()
}
