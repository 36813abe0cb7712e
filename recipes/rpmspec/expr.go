package rpmspec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// exprValue is the result of an rpm expression: an integer or a string.
type exprValue struct {
	isStr bool
	isVer bool // a v"..." version literal (isStr is set too)
	s     string
	n     int64
}

func (v exprValue) truth() bool {
	if v.isStr {
		return v.s != ""
	}
	return v.n != 0
}

func (v exprValue) String() string {
	if v.isStr {
		return v.s
	}
	return strconv.FormatInt(v.n, 10)
}

// exprParser evaluates rpm's %if / %[...] expression language: integers,
// "strings", v"versions", ! - * / + - < <= > >= == != && || ?: and
// parentheses. Bare words are rejected like rpm 4.17+ does.
type exprParser struct {
	src string
	pos int
	// expand, when set, expands macros in words and strings as they are
	// read (rpm's RPMEXPR_EXPAND), skipping branches that are discarded
	// by short-circuit evaluation.
	expand  func(string) (string, error)
	discard int
}

var errExprDepth = errors.New("expression nested too deeply")

func evalExpr(src string) (exprValue, error) {
	return evalExprExpand(src, nil)
}

func evalExprExpand(src string, expand func(string) (string, error)) (exprValue, error) {
	p := &exprParser{src: src, expand: expand}
	v, err := p.ternary(0)
	if err != nil {
		return exprValue{}, err
	}
	p.skip()
	if p.pos < len(p.src) {
		return exprValue{}, fmt.Errorf("syntax error at %q", p.src[p.pos:])
	}
	return v, nil
}

func (p *exprParser) skip() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\n\r\f\v", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *exprParser) peek(op string) bool {
	p.skip()
	return strings.HasPrefix(p.src[p.pos:], op)
}

func (p *exprParser) accept(op string) bool {
	if p.peek(op) {
		p.pos += len(op)
		return true
	}
	return false
}

func (p *exprParser) ternary(d int) (exprValue, error) {
	if d > 200 {
		return exprValue{}, errExprDepth
	}
	c, err := p.or(d + 1)
	if err != nil {
		return c, err
	}
	if !p.accept("?") {
		return c, nil
	}
	cond := c.truth()
	if !cond {
		p.discard++
	}
	a, err := p.ternary(d + 1)
	if !cond {
		p.discard--
	}
	if err != nil {
		return a, err
	}
	if !p.accept(":") {
		return a, errors.New("syntax error in ternary expression: missing \":\"")
	}
	if cond {
		p.discard++
	}
	b, err := p.ternary(d + 1)
	if cond {
		p.discard--
	}
	if err != nil {
		return b, err
	}
	if p.discard > 0 {
		return a, nil
	}
	if a.isStr != b.isStr {
		return a, errors.New("types must match")
	}
	if c.truth() {
		return a, nil
	}
	return b, nil
}

func (p *exprParser) or(d int) (exprValue, error) { return p.logical(d, "||", true, p.and) }

func (p *exprParser) and(d int) (exprValue, error) { return p.logical(d, "&&", false, p.cmp) }

// logical parses next (op next)*, rpm's short-circuit || (shortOn true:
// a true left side is the value) and && (shortOn false): the right side
// of a decided operator is parsed but not evaluated.
func (p *exprParser) logical(d int, op string, shortOn bool, next func(int) (exprValue, error)) (exprValue, error) {
	l, err := next(d)
	if err != nil {
		return l, err
	}
	for p.accept(op) {
		skip := l.truth() == shortOn
		if skip {
			p.discard++
		}
		r, err := next(d)
		if skip {
			p.discard--
		}
		if err != nil {
			return r, err
		}
		if skip || p.discard > 0 {
			continue
		}
		if l.isStr != r.isStr {
			return l, errors.New("types must match")
		}
		l = r
	}
	return l, nil
}

// binary parses next (op next)* for the operators ops (longest first),
// left-associative; apply evaluates one operator unless the expression
// is being discarded: then the value keeps its type, a number where the
// operators give one (numeric: comparisons).
func (p *exprParser) binary(d int, ops []string, numeric bool, next func(int) (exprValue, error), apply func(op string, l, r exprValue) (exprValue, error)) (exprValue, error) {
	l, err := next(d)
	if err != nil {
		return l, err
	}
	for {
		var op string
		for _, o := range ops {
			if p.peek(o) {
				op = o
				break
			}
		}
		if op == "" {
			return l, nil
		}
		p.pos += len(op)
		r, err := next(d)
		if err != nil {
			return r, err
		}
		if p.discard > 0 {
			if numeric {
				l = exprValue{}
			}
			continue
		}
		if l, err = apply(op, l, r); err != nil {
			return l, err
		}
	}
}

func (p *exprParser) cmp(d int) (exprValue, error) {
	return p.binary(d, []string{"==", "!=", "<=", ">=", "<", ">"}, true, p.add, func(op string, l, r exprValue) (exprValue, error) {
		if l.isStr != r.isStr || l.isVer != r.isVer {
			return l, errors.New("types must match")
		}
		var c int
		if l.isVer {
			c = compareEVR(l.s, r.s)
		} else if l.isStr {
			c = strings.Compare(l.s, r.s)
		} else if l.n < r.n {
			c = -1
		} else if l.n > r.n {
			c = 1
		}
		var res bool
		switch op {
		case "==":
			res = c == 0
		case "!=":
			res = c != 0
		case "<":
			res = c < 0
		case "<=":
			res = c <= 0
		case ">":
			res = c > 0
		case ">=":
			res = c >= 0
		}
		if res {
			return exprValue{n: 1}, nil
		}
		return exprValue{}, nil
	})
}

func (p *exprParser) add(d int) (exprValue, error) {
	return p.binary(d, []string{"+", "-"}, false, p.mul, func(op string, l, r exprValue) (exprValue, error) {
		if l.isStr != r.isStr || l.isVer != r.isVer {
			return l, errors.New("types must match")
		}
		if l.isVer {
			return l, errors.New("+ and - are not supported for versions")
		}
		if l.isStr {
			if op == "-" {
				return l, errors.New("- not supported for strings")
			}
			l.s += r.s
			return l, nil
		}
		if op == "+" {
			l.n += r.n
		} else {
			l.n -= r.n
		}
		return l, nil
	})
}

func (p *exprParser) mul(d int) (exprValue, error) {
	return p.binary(d, []string{"*", "/"}, false, p.unary, func(op string, l, r exprValue) (exprValue, error) {
		if l.isStr || r.isStr {
			return l, fmt.Errorf("%s not supported for strings", op)
		}
		if op == "*" {
			l.n *= r.n
		} else {
			if r.n == 0 {
				return l, errors.New("division by zero")
			}
			l.n /= r.n
		}
		return l, nil
	})
}

func (p *exprParser) unary(d int) (exprValue, error) {
	if d > 200 {
		return exprValue{}, errExprDepth
	}
	switch {
	case p.accept("!"):
		v, err := p.unary(d + 1)
		if err != nil {
			return v, err
		}
		if v.isStr {
			return v, errors.New("! not supported for strings")
		}
		if v.n == 0 {
			return exprValue{n: 1}, nil
		}
		return exprValue{}, nil
	case p.accept("-"):
		v, err := p.unary(d + 1)
		if err != nil {
			return v, err
		}
		if v.isStr {
			return v, errors.New("- not supported for strings")
		}
		v.n = -v.n
		return v, nil
	}
	return p.primary(d)
}

func (p *exprParser) primary(d int) (exprValue, error) {
	p.skip()
	if p.pos >= len(p.src) {
		return exprValue{}, errors.New("unexpected end of expression")
	}
	c := p.src[p.pos]
	switch {
	case c == '(':
		p.pos++
		v, err := p.ternary(d + 1)
		if err != nil {
			return v, err
		}
		if !p.accept(")") {
			return v, errors.New("unmatched (")
		}
		return v, nil
	case c == '"' || (c == 'v' && strings.HasPrefix(p.src[p.pos:], `v"`)):
		isVer := c == 'v'
		if isVer {
			p.pos++
		}
		end := strings.IndexByte(p.src[p.pos+1:], '"')
		if end < 0 {
			return exprValue{}, errors.New("unterminated string in expression")
		}
		s := p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		if p.expand != nil && p.discard == 0 {
			x, err := p.expand(s)
			if err != nil {
				return exprValue{}, err
			}
			s = x
		}
		return exprValue{isStr: true, isVer: isVer, s: s}, nil
	case p.expand != nil && (isAlnum(c) || c == '_' || c == '%'):
		return p.word()
	case c >= '0' && c <= '9':
		start := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		n, err := strconv.ParseInt(p.src[start:p.pos], 10, 64)
		if err != nil {
			return exprValue{}, fmt.Errorf("number %q out of range", p.src[start:p.pos])
		}
		return exprValue{n: n}, nil
	case isAlpha(c) || c == '_':
		return exprValue{}, errors.New(`bare words are no longer supported, please use "..."`)
	}
	return exprValue{}, fmt.Errorf("syntax error at %q", p.src[p.pos:])
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }

// word reads a token that may contain macro references, expands it and
// requires the result to be a number.
func (p *exprParser) word() (exprValue, error) {
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case isAlnum(c) || c == '_' || c == '.':
			p.pos++
		case c == '%' && p.pos+1 < len(p.src):
			n := p.src[p.pos+1]
			var closer byte
			switch n {
			case '{':
				closer = '}'
			case '[':
				closer = ']'
			case '(':
				closer = ')'
			}
			if closer != 0 {
				end := matchClose(p.src, p.pos+1, n, closer)
				if end < 0 {
					return exprValue{}, errors.New("unterminated macro in expression")
				}
				p.pos = end + 1
				continue
			}
			p.pos++
			for p.pos < len(p.src) && (p.src[p.pos] == '!' || p.src[p.pos] == '?' || p.src[p.pos] == '%') {
				p.pos++
			}
		default:
			goto done
		}
	}
done:
	tok := p.src[start:p.pos]
	if p.discard > 0 {
		return exprValue{}, nil
	}
	x, err := p.expand(tok)
	if err != nil {
		return exprValue{}, err
	}
	x = strings.TrimSpace(x)
	if x == "" {
		return exprValue{}, errors.New("unexpected end of expression")
	}
	for i := 0; i < len(x); i++ {
		if !isDigit(x[i]) {
			if isDigit(x[0]) {
				return exprValue{}, fmt.Errorf("syntax error at %q", x)
			}
			return exprValue{}, errors.New(`bare words are no longer supported, please use "..."`)
		}
	}
	n, err := strconv.ParseInt(x, 10, 64)
	if err != nil {
		return exprValue{}, fmt.Errorf("number %q out of range", x)
	}
	return exprValue{n: n}, nil
}
