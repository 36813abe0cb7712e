// Command mkrepo builds the offline demo's RPM repository:
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
	if err := fixtures.BuildRepo(os.Args[1], fixtures.Demo(), 1700000000); err != nil {
		fmt.Fprintf(os.Stderr, "mkrepo: %v\n", err)
		os.Exit(1)
	}
}
