package main

// analysis is the maintainers' reading of a missed goal: why it is missed
// and what would close it. The numbers around it come from the run; this
// text is about the structure, and is kept here so that `make bench`
// regenerates the report with it.
var analysis = map[string]string{
	scCode: `Why, where it is missed: strata's code-change build pays the same fixed costs as a full one (the user-namespace and store setup, resolving every branch, the final key) and, for the changed source, a checkout into the clone cache before its layer is written from it; its install command runs in a working container made for it (over the base and its own checkout only, so the checkout layer is written a second time over the base) and its output is committed and restacked. buildah reruns the changed source's COPY and RUN and every later one, but with no checkout and no second write.

What would close it: writing the checkout layer straight from the git objects (no checkout in the clone cache), and running an install command over the chain layer itself when the source's checkout is the first over the base (no second write).`,
	scDep: `Why: both tools rebuild the dnf layer at about the same cost (dnf itself is most of it); then strata writes every source's checkout layer over the new base and reruns every install command (their keys include the base), as buildah redoes every COPY and RUN after its RUN dnf.

What would close it: nothing structural: the base part is at parity, and the layers over it cost what they cost in both.`,
	scFresh: `Why, where it is missed: strata's time is the process start, the user-namespace and store setup, resolving the branches and two manifest requests; the peer's is a pull and a push.

What would close it: nothing structural is left: no blob moves.`,
}
