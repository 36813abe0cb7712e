// Package recipes owns the strata recipe: the YAML model that describes an
// image (a base of RPM dependencies, the sources, the image
// configuration, the profiles and where it is pushed), strict loading with
// file:line:column positions, and validation that names the offending
// field and the values it allows, every problem at once. It also reads the
// dependencies of the sources (ReadDeps: RPM spec files, setup.cfg,
// pyproject.toml and requirements files, mapped to RPM names such as
// python3dist(requests)).
//
// Loading never touches storage or the network: it is safe to call from
// `strata validate` and from tests.
package recipes
