// Package layers assembles the layers of a strata image: the base layer of
// RPM dependencies, installed by one of two strategies behind the Installer
// interface (the host's dnf --installroot into the mounted image root, or
// dnf inside a working container of the base image), and the key that
// identifies a base layer by everything that determines its content.
//
// It uses the buildah and containers/storage libraries, never their CLIs.
package layers
