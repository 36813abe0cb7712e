package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"
)

// TestCIRecipes checks every file of docs/ci: each YAML document parses;
// every shell script in it (run:, script:, before_script:) passes bash -n;
// every strata command line in them names a command and flags the app has,
// and a value for each flag that takes one.
func TestCIRecipes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "docs", "ci", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("docs/ci: %v %v", files, err)
	}
	app := newApp(io.Discard, io.Discard)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dec := yaml.NewDecoder(bytes.NewReader(data))
			var scripts []string
			for {
				var doc yaml.Node
				if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatalf("YAML: %v", err)
				}
				scripts = append(scripts, shellScripts(&doc)...)
			}
			lines := 0
			for _, s := range scripts {
				// CI placeholders ($(params.x), ${{ x }}) are not shell.
				s = placeholderRE.ReplaceAllString(s, "PLACEHOLDER")
				if out, err := exec.Command("bash", "-n", "-c", s).CombinedOutput(); err != nil {
					t.Errorf("bash -n: %v: %s\n%s", err, out, s)
				}
				for _, line := range strataLines(s) {
					lines++
					if err := checkCommandLine(app, line); err != nil {
						t.Errorf("%q: %v", line, err)
					}
				}
			}
			if len(scripts) > 0 && lines == 0 {
				t.Errorf("no strata command line found in the scripts")
			}
		})
	}
}

// TestCheckCommandLine: the checker refuses what strata would.
func TestCheckCommandLine(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for line, ok := range map[string]bool{
		`strata build --push --profile "$p" --digestfile digest recipe.yaml`: true,
		`strata --log-format json build --push r.yaml`:                       true,
		`strata build r.yaml --tag v1 -q`:                                    true,
		`strata cache prune --keep 3`:                                        true,
		`strata build --pussh r.yaml`:                                        false,
		`strata biuld r.yaml`:                                                false,
		`strata build r.yaml --profile`:                                      false,
		`strata --no-such-global build r.yaml`:                               false,
		`strata cache prune --older 3d`:                                      false,
	} {
		if err := checkCommandLine(app, line); (err == nil) != ok {
			t.Errorf("%s: %v, want ok %v", line, err, ok)
		}
	}
}

var placeholderRE = regexp.MustCompile(`\$\(\s*(params|results|workspaces|context)\.[^)]*\)|\$\{\{[^}]*\}\}`)

// shellScripts returns the values of run:, script: and before_script:
// keys, a list joined one command per line.
func shellScripts(n *yaml.Node) []string {
	var out []string
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			out = append(out, shellScripts(c)...)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "run", "script", "before_script", "after_script":
				if v.Kind == yaml.ScalarNode {
					out = append(out, v.Value)
					continue
				}
				if v.Kind == yaml.SequenceNode {
					var cmds []string
					for _, c := range v.Content {
						cmds = append(cmds, c.Value)
					}
					out = append(out, strings.Join(cmds, "\n"))
					continue
				}
			}
			out = append(out, shellScripts(v)...)
		}
	}
	return out
}

// strataLines returns the strata command lines of a script, continuation
// lines joined, up to a pipe, redirection or comment.
func strataLines(script string) []string {
	script = strings.ReplaceAll(script, "\\\n", " ")
	var out []string
	for _, l := range strings.Split(script, "\n") {
		for _, part := range regexp.MustCompile(`&&|\|\||;|\|`).Split(l, -1) {
			part = strings.TrimSpace(part)
			if i := strings.Index(part, " #"); i >= 0 {
				part = part[:i]
			}
			if i := strings.IndexAny(part, "<>"); i >= 0 {
				part = part[:i]
			}
			if strings.HasPrefix(part, "strata ") || part == "strata" {
				out = append(out, strings.TrimSpace(part))
			}
		}
	}
	return out
}

// checkCommandLine checks a strata command line against the app: its
// command exists, and each flag is the command's or a global one, with a
// value where it takes one.
func checkCommandLine(app *cli.App, line string) error {
	words, err := shellWords(line)
	if err != nil {
		return err
	}
	args := interspersed(app, words)
	i := 1
	for i < len(args) && isFlag(args[i]) {
		if lookup(app.Flags, args[i]) == nil {
			return errors.New("unknown global flag " + args[i])
		}
		i += flagLen(app.Flags, args, i)
	}
	if i == len(args) {
		return errors.New("no command")
	}
	cmd := findCommand(app.Commands, args[i])
	if cmd == nil {
		return errors.New("unknown command " + args[i])
	}
	for i++; i < len(args); i++ {
		if len(cmd.Subcommands) > 0 {
			if sub := findCommand(cmd.Subcommands, args[i]); sub != nil {
				cmd = sub
				continue
			}
		}
		a := args[i]
		if a == "--" {
			break
		}
		if !isFlag(a) {
			continue
		}
		f := lookup(cmd.Flags, a)
		if f == nil {
			return errors.New("unknown flag " + a + " of " + cmd.Name)
		}
		if n := flagLen(cmd.Flags, args, i); n == 2 {
			i++
		} else if df, ok := f.(cli.DocGenerationFlag); ok && df.TakesValue() && !strings.Contains(a, "=") {
			return errors.New("flag " + a + " lacks its value")
		}
	}
	return nil
}

// shellWords splits a command line as the shell would, for quotes; the
// values of $(...) and ${...} stay words of their own.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, quote, depth := false, byte(0), 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			depth++
			cur.WriteByte(c)
			in = true
		case c == ')' && depth > 0:
			depth--
			cur.WriteByte(c)
		case depth > 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unbalanced quotes")
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
