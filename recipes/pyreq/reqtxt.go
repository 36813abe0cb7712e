package pyreq

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// maxIncludeDepth bounds nested -r includes.
const maxIncludeDepth = 16

// ReadRequirementsTxt reads a pip requirements file. It follows pip's
// requirements-file syntax: a line ending in "\" continues on the next one
// (the joined line keeps the first line's number), "#" at the start of a
// line or after whitespace starts a comment, blank lines are skipped.
//
//   - -r/--requirement FILE includes FILE, read with readFile at a path
//     relative to the including file's directory (the top-level file is at
//     "."); includes may not be absolute, remote or outside the project,
//     and may not form a cycle. Included requirements carry their own
//     File and Line.
//   - -c/--constraint lines are ignored (constraints add no dependencies).
//   - -e/--editable lines are an error: an editable checkout cannot come
//     from an rpm.
//   - Bare URLs, archives and local paths ("./pkg", "git+https://...",
//     "pkg-1.0.tar.gz") are an error rather than skipped, so a build never
//     silently misses a dependency; "name @ url" parses (RPMDeps rejects
//     it).
//   - Other options (--index-url, --extra-index-url, --find-links,
//     --trusted-host, --pre, --no-binary, ...) and per-requirement options
//     (--hash, --config-settings, ...) are ignored.
//
// Environment markers are kept on the requirements. requirements.txt does
// not name the project, so Project is "".
func ReadRequirementsTxt(filename string, src []byte, readFile func(rel string) ([]byte, error)) (*Metadata, error) {
	rd := &reqTxtReader{readFile: readFile, pip: true}
	var stack []string
	if filename != "" && !path.IsAbs(filename) {
		stack = append(stack, path.Clean(filename))
	}
	reqs, err := rd.read(filename, ".", src, stack)
	if err != nil {
		return nil, err
	}
	return &Metadata{Requires: reqs, Extras: map[string][]Requirement{}}, nil
}

type reqTxtReader struct {
	readFile func(string) ([]byte, error)
	// pip enables pip options; otherwise (setuptools dynamic files) any
	// option is an error.
	pip bool
}

type logicalLine struct {
	text string
	line int
}

// commentRE is pip's COMMENT_RE.
var commentRE = regexp.MustCompile(`(^|\s+)#.*$`)

// logicalLines joins continuation lines and strips comments as pip's
// join_lines and ignore_comments do.
func logicalLines(src string) []logicalLine {
	var out []logicalLine
	var buf strings.Builder
	first := 0
	pending := false
	flush := func(l logicalLine) {
		l.text = strings.TrimSpace(commentRE.ReplaceAllString(l.text, ""))
		if l.text != "" {
			out = append(out, l)
		}
	}
	for i, line := range strings.Split(src, "\n") {
		line = strings.TrimRight(line, "\r")
		isComment := commentRE.MatchString(line) && strings.HasPrefix(strings.TrimSpace(line), "#")
		if !strings.HasSuffix(line, `\`) || isComment {
			if isComment {
				line = " " + line
			}
			if pending {
				buf.WriteString(line)
				flush(logicalLine{buf.String(), first})
				buf.Reset()
				pending = false
			} else {
				flush(logicalLine{line, i + 1})
			}
			continue
		}
		if !pending {
			first = i + 1
			pending = true
		}
		buf.WriteString(strings.TrimRight(line, `\`))
	}
	if pending {
		flush(logicalLine{buf.String(), first})
	}
	return out
}

var (
	urlRE     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	archiveRE = regexp.MustCompile(`(?i)\.(whl|zip|tar|tgz|tar\.gz|tar\.bz2|tbz|tar\.xz|txz|tar\.lz|tlz)$`)
)

// read parses one file; rel is its path for readFile ("." directory for
// the top level) and stack the include chain.
func (rd *reqTxtReader) read(file, dir string, src []byte, stack []string) ([]Requirement, error) {
	var reqs []Requirement
	for _, l := range logicalLines(string(src)) {
		fail := func(format string, args ...any) ([]Requirement, error) {
			return nil, &Error{File: file, Line: l.line, Msg: fmt.Sprintf(format, args...)}
		}
		// pip's break_args_options: the requirement is everything before
		// the first space-separated token starting with "-".
		tokens := strings.Split(l.text, " ")
		n := 0
		for n < len(tokens) && !strings.HasPrefix(tokens[n], "-") {
			n++
		}
		args := strings.TrimSpace(strings.Join(tokens[:n], " "))
		opts := strings.Fields(strings.Join(tokens[n:], " "))
		if args != "" {
			first := strings.Fields(args)[0]
			if !rd.pip && len(opts) > 0 {
				return fail("option %q is not supported here: setuptools reads only requirements from this file", opts[0])
			}
			if looksLikePath(first) {
				return fail("%q is a url or local path, not a named requirement: use \"name @ url\" or a package name", args)
			}
			r, err := ParseRequirement(args)
			if err != nil {
				if urlRE.MatchString(args) {
					return fail("%q is a url, not a named requirement: use \"name @ url\" or a package name", args)
				}
				return nil, errAt(file, l.line, err)
			}
			r.File, r.Line = file, l.line
			reqs = append(reqs, r)
			continue
		}
		if !rd.pip {
			return fail("option %q is not supported here: setuptools reads only requirements from this file", opts[0])
		}
		opt, val := opts[0], ""
		if o, v, ok := strings.Cut(opt, "="); ok && strings.HasPrefix(opt, "--") {
			opt, val = o, v
		} else if len(opts) > 1 {
			val = opts[1]
		}
		switch {
		case opt == "-r" || opt == "--requirement" || strings.HasPrefix(opt, "-r") && !strings.HasPrefix(opt, "--"):
			if opt != "-r" && opt != "--requirement" {
				val = opt[2:]
			}
			val = strings.Trim(val, `"'`)
			inc, err := rd.include(file, dir, l.line, val, stack)
			if err != nil {
				return nil, err
			}
			reqs = append(reqs, inc...)
		case opt == "-e" || opt == "--editable" || strings.HasPrefix(opt, "-e") && !strings.HasPrefix(opt, "--"):
			return fail("editable requirement %q cannot be installed from rpm", l.text)
		default:
			// -c/--constraint, index and build options: no dependencies.
		}
	}
	return reqs, nil
}

func (rd *reqTxtReader) include(file, dir string, line int, name string, stack []string) ([]Requirement, error) {
	fail := func(format string, args ...any) ([]Requirement, error) {
		return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case name == "":
		return fail("-r needs a file name")
	case urlRE.MatchString(name) && strings.Contains(name, "://"):
		return fail("remote requirements file %q is not supported", name)
	case path.IsAbs(name):
		return fail("absolute requirements file path %q is not supported", name)
	}
	rel := path.Join(dir, name)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return fail("requirements file %q is outside the project", name)
	}
	if len(stack) >= maxIncludeDepth {
		return fail("requirements files nested too deeply at %q", rel)
	}
	for _, s := range stack {
		if s == rel {
			return fail("requirements file %q includes itself", rel)
		}
	}
	if rd.readFile == nil {
		return fail("cannot read included file %q: no file reader", rel)
	}
	src, err := rd.readFile(rel)
	if err != nil {
		return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf("cannot read included file %q: %v", rel, err), Err: err}
	}
	return rd.read(rel, path.Dir(rel), src, append(stack, rel))
}

// looksLikePath reports whether the first word of a requirement line is a
// local path, archive or bare URL that pip would install directly.
func looksLikePath(word string) bool {
	if strings.HasPrefix(word, ".") || strings.HasPrefix(word, "/") || strings.HasPrefix(word, "~") {
		return true
	}
	if strings.Contains(word, "://") && !strings.Contains(word, "@") {
		return true
	}
	return archiveRE.MatchString(word) && !strings.ContainsAny(word, "@;")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
