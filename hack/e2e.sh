#!/usr/bin/env bash
# Runs the compiled end-to-end test binary (as the given user, or as the
# caller when USER_NAME is empty), echoes its output and ends with a
# summary line "e2e (who): N passed, N failed, N skipped".
# usage: hack/e2e.sh USER_NAME E2E_BINARY STRATA_BINARY DNF_IMAGE [go test flags...]
set -uo pipefail
user=$1 bin=$2 strata=$3 image=$4
shift 4
log=$(mktemp)
cd "$(dirname "$0")/../tests/e2e" || exit 1
if [ -n "$user" ]; then
	home=$(getent passwd "$user" | cut -d: -f6)
	runuser -u "$user" -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME="$home" LANG=C.UTF-8 STRATA_ROOTLESS=1 STRATA_BIN="$strata" STRATA_DNF_IMAGE="$image" \
		"$bin" -test.v -test.count=1 -test.timeout 20m "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	who="rootless as $user"
else
	STRATA_BIN="$strata" STRATA_DNF_IMAGE="$image" "$bin" -test.v -test.count=1 -test.timeout 20m "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	who="as root"
fi
passed=$(grep -cE '^--- PASS' "$log")
failed=$(grep -cE '^--- FAIL' "$log")
skipped=$(grep -cE '^--- SKIP' "$log")
rm -f "$log"
echo "e2e ($who): $passed passed, $failed failed, $skipped skipped"
if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
	exit 1
fi
