package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed reorders a command line so that flags may follow the
// positional arguments, as podman, buildah and skopeo take them
// (`strata push IMAGE DEST --tls-verify=false`): urfave/cli stops parsing
// flags at the first argument. The command's flags move before its
// arguments, in their order; a global flag given after the command moves
// before the command; after "--" everything is an argument. Flags it does
// not know stay in place for the parser to refuse.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return args // shell completion: urfave/cli reads the words as typed
	}
	out := []string{args[0]}
	i := 1
	// Global flags before the command.
	for i < len(args) && isFlag(args[i]) {
		n := flagLen(app.Flags, args, i)
		out = append(out, args[i:i+n]...)
		i += n
	}
	if i == len(args) {
		return out
	}
	cmds, path := app.Commands, []string{}
	var cmd *cli.Command
	for i < len(args) {
		c := findCommand(cmds, args[i])
		if c == nil {
			break
		}
		cmd, cmds = c, c.Subcommands
		path = append(path, args[i])
		i++
		if len(cmds) == 0 {
			break
		}
		// Flags of a command with subcommands come before the subcommand.
		for i < len(args) && isFlag(args[i]) && findCommand(cmds, args[i]) == nil {
			n := flagLen(c.Flags, args, i)
			path = append(path, args[i:i+n]...)
			i += n
		}
	}
	if cmd == nil || cmd.SkipFlagParsing {
		return args
	}
	var global, flags, positional []string
	trailing := ""
	dashes := false
	for i < len(args) {
		a := args[i]
		switch {
		case dashes || !isFlag(a):
			positional = append(positional, a)
			i++
		case a == "--":
			dashes = true
			i++
		case lookup(cmd.Flags, a) == nil && lookup(app.Flags, a) != nil:
			n := flagLen(app.Flags, args, i)
			global = append(global, args[i:i+n]...)
			i += n
		case i == len(args)-1 && takesValue(cmd.Flags, a):
			// A value flag last, without its value: left last, for the
			// parser to say so rather than take an argument as its value.
			trailing = a
			i++
		default:
			n := flagLen(cmd.Flags, args, i)
			flags = append(flags, args[i:i+n]...)
			i += n
		}
	}
	out = append(out, global...)
	out = append(out, path...)
	out = append(out, flags...)
	if dashes {
		out = append(out, "--")
	}
	out = append(out, positional...)
	if trailing != "" {
		out = append(out, trailing)
	}
	return out
}

// takesValue says whether a names a flag of flags that takes a value and
// does not carry it ("--profile", not "--profile=stg").
func takesValue(flags []cli.Flag, a string) bool {
	f, ok := lookup(flags, a).(cli.DocGenerationFlag)
	return ok && f.TakesValue() && !strings.Contains(a, "=")
}

// isFlag says whether a looks like a flag ("-" alone is an argument).
func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// flagName is a's flag name without dashes and value.
func flagName(a string) string {
	name := strings.TrimLeft(a, "-")
	if k := strings.IndexByte(name, '='); k >= 0 {
		name = name[:k]
	}
	return name
}

// lookup returns the flag of flags that a names, or nil.
func lookup(flags []cli.Flag, a string) cli.Flag {
	name := flagName(a)
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	if name == "help" || name == "h" {
		return cli.HelpFlag
	}
	return nil
}

// flagLen is how many arguments the flag at args[i] takes up: two for a
// flag with a value given apart ("--format json"), else one.
func flagLen(flags []cli.Flag, args []string, i int) int {
	a := args[i]
	if a == "--" || strings.Contains(a, "=") {
		return 1
	}
	f, ok := lookup(flags, a).(cli.DocGenerationFlag)
	if ok && f.TakesValue() && i+1 < len(args) {
		return 2
	}
	return 1
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}
