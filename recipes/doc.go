// Package recipes owns the strata recipe: the YAML model that describes an
// image (a base layer of RPM dependencies and the image configuration),
// strict loading with file:line:column positions, and validation that names
// the offending field and the values it allows.
//
// Loading never touches storage or the network: it is safe to call from
// `strata validate` and from tests.
package recipes
