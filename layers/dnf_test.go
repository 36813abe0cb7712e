package layers

import (
	"errors"
	"strings"
	"testing"

	"github.com/strata-build/strata/recipes"
)

func TestDnfError(t *testing.T) {
	repos := []recipes.Repo{{ID: "local", BaseURL: "file:///srv/repo"}}
	failed := errors.New("exit status 1")
	tests := []struct {
		name, out, want string
	}{
		{"unreachable",
			"  - Curl error (37): Couldn't read a file:// file for file:///srv/repo/repodata/repomd.xml\n" +
				"Error: Failed to download metadata for repo 'local': Cannot download repomd.xml: Cannot download repodata/repomd.xml: All mirrors were tried\n",
			`repository "local" (file:///srv/repo) is unreachable: check the URL in base.repos and the network (dnf said "Cannot download repomd.xml: Cannot download repodata/repomd.xml: All mirrors were tried")`},
		{"corrupt repomd",
			"local  7.8 kB/s |   8  B     00:00\nError: Failed to download metadata for repo 'local': repomd.xml parser error: Parse error at line: 1 (Document is empty\n)\n",
			`repository "local" (file:///srv/repo) has corrupt metadata: dnf said "repomd.xml parser error: Parse error at line: 1 (Document is empty": regenerate its repodata (createrepo_c) or fix the mirror`},
		{"repository before the missing package",
			"Error: Failed to download metadata for repo 'local': repomd.xml parser error: x\nIgnoring repositories: local\nNo match for argument: foo\n",
			`repository "local" (file:///srv/repo) has corrupt metadata`},
		{"unknown package", "No match for argument: foo\nNo match for argument: bar\nError: Unable to find a match: foo bar\n",
			`package "foo", "bar" not found in the repositories "local"`},
		{"nothing provides", " - nothing provides libfoo.so.1()(64bit) needed by app-1.0-1.x86_64\n",
			`cannot resolve dependencies: nothing provides "libfoo.so.1()(64bit)" needed by "app-1.0-1.x86_64" in the repositories "local"`},
		{"other", "Error: Transaction test error:\n  file /x conflicts\n", "dnf failed: exit status 1: file /x conflicts"},
		{"repository of the base image", "Error: Failed to download metadata for repo 'fedora': Cannot download repomd.xml: Curl error (6)\n",
			`a repository is unreachable ("local"): check base.repos and the network: Cannot download repomd.xml: Curl error (6)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dnfError(failed, tt.out, repos).Error()
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("got  %s\nwant %s…", got, tt.want)
			}
		})
	}
}
