package recipes

import (
	"errors"
	"fmt"
	"github.com/strata-build/strata/internal/gitsrc"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-build/strata/recipes/targets"
	"go.podman.io/image/v5/docker/reference"
)

var (
	nameRE       = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	repoIDRE     = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)
	envNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	portRE       = regexp.MustCompile(`^([0-9]{1,5})(/(tcp|udp|sctp))?$`)
	userRE       = regexp.MustCompile(`^[^:\s]+(:[^:\s]+)?$`)
	tagRE        = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	sourceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	depRE        = regexp.MustCompile(`^[^\s<>=(),]+(?:\([^\s()]*\))?(?:\s*(?:<=|>=|==|=|<|>)\s*[^\s<>=(),]+)?$`)
)

// Validate checks every field and returns all problems found, each naming
// its field, position and the allowed values.
func (r *Recipe) Validate() error {
	v := &validator{r: r}
	v.check()
	return errors.Join(v.errs...)
}

type validator struct {
	r    *Recipe
	errs []error
}

func (v *validator) fail(field, format string, args ...any) {
	p := v.r.pos.lookup(field)
	v.errs = append(v.errs, &Error{File: v.r.File, Pos: p, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// lookup returns the position of field, or of its nearest known parent
// (a missing field is reported where its parent mapping starts).
func (p positions) lookup(field string) Pos {
	for f := field; ; {
		if pos, ok := p[f]; ok {
			return pos
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			return p[""]
		}
		f = f[:i]
	}
}

func (v *validator) check() {
	r := v.r
	switch {
	case r.Name == "":
		v.fail("name", "required: the image name, lower-case letters, digits and separators (e.g. %q)", "demo")
	case !nameRE.MatchString(r.Name):
		v.fail("name", "invalid name %q: use lower-case letters, digits, '.', '_' and '-' (it names the image)", r.Name)
	}
	if _, err := targets.Lookup(r.Target); err != nil {
		v.fail("target", "%v", err)
	}
	v.checkBase()
	v.checkImage()
	v.checkSources()
	v.checkProfiles()
	v.checkPush()
}

func (v *validator) checkPush() {
	p := v.r.Push
	for field, repo := range map[string]string{"push.repository": p.Repository, "push.cache": p.Cache} {
		if repo == "" {
			continue
		}
		if err := CheckRepository(repo); err != nil {
			v.fail(field, "%v", err)
		}
	}
	if p.ImmutableTag != "" {
		sample := TagValues{Profile: "stg", Branch: "main", Commit: strings.Repeat("0", 40), Date: "20060102"}
		if _, err := ExpandTag(p.ImmutableTag, sample); err != nil {
			v.fail("push.immutable_tag", "%v", err)
		}
	}
}

// CheckRepository checks an image repository: registry/name, without a
// tag or digest, with the registry named (no short names).
func CheckRepository(repo string) error {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return fmt.Errorf("invalid repository %q: %v", repo, err)
	}
	if _, ok := named.(reference.Tagged); ok {
		return fmt.Errorf("invalid repository %q: no tag here (tags come from the profiles)", repo)
	}
	if _, ok := named.(reference.Digested); ok {
		return fmt.Errorf("invalid repository %q: no digest here", repo)
	}
	if first, _, ok := strings.Cut(repo, "/"); !ok || !strings.ContainsAny(first, ".:") && first != "localhost" {
		return fmt.Errorf("invalid repository %q: name the registry, e.g. quay.io/%s", repo, repo)
	}
	return nil
}

// idRule is how a list's identifier is checked: the messages of a
// missing one (with an example), of one re does not match, and of one
// already in the list (with the index of the first).
type idRule struct {
	required, example, invalid, dup string
	re                              *regexp.Regexp
}

// checkID checks the identifier id of item i of a list at field: present,
// well-formed and not used before (seen maps those before to their index).
func (v *validator) checkID(field, id string, i int, seen map[string]int, rule idRule) {
	switch {
	case id == "":
		v.fail(field, "required: "+rule.required, rule.example)
	case !rule.re.MatchString(id):
		v.fail(field, rule.invalid, id)
	default:
		if j, dup := seen[id]; dup {
			v.fail(field, rule.dup, id, j)
		}
		seen[id] = i
	}
}

func (v *validator) checkSources() {
	names := map[string]int{}
	paths := map[string]int{}
	for i, s := range v.r.Sources {
		f := fmt.Sprintf("sources[%d]", i)
		v.checkID(f+".name", s.Name, i, names, idRule{
			required: "the project's name, such as %q", example: "packit-service",
			re: sourceNameRE, invalid: "invalid source name %q: use letters, digits, '.', '_' and '-'",
			dup: "source %q is already defined by sources[%d]",
		})
		if err := CheckGitRemote(s.Git); err != nil {
			v.fail(f+".git", "%v", err)
		}
		for j, d := range s.Deps {
			if err := checkRepoFile(d); err != nil {
				v.fail(fmt.Sprintf("%s.deps[%d]", f, j), "%v", err)
			}
		}
		if s.Path != "" && (!path.IsAbs(s.Path) || path.Clean(s.Path) == "/") {
			v.fail(f+".path", "want an absolute path other than /, got %q", s.Path)
		} else if s.Name != "" {
			dest := path.Clean(s.Dest())
			if j, dup := paths[dest]; dup {
				v.fail(f+".path", "sources %q and %q both write %s: give each a path of its own", v.r.Sources[j].Name, s.Name, dest)
			}
			paths[dest] = i
		}
		if len(s.Install) > 0 && s.Install[0] == "" {
			v.fail(f+".install[0]", "the program name is empty")
		}
	}
	for i, s := range v.r.Sources {
		for j, n := range s.Needs {
			f := fmt.Sprintf("sources[%d].needs[%d]", i, j)
			switch _, ok := names[n]; {
			case n == s.Name:
				v.fail(f, "source %q cannot need itself", n)
			case !ok:
				v.fail(f, "unknown source %q: want one of %s", n, strings.Join(v.r.sourceNames(), ", "))
			case len(s.Install) == 0:
				v.fail(f, "needs is for the install command, and source %q has none", s.Name)
			}
		}
	}
}

func (r *Recipe) sourceNames() []string {
	var out []string
	for _, s := range r.Sources {
		out = append(out, strconv.Quote(s.Name))
	}
	return out
}

func (v *validator) checkProfiles() {
	for _, name := range v.r.ProfileNames() {
		p := v.r.Profiles[name]
		f := "profiles." + name
		if !nameRE.MatchString(name) {
			v.fail(f, "invalid profile name %q: use lower-case letters, digits, '.', '_' and '-'", name)
		}
		if p.Branch == "" {
			v.fail(f+".branch", "required: the git branch of every source, such as %q", "main")
		} else if err := CheckBranch(p.Branch); err != nil {
			v.fail(f+".branch", "%v", err)
		}
		for i, t := range p.Tags {
			if !tagRE.MatchString(t) {
				v.fail(fmt.Sprintf("%s.tags[%d]", f, i), "invalid tag %q: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", t)
			}
		}
	}
}

// CheckTag checks an image tag.
func CheckTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("invalid tag %q: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", tag)
	}
	return nil
}

// CheckGitRemote checks a source's repository: an https://, http://,
// ssh://, git:// or file:// URL, git@HOST:PATH, or a local path.
// Credentials in URLs are refused: they would end up in logs and labels.
func CheckGitRemote(remote string) error {
	switch {
	case remote == "":
		return fmt.Errorf("required: the repository, such as %q", "https://github.com/packit/packit-service")
	case strings.TrimSpace(remote) != remote || strings.ContainsAny(remote, "\n\t"):
		return fmt.Errorf("invalid repository %q: spaces around it", remote)
	}
	if i := strings.Index(remote, "://"); i >= 0 {
		scheme := remote[:i]
		switch scheme {
		case "https", "http", "ssh", "git", "file":
		default:
			return fmt.Errorf("invalid repository %q: unsupported scheme %q (want https, http, ssh, git, file, git@HOST:PATH or a path)", remote, scheme)
		}
		rest := remote[i+3:]
		if rest == "" || (scheme != "file" && strings.HasPrefix(rest, "/")) {
			return fmt.Errorf("invalid repository %q: no host", remote)
		}
		host, _, _ := strings.Cut(rest, "/")
		if user, _, ok := strings.Cut(host, "@"); ok && strings.Contains(user, ":") {
			return fmt.Errorf("invalid repository %q: a password in the URL would end up in logs and labels; set STRATA_GIT_TOKEN instead", gitsrc.Redact(remote))
		}
	}
	return nil
}

// CheckBranch checks a branch name as git check-ref-format does: the check
// the clones make (gitsrc.CheckBranch), so that a recipe validate accepts
// is one the build can resolve.
func CheckBranch(b string) error { return gitsrc.CheckBranch(b) }

// checkRepoFile checks a dependency file named in sources[].deps: a
// relative path inside the repository, of a kind strata reads.
func checkRepoFile(name string) error {
	if name == "" || path.IsAbs(name) || path.Clean(name) == ".." || strings.HasPrefix(path.Clean(name), "../") {
		return fmt.Errorf("invalid file %q: want a path relative to the repository's top directory", name)
	}
	if _, err := DepFileKind(name); err != nil {
		return err
	}
	return nil
}

func (v *validator) checkBase() {
	b := v.r.Base
	if b.From != "" && b.From != Scratch {
		if err := CheckImageRef(b.From); err != nil {
			v.fail("base.from", "%v", err)
		}
	}
	switch b.Install {
	case "", InstallRoot:
	case InstallContainer:
		if v.r.BaseFrom() == Scratch {
			v.fail("base.install", "install mode %q runs dnf inside the base image, so base.from must name an image with dnf, not %q", InstallContainer, Scratch)
		}
	default:
		v.fail("base.install", "unknown install mode %q: want %q or %q", b.Install, InstallRoot, InstallContainer)
	}
	ids := map[string]int{}
	for i, repo := range b.Repos {
		f := fmt.Sprintf("base.repos[%d]", i)
		v.checkID(f+".id", repo.ID, i, ids, idRule{
			required: "a repository id such as %q", example: "fedora",
			re: repoIDRE, invalid: "invalid repository id %q: use letters, digits, '-', '_', '.' and ':'",
			dup: "repository id %q is already used by base.repos[%d]",
		})
		urls := 0
		for name, u := range map[string]string{"baseurl": repo.BaseURL, "metalink": repo.Metalink, "mirrorlist": repo.Mirrorlist} {
			if u == "" {
				continue
			}
			urls++
			if name == "baseurl" && !strings.Contains(u, "://") {
				continue // a local path, resolved against the recipe's directory
			}
			if !hasScheme(u, "file://", "http://", "https://") {
				v.fail(f+"."+name, "invalid URL %q: want file://, http:// or https://", u)
			}
		}
		if urls != 1 {
			v.fail(f, "give exactly one of baseurl, metalink and mirrorlist (got %d)", urls)
		}
		if repo.CheckSignatures() && repo.GPGKey == "" && v.r.InstallMode() == InstallRoot {
			v.fail(f+".gpgkey", "required when gpgcheck is true: the installroot is empty and has no keys (or set gpgcheck: false for a trusted local repository)")
		}
	}
	if len(b.Packages) == 0 && !v.r.hasDepFiles() {
		v.fail("base.packages", "required: at least one package to install (or sources with deps files)")
	}
	seen := map[string]int{}
	for i, p := range b.Packages {
		f := fmt.Sprintf("base.packages[%d]", i)
		if err := CheckDep(p); err != nil {
			v.fail(f, "%v", err)
			continue
		}
		n := NormalizeDep(p)
		if j, dup := seen[n]; dup {
			v.fail(f, "package %q is listed twice (also base.packages[%d])", p, j)
		}
		seen[n] = i
	}
	if b.MaxAge != "" {
		if _, err := ParseAge(b.MaxAge); err != nil {
			v.fail("base.max_age", "%v", err)
		}
	}
	if b.Layers < 0 || b.Layers > MaxBaseLayers {
		v.fail("base.layers", "invalid value %d: want 1 to %d layers (default %d)", b.Layers, MaxBaseLayers, DefaultBaseLayers)
	}
	for i, p := range b.Exclude {
		if strings.TrimSpace(p) == "" || strings.ContainsAny(p, " \t") {
			v.fail(fmt.Sprintf("base.exclude[%d]", i), "invalid exclude %q: want a package name or a provide such as %q", p, "python3dist(foo)")
		}
	}
}

func (v *validator) checkImage() {
	im := v.r.Image
	if im.User != "" && !userRE.MatchString(im.User) {
		v.fail("image.user", "invalid user %q: want USER or USER:GROUP (names or numbers, no spaces)", im.User)
	}
	if im.Workdir != "" && !path.IsAbs(im.Workdir) {
		v.fail("image.workdir", "want an absolute path, got %q", im.Workdir)
	}
	for _, k := range slices.Sorted(maps.Keys(im.Env)) {
		if !envNameRE.MatchString(k) {
			v.fail("image.env."+k, "invalid environment variable name %q", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(im.Labels)) {
		if strings.TrimSpace(k) == "" {
			v.fail("image.labels", "a label name is empty")
		}
	}
	for i, p := range im.Ports {
		m := portRE.FindStringSubmatch(p)
		if m == nil {
			v.fail(fmt.Sprintf("image.ports[%d]", i), "invalid port %q: want NUMBER or NUMBER/tcp|udp|sctp", p)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n < 1 || n > 65535 {
			v.fail(fmt.Sprintf("image.ports[%d]", i), "port %d is out of range 1-65535", n)
		}
	}
	for i, a := range im.Entrypoint {
		if a == "" && i == 0 {
			v.fail("image.entrypoint[0]", "the program name is empty")
		}
	}
	for i, a := range im.Cmd {
		if a == "" && i == 0 {
			v.fail("image.cmd[0]", "the program name is empty")
		}
	}
}

func hasScheme(u string, schemes ...string) bool {
	for _, s := range schemes {
		if strings.HasPrefix(u, s) && len(u) > len(s) {
			return true
		}
	}
	return false
}

// CheckDep checks the form of an RPM dependency: a name or provide with an
// optional version ("python3dist(requests) >= 2"), or a rich dependency in
// parentheses.
func CheckDep(dep string) error {
	d := strings.TrimSpace(dep)
	if d == "" {
		return fmt.Errorf("empty package name")
	}
	if strings.HasPrefix(d, "(") {
		depth := 0
		for i, c := range d {
			switch c {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 && i != len(d)-1 {
					return fmt.Errorf("invalid rich dependency %q: text after the closing parenthesis", dep)
				}
			}
			if depth < 0 {
				break
			}
		}
		if depth != 0 {
			return fmt.Errorf("invalid rich dependency %q: unbalanced parentheses", dep)
		}
		return nil
	}
	if !depRE.MatchString(d) {
		return fmt.Errorf("invalid package %q: want NAME, NAME OP VERSION (OP one of <, <=, =, >=, >) or a rich dependency in parentheses", dep)
	}
	return nil
}

// NormalizeDep returns dep with single spaces around its version operator,
// the form rpmspec prints.
func NormalizeDep(dep string) string {
	d := strings.Join(strings.Fields(dep), " ")
	if strings.HasPrefix(d, "(") {
		return d
	}
	for _, op := range []string{"<=", ">=", "==", "=", "<", ">"} {
		if i := strings.Index(d, op); i > 0 {
			name := strings.TrimSpace(d[:i])
			ver := strings.TrimSpace(d[i+len(op):])
			if op == "==" {
				op = "="
			}
			return name + " " + op + " " + ver
		}
	}
	return d
}

// DepName returns the name part of a dependency ("" for rich dependencies).
func DepName(dep string) string {
	d := NormalizeDep(dep)
	if strings.HasPrefix(d, "(") {
		return ""
	}
	name, _, _ := strings.Cut(d, " ")
	return name
}

// imageTransports are the transports base.from and outputs accept.
var imageTransports = []string{"docker://", "oci:", "oci-archive:", "docker-archive:", "containers-storage:"}

// CheckImageRef checks an image reference: a registry name
// (registry/name:tag or @digest) or TRANSPORT:PATH.
func CheckImageRef(ref string) error {
	for _, t := range imageTransports {
		if rest, ok := strings.CutPrefix(ref, t); ok {
			if rest == "" {
				return fmt.Errorf("invalid image reference %q: nothing after %q", ref, t)
			}
			if t == "docker://" || t == "containers-storage:" {
				if _, err := reference.ParseNormalizedNamed(rest); err != nil {
					return fmt.Errorf("invalid image reference %q: %w", ref, err)
				}
			}
			return nil
		}
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return fmt.Errorf("invalid image reference %q: %v (want registry/name:tag, oci:DIR, oci-archive:FILE, docker-archive:FILE or containers-storage:NAME)", ref, err)
	}
	return nil
}

// validateExcept validates r, whose decoding failed with decodeErr, and
// returns the problems of the fields that were decoded, leaving out those
// that would only repeat a decoding error: at or under a field that could
// not be decoded, and of the mapping itself that holds an unknown field
// (the field the user meant is missing from it).
func (r *Recipe) validateExcept(decodeErr error) error {
	var subtrees, mappings []string
	list := []error{decodeErr}
	if each, ok := decodeErr.(interface{ Unwrap() []error }); ok {
		list = each.Unwrap()
	}
	for _, e := range list {
		var re *Error
		if !errors.As(e, &re) {
			continue
		}
		if strings.HasPrefix(re.Msg, unknownField) {
			parent := re.Field[:max(0, strings.LastIndexByte(re.Field, '.'))]
			mappings = append(mappings, parent)
			continue
		}
		subtrees = append(subtrees, re.Field)
	}
	v := &validator{r: r}
	v.check()
	var out []error
	for _, e := range v.errs {
		var re *Error
		if errors.As(e, &re) && (slices.Contains(mappings, re.Field) || slices.ContainsFunc(subtrees, func(f string) bool {
			return f == "" || re.Field == f || strings.HasPrefix(re.Field, f+".") || strings.HasPrefix(re.Field, f+"[")
		})) {
			continue
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}
