package pyreq

// Conversion of requirements to RPM dependencies, following Fedora's
// pyproject-rpm-macros:
//
//   - pyproject_buildrequires.py, Requirements.add: the name is PEP 503
//     normalised into python3dist(NAME); with --generate-extras (what the
//     %pyproject_buildrequires macro passes by default) one more dependency
//     python3dist(NAME[extra]) per extra, extras sorted as written then
//     lower-cased; the clauses are sorted by (operator, version) string,
//     converted one by one and joined as "(A with B with C)"; versions must
//     match [a-zA-Z0-9.-]+(\.\*)? ("Unknown character in version").
//   - pyproject_convert.py (from gordonmessmer/pyreq2rpm), convert(): the
//     per-operator rules, see convertClause.
//
// Sources: https://src.fedoraproject.org/rpms/pyproject-rpm-macros
// (pyproject_buildrequires.py, pyproject_convert.py,
// pyproject_buildrequires_testcases.yaml), read via public mirrors.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// fedoraVersionRE is pyproject_buildrequires.py's VERSION_RE: the version
// forms pyproject-rpm-macros knows how to convert. It rejects epochs ("!")
// and local versions ("+").
var fedoraVersionRE = regexp.MustCompile(`^[a-zA-Z0-9.-]+(\.\*)?$`)

// RPMDeps converts the requirement to RPM dependency strings as
// pyproject-rpm-macros does: the first element is for the project itself
// (e.g. "python3dist(requests) >= 2.3" or "(python3dist(x) >= 1 with
// python3dist(x) < 2~~)"), followed by one element per requested extra
// ("python3dist(requests[socks]) >= 2.3"). The marker is not consulted; use
// Applies first. A direct URL requirement ("name @ URL") is simplified to
// its name, as pyproject_buildrequires.py does (with a warning, which is
// the caller's to give). Versions with epochs or local parts, and clauses
// pyproject-rpm-macros rejects (~= with one release number or a wildcard,
// === with a wildcard) are errors.
func (r Requirement) RPMDeps() ([]string, error) {
	fail := func(format string, args ...any) ([]string, error) {
		return nil, &Error{File: r.File, Line: r.Line, Msg: fmt.Sprintf(format, args...)}
	}
	base := Normalize(r.Name)
	names := []string{base}
	extras := slices.Clone(r.Extras)
	slices.Sort(extras)
	seen := map[string]bool{}
	for _, e := range extras {
		e = strings.ToLower(e)
		if !seen[e] {
			seen[e] = true
			names = append(names, base+"["+e+"]")
		}
	}
	specs := slices.Clone(r.Specifiers)
	slices.SortStableFunc(specs, func(a, b Specifier) int {
		if c := strings.Compare(a.Op, b.Op); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	for _, s := range specs {
		if !fedoraVersionRE.MatchString(s.Version) {
			return fail("version %q of %q cannot be converted to rpm: only letters, digits, \".\" and \"-\" are supported", s.Version, r.Name)
		}
	}
	deps := make([]string, 0, len(names))
	for _, n := range names {
		dep := "python3dist(" + n + ")"
		var parts []string
		for _, s := range specs {
			c, err := convertClause(dep, s.Op, s.Version)
			if err != nil {
				return fail("cannot convert %q of %q to rpm: %s", s.String(), r.Name, err)
			}
			parts = append(parts, c)
		}
		switch len(parts) {
		case 0:
			deps = append(deps, dep)
		case 1:
			deps = append(deps, parts[0])
		default:
			deps = append(deps, "("+strings.Join(parts, " with ")+")")
		}
	}
	return deps, nil
}

// convertClause converts one clause for dependency name dep, as
// pyproject_convert.py's convert() does:
//
//	~=V    (dep >= V with dep < U), U = V's release minus its last number,
//	       then the (new) last number incremented; V needs 2+ numbers
//	==V    dep = V
//	==V.*  as ~=V.0
//	===V   dep = V (V verbatim when it is not PEP 440)
//	!=V    (dep < V or dep > V)
//	!=V.*  (dep < V~~ or dep >= V+1), V+1 = last number incremented
//	<V     dep < V~~   (V without pre/dev/post: excludes V's pre-releases)
//	>V     dep > V.0   (V without pre/dev/post: excludes V's post-releases)
//	<=V    dep <= V
//	>=V    dep >= V
//
// where V is printed by rpmVersion.
func convertClause(dep, op, ver string) (string, error) {
	base, wild := strings.CutSuffix(ver, ".*")
	switch op {
	case "~=":
		if wild {
			return "", fmt.Errorf("~= cannot be used with a wildcard")
		}
		v, err := parseVersion(ver)
		if err != nil {
			return "", err
		}
		if len(v.release) < 2 {
			return "", fmt.Errorf("~= needs at least two release numbers")
		}
		upper := &version{epoch: v.epoch, release: slices.Clone(v.release[:len(v.release)-1])}
		upper.release[len(upper.release)-1] = incNum(upper.release[len(upper.release)-1])
		return fmt.Sprintf("(%s >= %s with %s < %s)", dep, rpmVersion(v), dep, rpmVersion(upper)), nil
	case "==":
		if wild {
			return convertClause(dep, "~=", base+".0")
		}
		v, err := parseVersion(ver)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s = %s", dep, rpmVersion(v)), nil
	case "===":
		if wild {
			return "", fmt.Errorf("=== cannot be used with a wildcard")
		}
		if v, err := parseVersion(ver); err == nil {
			return fmt.Sprintf("%s = %s", dep, rpmVersion(v)), nil
		}
		return fmt.Sprintf("%s = %s", dep, ver), nil
	case "!=":
		v, err := parseVersion(base)
		if err != nil {
			return "", err
		}
		if wild {
			next := &version{epoch: v.epoch, release: slices.Clone(v.release)}
			next.release[len(next.release)-1] = incNum(next.release[len(next.release)-1])
			return fmt.Sprintf("(%s < %s~~ or %s >= %s)", dep, rpmVersion(v), dep, rpmVersion(next)), nil
		}
		return fmt.Sprintf("(%s < %s or %s > %s)", dep, rpmVersion(v), dep, rpmVersion(v)), nil
	case "<", ">", "<=", ">=":
		if wild {
			return "", fmt.Errorf("%s cannot be used with a wildcard", op)
		}
		v, err := parseVersion(ver)
		if err != nil {
			return "", err
		}
		s := rpmVersion(v)
		plain := v.preL == "" && !v.dev && !v.post
		if op == "<" && plain {
			s += "~~"
		}
		if op == ">" && plain {
			s += ".0"
		}
		return fmt.Sprintf("%s %s %s", dep, op, s), nil
	}
	return "", fmt.Errorf("unknown operator %q", op)
}

// rpmVersion prints a version as pyproject_convert.py's RpmVersion does:
// "E:" for a non-zero epoch, the release with trailing zeros removed (at
// least one number kept), then only one suffix: "~" + pre-release (a1, b2,
// rc3), else "~~dev" + N, else "^post" + N. The local part is ignored.
func rpmVersion(v *version) string {
	var b strings.Builder
	if v.epoch != "0" {
		b.WriteString(v.epoch + ":")
	}
	rel := v.release
	for len(rel) > 1 && rel[len(rel)-1] == "0" {
		rel = rel[:len(rel)-1]
	}
	b.WriteString(strings.Join(rel, "."))
	switch {
	case v.preL != "":
		b.WriteString("~" + v.preL + v.preN)
	case v.dev:
		b.WriteString("~~dev" + v.devN)
	case v.post:
		b.WriteString("^post" + v.postN)
	}
	return b.String()
}
