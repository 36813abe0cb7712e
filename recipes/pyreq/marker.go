package pyreq

// PEP 508 environment markers: parsing and evaluation.

import (
	"fmt"
	"strings"

	"github.com/strata-build/strata/recipes/targets"
)

// Env holds the values of the PEP 508 marker variables for a target.
type Env struct {
	PythonVersion                string // python_version, e.g. "3.9"
	PythonFullVersion            string // python_full_version and implementation_version, e.g. "3.9.0"
	SysPlatform                  string // sys_platform, "linux"
	PlatformSystem               string // platform_system, "Linux"
	OSName                       string // os_name, "posix"
	ImplementationName           string // implementation_name, "cpython"
	PlatformPythonImplementation string // platform_python_implementation, "CPython"
	PlatformMachine              string // platform_machine, "x86_64"
	PlatformRelease              string // platform_release (kernel release); "" when unknown
	PlatformVersion              string // platform_version; "" when unknown
	// Extra is the extra being installed (extra == "..." markers match it,
	// compared after PEP 503 normalisation); "" for the base requirements.
	Extra string
}

// EnvFor returns the marker environment of a target's platform python on
// x86_64 Linux: python_version is t.PythonVersion and python_full_version
// is that plus ".0" (the micro version is not tracked per target).
func EnvFor(t targets.Target) Env {
	return Env{
		PythonVersion:                t.PythonVersion,
		PythonFullVersion:            t.PythonVersion + ".0",
		SysPlatform:                  "linux",
		PlatformSystem:               "Linux",
		OSName:                       "posix",
		ImplementationName:           "cpython",
		PlatformPythonImplementation: "CPython",
		PlatformMachine:              "x86_64",
	}
}

// lookup returns the value of a marker variable.
func (e Env) lookup(name string) string {
	switch name {
	case "python_version":
		return e.PythonVersion
	case "python_full_version", "implementation_version":
		return e.PythonFullVersion
	case "sys_platform":
		return e.SysPlatform
	case "platform_system":
		return e.PlatformSystem
	case "os_name":
		return e.OSName
	case "implementation_name":
		return e.ImplementationName
	case "platform_python_implementation":
		return e.PlatformPythonImplementation
	case "platform_machine":
		return e.PlatformMachine
	case "platform_release":
		return e.PlatformRelease
	case "platform_version":
		return e.PlatformVersion
	case "extra":
		return e.Extra
	}
	return ""
}

var markerVars = map[string]bool{
	"python_version": true, "python_full_version": true, "implementation_version": true,
	"sys_platform": true, "platform_system": true, "os_name": true,
	"implementation_name": true, "platform_python_implementation": true,
	"platform_machine": true, "platform_release": true, "platform_version": true,
	"extra": true,
}

// Applies reports whether the requirement's marker holds in env. A
// requirement without a marker always applies. Comparisons follow
// pypa/packaging: when the right-hand side and the left-hand side are valid
// PEP 440 versions the comparison uses PEP 440 semantics (so
// python_version >= "3.10" holds for 3.14), otherwise ==, !=, <, <=, >, >=
// compare strings; "in" and "not in" test for substrings; === compares
// strings case-insensitively; extra values are compared after PEP 503
// normalisation.
func (r Requirement) Applies(env Env) (bool, error) {
	if r.Marker == "" {
		return true, nil
	}
	m, err := parseMarker(r.Marker)
	if err == nil {
		var ok bool
		if ok, err = m.eval(env); err == nil {
			return ok, nil
		}
	}
	e := &Error{File: r.File, Line: r.Line, Msg: fmt.Sprintf("marker of %q: %s", r.Name, err), Err: err}
	return false, e
}

type markerNode interface {
	eval(Env) (bool, error)
}

type markerBool struct {
	and  bool
	l, r markerNode
}

func (n *markerBool) eval(env Env) (bool, error) {
	l, err := n.l.eval(env)
	if err != nil {
		return false, err
	}
	if n.and && !l || !n.and && l {
		return l, nil
	}
	return n.r.eval(env)
}

// markerValue is a variable name or a string literal.
type markerValue struct {
	name    string // variable name, or "" for a literal
	literal string
}

func (v markerValue) value(env Env) string {
	if v.name != "" {
		return env.lookup(v.name)
	}
	return v.literal
}

type markerCmp struct {
	l, r markerValue
	op   string
}

func (n *markerCmp) eval(env Env) (bool, error) {
	l, r := n.l.value(env), n.r.value(env)
	if n.l.name == "extra" || n.r.name == "extra" {
		l, r = Normalize(l), Normalize(r)
	}
	switch n.op {
	case "in":
		return strings.Contains(r, l), nil
	case "not in":
		return !strings.Contains(r, l), nil
	case "===":
		return strings.EqualFold(l, r), nil
	}
	if checkSpecifier(n.op, r) == nil {
		if lv, err := parseVersion(l); err == nil {
			return specContains(n.op, r, lv)
		}
	}
	switch n.op {
	case "==":
		return l == r, nil
	case "!=":
		return l != r, nil
	case "<":
		return l < r, nil
	case "<=":
		return l <= r, nil
	case ">":
		return l > r, nil
	case ">=":
		return l >= r, nil
	}
	return false, fmt.Errorf("cannot compare %q %s %q: not versions", l, n.op, r)
}

// maxMarkerDepth bounds parenthesis nesting.
const maxMarkerDepth = 64

type markerParser struct {
	s     string
	i     int
	depth int
}

// parseMarker parses a PEP 508 marker expression:
//
//	marker = and_expr ("or" and_expr)*
//	and_expr = atom ("and" atom)*
//	atom = "(" marker ")" | value op value
//	value = variable | 'string' | "string"
//	op = "~=" | "==" | "!=" | "<=" | ">=" | "<" | ">" | "===" | "in" | "not in"
func parseMarker(s string) (markerNode, error) {
	p := &markerParser{s: s}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.i < len(p.s) {
		return nil, fmt.Errorf("unexpected %q in marker", p.rest())
	}
	return n, nil
}

func (p *markerParser) rest() string {
	r := p.s[p.i:]
	if len(r) > 40 {
		r = r[:40] + "..."
	}
	return r
}

func (p *markerParser) skipWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// keyword consumes kw if it is the next word.
func (p *markerParser) keyword(kw string) bool {
	p.skipWS()
	if !strings.HasPrefix(p.s[p.i:], kw) {
		return false
	}
	end := p.i + len(kw)
	if end < len(p.s) && (isAlnum(p.s[end]) || p.s[end] == '_' || p.s[end] == '.') {
		return false
	}
	p.i = end
	return true
}

func (p *markerParser) or() (markerNode, error) {
	n, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		n = &markerBool{l: n, r: r}
	}
	return n, nil
}

func (p *markerParser) and() (markerNode, error) {
	n, err := p.atom()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.atom()
		if err != nil {
			return nil, err
		}
		n = &markerBool{and: true, l: n, r: r}
	}
	return n, nil
}

func (p *markerParser) atom() (markerNode, error) {
	p.skipWS()
	if p.i < len(p.s) && p.s[p.i] == '(' {
		if p.depth++; p.depth > maxMarkerDepth {
			return nil, fmt.Errorf("marker nested too deeply")
		}
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		p.skipWS()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, fmt.Errorf(`missing ")" in marker`)
		}
		p.i++
		p.depth--
		return n, nil
	}
	l, err := p.value()
	if err != nil {
		return nil, err
	}
	op, err := p.markerOp()
	if err != nil {
		return nil, err
	}
	r, err := p.value()
	if err != nil {
		return nil, err
	}
	return &markerCmp{l: l, op: op, r: r}, nil
}

func (p *markerParser) value() (markerValue, error) {
	p.skipWS()
	if p.i >= len(p.s) {
		return markerValue{}, fmt.Errorf("expected a marker variable or string at end of marker")
	}
	if q := p.s[p.i]; q == '"' || q == '\'' {
		end := strings.IndexByte(p.s[p.i+1:], q)
		if end < 0 {
			return markerValue{}, fmt.Errorf("unterminated string in marker")
		}
		lit := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		return markerValue{literal: lit}, nil
	}
	start := p.i
	for p.i < len(p.s) && (isAlnum(p.s[p.i]) || p.s[p.i] == '_' || p.s[p.i] == '.') {
		p.i++
	}
	name := p.s[start:p.i]
	if name == "" {
		return markerValue{}, fmt.Errorf("expected a marker variable or string, found %q", p.rest())
	}
	if !markerVars[name] {
		return markerValue{}, fmt.Errorf("unknown marker variable %q", name)
	}
	return markerValue{name: name}, nil
}

func (p *markerParser) markerOp() (string, error) {
	p.skipWS()
	for _, op := range specOps {
		if strings.HasPrefix(p.s[p.i:], op) {
			p.i += len(op)
			return op, nil
		}
	}
	if p.keyword("in") {
		return "in", nil
	}
	save := p.i
	if p.keyword("not") && p.keyword("in") {
		return "not in", nil
	}
	p.i = save
	if p.i >= len(p.s) {
		return "", fmt.Errorf("expected a comparison operator at end of marker")
	}
	return "", fmt.Errorf("expected a comparison operator, found %q", p.rest())
}
