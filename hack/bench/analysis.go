package main

// analysis is the maintainers' reading of a missed goal: why it is missed
// and what would close it. The numbers around it come from the run; this
// text is about the structure, and is kept here so that `make bench`
// regenerates the report with it.
var analysis = map[string]string{
	scCode: `Why: the issue's contract puts all sources in ONE final layer, so a commit in one source rebuilds the whole layer: every file of every source is created in the working container (through the overlay mount, the dearest create on this disk: a CPU profile, ` + "`STRATA_CPUPROFILE=cpu.prof strata build …`" + ` then ` + "`go tool pprof -top`" + `, shows about 3 s of a 7 s code-change build in openat() of copyFile) and again when the commit extracts the layer into the store. buildah keeps a layer per COPY and redoes only the changed source and those after it. Per file both tools pay about the same; strata handles about 1.5 times as many files here (all three sources, plus the changed source's checkout).

What strata already does: checkouts are written straight from the git objects (no go-git reset), sources are checked out side by side, and copied side by side straight into the mounted root (no buildah Add, no tar stream). Over this harness's runs these took the code-change build from 8.2 s to about 5.8 s, the no-change rebuild from 291 ms to about 45 ms and the fresh runner from 11.4 s to about 8.5 s. What remains is the commit (about 3 s: the layer is read from the container and written again into the store) and the one-layer rebuild itself.

What would close it: (1) a layer per source, reused while its commit is unchanged (what buildah's layer cache gives it); it breaks the one-layer contract of the final layer, so it needs a decision, not just code; (2) writing the sources into the container layer's upper directory before it is mounted (no overlay lookups) and generating them from the git objects without a checkout on disk, which would roughly halve the cost of the file creations; (3) on machines with a faster disk (tmpfs here: 4.0 s against 2.4 s) the gap narrows but does not close.`,
	scDep: `Why: both tools rebuild the dnf layer at about the same cost (dnf itself is most of it), then strata rebuilds its one final layer with all sources on the new base, as buildah redoes every COPY and RUN after its RUN dnf; strata's final layer costs more than buildah's three COPY layers for the reason given under the code change.

What would close it: the same as for the code change (fewer file creations in the final layer); the base part is at parity.`,
	scFresh: `Why: buildah's --cache-from (buildah 1.28) pulls every layer of the previous build, the source layers included, and rebuilds nothing; strata shares only its base through the registry (by design: the base is the expensive part), so a fresh runner pulls the base and then checks out the three sources and builds the final layer. Both are bound by pulling about 350 MB of base.

What would close it: sharing the final image through the registry too (keyed by the final key, as the base is by its key) and overlapping the source checkouts with the base pull; the pull itself bounds both tools about equally, so a ratio of 0.5 needs buildah to rebuild something it does not here.`,
}
