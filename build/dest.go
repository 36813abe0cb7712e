package build

import (
	"errors"
	"fmt"
	"strings"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"
	"go.podman.io/storage"

	is "go.podman.io/image/v5/storage"
)

// ErrUsage is wrapped by errors about flags and arguments (exit code 2).
var ErrUsage = errors.New("usage error")

// Destination is where a built image goes.
type Destination struct {
	Transport string // containers-storage, oci, oci-archive, docker-archive
	Path      string // the name (containers-storage) or path and tag
}

// ParseDestination checks an --output value; "" means the local store,
// named after the recipe.
func ParseDestination(dest, recipeName string) (Destination, error) {
	if dest == "" {
		return Destination{Transport: "containers-storage", Path: "localhost/" + recipeName + ":latest"}, nil
	}
	transport, rest, ok := strings.Cut(dest, ":")
	if !ok || (!imageTransports[transport] && !strings.HasPrefix(rest, "//")) {
		// A bare name, with or without a tag, goes to the local store,
		// as buildah commit takes it (web, web:v1, quay.io/team/web:v1).
		transport, rest = "containers-storage", dest
	}
	switch transport {
	case "containers-storage":
		rest = localName(rest)
		if _, err := reference.ParseNormalizedNamed(rest); err != nil {
			return Destination{}, fmt.Errorf("%w: invalid --output %q: %v", ErrUsage, dest, err)
		}
	case "oci", "oci-archive", "docker-archive":
		if rest == "" {
			return Destination{}, fmt.Errorf("%w: invalid --output %q: a path is required after %q", ErrUsage, dest, transport+":")
		}
		if _, err := alltransports.ParseImageName(dest); err != nil {
			return Destination{}, fmt.Errorf("%w: invalid --output %q: %v", ErrUsage, dest, err)
		}
	default:
		return Destination{}, fmt.Errorf("%w: invalid --output %q: unknown transport %q (want NAME[:TAG], containers-storage:NAME, oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE)", ErrUsage, dest, transport)
	}
	return Destination{Transport: transport, Path: rest}, nil
}

func (d Destination) String() string { return d.Transport + ":" + d.Path }

// imageTransports are the transports containers/image knows; a
// destination that starts with another word and a colon is a NAME:TAG.
var imageTransports = map[string]bool{
	"containers-storage": true, "oci": true, "oci-archive": true, "docker-archive": true,
	"docker": true, "docker-daemon": true, "dir": true, "sif": true, "tarball": true, "ostree": true,
}

// archive returns the file and the image name of an oci-archive: or
// docker-archive: destination (FILE[:NAME]); ok is false for others.
func (d Destination) archive() (file, ref string, ok bool) {
	if d.Transport != "oci-archive" && d.Transport != "docker-archive" {
		return "", "", false
	}
	file, ref, _ = strings.Cut(d.Path, ":")
	return file, ref, true
}

// Reference resolves the destination against a store.
func (d Destination) Reference(store storage.Store) (types.ImageReference, error) {
	if d.Transport == "containers-storage" {
		named, err := reference.ParseNormalizedNamed(d.Path)
		if err != nil {
			return nil, err
		}
		return is.Transport.ParseStoreReference(store, reference.TagNameOnly(named).String())
	}
	return alltransports.ParseImageName(d.String())
}

// localName qualifies a short name with "localhost/", as buildah and
// podman do for images they build.
func localName(name string) string {
	first, _, hasSlash := strings.Cut(name, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return name
	}
	return "localhost/" + name
}
