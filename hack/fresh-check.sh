#!/usr/bin/env bash
# Runs the README's two commands (make demo, make test) on a fresh Debian 12
# root made with debootstrap: only what a new machine of this project has
# (gcc, make, git, Go) and nothing the project's own `make deps` does not
# install: no podman configuration beyond Debian's packages, no netavark, no
# containernetworking-plugins. A green run here is the README's promise;
# a green run on a machine that kept earlier installs is not.
# usage: sudo hack/fresh-check.sh [MIRROR]   (root; about 10 minutes)
# FRESH_KEEP=1 keeps the root for a look afterwards; FRESH_SHARE_CACHE=0
# makes the container-mode test image inside the root too (3 more minutes).
set -euo pipefail
mirror=${1:-http://deb.debian.org/debian}
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "fresh-check: run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "fresh-check: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
goroot=$(go env GOROOT)
work=$(mktemp -d /var/tmp/strata-fresh.XXXXXX)
root=$work/root
log=$work/fresh.log
cleanup() {
	if [ "${FRESH_KEEP:-0}" = 1 ]; then echo "fresh-check: kept $root"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "fresh-check: debootstrap bookworm into $root"
debootstrap --variant=minbase --include=gcc,libc6-dev,make,git,ca-certificates,sudo,procps bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log"; exit 1; }
# The project as CI gets it: a fresh clone of the committed tree, shared/ beside it.
git clone --quiet --no-hardlinks "$top" "$root/src/main"
if [ -d "$top/../shared" ]; then cp -a "$top/../shared" "$root/src/shared"; fi
mkdir -p "$root/usr/local/go" "$root/root/go/pkg/mod" "$root/root/.cache/go-build" "$root/root/.cache/strata-test"

# Everything below runs in a private mount namespace whose root becomes the
# fresh root (pivot_root): when it ends, every mount made for it goes too.
unshare --mount --propagation private bash -euo pipefail -c '
	root=$1 goroot=$2 share=$3
	goproxy=$(go env GOPROXY)
	# The root must be a mount point: runc makes "/" private in the
	# containers it starts.
	mount --bind "$root" "$root"
	mount --bind "$goroot" "$root/usr/local/go"
	mount -o remount,bind,ro "$root/usr/local/go"
	mount --bind "$(go env GOMODCACHE)" "$root/root/go/pkg/mod"
	mount --bind "$(go env GOCACHE)" "$root/root/.cache/go-build"
	if [ "$share" = 1 ] && [ -f "$HOME/.cache/strata-test/debian-dnf.tar" ]; then
		mount --bind "$HOME/.cache/strata-test" "$root/root/.cache/strata-test"
	fi
	mount -t proc proc "$root/proc"
	mount --rbind /sys "$root/sys"
	mount --rbind /dev "$root/dev"
	mount -t tmpfs tmpfs "$root/tmp"
	mount -t tmpfs tmpfs "$root/run"
	# The network of this machine as it is: its resolver and the certificate
	# authorities it trusts (a proxy of the Go module proxy may need one).
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
		cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
		chroot "$root" update-ca-certificates >/dev/null
	fi
	# pivot_root, not chroot: a chrooted process may not create user
	# namespaces, and the rootless tests need them.
	cd "$root"
	mkdir -p .oldroot
	pivot_root . .oldroot
	cd /
	umount -l /.oldroot
	rmdir /.oldroot
	exec /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 CI=true \
		PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		GOPROXY="$goproxy" GOFLAGS=-modcacherw \
		bash -euo pipefail -c "
			cd /src/main
			echo \"--- make deps, then no network stack\"; make deps
			# containers-common depends on a network stack (CNI plugins or
			# netavark): remove both, and keep podman s CNI configuration,
			# the state that made buildah warn on every call.
			dpkg --purge --force-depends netavark aardvark-dns containernetworking-plugins golang-github-containernetworking-plugin-dnsname >/dev/null 2>&1 || true
			for p in netavark containernetworking-plugins; do
				if dpkg-query -W -f=\"\\\${Status}\" \$p 2>/dev/null | grep -q \"install ok installed\"; then
					echo \"fresh-check: \$p is still installed\" >&2; exit 1
				fi
			done
			echo \"--- make demo\"; make demo
			echo \"--- make test\"; bash .ci/run
			echo \"fresh-check: make demo and make test passed without netavark and CNI plugins\"
		"
' fresh "$root" "$goroot" "${FRESH_SHARE_CACHE:-1}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] && echo "fresh-check: passed" || echo "fresh-check: FAILED (exit $rc)"
exit "$rc"
