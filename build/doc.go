// Package build runs the strata pipeline over one store: load the recipe,
// plan the base layer and its key, reuse or build the base, apply the image
// configuration, and commit the result to its destination.
//
// The package is silent unless handed a logger and an output writer; it
// never sees command-line flags.
package build
