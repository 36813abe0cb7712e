// Package build runs the strata pipeline over one store, for a recipe its
// caller has loaded: Prepare plans it (the profile, every source resolved
// to a commit and fetched into the clone cache, the base set from the
// recipe and the sources' dependency files, base.from resolved as podman
// resolves it, the lock, the base key); Run then reuses or builds the base
// (the local store, then the registry cache), makes the final image as a
// layer per source checkout and install command (reused, restacked or
// built, or composed in the registry without a pull), and writes it to
// its destination or pushes it. Push, the base cache (ls, prune) and the
// lock (Plan.Lock) are here too.
//
// The package is silent unless handed a logger and an output writer.
package build
