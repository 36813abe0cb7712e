// Command mkrepo makes the offline demo's inputs in DIR: an RPM repository
// (DIR/repo) and a git repository with branches main and stable
// (DIR/src/hello-app), the internal project the demo installs from git:
// go run ./hack/mkrepo DIR.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-build/strata/internal/fixtures"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkrepo DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "mkrepo: %v\n", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := fixtures.BuildRepo(filepath.Join(dir, "repo"), fixtures.Demo(), 1700000000); err != nil {
		return err
	}
	src := filepath.Join(dir, "src", "hello-app")
	if err := os.RemoveAll(src); err != nil {
		return err
	}
	g, err := fixtures.NewGitRepo(src, 1700000000)
	if err != nil {
		return err
	}
	app := func(where string) string {
		return "#!/bin/sh\necho \"hello-app from git, branch " + where + ", installed into the final layer\"\n"
	}
	if _, err := g.Commit("main", "hello-app for production", map[string]string{
		// Its spec needs demo-hello: strata puts that in the base layer.
		"hello-app.spec": "Name: hello-app\nVersion: 1.0\nRelease: 1\nSummary: demo\nLicense: MIT\nRequires: demo-hello\n%description\ndemo\n",
		"app.sh":         app("stable"),
	}); err != nil {
		return err
	}
	if _, err := g.Git("branch", "stable"); err != nil {
		return err
	}
	_, err = g.Commit("main", "hello-app, next version", map[string]string{"app.sh": app("main")})
	return err
}
