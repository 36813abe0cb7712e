package pyreq

import (
	"fmt"
	"strings"
)

// Metadata is the dependency information read from a project file.
type Metadata struct {
	// Project is the PEP 503 normalised project name, or "" when the file
	// does not declare it.
	Project string
	// Requires are the run-time requirements, in file order.
	Requires []Requirement
	// Extras maps each optional feature (extra), PEP 503 normalised, to its
	// requirements.
	Extras map[string][]Requirement
	// BuildRequires are the pyproject.toml [build-system] requires and the
	// setup.cfg setup_requires (setuptools returns both to a build
	// front end, as Fedora's %pyproject_buildrequires reads them).
	BuildRequires []Requirement
}

// cfgValue is one option of an ini file with the line of each value line.
type cfgValue struct {
	keyLine int
	lines   []cfgLine
}

type cfgLine struct {
	text string
	line int
}

// ReadSetupCfg reads a setuptools setup.cfg: [metadata] name,
// [options] install_requires, setup_requires (build requirements) and
// [options.extras_require]. It follows
// Python's configparser (as setuptools configures it): sections and
// "key = value" or "key: value" options, keys case-insensitive, values
// continued on lines indented deeper than the key, lines starting with "#"
// or ";" are comments (also inside a multi-line value). Requirement lists
// are read as setuptools does: one requirement per line of a multi-line
// value, or ";"-separated on a single line; " #" starts an inline comment;
// a line ending in "\" continues on the next one. A missing install_requires
// is an empty list. A "file:" directive (install_requires = file:
// requirements.txt, several files separated by ",") reads the files named
// with readFile, relative to the project root, as pyproject.toml's dynamic
// dependencies are read.
func ReadSetupCfg(filename string, src []byte, readFile func(rel string) ([]byte, error)) (*Metadata, error) {
	sections, err := parseINI(filename, string(src))
	if err != nil {
		return nil, err
	}
	md := &Metadata{Extras: map[string][]Requirement{}}
	if v, ok := sections["metadata"]["name"]; ok && len(v.lines) > 0 {
		md.Project = Normalize(strings.TrimSpace(v.lines[0].text))
	}
	if v, ok := sections["options"]["install_requires"]; ok {
		if md.Requires, err = cfgRequirements(filename, "install_requires", v, readFile); err != nil {
			return nil, err
		}
	}
	if v, ok := sections["options"]["setup_requires"]; ok {
		if md.BuildRequires, err = cfgRequirements(filename, "setup_requires", v, readFile); err != nil {
			return nil, err
		}
	}
	extras := sections["options.extras_require"]
	for _, name := range sortedKeys(extras) {
		reqs, err := cfgRequirements(filename, name, extras[name], readFile)
		if err != nil {
			return nil, err
		}
		key := Normalize(name)
		md.Extras[key] = append(md.Extras[key], reqs...)
	}
	return md, nil
}

// cfgRequirements splits an option value into requirements the way
// setuptools' _parse_requirements_list does, or reads the files of a
// "file:" directive.
func cfgRequirements(filename, key string, v cfgValue, readFile func(string) ([]byte, error)) ([]Requirement, error) {
	var items []cfgLine
	if len(v.lines) > 0 {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(v.lines[0].text), "file:"); ok {
			var files []string
			var lines []int
			for _, f := range strings.Split(rest, ",") {
				if f = strings.TrimSpace(f); f != "" {
					files, lines = append(files, f), append(lines, v.lines[0].line)
				}
			}
			if len(files) == 0 || len(v.lines) > 1 {
				return nil, &Error{File: filename, Line: v.lines[0].line, Msg: fmt.Sprintf("%s: want \"file: NAME[, NAME...]\" on one line", key)}
			}
			return readListedFiles(filename, files, lines, readFile)
		}
	}
	if len(v.lines) == 1 && v.lines[0].line == v.keyLine {
		// A value without a newline is a ";"-separated list in setuptools.
		first := v.lines[0]
		text := dropComment(first.text)
		for _, part := range strings.Split(text, ";") {
			items = append(items, cfgLine{part, first.line})
		}
	} else {
		items = v.lines
	}
	var reqs []Requirement
	var cont *cfgLine
	for _, it := range items {
		text := strings.TrimSpace(it.text)
		if strings.HasPrefix(text, "#") {
			continue
		}
		text = strings.TrimSpace(dropComment(text))
		if cont != nil {
			text = cont.text + text
			it.line = cont.line
			cont = nil
		}
		if joined, ok := strings.CutSuffix(text, `\`); ok {
			cont = &cfgLine{strings.TrimSpace(joined) + " ", it.line}
			continue
		}
		if text == "" {
			continue
		}
		r, err := ParseRequirement(text)
		if err != nil {
			return nil, errAt(filename, it.line, err)
		}
		r.File, r.Line = filename, it.line
		reqs = append(reqs, r)
	}
	if cont != nil && strings.TrimSpace(cont.text) != "" {
		r, err := ParseRequirement(cont.text)
		if err != nil {
			return nil, errAt(filename, cont.line, err)
		}
		r.File, r.Line = filename, cont.line
		reqs = append(reqs, r)
	}
	return reqs, nil
}

// dropComment removes an inline comment starting at " #", as setuptools'
// drop_comment does.
func dropComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		return s[:i]
	}
	if i := strings.Index(s, "\t#"); i >= 0 {
		return s[:i]
	}
	return s
}

// parseINI parses configparser syntax into section → key → value. Keys are
// lower-cased and "-" is read as "_" (setuptools accepts both spellings).
// Each value keeps its lines: the text after the delimiter on the key line
// (if any) followed by the continuation lines.
func parseINI(filename, src string) (map[string]map[string]cfgValue, error) {
	sections := map[string]map[string]cfgValue{}
	var sect map[string]cfgValue
	var key string
	indent := 0
	for i, raw := range strings.Split(src, "\n") {
		lineNo := i + 1
		line := strings.TrimRight(raw, "\r")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, ";") {
			continue // full-line comment, also inside multi-line values
		}
		cur := len(line) - len(strings.TrimLeft(line, " \t"))
		if trimmed == "" {
			if sect != nil && key != "" {
				v := sect[key]
				v.lines = append(v.lines, cfgLine{"", lineNo})
				sect[key] = v
			}
			continue
		}
		if sect != nil && key != "" && cur > indent {
			v := sect[key]
			v.lines = append(v.lines, cfgLine{trimmed, lineNo})
			sect[key] = v
			continue
		}
		indent = cur
		if strings.HasPrefix(trimmed, "[") {
			end := strings.IndexByte(trimmed, ']')
			if end < 0 {
				return nil, &Error{File: filename, Line: lineNo, Msg: fmt.Sprintf("invalid section header %q", trimmed)}
			}
			name := trimmed[1:end]
			if sections[name] == nil {
				sections[name] = map[string]cfgValue{}
			}
			sect, key = sections[name], ""
			continue
		}
		if sect == nil {
			return nil, &Error{File: filename, Line: lineNo, Msg: fmt.Sprintf("option %q before the first section header", trimmed)}
		}
		d := strings.IndexAny(trimmed, "=:")
		if d <= 0 {
			return nil, &Error{File: filename, Line: lineNo, Msg: fmt.Sprintf("expected \"key = value\", found %q", trimmed)}
		}
		key = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(trimmed[:d])), "-", "_")
		v := cfgValue{keyLine: lineNo}
		if val := strings.TrimSpace(trimmed[d+1:]); val != "" {
			v.lines = append(v.lines, cfgLine{val, lineNo})
		}
		sect[key] = v
	}
	// configparser strips trailing empty lines of values.
	for _, s := range sections {
		for k, v := range s {
			for len(v.lines) > 0 && v.lines[len(v.lines)-1].text == "" {
				v.lines = v.lines[:len(v.lines)-1]
			}
			s[k] = v
		}
	}
	return sections, nil
}
