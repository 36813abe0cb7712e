#!/usr/bin/env bash
# Runs the compiled end-to-end test binary (as the given user, or as the
# caller when USER_NAME is empty), echoes its output and ends with a
# summary line "e2e-root: N passed, N failed, N skipped" (or e2e-rootless).
# usage: hack/e2e.sh USER_NAME E2E_BINARY STRATA_BINARY DNF_IMAGE [go test flags...]
set -uo pipefail
user=$1 bin=$2 strata=$3 image=$4
shift 4
log=$(mktemp)
cd "$(dirname "$0")/../tests/e2e" || exit 1
if [ -n "$user" ]; then
	# The checkout may not be readable by the user: run copies from a
	# world-readable directory, with a runtime directory the user owns.
	home=$(getent passwd "$user" | cut -d: -f6)
	uid=$(id -u "$user")
	dir=$(mktemp -d /tmp/strata-e2e-rootless.XXXXXX)
	trap 'rm -rf "$dir"' EXIT
	install -m 0755 "$bin" "$dir/e2e.test"
	install -m 0755 "$strata" "$dir/strata"
	install -m 0644 "$image" "$dir/debian-dnf.tar"
	cp -r ../../docs/ci "$dir/ci" && chmod -R a+rX "$dir/ci"
	chmod 0755 "$dir"
	xdg=/tmp/strata-xdg-$uid
	mkdir -p "$xdg" && chown "$user" "$xdg" && chmod 0700 "$xdg"
	cd "$dir" || exit 1
	runuser -u "$user" -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME="$home" LANG=C.UTF-8 XDG_RUNTIME_DIR="$xdg" STRATA_BIN="$dir/strata" STRATA_DNF_IMAGE="$dir/debian-dnf.tar" STRATA_CI_DIR="$dir/ci" \
		"$dir/e2e.test" -test.v -test.count=1 -test.timeout 20m "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	who=rootless
else
	STRATA_BIN="$strata" STRATA_DNF_IMAGE="$image" "$bin" -test.v -test.count=1 -test.timeout 20m "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	who=root
fi
passed=$(grep -cE '^--- PASS' "$log")
failed=$(grep -cE '^--- FAIL' "$log")
skipped=$(grep -cE '^--- SKIP' "$log")
rm -f "$log"
echo "e2e-$who: $passed passed, $failed failed, $skipped skipped"
if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
	exit 1
fi
