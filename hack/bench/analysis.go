package main

// analysis is the maintainers' reading of a missed goal: why it is missed
// and what would close it. The numbers around it come from the run; this
// text is about the structure, and is kept here so that `make bench`
// regenerates the report with it.
var analysis = map[string]string{
	scCode: `Why, where it is missed: the changed source's files are written once into its checkout layer (from git objects, no checkout on disk) and its install command runs beside that, over the base and its own checkout; but the next source's layers, unchanged, must be restacked over the new layer: containers/storage has a layer per parent, so the unchanged checkout layer's files are written again (its stored diff applied over the new parent). That restack costs about what the changed source costs, as buildah's COPY of the next source does; strata still skips the next source's RUN.

What would close it: restacking without writing the files again: the new layer's directory made of hard links to the stored layer's files (layer directories are never written in place), through containers/storage's staged-layer API, as its partial pulls deduplicate files.`,
	scDep: `Why: both tools rebuild the dnf layer at about the same cost (dnf itself is most of it); then strata writes every source's checkout layer over the new base and reruns every install command (their keys include the base), as buildah redoes every COPY and RUN after its RUN dnf.

What would close it: nothing structural: the base part is at parity, and the layers over it cost what they cost in both.`,
	scFreshCode: `Why, where it is missed: the changed source has an install command, which needs the base's files: the base (the 334 MB Debian+dnf image) is pulled from the registry cache into the fresh store, which is most of the time; then the checkout layer is streamed to the registry and the command runs. buildah also loads its base (from the archive), and pulls its cached layers.

What would close it: nothing within the design for a source with an install command: its files must exist under the base. A source without one moves only its checkout layer (no base pull), as the e2e test checks.`,
	scFresh: `Why, where it is missed: strata's time is the process start, the user-namespace and store setup, resolving the branches and two manifest requests; the peer's is a pull and a push.

What would close it: nothing structural is left: no blob moves.`,
}
