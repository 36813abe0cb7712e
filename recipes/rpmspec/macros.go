package rpmspec

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// maxDepth is rpm's limit on nested macro expansion.
const maxDepth = 64

// maxOutput bounds the size of a single expansion, so that exponential
// macro definitions fail instead of exhausting memory.
const maxOutput = 1 << 20

// maxCalls bounds the number of macro calls in one Parse.
const maxCalls = 1 << 18

// maxWork bounds the total bytes produced by expansions in one Parse.
const maxWork = 1 << 25

type macroDef struct {
	body   string
	opts   string
	param  bool
	level  int
	native func(e *engine, args []string) (string, error)
}

// engine is rpm's macro expander (a port of the relevant parts of
// rpmio/macro.c) operating on one spec file.
type engine struct {
	macros map[string][]*macroDef
	level  int
	frames [][]string // names pushed per parametric call level
	calls  int
	work   int
	// dynamic is set when %pyproject_buildrequires is expanded.
	dynamic bool
}

func newEngine() *engine {
	return &engine{macros: map[string][]*macroDef{}}
}

func (e *engine) lookup(name string) *macroDef {
	s := e.macros[name]
	if len(s) == 0 {
		return nil
	}
	return s[len(s)-1]
}

func (e *engine) push(name string, d *macroDef) {
	d.level = e.level
	e.macros[name] = append(e.macros[name], d)
	if e.level > 0 && len(e.frames) > 0 {
		e.frames[len(e.frames)-1] = append(e.frames[len(e.frames)-1], name)
	}
}

func (e *engine) pop(name string) {
	s := e.macros[name]
	if len(s) == 0 {
		return
	}
	if len(s) == 1 {
		delete(e.macros, name)
		return
	}
	e.macros[name] = s[:len(s)-1]
}

// set defines a plain global macro.
func (e *engine) set(name, body string) {
	lvl := e.level
	e.level = 0
	e.push(name, &macroDef{body: body})
	e.level = lvl
}

// expandError is an expansion failure; the line is added by the caller.
type expandError struct {
	msg string
	err error
}

func (x *expandError) Error() string { return x.msg }
func (x *expandError) Unwrap() error { return x.err }

func errf(format string, args ...any) error {
	return &expandError{msg: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) error {
	return &expandError{msg: fmt.Sprintf(format, args...) + "; use --spec-eval=rpmspec", err: ErrUnsupported}
}

// matchClose returns the index of the bracket closing s[open] (nesting
// counted, backslash escapes skipped) or -1.
func matchClose(s string, open int, oc, cc byte) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case oc:
			depth++
		case cc:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func short(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// expand expands every macro in s.
func (e *engine) expand(s string) (string, error) {
	return e.expandDepth(s, 0)
}

func (e *engine) expandDepth(s string, depth int) (string, error) {
	if depth > maxDepth {
		return "", errf("too many levels of recursion in macro expansion")
	}
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var out strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			j := strings.IndexByte(s[i:], '%')
			if j < 0 {
				j = len(s) - i
			}
			out.WriteString(s[i : i+j])
			i += j
			continue
		}
		if out.Len() > maxOutput {
			return "", errf("macro expansion too large")
		}
		if i+1 >= len(s) {
			out.WriteByte('%')
			i++
			continue
		}
		e.calls++
		if e.calls > maxCalls {
			return "", errf("too many macro calls")
		}
		switch n := s[i+1]; n {
		case '%':
			out.WriteByte('%')
			i += 2
			continue
		case '(':
			end := matchClose(s, i+1, '(', ')')
			if end < 0 {
				return "", errf("unterminated %%(: %q", short(s[i:]))
			}
			return "", unsupported("cannot evaluate %q: shell expansion is not supported", short(s[i:end+1]))
		case '[':
			end := matchClose(s, i+1, '[', ']')
			if end < 0 {
				return "", errf("unterminated %%[: %q", short(s[i:]))
			}
			v, err := e.evalExprText(s[i+2:end], depth, true)
			if err != nil {
				return "", err
			}
			out.WriteString(v)
			i = end + 1
			continue
		case '{':
			end := matchClose(s, i+1, '{', '}')
			if end < 0 {
				return "", errf("unterminated %%{: %q", short(s[i:]))
			}
			res, err := e.braced(s[i:end+1], s[i+2:end], depth)
			if err != nil {
				return "", err
			}
			out.WriteString(res)
			i = end + 1
			continue
		}
		res, consumed, err := e.unbraced(s[i:], depth)
		if err != nil {
			return "", err
		}
		out.WriteString(res)
		i += consumed
	}
	e.work += out.Len()
	if out.Len() > maxOutput || e.work > maxWork {
		return "", errf("macro expansion too large")
	}
	return out.String(), nil
}

// evalExprText evaluates an expression; with lazy set macros are
// expanded while parsing (%[...]), otherwise the text is expanded first
// (%{expr:...}).
func (e *engine) evalExprText(src string, depth int, lazy bool) (string, error) {
	var v exprValue
	var err error
	if lazy {
		v, err = evalExprExpand(src, func(s string) (string, error) { return e.expandDepth(s, depth+1) })
	} else {
		var x string
		x, err = e.expandDepth(src, depth+1)
		if err != nil {
			return "", err
		}
		src = x
		v, err = evalExpr(x)
	}
	if err != nil {
		var xe *expandError
		if errors.As(err, &xe) {
			return "", err
		}
		return "", &expandError{msg: fmt.Sprintf("bad expression %q: %v", short(strings.TrimSpace(src)), err), err: err}
	}
	return v.String(), nil
}

// unbraced handles "%name..." starting at s[0]=='%'. It returns the
// output and the number of bytes consumed.
func (e *engine) unbraced(s string, depth int) (string, int, error) {
	i := 1
	neg, chk := false, false
	for i < len(s) && (s[i] == '!' || s[i] == '?') {
		if s[i] == '!' {
			neg = !neg
		} else {
			chk = true
		}
		i++
	}
	start := i
	switch {
	case i < len(s) && (isAlpha(s[i]) || s[i] == '_'):
		for i < len(s) && (isAlnum(s[i]) || s[i] == '_') {
			i++
		}
	case i < len(s) && isDigit(s[i]):
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	case i < len(s) && s[i] == '*':
		i++
		if i < len(s) && s[i] == '*' {
			i++
		}
	case i < len(s) && s[i] == '#':
		i++
	case i+1 < len(s) && s[i] == '-' && isAlpha(s[i+1]):
		i += 2
		if i < len(s) && s[i] == '*' {
			i++
		}
	default:
		// Not a macro: a lone percent sign stays literal.
		return "%", 1, nil
	}
	name := s[start:i]
	if !chk && !neg {
		switch name {
		case "define", "global":
			n, err := e.doDefine(s[i:], name == "global", depth)
			return "", i + n, err
		case "undefine":
			rest, n := restOfLine(s[i:])
			e.pop(strings.TrimSpace(rest))
			return "", i + n, nil
		case "dnl":
			_, n := restOfLine(s[i:])
			return "", i + n, nil
		case "lua", "load", "include", "uncompress", "getenv", "exists", "url2path", "u2p", "S", "P", "F":
			return "", 0, unsupported("cannot evaluate %q: %%%s is not supported", short(firstLine(s)), name)
		}
	}
	d := e.lookup(name)
	if chk {
		if (d != nil) == neg || neg {
			return "", i, nil
		}
	}
	if d == nil {
		return s[:i], i, nil
	}
	if d.param || d.native != nil {
		// The arguments are the rest of the line.
		rest, n := restOfLine(s[i:])
		res, err := e.call(name, d, rest, depth)
		return res, i + n, err
	}
	res, err := e.expandDepth(d.body, depth+1)
	return res, i, err
}

func firstLine(s string) string {
	if j := strings.IndexByte(s, '\n'); j >= 0 {
		return s[:j]
	}
	return s
}

// restOfLine returns the text up to (not including) the next newline.
func restOfLine(s string) (string, int) {
	j := strings.IndexByte(s, '\n')
	if j < 0 {
		return s, len(s)
	}
	return s[:j], j
}

var builtins = map[string]bool{
	"expand": true, "lower": true, "upper": true, "len": true, "shrink": true,
	"basename": true, "dirname": true, "suffix": true, "quote": true, "expr": true,
	"error": true, "warn": true, "echo": true, "verbose": true, "dnl": true,
	"define": true, "global": true, "undefine": true, "getconfdir": true,
	"shescape": true, "trace": true, "dump": true,
	"lua": true, "load": true, "include": true, "uncompress": true, "getenv": true,
	"exists": true, "url2path": true, "u2p": true, "S": true, "P": true, "F": true,
	"rpmversion": true,
}

// braced handles "%{...}"; whole is the full text, inner the part
// between the braces.
func (e *engine) braced(whole, inner string, depth int) (string, error) {
	i := 0
	neg, chk := false, false
	for i < len(inner) && (inner[i] == '!' || inner[i] == '?') {
		if inner[i] == '!' {
			neg = !neg
		} else {
			chk = true
		}
		i++
	}
	rest := inner[i:]
	name := rest
	var arg string
	hasColon, hasSpace := false, false
	if j := strings.IndexAny(rest, ": \t\n"); j >= 0 {
		name = rest[:j]
		if rest[j] == ':' {
			hasColon = true
		} else {
			hasSpace = true
		}
		arg = rest[j+1:]
	}
	if name == "" {
		return whole, nil
	}
	if !chk && !neg && builtins[name] && (hasColon || hasSpace || name == "getconfdir" || name == "rpmversion" || name == "dump" || name == "trace") {
		return e.builtin(name, arg, whole, depth)
	}
	d := e.lookup(name)
	if chk {
		defined := d != nil
		if defined == neg {
			return "", nil
		}
		if hasColon {
			return e.expandDepth(arg, depth+1)
		}
		if neg {
			return "", nil
		}
	}
	if d == nil {
		return whole, nil
	}
	if d.param || d.native != nil {
		a := ""
		if hasSpace || hasColon {
			a = arg
		}
		return e.call(name, d, a, depth)
	}
	return e.expandDepth(d.body, depth+1)
}

func (e *engine) builtin(name, arg, whole string, depth int) (string, error) {
	switch name {
	case "lua":
		return "", unsupported("cannot evaluate %%{lua:...}: lua macros are not supported")
	case "load", "include":
		return "", unsupported("cannot evaluate %q: loading files is not supported", short(whole))
	case "uncompress", "getenv", "exists", "url2path", "u2p", "S", "P", "F", "rpmversion":
		return "", unsupported("cannot evaluate %q: %%{%s:} depends on the build host and is not supported", short(whole), name)
	case "define", "global":
		_, err := e.doDefine(" "+arg, name == "global", depth)
		return "", err
	case "undefine":
		x, err := e.expandDepth(arg, depth+1)
		if err != nil {
			return "", err
		}
		e.pop(strings.TrimSpace(x))
		return "", nil
	case "dnl", "warn", "echo", "trace", "dump":
		return "", nil
	case "verbose":
		return "0", nil
	case "getconfdir":
		return "/usr/lib/rpm", nil
	case "expr":
		return e.evalExprText(arg, depth, false)
	case "error":
		x, err := e.expandDepth(arg, depth+1)
		if err != nil {
			return "", err
		}
		return "", errf("%%{error:...}: %q", strings.TrimSpace(x))
	}
	x, err := e.expandDepth(arg, depth+1)
	if err != nil {
		return "", err
	}
	switch name {
	case "expand":
		return e.expandDepth(x, depth+1)
	case "lower":
		return strings.ToLower(x), nil
	case "upper":
		return strings.ToUpper(x), nil
	case "len":
		return strconv.Itoa(len(x)), nil
	case "shrink":
		return strings.Join(strings.Fields(x), " "), nil
	case "basename":
		return path.Base(x), nil
	case "dirname":
		if !strings.Contains(x, "/") {
			return x, nil
		}
		return path.Dir(x), nil
	case "suffix":
		if j := strings.LastIndexByte(x, '.'); j >= 0 {
			return x[j+1:], nil
		}
		return "", nil
	case "quote":
		return x, nil
	case "shescape":
		return "'" + strings.ReplaceAll(x, "'", `'\''`) + "'", nil
	}
	return whole, nil
}

// doDefine parses a %define/%global definition from s (the text after
// the keyword) and returns the number of bytes consumed, following
// rpm's doDefine.
func (e *engine) doDefine(s string, global bool, depth int) (int, error) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	start := i
	for i < len(s) && (isAlnum(s[i]) || s[i] == '_') {
		i++
	}
	name := s[start:i]
	opts, param := "", false
	if i < len(s) && s[i] == '(' {
		j := strings.IndexByte(s[i:], ')')
		if j < 0 || strings.ContainsAny(s[i:i+j], "\n") {
			return len(s), errf("macro %q has unterminated opts", "%"+name)
		}
		opts = s[i+1 : i+j]
		param = true
		i += j + 1
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	var body strings.Builder
	if i < len(s) && s[i] == '{' {
		end := matchClose(s, i, '{', '}')
		if end < 0 {
			return len(s), errf("macro %q has unterminated body", "%"+name)
		}
		body.WriteString(s[i+1 : end])
		i = end + 1
	} else {
		n := nesting{brackets: true}
		for i < len(s) && (n.open() || (s[i] != '\n' && s[i] != '\r')) {
			if s[i] == '\\' && i+1 < len(s) {
				body.WriteByte(s[i+1]) // the escaped character, without the backslash
				i += 2
				continue
			}
			k := n.scan(s, i)
			body.WriteString(s[i : i+k])
			i += k
		}
	}
	b := strings.TrimRight(body.String(), " \t\r\n")
	if name == "" || !(isAlpha(name[0]) || name[0] == '_') || len(name) < 3 {
		return i, errf("macro %q has illegal name", "%"+name)
	}
	if b == "" {
		return i, errf("macro %q has empty body", "%"+name)
	}
	if global {
		x, err := e.expandDepth(b, depth+1)
		if err != nil {
			return i, err
		}
		b = x
	}
	d := &macroDef{body: b, opts: opts, param: param}
	if global {
		lvl := e.level
		e.level = 0
		e.push(name, d)
		e.level = lvl
	} else {
		e.push(name, d)
	}
	return i, nil
}

// call invokes a parametric (or native) macro with the argument text.
func (e *engine) call(name string, d *macroDef, argText string, depth int) (string, error) {
	if depth+1 > maxDepth {
		return "", errf("too many levels of recursion in macro expansion")
	}
	x, err := e.expandDepth(argText, depth+1)
	if err != nil {
		return "", err
	}
	all := strings.Fields(x)
	if d.native != nil {
		return d.native(e, all)
	}
	// getopt-style option parsing (permuting, like glibc).
	type opt struct{ letter, val string }
	var opts []opt
	var pos []string
	for k := 0; k < len(all); k++ {
		a := all[k]
		if a == "--" {
			pos = append(pos, all[k+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		for c := 1; c < len(a); c++ {
			l := a[c]
			j := strings.IndexByte(d.opts, l)
			if j < 0 || l == ':' {
				return "", errf("unknown option %q in %s(%s)", string(l), "%"+name, d.opts)
			}
			if j+1 < len(d.opts) && d.opts[j+1] == ':' {
				var v string
				if c+1 < len(a) {
					v = a[c+1:]
				} else if k+1 < len(all) {
					k++
					v = all[k]
				} else {
					return "", errf("option %q in %s requires an argument", string(l), "%"+name)
				}
				opts = append(opts, opt{string(l), v})
				break
			}
			opts = append(opts, opt{string(l), ""})
		}
	}
	e.level++
	e.frames = append(e.frames, nil)
	defer func() {
		names := e.frames[len(e.frames)-1]
		for k := len(names) - 1; k >= 0; k-- {
			e.pop(names[k])
		}
		e.frames = e.frames[:len(e.frames)-1]
		e.level--
	}()
	e.push("0", &macroDef{body: name})
	e.push("**", &macroDef{body: strings.Join(all, " ")})
	e.push("*", &macroDef{body: strings.Join(pos, " ")})
	e.push("#", &macroDef{body: strconv.Itoa(len(pos))})
	for k, p := range pos {
		e.push(strconv.Itoa(k+1), &macroDef{body: p})
	}
	for _, o := range opts {
		full := "-" + o.letter
		if o.val != "" {
			full += " " + o.val
		}
		e.push("-"+o.letter, &macroDef{body: full})
		e.push("-"+o.letter+"*", &macroDef{body: o.val})
	}
	return e.expandDepth(d.body, depth+1)
}

// loadMacroFile defines every "%name body" entry of an rpm macro file.
func (e *engine) loadMacroFile(text string) error {
	lines := strings.Split(text, "\n")
	for k := 0; k < len(lines); k++ {
		l := lines[k]
		if !strings.HasPrefix(l, "%") {
			continue
		}
		def := l
		for strings.HasSuffix(def, "\\") && k+1 < len(lines) {
			k++
			def += "\n" + lines[k]
		}
		if _, err := e.doDefine(def[1:], false, 0); err != nil {
			return err
		}
	}
	return nil
}
