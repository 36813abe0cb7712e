package pyreq

// PEP 440 versions: parsing, normalisation, ordering and specifier matching.
// https://peps.python.org/pep-0440/ and the reference implementation in
// pypa/packaging (version.py, specifiers.py), re-implemented here.
//
// Numbers are kept as decimal strings without leading zeros so that
// arbitrarily long components (which PEP 440 allows) neither overflow nor
// need math/big.

import (
	"fmt"
	"regexp"
	"strings"
)

// versionRE is PEP 440's permissive version pattern (Appendix B).
var versionRE = regexp.MustCompile(`(?i)^v?` +
	`(?:(?P<epoch>[0-9]+)!)?` +
	`(?P<release>[0-9]+(?:\.[0-9]+)*)` +
	`(?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?` +
	`(?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?` +
	`(?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?` +
	`(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`)

var (
	reEpoch   = versionRE.SubexpIndex("epoch")
	reRelease = versionRE.SubexpIndex("release")
	rePreL    = versionRE.SubexpIndex("pre_l")
	rePreN    = versionRE.SubexpIndex("pre_n")
	rePost    = versionRE.SubexpIndex("post")
	rePostN1  = versionRE.SubexpIndex("post_n1")
	rePostN2  = versionRE.SubexpIndex("post_n2")
	reDev     = versionRE.SubexpIndex("dev")
	reDevN    = versionRE.SubexpIndex("dev_n")
	reLocal   = versionRE.SubexpIndex("local")
)

// version is a parsed PEP 440 version. Absent parts are "" / nil.
type version struct {
	epoch   string   // "0" when absent
	release []string // at least one component
	preL    string   // "a", "b", "rc" or "" when not a pre-release
	preN    string
	post    bool
	postN   string
	dev     bool
	devN    string
	local   []string // lower-case segments, numeric ones without leading zeros
}

// parseVersion parses and normalises a PEP 440 version. Surrounding
// whitespace is ignored, as packaging does.
func parseVersion(s string) (*version, error) {
	t := strings.TrimSpace(s)
	m := versionRE.FindStringSubmatch(t)
	if m == nil {
		return nil, fmt.Errorf("invalid version %q", s)
	}
	v := &version{epoch: "0"}
	if m[reEpoch] != "" {
		v.epoch = trimNum(m[reEpoch])
	}
	for _, p := range strings.Split(m[reRelease], ".") {
		v.release = append(v.release, trimNum(p))
	}
	if l := strings.ToLower(m[rePreL]); l != "" {
		switch l {
		case "alpha", "a":
			v.preL = "a"
		case "beta", "b":
			v.preL = "b"
		default: // c, pre, preview, rc
			v.preL = "rc"
		}
		v.preN = trimNum(m[rePreN])
	}
	if m[rePost] != "" {
		v.post = true
		v.postN = trimNum(m[rePostN1] + m[rePostN2])
	}
	if m[reDev] != "" {
		v.dev = true
		v.devN = trimNum(m[reDevN])
	}
	if m[reLocal] != "" {
		for _, seg := range strings.FieldsFunc(strings.ToLower(m[reLocal]), func(r rune) bool {
			return r == '.' || r == '-' || r == '_'
		}) {
			if isDigits(seg) {
				seg = trimNum(seg)
			}
			v.local = append(v.local, seg)
		}
	}
	return v, nil
}

// String returns the PEP 440 normal form, e.g. "1!2.0rc1.post3.dev4+abc.5".
func (v *version) String() string {
	if len(v.local) > 0 {
		return v.public() + "+" + strings.Join(v.local, ".")
	}
	return v.public()
}

// public is the normal form without the local segment.
func (v *version) public() string {
	var b strings.Builder
	if v.epoch != "0" {
		b.WriteString(v.epoch + "!")
	}
	b.WriteString(strings.Join(v.release, "."))
	if v.preL != "" {
		b.WriteString(v.preL + v.preN)
	}
	if v.post {
		b.WriteString(".post" + v.postN)
	}
	if v.dev {
		b.WriteString(".dev" + v.devN)
	}
	return b.String()
}

func (v *version) isPrerelease() bool  { return v.preL != "" || v.dev }
func (v *version) isPostrelease() bool { return v.post }

// base is the epoch and release only.
func (v *version) base() *version {
	return &version{epoch: v.epoch, release: v.release}
}

// withoutLocal returns a copy with the local segment dropped.
func (v *version) withoutLocal() *version {
	c := *v
	c.local = nil
	return &c
}

// compareVersions orders a and b as PEP 440 (and packaging's _cmpkey) does:
// epoch, release (trailing zeros ignored), pre-release (dev-only releases
// sort before any pre-release, finals after), post-release, dev-release,
// local segment. It returns -1, 0 or 1.
func compareVersions(a, b *version) int {
	if c := cmpNum(a.epoch, b.epoch); c != 0 {
		return c
	}
	if c := cmpRelease(a.release, b.release); c != 0 {
		return c
	}
	if c := cmpInt(preRank(a), preRank(b)); c != 0 {
		return c
	}
	if a.preL != "" && b.preL != "" {
		if c := cmpInt(preLabelRank(a.preL), preLabelRank(b.preL)); c != 0 {
			return c
		}
		if c := cmpNum(a.preN, b.preN); c != 0 {
			return c
		}
	}
	// Post: absent sorts before any post-release.
	switch {
	case a.post && !b.post:
		return 1
	case !a.post && b.post:
		return -1
	case a.post && b.post:
		if c := cmpNum(a.postN, b.postN); c != 0 {
			return c
		}
	}
	// Dev: absent sorts after any dev-release.
	switch {
	case a.dev && !b.dev:
		return -1
	case !a.dev && b.dev:
		return 1
	case a.dev && b.dev:
		if c := cmpNum(a.devN, b.devN); c != 0 {
			return c
		}
	}
	return cmpLocal(a.local, b.local)
}

// preRank places a version in the pre-release phase: 0 for a dev release
// of a final (1.0.dev1 < 1.0a1), 1 for a pre-release, 2 otherwise.
func preRank(v *version) int {
	switch {
	case v.preL == "" && !v.post && v.dev:
		return 0
	case v.preL != "":
		return 1
	default:
		return 2
	}
}

func preLabelRank(l string) int {
	switch l {
	case "a":
		return 0
	case "b":
		return 1
	default:
		return 2
	}
}

func cmpRelease(a, b []string) int {
	n := max(len(a), len(b))
	for i := range n {
		x, y := "0", "0"
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if c := cmpNum(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// cmpLocal: no local < any local; segment-wise, numeric segments sort
// after alphanumeric ones; a shorter segment list that is a prefix sorts first.
func cmpLocal(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		an, bn := isDigits(a[i]), isDigits(b[i])
		switch {
		case an && bn:
			if c := cmpNum(a[i], b[i]); c != 0 {
				return c
			}
		case an:
			return 1
		case bn:
			return -1
		default:
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	return cmpInt(len(a), len(b))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpNum compares two decimal strings without leading zeros.
func cmpNum(a, b string) int {
	a, b = trimNum(a), trimNum(b)
	if c := cmpInt(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// trimNum strips leading zeros; "" and "000" become "0".
func trimNum(s string) string {
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "0"
	}
	return s
}

// incNum adds one to a decimal string.
func incNum(s string) string {
	b := []byte(trimNum(s))
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < '9' {
			b[i]++
			return string(b)
		}
		b[i] = '0'
	}
	return "1" + string(b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Specifier is one version clause of a requirement, e.g. {">=", "2.3"}.
// Version is as written (surrounding whitespace removed) and may end in
// ".*" for the == and != operators.
type Specifier struct {
	Op      string
	Version string
}

// String returns the clause as written without spaces, e.g. ">=2.3".
func (s Specifier) String() string { return s.Op + s.Version }

// specOps lists the PEP 440 comparison operators, longest first so that a
// prefix scan picks "===" over "==".
var specOps = []string{"===", "~=", "==", "!=", "<=", ">=", "<", ">"}

// checkSpecifier validates a clause as packaging's Specifier does: == and
// != accept a trailing ".*" (only after a plain release) and local
// versions; ~= needs two release segments and no local version; ordered
// comparisons take neither; === takes any non-empty string.
func checkSpecifier(op, ver string) error {
	if ver == "" {
		return fmt.Errorf("expected a version after %q", op)
	}
	if op == "===" {
		return nil
	}
	base, wild := strings.CutSuffix(ver, ".*")
	v, err := parseVersion(base)
	if err != nil || strings.ContainsAny(base, " \t") {
		return fmt.Errorf("invalid version %q", ver)
	}
	if wild {
		if op != "==" && op != "!=" {
			return fmt.Errorf("wildcard version %q is only allowed with == and !=", ver)
		}
		if v.preL != "" || v.post || v.dev || len(v.local) > 0 {
			return fmt.Errorf("wildcard version %q may only contain an epoch and release numbers", ver)
		}
		return nil
	}
	if len(v.local) > 0 && op != "==" && op != "!=" {
		return fmt.Errorf("local version %q is only allowed with == and !=", ver)
	}
	if op == "~=" && len(v.release) < 2 {
		return fmt.Errorf("~= needs a version with at least two release numbers, got %q", ver)
	}
	return nil
}

// specContains reports whether v satisfies the clause op+ver, with
// pre-releases allowed (as packaging does when evaluating markers). The
// clause must have passed checkSpecifier.
func specContains(op, ver string, v *version) (bool, error) {
	if op == "===" {
		return strings.EqualFold(strings.TrimSpace(ver), v.String()), nil
	}
	base, wild := strings.CutSuffix(ver, ".*")
	s, err := parseVersion(base)
	if err != nil {
		return false, err
	}
	switch op {
	case "==":
		if wild {
			return prefixMatch(s, v), nil
		}
		if len(s.local) == 0 {
			v = v.withoutLocal()
		}
		return compareVersions(v, s) == 0, nil
	case "!=":
		ok, err := specContains("==", ver, v)
		return !ok, err
	case "~=":
		prefix := &version{epoch: s.epoch, release: s.release[:len(s.release)-1]}
		return compareVersions(v.withoutLocal(), s) >= 0 && prefixMatch(prefix, v), nil
	case "<=":
		return compareVersions(v.withoutLocal(), s) <= 0, nil
	case ">=":
		return compareVersions(v.withoutLocal(), s) >= 0, nil
	case "<":
		if compareVersions(v, s) >= 0 {
			return false, nil
		}
		// <V excludes pre-releases of V unless V is one itself.
		if !s.isPrerelease() && v.isPrerelease() && compareVersions(v.base(), s.base()) == 0 {
			return false, nil
		}
		return true, nil
	case ">":
		if compareVersions(v, s) <= 0 {
			return false, nil
		}
		// >V excludes post-releases of V unless V is one, and local
		// versions of V.
		if !s.isPostrelease() && v.isPostrelease() && compareVersions(v.base(), s.base()) == 0 {
			return false, nil
		}
		if len(v.local) > 0 && compareVersions(v.base(), s.base()) == 0 {
			return false, nil
		}
		return true, nil
	}
	return false, fmt.Errorf("unknown operator %q", op)
}

// prefixMatch implements ==V.*: same epoch, and v's release (padded with
// zeros) starts with prefix's release.
func prefixMatch(prefix, v *version) bool {
	if cmpNum(prefix.epoch, v.epoch) != 0 {
		return false
	}
	for i, p := range prefix.release {
		x := "0"
		if i < len(v.release) {
			x = v.release[i]
		}
		if cmpNum(p, x) != 0 {
			return false
		}
	}
	return true
}
