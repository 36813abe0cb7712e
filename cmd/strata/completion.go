package main

import (
	"fmt"

	"github.com/strata-build/strata/build"
	"github.com/urfave/cli/v2"
)

// The bash and zsh scripts ask strata itself: the words typed so far and
// --generate-bash-completion (urfave/cli's completion protocol) print the
// commands, subcommands or flags that may follow.
const bashCompletion = `# bash completion for strata: source it, or install it as
# /usr/share/bash-completion/completions/strata
_strata() {
    local cur="${COMP_WORDS[COMP_CWORD]}" words
    if [[ "$cur" == -* ]]; then
        words=$("${COMP_WORDS[@]:0:COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
    else
        words=$("${COMP_WORDS[@]:0:COMP_CWORD}" --generate-bash-completion 2>/dev/null)
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -o bashdefault -F _strata strata
`

const zshCompletion = `#compdef strata
# zsh completion for strata: put it in a directory of $fpath as _strata
_strata() {
    local -a opts
    local cur=${words[CURRENT]}
    if [[ "$cur" == -* ]]; then
        opts=("${(@f)$(${words[1,CURRENT-1]} "$cur" --generate-bash-completion 2>/dev/null)}")
    else
        opts=("${(@f)$(${words[1,CURRENT-1]} --generate-bash-completion 2>/dev/null)}")
    fi
    if [[ -n "${opts[1]}" ]]; then
        _describe 'strata' opts
    else
        _files
    fi
}
compdef _strata strata
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "SHELL",
		Description: "Load it in the running shell, e.g. `source <(strata completion bash)`, or install it: " +
			"bash: /usr/share/bash-completion/completions/strata; zsh: _strata in a directory of $fpath; " +
			"fish: ~/.config/fish/completions/strata.fish.",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("%w: want one SHELL argument: bash, zsh or fish", build.ErrUsage)
			}
			var script string
			switch sh := c.Args().First(); sh {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				script = s
			default:
				return fmt.Errorf("%w: unknown shell %q: want bash, zsh or fish", build.ErrUsage, sh)
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}
