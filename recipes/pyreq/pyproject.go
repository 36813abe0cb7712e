package pyreq

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// ReadPyproject reads a pyproject.toml: the PEP 621 [project] name,
// dependencies and optional-dependencies, and [build-system] requires.
//
// Dependencies listed in project.dynamic are read the way setuptools does
// from [tool.setuptools.dynamic]: dependencies = {file = [...]} and
// optional-dependencies.EXTRA = {file = [...]}, each file fetched with
// readFile (paths relative to the project root) and read as a list of
// requirements with comments and "\" continuations but no pip options;
// their requirements carry that file's name and lines. Any other dynamic
// form is an error, as is a [tool.poetry] table without [project] (poetry's
// own dependency syntax is not supported). A file without [project] (for
// instance a setup.cfg project with only [build-system]) yields no project
// name and no run-time requirements.
func ReadPyproject(filename string, src []byte, readFile func(rel string) ([]byte, error)) (*Metadata, error) {
	var doc map[string]any
	if _, err := toml.Decode(string(src), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			line := pe.Position.Line
			if st := pe.Position.Start; st >= 0 && st < len(src) {
				// The library counts an error at a newline as being on
				// the next line; report the line the newline ends.
				line = strings.Count(string(src[:st]), "\n") + 1
			}
			return nil, &Error{File: filename, Line: line, Msg: "invalid toml: " + pe.Message, Err: err}
		}
		return nil, &Error{File: filename, Msg: fmt.Sprintf("invalid toml: %v", err), Err: err}
	}
	pp := &pyprojectReader{file: filename, doc: doc, pos: scanTOML(string(src)), readFile: readFile}
	return pp.read()
}

type pyprojectReader struct {
	file     string
	doc      map[string]any
	pos      *tomlPos
	readFile func(string) ([]byte, error)
}

func (pp *pyprojectReader) errf(line int, format string, args ...any) error {
	return &Error{File: pp.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// get returns the value at a key path.
func (pp *pyprojectReader) get(keys ...string) (any, bool) {
	var v any = pp.doc
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func dotted(keys []string) string { return strings.Join(keys, ".") }

// table returns the table at keys (nil if absent).
func (pp *pyprojectReader) table(keys ...string) (map[string]any, error) {
	v, ok := pp.get(keys...)
	if !ok {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, pp.errf(pp.pos.keyLine(keys...), "%s must be a table", dotted(keys))
	}
	return m, nil
}

// strings returns the array of strings at keys (nil if absent).
func (pp *pyprojectReader) strings(keys ...string) ([]string, error) {
	v, ok := pp.get(keys...)
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, pp.errf(pp.pos.keyLine(keys...), "%s must be an array of strings", dotted(keys))
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, pp.errf(pp.pos.elemLine(i, keys...), "%s must be an array of strings", dotted(keys))
		}
		out[i] = s
	}
	return out, nil
}

// requirements parses the array of requirement strings at keys.
func (pp *pyprojectReader) requirements(keys ...string) ([]Requirement, error) {
	list, err := pp.strings(keys...)
	if err != nil {
		return nil, err
	}
	var reqs []Requirement
	for i, s := range list {
		line := pp.pos.elemLine(i, keys...)
		r, err := ParseRequirement(s)
		if err != nil {
			return nil, errAt(pp.file, line, err)
		}
		r.File, r.Line = pp.file, line
		reqs = append(reqs, r)
	}
	return reqs, nil
}

func (pp *pyprojectReader) read() (*Metadata, error) {
	md := &Metadata{Extras: map[string][]Requirement{}}
	var err error
	if _, err = pp.table("build-system"); err != nil {
		return nil, err
	}
	if md.BuildRequires, err = pp.requirements("build-system", "requires"); err != nil {
		return nil, err
	}
	project, err := pp.table("project")
	if err != nil {
		return nil, err
	}
	if project == nil {
		if _, poetry := pp.get("tool", "poetry"); poetry {
			return nil, pp.errf(pp.pos.keyLine("tool", "poetry"),
				"poetry metadata is not supported: declare the dependencies in a PEP 621 [project] table (poetry-core 2 reads it too)")
		}
		return md, nil
	}
	if v, ok := project["name"]; ok {
		name, ok := v.(string)
		if !ok {
			return nil, pp.errf(pp.pos.keyLine("project", "name"), "project.name must be a string")
		}
		md.Project = Normalize(name)
	}
	dynamic, err := pp.strings("project", "dynamic")
	if err != nil {
		return nil, err
	}
	if slices.Contains(dynamic, "dependencies") {
		if _, ok := project["dependencies"]; ok {
			return nil, pp.errf(pp.pos.keyLine("project", "dependencies"), "project.dependencies is set but also listed in project.dynamic")
		}
		if md.Requires, err = pp.dynamicFile(pp.pos.keyLine("project", "dynamic"), "dependencies"); err != nil {
			return nil, err
		}
	} else if md.Requires, err = pp.requirements("project", "dependencies"); err != nil {
		return nil, err
	}
	if slices.Contains(dynamic, "optional-dependencies") {
		if _, ok := project["optional-dependencies"]; ok {
			return nil, pp.errf(pp.pos.keyLine("project", "optional-dependencies"), "project.optional-dependencies is set but also listed in project.dynamic")
		}
		extras, err := pp.table("tool", "setuptools", "dynamic", "optional-dependencies")
		if err != nil {
			return nil, err
		}
		for _, extra := range sortedKeys(extras) {
			reqs, err := pp.dynamicFile(pp.pos.keyLine("project", "dynamic"), "optional-dependencies", extra)
			if err != nil {
				return nil, err
			}
			md.Extras[Normalize(extra)] = append(md.Extras[Normalize(extra)], reqs...)
		}
		return md, nil
	}
	extras, err := pp.table("project", "optional-dependencies")
	if err != nil {
		return nil, err
	}
	for _, extra := range sortedKeys(extras) {
		reqs, err := pp.requirements("project", "optional-dependencies", extra)
		if err != nil {
			return nil, err
		}
		md.Extras[Normalize(extra)] = append(md.Extras[Normalize(extra)], reqs...)
	}
	return md, nil
}

// dynamicFile reads [tool.setuptools.dynamic] FIELD = {file = ...}.
func (pp *pyprojectReader) dynamicFile(dynLine int, field ...string) ([]Requirement, error) {
	keys := append([]string{"tool", "setuptools", "dynamic"}, field...)
	name := strings.Join(field, ".")
	t, err := pp.table(keys...)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, pp.errf(dynLine, "%q is dynamic but [tool.setuptools.dynamic] does not set %s = {file = [...]}; other dynamic metadata is not supported", field[0], name)
	}
	fileKeys := append(slices.Clone(keys), "file")
	var files []string
	switch f := t["file"].(type) {
	case string:
		files = []string{f}
	case []any:
		if files, err = pp.strings(fileKeys...); err != nil {
			return nil, err
		}
	default:
		return nil, pp.errf(pp.pos.keyLine(keys...), "tool.setuptools.dynamic.%s must be {file = [...]}", name)
	}
	lines := make([]int, len(files))
	for i := range files {
		lines[i] = pp.pos.elemLine(i, fileKeys...)
	}
	return readListedFiles(pp.file, files, lines, pp.readFile)
}

// readListedFiles reads the requirements files a project file lists
// (setuptools' file: directive, in setup.cfg or pyproject.toml): each is
// fetched with readFile (paths relative to the project root) and read as a
// list of requirements with comments and "\" continuations but no pip
// options. Their requirements carry that file's name and lines; errors
// about a file name point at lines[i] of file.
func readListedFiles(file string, files []string, lines []int, readFile func(string) ([]byte, error)) ([]Requirement, error) {
	var reqs []Requirement
	for i, f := range files {
		line := lines[i]
		rel := path.Clean(f)
		if path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf("dependency file %q is outside the project", f)}
		}
		if readFile == nil {
			return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf("cannot read dependency file %q: no file reader", f)}
		}
		src, err := readFile(rel)
		if err != nil {
			return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf("cannot read dependency file %q: %v", f, err), Err: err}
		}
		rd := &reqTxtReader{readFile: readFile}
		r, err := rd.read(rel, path.Dir(rel), src, []string{rel})
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r...)
	}
	return reqs, nil
}
