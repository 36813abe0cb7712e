// Package examples holds the example recipes (demo.yaml, the offline
// demo; packit-service.yaml, the deployment the project was made for), for
// the tests that build them.
package examples

import "embed"

// FS holds the example recipes by file name.
//
//go:embed *.yaml
var FS embed.FS
