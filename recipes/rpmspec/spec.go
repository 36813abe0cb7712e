package rpmspec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

type section int

const (
	secPreamble section = iota // main preamble or a %package section
	secOther                   // %description, %prep, %files, scriptlets, ...
)

// cond is one open %if.
type cond struct {
	line    int
	outer   bool // were we reading when the %if was seen
	active  bool // the current branch is taken
	taken   bool // some branch was taken already
	sawElse bool
}

type parser struct {
	file   string
	opts   Options
	arch   string
	e      *engine
	line   int
	conds  []cond
	sec    section
	pkg    string // current package name
	main   string // main package name
	mainOK bool
	inMain bool
	raw    bool // input is already expanded (rpmspec --parse output)

	buildArch   string
	selfProvide string
	res         Result
	seen        map[string]map[string]bool
}

func newParser(file string, opts Options, arch string) *parser {
	p := &parser{file: file, opts: opts, arch: arch, e: newEngine(), inMain: true,
		seen: map[string]map[string]bool{}}
	p.setupMacros()
	return p
}

func (p *parser) errorf(err error, format string, args ...any) error {
	return &Error{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...), Err: err}
}

// locate turns an expansion error into a located *Error.
func (p *parser) locate(err error) error {
	var x *expandError
	if errors.As(err, &x) {
		return &Error{File: p.file, Line: p.line, Msg: x.msg, Err: x.err}
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	return &Error{File: p.file, Line: p.line, Msg: err.Error(), Err: err}
}

func (p *parser) reading() bool {
	return len(p.conds) == 0 || p.conds[len(p.conds)-1].active
}

// needMore reports whether a line continues on the next physical line:
// a trailing backslash or an unclosed %{ or %( (rpm's
// copyNextLineFromOFI).
func needMore(s string) bool {
	var n nesting
	nc := false
	for i := 0; i < len(s); {
		if s[i] == '\\' {
			// Only a backslash ending the text continues it; earlier
			// escaped newlines were joined already.
			nc = nc || i+1 == len(s)
			i += 2
			continue
		}
		i += n.scan(s, i)
	}
	return n.open() || nc
}

// nesting follows rpm's counting of open %{...}, %(...) and, in macro
// bodies, %[...] groups, where plain braces, parentheses and brackets
// count only inside a group of their kind.
type nesting struct {
	brace, paren, bracket int
	brackets              bool // count %[ ] too
}

// scan accounts for the text at s[i] and returns how many bytes it took:
// 2 for %{, %(, %[ and %%, else 1.
func (n *nesting) scan(s string, i int) int {
	switch c := s[i]; c {
	case '%':
		if i+1 < len(s) {
			switch s[i+1] {
			case '{':
				n.brace++
				return 2
			case '(':
				n.paren++
				return 2
			case '[':
				if n.brackets {
					n.bracket++
					return 2
				}
			case '%':
				return 2
			}
		}
	case '{', '}':
		n.brace = nest(n.brace, c == '{')
	case '(', ')':
		n.paren = nest(n.paren, c == '(')
	case '[', ']':
		n.bracket = nest(n.bracket, c == '[')
	}
	return 1
}

// nest counts an opening or closing bracket into an open nesting depth
// (0: not inside such a bracket, nothing to count).
func nest(depth int, open bool) int {
	switch {
	case depth == 0:
		return 0
	case open:
		return depth + 1
	}
	return depth - 1
}

func (n *nesting) open() bool { return n.brace > 0 || n.paren > 0 || n.bracket > 0 }

func (p *parser) run(src string) error {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	lines := strings.Split(src, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i := 0; i < len(lines); {
		p.line = i + 1
		text := lines[i]
		i++
		if !p.raw {
			for needMore(text) && i < len(lines) {
				text += "\n" + lines[i]
				i++
			}
		}
		if err := p.logical(text); err != nil {
			return err
		}
	}
	if len(p.conds) > 0 {
		p.line = p.conds[len(p.conds)-1].line
		return p.errorf(nil, "unclosed %%if")
	}
	return nil
}

// condKeyword returns the conditional directive a line starts with.
func condKeyword(s string) (kw, rest string) {
	t := strings.TrimLeft(s, " \t")
	if !strings.HasPrefix(t, "%") {
		return "", ""
	}
	j := 1
	for j < len(t) && isAlpha(t[j]) {
		j++
	}
	switch w := t[1:j]; w {
	case "if", "ifarch", "ifnarch", "ifos", "ifnos", "elif", "elifarch", "elifnarch", "elifos", "elifnos", "else", "endif":
		if j < len(t) && !strings.ContainsRune(" \t\n", rune(t[j])) {
			return "", ""
		}
		return w, t[j:]
	}
	return "", ""
}

func (p *parser) logical(text string) error {
	if p.raw {
		return p.content(text)
	}
	if kw, rest := condKeyword(text); kw != "" {
		return p.conditional(kw, rest, true)
	}
	if !p.reading() {
		return nil
	}
	if strings.Contains(text, "{{{") && strings.Contains(text, "}}}") {
		return p.errorf(ErrRPKGTemplate, "%s: this is an rpkg template: render it first (rpkg spec --outdir DIR) and name the rendered spec in deps", strings.TrimSpace(text))
	}
	t := strings.TrimLeft(text, " \t")
	if strings.HasPrefix(t, "%include") && (len(t) == 8 || t[8] == ' ' || t[8] == '\t') {
		return p.errorf(ErrUnsupported, "cannot evaluate %q: %%include is not supported; use --spec-eval=rpmspec", strings.TrimSpace(t))
	}
	x, err := p.e.expand(text)
	if err != nil {
		return p.locate(err)
	}
	if p.e.dynamic {
		p.res.Dynamic = true
	}
	for _, piece := range strings.Split(x, "\n") {
		if kw, rest := condKeyword(piece); kw != "" {
			if err := p.conditional(kw, rest, false); err != nil {
				return err
			}
			continue
		}
		if !p.reading() {
			continue
		}
		if err := p.content(piece); err != nil {
			return err
		}
	}
	return nil
}

// conditional handles %if and friends; rest is the text after the
// keyword, still to be expanded when expand is set.
func (p *parser) conditional(kw, rest string, expand bool) error {
	switch kw {
	case "if", "ifarch", "ifnarch", "ifos", "ifnos":
		outer := p.reading()
		c := cond{line: p.line, outer: outer}
		if outer {
			v, err := p.test(kw, rest, expand)
			if err != nil {
				return err
			}
			c.active, c.taken = v, v
		}
		p.conds = append(p.conds, c)
		return nil
	case "elif", "elifarch", "elifnarch", "elifos", "elifnos":
		if len(p.conds) == 0 {
			return p.errorf(nil, "%%%s with no %%if", kw)
		}
		c := &p.conds[len(p.conds)-1]
		if c.sawElse {
			return p.errorf(nil, "%%%s after %%else", kw)
		}
		c.active = false
		if c.outer && !c.taken {
			v, err := p.test("if"+strings.TrimPrefix(kw, "elif"), rest, expand)
			if err != nil {
				return err
			}
			c.active, c.taken = v, v
		}
		return nil
	case "else":
		if len(p.conds) == 0 {
			return p.errorf(nil, "%%else with no %%if")
		}
		c := &p.conds[len(p.conds)-1]
		if c.sawElse {
			return p.errorf(nil, "%%else after %%else")
		}
		c.sawElse = true
		c.active = c.outer && !c.taken
		c.taken = true
		return nil
	case "endif":
		if len(p.conds) == 0 {
			return p.errorf(nil, "%%endif with no %%if")
		}
		p.conds = p.conds[:len(p.conds)-1]
		return nil
	}
	return nil
}

func (p *parser) test(kw, rest string, expand bool) (bool, error) {
	// Conditionals produced by a macro expansion are not expanded again
	// (rpm evaluates them as they are).
	if expand {
		x, err := p.e.expand(rest)
		if err != nil {
			return false, p.locate(err)
		}
		rest = x
	}
	if kw == "if" {
		if strings.TrimSpace(rest) == "" {
			return false, p.errorf(nil, "bad %%if condition: empty expression")
		}
		v, err := evalExpr(rest)
		if err != nil {
			return false, p.errorf(err, "bad %%if condition %q: %v", strings.TrimSpace(rest), err)
		}
		return v.truth(), nil
	}
	want := p.arch
	if strings.HasSuffix(kw, "os") {
		want = "linux"
	}
	match := false
	for _, f := range strings.FieldsFunc(rest, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\n' }) {
		if strings.EqualFold(f, want) {
			match = true
		}
	}
	if strings.HasPrefix(kw, "ifn") {
		match = !match
	}
	return match, nil
}

// sectionNames are rpm's spec parts; a line starting with one of them
// (followed by white space or end of line) opens that part.
var sectionNames = []string{
	"package", "prep", "build", "install", "check", "clean", "conf",
	"preun", "postun", "pretrans", "posttrans", "preuntrans", "postuntrans", "pre", "post",
	"files", "changelog", "description", "triggerpostun", "triggerprein",
	"triggerun", "triggerin", "trigger", "verifyscript", "sepolicy",
	"filetriggerin", "filetrigger", "filetriggerun", "filetriggerpostun",
	"transfiletriggerin", "transfiletrigger", "transfiletriggerun",
	"transfiletriggerpostun", "end", "patchlist", "sourcelist",
	"generate_buildrequires",
}

func sectionOf(line string) (string, string) {
	if !strings.HasPrefix(line, "%") {
		return "", ""
	}
	for _, s := range sectionNames {
		if len(line) < len(s)+1 || !strings.EqualFold(line[1:len(s)+1], s) {
			continue
		}
		if len(line) == len(s)+1 || strings.ContainsRune(" \t\r\n", rune(line[len(s)+1])) {
			return s, line[len(s)+1:]
		}
	}
	return "", ""
}

func (p *parser) content(line string) error {
	if s, rest := sectionOf(line); s != "" {
		return p.startSection(s, rest)
	}
	if p.sec != secPreamble {
		return nil
	}
	t := strings.TrimSpace(line)
	if t == "" || strings.HasPrefix(t, "#") {
		return nil
	}
	return p.tag(t)
}

func (p *parser) startSection(s, rest string) error {
	p.sec = secOther
	switch s {
	case "generate_buildrequires":
		p.res.Dynamic = true
	case "package":
		f := strings.Fields(rest)
		var name string
		switch {
		case len(f) == 2 && f[0] == "-n":
			name = f[1]
		case len(f) == 1 && f[0] != "-n":
			if !p.mainOK {
				return p.errorf(nil, "%%package %q before Name", f[0])
			}
			name = p.main + "-" + f[0]
		default:
			return p.errorf(nil, "bad %%package line: %q", strings.TrimSpace(rest))
		}
		for _, n := range p.res.Packages {
			if n == name {
				return p.errorf(nil, "package already exists: %q", name)
			}
		}
		p.res.Packages = append(p.res.Packages, name)
		p.pkg = name
		p.inMain = false
		p.sec = secPreamble
	}
	return nil
}

// preambleTags are the tags rpm accepts in a preamble (lower case).
var preambleTags = []string{
	"name", "version", "release", "epoch", "summary", "license", "sourcelicense",
	"distribution", "disturl", "vendor", "group", "packager", "url", "vcs",
	"source", "patch", "nosource", "nopatch", "excludearch", "exclusivearch",
	"excludeos", "exclusiveos", "icon", "provides", "requires", "recommends",
	"suggests", "supplements", "enhances", "prereq", "conflicts", "obsoletes",
	"prefixes", "prefix", "buildroot", "buildarchitectures", "buildarch",
	"buildconflicts", "buildprereq", "buildrequires", "autoreqprov", "autoreq",
	"autoprov", "docdir", "disttag", "bugurl", "translationurl",
	"upstreamreleases", "orderwithrequires", "removepathpostfixes",
	"modularitylabel",
}

var macroTags = map[string]bool{
	"name": true, "version": true, "release": true, "epoch": true, "summary": true,
	"license": true, "url": true, "group": true, "vendor": true, "packager": true,
	"distribution": true, "bugurl": true, "vcs": true, "disttag": true,
}

// splitTag splits "Tag(qual): value".
func splitTag(line string) (tag, qual, value string, ok bool) {
	i := 0
	for i < len(line) && (isAlpha(line[i])) {
		i++
	}
	word := strings.ToLower(line[:i])
	found := ""
	for _, t := range preambleTags {
		if word == t {
			found = t
			break
		}
	}
	if found == "" {
		return "", "", "", false
	}
	if found == "source" || found == "patch" || found == "nosource" || found == "nopatch" {
		for i < len(line) && isDigit(line[i]) {
			i++
		}
	}
	rest := line[i:]
	if strings.HasPrefix(rest, "(") {
		j := strings.IndexByte(rest, ')')
		if j < 0 {
			return "", "", "", false
		}
		qual = rest[1:j]
		if strings.ContainsAny(qual, " \t") {
			return "", "", "", false
		}
		rest = rest[j+1:]
	}
	rest = strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(rest, ":") {
		return "", "", "", false
	}
	return found, qual, strings.TrimSpace(rest[1:]), true
}

func (p *parser) tag(line string) error {
	tag, qual, value, ok := splitTag(line)
	if !ok {
		return p.errorf(nil, "unknown tag: %q", line)
	}
	if value == "" {
		return p.errorf(nil, "empty tag: %q", line)
	}
	if macroTags[tag] {
		p.e.set(tag, value)
		if p.inMain {
			p.e.set(strings.ToUpper(tag), value)
		}
	}
	switch tag {
	case "name":
		if !p.inMain {
			return p.errorf(nil, "name tag is not allowed in %%package: %q", line)
		}
		if strings.ContainsAny(value, " \t") {
			return p.errorf(nil, "Name %q: tag takes single token only", value)
		}
		if !p.mainOK {
			p.res.Packages = append([]string{value}, p.res.Packages...)
		}
		p.main, p.mainOK, p.pkg = value, true, value
	case "buildarch", "buildarchitectures":
		if p.inMain {
			f := strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
			if len(f) != 1 {
				return p.errorf(ErrUnsupported, "BuildArch %q names several architectures; use --spec-eval=rpmspec", value)
			}
			p.buildArch = f[0]
		}
	case "requires", "prereq":
		scriptlet := tag == "prereq"
		if qual != "" {
			s, err := p.qualifiers(qual)
			if err != nil {
				return err
			}
			scriptlet = scriptlet || s
		}
		if scriptlet {
			return p.deps("scriptlet", &p.res.Scriptlet, value)
		}
		return p.deps("requires", &p.res.Requires, value)
	case "buildrequires", "buildprereq":
		return p.deps("buildrequires", &p.res.BuildRequires, value)
	case "provides":
		// rpm folds "Provides: <pkg> = <evr>" into the package's
		// automatic self-provide.
		evr, err := p.e.expand("%{?epoch:%{epoch}:}%{version}-%{release}")
		if err != nil {
			return p.locate(err)
		}
		p.selfProvide = p.pkg + " = " + evr
		return p.deps("provides", &p.res.Provides, value)
	}
	return nil
}

// qualifiers parses Requires(...) and reports whether it makes the
// dependency a scriptlet one.
func (p *parser) qualifiers(q string) (bool, error) {
	script := false
	for _, f := range strings.FieldsFunc(q, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		switch strings.ToLower(f) {
		case "pre", "post", "preun", "postun", "pretrans", "posttrans", "preuntrans", "postuntrans", "verify", "interp", "prereq":
			script = true
		case "meta", "missingok":
		default:
			return false, p.errorf(nil, "bad requires qualifier %q in %q", f, "Requires("+q+")")
		}
	}
	return script, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
func isSep(c byte) bool { return isSpace(c) || c == ',' }

var depOps = map[string]string{"<": "<", "<=": "<=", "=<": "<=", "=": "=", "==": "=", ">": ">", ">=": ">=", "=>": ">="}

// deps parses a dependency list like rpm's parseRCPOT.
func (p *parser) deps(kind string, dst *[]Dep, value string) error {
	r := value
	for {
		for r != "" && isSep(r[0]) {
			r = r[1:]
		}
		if r == "" {
			return nil
		}
		var name string
		if r[0] == '(' {
			end := matchClose(r, 0, '(', ')')
			if end < 0 {
				return p.errorf(nil, "unterminated rich dependency: %q", r)
			}
			rich, err := normalizeRich(r[:end+1])
			if err != nil {
				return p.errorf(err, "bad rich dependency %q: %v", r[:end+1], err)
			}
			if kind == "provides" {
				return p.errorf(nil, "no rich dependencies allowed for this type: %q", r[:end+1])
			}
			p.add(kind, dst, rich)
			r = r[end+1:]
			continue
		}
		c := r[0]
		if c < 0x80 && !(isAlnum(c) || c == '_' || c == '/') {
			return p.errorf(nil, "dependency tokens must begin with alpha-numeric, '_' or '/': %q", value)
		}
		j := 0
		for j < len(r) && !isSep(r[j]) {
			j++
		}
		name, r = r[:j], r[j:]
		// A comparison operator binds the next token.
		v := r
		for v != "" && isSep(v[0]) {
			v = v[1:]
		}
		k := 0
		for k < len(v) && !isSep(v[k]) {
			k++
		}
		if op, ok := depOps[v[:k]]; ok && k > 0 {
			v = v[k:]
			for v != "" && isSep(v[0]) {
				v = v[1:]
			}
			m := 0
			for m < len(v) && !isSep(v[m]) {
				m++
			}
			if m == 0 {
				return p.errorf(nil, "version required: %q", value)
			}
			evr := v[:m]
			if name[0] == '/' {
				return p.errorf(nil, "versioned file name not permitted: %q", value)
			}
			if err := checkEVR(evr); err != nil {
				return p.errorf(nil, "invalid version %q: %v", evr, err)
			}
			name = name + " " + op + " " + evr
			r = v[m:]
		}
		p.add(kind, dst, name)
	}
}

func checkEVR(evr string) error {
	for i := 0; i < len(evr); i++ {
		c := evr[i]
		if !isAlnum(c) && !strings.ContainsRune(".-_+:%{}~^", rune(c)) {
			return fmt.Errorf("illegal char %q", string(c))
		}
	}
	if e, _, ok := strings.Cut(evr, ":"); ok {
		for i := 0; i < len(e); i++ {
			if !isDigit(e[i]) {
				return errors.New("epoch must be unsigned integer")
			}
		}
	}
	return nil
}

// normalizeRich checks the balance of a rich dependency and collapses
// its white space the way rpm prints it.
func normalizeRich(s string) (string, error) {
	var b strings.Builder
	depth := 0
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpace(c) {
			space = true
			continue
		}
		if c == ',' {
			return "", errors.New("unexpected \",\"")
		}
		if space && b.Len() > 0 && !strings.HasSuffix(b.String(), "(") && c != ')' {
			b.WriteByte(' ')
		}
		space = false
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		}
		b.WriteByte(c)
	}
	if depth != 0 {
		return "", errors.New("unbalanced parentheses")
	}
	out := b.String()
	if out == "()" {
		return "", errors.New("empty rich dependency")
	}
	return out, nil
}

func (p *parser) add(kind string, dst *[]Dep, name string) {
	if kind == "provides" && name == p.selfProvide {
		return
	}
	m := p.seen[kind]
	if m == nil {
		m = map[string]bool{}
		p.seen[kind] = m
	}
	if m[name] {
		return
	}
	m[name] = true
	*dst = append(*dst, Dep{Name: name, Line: p.line})
}

func (p *parser) result() *Result {
	r := p.res
	if r.Packages == nil {
		r.Packages = []string{}
	}
	return &r
}

// sortedNames returns the dependency names sorted, for comparisons that
// ignore order and lines.
func sortedNames(deps []Dep) []string {
	out := make([]string, 0, len(deps))
	for _, d := range deps {
		out = append(out, d.Name)
	}
	sort.Strings(out)
	return out
}
