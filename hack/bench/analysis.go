package main

// analysis is the maintainers' reading of a missed goal: why it is missed
// and what would close it. The numbers around it come from the run; this
// text is about the structure, and is kept here so that `make bench`
// regenerates the report with it.
var analysis = map[string]string{
	scCode: `Why, where it is missed: the changed source's files are written once, from git objects into its checkout layer (no checkout on disk); its install command's own checkout over the base is made of hard links to that layer's files, and the next source's unchanged layers are restacked over the new ones the same way (links, and the tar-split containers/storage kept), so no other file is written. What is left is the changed source itself: fetching its commit into the clone cache (the .git pack the image carries), creating its files in the new layer, and running its install command in a container (the runtime's start and the commit); buildah spends about the same on the same source, and then copies the next source again.

What would close it: the remaining cost is the changed source's own files and its install command, which both tools pay; a cheaper container start (runc's create and start, buildah's commit of the command's layer) is where more time would come from.`,
	scDep: `Why: both tools rebuild the dnf layer at about the same cost (dnf itself is most of it); then strata writes every source's checkout layer over the new base and reruns every install command (their keys include the base), as buildah redoes every COPY and RUN after its RUN dnf.

What would close it: nothing structural: the base part is at parity, and the layers over it cost what they cost in both.`,
	scFreshCode: `Why, where it is missed: the changed source has an install command, which needs the base's files: the base (the 334 MB Debian+dnf image) is pulled from the registry cache into the fresh store, which is most of the time; then the checkout layer is streamed to the registry and the command runs. buildah also loads its base (from the archive), and pulls its cached layers.

What would close it: nothing within the design for a source with an install command: its files must exist under the base. A source without one moves only its checkout layer (no base pull), as the e2e test checks.`,
	scPush: `Why, where it is missed: the goal's reference counts the new layers and the attachments, not the image's configuration and manifest, and strata's are large: the configuration carries the facts the SBOM is made from and the base's provenance as labels (` + "`io.strata.base.rpms`" + ` alone is 27 kB for this base's 160 packages, then the base's key document and the layer record) and a history entry per layer, and the manifest lists 44 layers now that the base is split by package; buildah's are 5 kB. The HTTP of the requests (a check per layer, the uploads, the manifests and the referrers) is the rest. Before the base was split the same push was 1.06×; the base's layout label (11 kB) is left out of final images since.

What would close it: moving the SBOM's facts out of the configuration (the SBOM attachment already carries them) would take the largest part; fewer requests would need the registry to be asked once for the blobs it has, which the registry API does not offer.`,
	scFresh: `Why, where it is missed: no blob moves; strata's time is the process start, the store, cloning the three sources into the runner's empty clone cache (the .git packs the image carries: the largest part), and reading the tag's manifest and configuration. Its spread is wide: some repetitions spend about a second more between the sources and the registry's answer, which the same three sources over a small base, outside the benchmark, do not show (0.8 s, eight runs, every one alike); where that second goes is not found yet.

What would close it: nothing structural: a runner that keeps its clone cache (docs/ci) skips the clones, and the registry part is two manifest reads.`,
}
