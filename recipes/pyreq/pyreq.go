// Package pyreq reads the dependency metadata of Python projects
// (setup.cfg, pyproject.toml, requirements.txt), parses PEP 508
// requirements, evaluates their environment markers for a build target and
// converts them to Fedora RPM dependency strings such as
// "python3dist(requests) >= 2.3", the way Fedora's pyproject-rpm-macros
// (pyproject_buildrequires.py and pyproject_convert.py) does.
//
// Typical use:
//
//	md, err := pyreq.ReadPyproject("pyproject.toml", src, readFile)
//	env := pyreq.EnvFor(target)
//	for _, r := range md.Requires {
//		if ok, err := r.Applies(env); err != nil || !ok {
//			continue // handle err
//		}
//		deps, err := r.RPMDeps()
//		...
//	}
package pyreq

import (
	"fmt"
	"strings"
)

// Error is an error tied to a place in a file. Line is 1-based; 0 means
// the error concerns the whole file (or no file, for ParseRequirement).
type Error struct {
	File string
	Line int
	Msg  string
	// Err is the underlying error, if any; Msg already includes its text.
	Err error
}

// Error returns "FILE:LINE: msg", dropping the parts that are unknown.
func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return e.File + ": " + e.Msg
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// errAt returns a copy of a requirement parse error placed at file:line. Other
// errors are wrapped.
func errAt(file string, line int, err error) *Error {
	if e, ok := err.(*Error); ok {
		return &Error{File: file, Line: line, Msg: e.Msg, Err: e.Err}
	}
	return &Error{File: file, Line: line, Msg: err.Error(), Err: err}
}

// Requirement is one PEP 508 dependency specification.
type Requirement struct {
	// Name is the project name as written; see Normalize.
	Name string
	// Extras are the requested extras as written, in order.
	Extras []string
	// Specifiers are the version clauses, in order.
	Specifiers []Specifier
	// Marker is the environment marker after ";", as written (trimmed),
	// or "".
	Marker string
	// URL is the direct reference after "@", or "".
	URL string
	// File is the file the requirement was read from (the name given to
	// the reader, or the path given to readFile for included files); ""
	// for ParseRequirement.
	File string
	// Line is the 1-based line in File where the requirement starts; 0 for
	// ParseRequirement.
	Line int
}

// String formats the requirement in PEP 508 syntax (without spaces around
// operators).
func (r Requirement) String() string {
	var b strings.Builder
	b.WriteString(r.Name)
	if len(r.Extras) > 0 {
		b.WriteString("[" + strings.Join(r.Extras, ",") + "]")
	}
	if r.URL != "" {
		b.WriteString(" @ " + r.URL)
		if r.Marker != "" {
			b.WriteString(" ")
		}
	} else {
		for i, s := range r.Specifiers {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(s.String())
		}
	}
	if r.Marker != "" {
		b.WriteString("; " + r.Marker)
	}
	return b.String()
}

// Normalize returns the PEP 503 normalised form of a project (or extra)
// name: lower case, with each run of "-", "_" and "." replaced by one "-".
func Normalize(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	if sep {
		b.WriteByte('-')
	}
	return b.String()
}

// ParseRequirement parses a PEP 508 requirement such as
// `requests[socks] >= 2.3, < 3; python_version >= "3.8"` or
// `pkg @ https://example.com/pkg.zip ; os_name == "posix"`. Version
// clauses are validated as PEP 440 specifiers and the marker is checked
// for syntax and known variables. Errors are *Error values with File and
// Line unset and a message of the form `invalid requirement "...": ...`.
func ParseRequirement(s string) (Requirement, error) {
	p := &reqParser{s: s}
	r, err := p.parse()
	if err != nil {
		return Requirement{}, &Error{Msg: fmt.Sprintf("invalid requirement %q: %s", s, err)}
	}
	return r, nil
}

type reqParser struct {
	s string
	i int
}

func (p *reqParser) eof() bool { return p.i >= len(p.s) }

func (p *reqParser) skipWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// ident scans a PEP 508 identifier (letters, digits, "-", "_", ".",
// starting and ending with a letter or digit). what names it in errors.
func (p *reqParser) ident(what string) (string, error) {
	start := p.i
	for p.i < len(p.s) && (isAlnum(p.s[p.i]) || p.s[p.i] == '-' || p.s[p.i] == '_' || p.s[p.i] == '.') {
		p.i++
	}
	id := p.s[start:p.i]
	if id == "" {
		if p.eof() {
			return "", fmt.Errorf("expected %s", what)
		}
		return "", fmt.Errorf("expected %s, found %q", what, p.rest())
	}
	if !isAlnum(id[0]) || !isAlnum(id[len(id)-1]) {
		return "", fmt.Errorf("%s %q must start and end with a letter or digit", what, id)
	}
	return id, nil
}

// rest is the unparsed input, shortened for messages.
func (p *reqParser) rest() string {
	r := p.s[p.i:]
	if len(r) > 40 {
		r = r[:40] + "..."
	}
	return r
}

// op returns the comparison operator at the cursor, or "".
func (p *reqParser) op() string {
	for _, op := range specOps {
		if strings.HasPrefix(p.s[p.i:], op) {
			return op
		}
	}
	return ""
}

func (p *reqParser) parse() (Requirement, error) {
	var r Requirement
	var err error
	p.skipWS()
	if p.eof() {
		return r, fmt.Errorf("missing project name")
	}
	if r.Name, err = p.ident("a project name"); err != nil {
		return r, err
	}
	p.skipWS()
	if !p.eof() && p.s[p.i] == '[' {
		if r.Extras, err = p.extras(); err != nil {
			return r, err
		}
		p.skipWS()
	}
	if !p.eof() && p.s[p.i] == '@' {
		p.i++
		p.skipWS()
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != '\t' {
			p.i++
		}
		if r.URL = p.s[start:p.i]; r.URL == "" {
			return r, fmt.Errorf(`expected a url after "@"`)
		}
		p.skipWS()
		if !p.eof() && p.s[p.i] != ';' {
			return r, fmt.Errorf("unexpected %q after url", p.rest())
		}
	} else if r.Specifiers, err = p.specifiers(); err != nil {
		return r, err
	}
	p.skipWS()
	if p.eof() {
		return r, nil
	}
	if p.s[p.i] != ';' {
		if p.op() != "" {
			return r, fmt.Errorf(`missing "," before %q`, p.rest())
		}
		return r, fmt.Errorf("unexpected %q", p.rest())
	}
	r.Marker = strings.TrimSpace(p.s[p.i+1:])
	if r.Marker == "" {
		return r, fmt.Errorf(`expected a marker after ";"`)
	}
	if _, err := parseMarker(r.Marker); err != nil {
		return r, err
	}
	return r, nil
}

func (p *reqParser) extras() ([]string, error) {
	p.i++ // [
	var extras []string
	p.skipWS()
	if !p.eof() && p.s[p.i] == ']' {
		p.i++
		return nil, nil
	}
	for {
		p.skipWS()
		e, err := p.ident("an extra name")
		if err != nil {
			return nil, err
		}
		extras = append(extras, e)
		p.skipWS()
		if p.eof() {
			return nil, fmt.Errorf(`missing "]" after extras`)
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return extras, nil
		default:
			return nil, fmt.Errorf(`expected "," or "]" in extras, found %q`, p.rest())
		}
	}
}

func (p *reqParser) specifiers() ([]Specifier, error) {
	paren := false
	if !p.eof() && p.s[p.i] == '(' {
		paren = true
		p.i++
		p.skipWS()
	}
	var specs []Specifier
	for p.op() != "" {
		op := p.op()
		p.i += len(op)
		p.skipWS()
		start := p.i
		for p.i < len(p.s) && !strings.ContainsRune(" \t,;)", rune(p.s[p.i])) {
			p.i++
		}
		ver := p.s[start:p.i]
		if err := checkSpecifier(op, ver); err != nil {
			return nil, err
		}
		specs = append(specs, Specifier{Op: op, Version: ver})
		p.skipWS()
		if p.eof() || p.s[p.i] != ',' {
			break
		}
		p.i++
		p.skipWS()
		if p.op() == "" {
			return nil, fmt.Errorf(`expected a version specifier after ","`)
		}
	}
	if !paren && len(specs) == 0 && !p.eof() && strings.IndexByte("<>=!~", p.s[p.i]) >= 0 {
		return nil, fmt.Errorf("invalid operator in %q", p.rest())
	}
	if paren {
		p.skipWS()
		if p.eof() || p.s[p.i] != ')' {
			return nil, fmt.Errorf(`missing ")" after version specifiers`)
		}
		p.i++
	}
	return specs, nil
}
