// Command mkrepo makes the offline demo's inputs in DIR: an RPM repository
// (DIR/repo) and a git repository with branches main and stable
// (DIR/src/hello-app), the internal project the demo installs from git:
// go run ./hack/mkrepo DIR.
package main

import (
	"fmt"
	"os"

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

func run(dir string) error { return fixtures.MakeDemo(dir) }
