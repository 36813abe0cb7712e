package recipes

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid is wrapped by every error about a recipe's content, so callers
// can tell a bad recipe (exit code 2) from a failed build.
var ErrInvalid = errors.New("invalid recipe")

// Pos is a position in a recipe file (1-based; zero when unknown).
type Pos struct {
	Line, Column int
}

// positions maps a field path ("base.repos[0].id") to where its value
// starts in the file.
type positions map[string]Pos

// Error is a located problem in a recipe.
type Error struct {
	File  string // the recipe file ("" when the recipe came from memory)
	Pos   Pos    // where the field's value (or the key) starts
	Field string // the field path, e.g. "base.install"; "" for syntax errors
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Pos.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Pos.Line)
			if e.Pos.Column > 0 {
				fmt.Fprintf(&b, ":%d", e.Pos.Column)
			}
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true for every recipe error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// LoadFile reads, decodes and validates the recipe at path.
func LoadFile(path string) (*Recipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("reading recipe: %v", errors.Unwrap(err))}
	}
	return Load(path, data)
}

// Load decodes and validates a recipe. Unknown keys, values of the wrong
// type and duplicate keys are errors located at their line and column.
func Load(file string, data []byte) (*Recipe, error) {
	r, err := Decode(file, data)
	if err != nil && r == nil {
		return nil, err
	}
	if err != nil {
		// Every problem at once: the values that could be decoded are
		// validated too, except where decoding failed.
		return nil, errors.Join(err, r.validateExcept(err))
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	r.resolvePaths()
	return r, nil
}

// resolvePaths turns repository base URLs given as local paths into
// file:// URLs, relative paths being relative to the recipe's directory.
func (r *Recipe) resolvePaths() {
	for i, repo := range r.Base.Repos {
		if repo.BaseURL == "" || strings.Contains(repo.BaseURL, "://") {
			continue
		}
		p := repo.BaseURL
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(r.File), p)
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		r.Base.Repos[i].BaseURL = "file://" + p
	}
	for i, s := range r.Sources {
		if !IsLocalRemote(s.Git) || strings.HasPrefix(s.Git, "file://") {
			continue
		}
		p := s.Git
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(r.File), p)
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		r.Sources[i].Git = p
	}
}

var scpLike = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:`)

// IsLocalRemote reports whether a source's repository is on this machine:
// a file:// URL or a path.
func IsLocalRemote(remote string) bool {
	if strings.HasPrefix(remote, "file://") {
		return true
	}
	return !strings.Contains(remote, "://") && !scpLike.MatchString(remote)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Decode parses a recipe strictly without validating its values.
func Decode(file string, data []byte) (*Recipe, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil, &Error{File: file, Msg: "the recipe is empty"}
		}
		msg := err.Error()
		pos := Pos{}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			pos.Line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
			pos = locateSyntaxError(data, msg)
		}
		return nil, &Error{File: file, Pos: pos, Msg: "syntax error: " + msg}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: file, Pos: Pos{extra.Line, extra.Column}, Msg: "a recipe file holds one YAML document, found another"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	r := &Recipe{File: file, pos: positions{}}
	var errs []error
	decodeNode(file, root, "", reflect.ValueOf(r).Elem(), r.pos, &errs)
	if len(errs) > 0 {
		return r, errors.Join(errs...) // r: what could be decoded
	}
	return r, nil
}

var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// locateSyntaxError finds where a syntax error that yaml reports without a
// line is: the first use of an unknown anchor, or the first byte that is
// not UTF-8 or is a control character.
func locateSyntaxError(data []byte, msg string) Pos {
	at := func(off int) Pos {
		line := 1 + bytes.Count(data[:off], []byte("\n"))
		col := 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:off], '\n')+1:off])
		return Pos{line, col}
	}
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		re := regexp.MustCompile(`\*` + regexp.QuoteMeta(m[1]) + `(?:[\s,\]}]|$)`)
		if loc := re.FindIndex(data); loc != nil {
			return at(loc[0])
		}
		return Pos{}
	}
	for off := 0; off < len(data); {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size <= 1 || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return at(off)
		}
		off += size
	}
	return Pos{}
}

// unknownField starts the message of a key a struct does not have.
const unknownField = "unknown field"

// decodeNode decodes n into v, checking each node's kind against the Go
// type so that every error names its position and field.
func decodeNode(file string, n *yaml.Node, path string, v reflect.Value, pos positions, errs *[]error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	pos[path] = Pos{n.Line, n.Column}
	fail := func(format string, args ...any) {
		*errs = append(*errs, &Error{File: file, Pos: Pos{n.Line, n.Column}, Field: path, Msg: fmt.Sprintf(format, args...)})
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			fail("want a mapping, got %s", describe(n))
			return
		}
		fields := map[string]reflect.Value{}
		var names []string
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = v.Field(i)
			names = append(names, tag)
		}
		if err := checkDuplicates(file, n, path); err != nil {
			*errs = append(*errs, err)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &Error{File: file, Pos: Pos{k.Line, k.Column}, Field: join(path, k.Value),
					Msg: fmt.Sprintf(unknownField+" %q; known fields: %s", k.Value, strings.Join(names, ", "))})
				continue
			}
			decodeNode(file, val, join(path, k.Value), f, pos, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			fail("want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			decodeNode(file, item, fmt.Sprintf("%s[%d]", path, i), s.Index(i), pos, errs)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			fail("want a mapping, got %s", describe(n))
			return
		}
		if err := checkDuplicates(file, n, path); err != nil {
			*errs = append(*errs, err)
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				*errs = append(*errs, &Error{File: file, Pos: Pos{k.Line, k.Column}, Field: path, Msg: "keys must be strings"})
				continue
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			decodeNode(file, val, path+"."+k.Value, ev, pos, errs)
			m.SetMapIndex(reflect.ValueOf(k.Value), ev)
		}
		v.Set(m)
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		decodeNode(file, n, path, e.Elem(), pos, errs)
		v.Set(e)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			fail("want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			fail("want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			fail("want a whole number, got %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	default:
		fail("unsupported field type %s", v.Type())
		return
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return strconv.Quote(n.Value)
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// checkDuplicates rejects a mapping that sets a key twice.
func checkDuplicates(file string, n *yaml.Node, path string) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if line, dup := seen[k.Value]; dup {
			return &Error{File: file, Pos: Pos{k.Line, k.Column}, Field: join(path, k.Value),
				Msg: fmt.Sprintf("key %q is already set at line %d", k.Value, line)}
		}
		seen[k.Value] = k.Line
	}
	return nil
}
