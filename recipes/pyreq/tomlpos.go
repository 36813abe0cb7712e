package pyreq

// A small TOML scanner that finds source lines. BurntSushi/toml decodes
// the document (and validates it); this scanner only walks the already
// valid text to learn on which line each key, table header and array
// element starts, which MetaData does not expose for array elements.

import (
	"sort"
	"strconv"
	"strings"
)

// tomlPos maps key paths (components joined by "\x00") to lines.
type tomlPos struct {
	keys  map[string]int   // key or table header → line
	elems map[string][]int // array → line of each element, in order
}

func tomlKey(path ...string) string { return strings.Join(path, "\x00") }

// keyLine returns the line of the longest defined prefix of path, or 0.
func (p *tomlPos) keyLine(path ...string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := p.keys[tomlKey(path[:n]...)]; ok {
			return l
		}
	}
	return 0
}

// elemLine returns the line of element i of the array at path, falling
// back to the array's key line.
func (p *tomlPos) elemLine(i int, path ...string) int {
	if lines := p.elems[tomlKey(path...)]; i < len(lines) {
		return lines[i]
	}
	return p.keyLine(path...)
}

const maxTOMLDepth = 128

type tomlScanner struct {
	src      string
	i        int
	newlines []int // offsets of '\n'
	pos      *tomlPos
}

func scanTOML(src string) *tomlPos {
	s := &tomlScanner{src: src, pos: &tomlPos{keys: map[string]int{}, elems: map[string][]int{}}}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			s.newlines = append(s.newlines, i)
		}
	}
	var table []string
	for {
		s.skipSpace(true)
		if s.i >= len(s.src) {
			break
		}
		start := s.i
		if s.src[s.i] == '[' {
			s.i++
			if s.i < len(s.src) && s.src[s.i] == '[' {
				s.i++
			}
			table = s.key()
			if _, ok := s.pos.keys[tomlKey(table...)]; !ok {
				s.pos.keys[tomlKey(table...)] = s.lineAt(start)
			}
			s.skipLine()
			continue
		}
		keys := s.key()
		s.skipSpace(false)
		if len(keys) == 0 || s.i >= len(s.src) || s.src[s.i] != '=' {
			s.skipLine()
			continue
		}
		s.i++
		full := append(append([]string{}, table...), keys...)
		s.pos.keys[tomlKey(full...)] = s.lineAt(start)
		s.value(full, 0)
	}
	return s.pos
}

// lineAt converts a byte offset to a 1-based line.
func (s *tomlScanner) lineAt(off int) int {
	return sort.SearchInts(s.newlines, off) + 1
}

// skipSpace skips blanks and comments, and newlines when nl is set.
func (s *tomlScanner) skipSpace(nl bool) {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\r':
			s.i++
		case '\n':
			if !nl {
				return
			}
			s.i++
		case '#':
			for s.i < len(s.src) && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

func (s *tomlScanner) skipLine() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

// key reads a possibly dotted, possibly quoted key.
func (s *tomlScanner) key() []string {
	var keys []string
	for {
		s.skipSpace(false)
		if s.i >= len(s.src) {
			return keys
		}
		switch c := s.src[s.i]; {
		case c == '"' || c == '\'':
			start := s.i
			s.str()
			raw := s.src[start:s.i]
			k := strings.Trim(raw, `"'`)
			if c == '"' {
				if u, err := strconv.Unquote(raw); err == nil {
					k = u
				}
			}
			keys = append(keys, k)
		default:
			start := s.i
			for s.i < len(s.src) && (isAlnum(s.src[s.i]) || s.src[s.i] == '_' || s.src[s.i] == '-') {
				s.i++
			}
			if s.i == start {
				return keys
			}
			keys = append(keys, s.src[start:s.i])
		}
		s.skipSpace(false)
		if s.i < len(s.src) && s.src[s.i] == '.' {
			s.i++
			continue
		}
		return keys
	}
}

// str skips a basic, literal or multi-line string starting at s.i.
func (s *tomlScanner) str() {
	q := s.src[s.i]
	triple := strings.Repeat(string(q), 3)
	if strings.HasPrefix(s.src[s.i:], triple) {
		s.i += 3
		for s.i < len(s.src) {
			if q == '"' && s.src[s.i] == '\\' {
				s.i += 2
				continue
			}
			if strings.HasPrefix(s.src[s.i:], triple) {
				s.i += 3
				// Up to two more quotes may belong to the content.
				for n := 0; n < 2 && s.i < len(s.src) && s.src[s.i] == q; n++ {
					s.i++
				}
				return
			}
			s.i++
		}
		s.i = min(s.i, len(s.src))
		return
	}
	s.i++
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		c := s.src[s.i]
		if q == '"' && c == '\\' {
			s.i += 2
			continue
		}
		s.i++
		if c == q {
			return
		}
	}
	s.i = min(s.i, len(s.src))
}

// value skips the value at s.i, recording array element lines under path.
func (s *tomlScanner) value(path []string, depth int) {
	s.skipSpace(false)
	if s.i >= len(s.src) {
		return
	}
	if depth > maxTOMLDepth {
		s.skipLine()
		return
	}
	switch s.src[s.i] {
	case '"', '\'':
		s.str()
	case '[':
		key := tomlKey(path...)
		s.items(']', func(start int) {
			s.pos.elems[key] = append(s.pos.elems[key], s.lineAt(start))
			s.value(append(append([]string{}, path...), "[]"), depth+1)
			if s.i == start {
				s.i++
			}
		})
	case '{':
		s.items('}', func(start int) {
			keys := s.key()
			s.skipSpace(false)
			if len(keys) == 0 || s.i >= len(s.src) || s.src[s.i] != '=' {
				if s.i == start {
					s.i++
				}
				return
			}
			s.i++
			full := append(append([]string{}, path...), keys...)
			s.pos.keys[tomlKey(full...)] = s.lineAt(start)
			s.value(full, depth+1)
		})
	default:
		start := s.i
		for s.i < len(s.src) && !strings.ContainsRune(",]}\n#", rune(s.src[s.i])) {
			s.i++
		}
		if s.i == start {
			s.i++
		}
	}
}

// items reads the items of an array or inline table from its opening
// bracket at s.i up to and past close (or the end of the text): item is
// called at the start of each, with the commas between them skipped.
func (s *tomlScanner) items(close byte, item func(start int)) {
	s.i++
	for s.i < len(s.src) {
		s.skipSpace(true)
		if s.i >= len(s.src) {
			return
		}
		switch s.src[s.i] {
		case close:
			s.i++
			return
		case ',':
			s.i++
			continue
		}
		item(s.i)
	}
}
