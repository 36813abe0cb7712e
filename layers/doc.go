// Package layers makes what goes into a strata image and the key of each
// part: the base of RPM dependencies, installed by one of two strategies
// behind the Installer interface (the host's dnf --installroot into the
// mounted image root, or dnf inside a working container of the base
// image) and split into layers by package, a layer per group of source
// RPMs keyed by its NEVRAs and one for the rpm database and the files no
// package owns; the resolution of a lock of exact RPMs with dnf (the lock
// file's format is package lock); and the final image's layers: a
// checkout layer per source, written from git objects as one tar stream,
// and an install layer per install command, each keyed by what determines
// its bytes, stacked in the store (reused, restacked by hard links, or
// written), composed with their configuration into an image, or streamed
// to a registry.
//
// It uses the buildah and containers/storage libraries, never their CLIs.
package layers
