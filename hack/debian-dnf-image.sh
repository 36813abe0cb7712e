#!/usr/bin/env bash
# Makes the base image for the container-mode tests: a minimal Debian root
# (debootstrap) with Debian's dnf inside, whose rpm keeps its database at
# Fedora's path, saved as an oci-archive. Takes a few minutes, once.
# usage: hack/debian-dnf-image.sh OUT.tar MIRROR
set -euo pipefail
out=$1 mirror=$2
work=$(mktemp -d /var/tmp/strata-debian-dnf.XXXXXX)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include=dnf,rpm bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log"; exit 1; }
# Debian's rpm keeps its database in ~/.rpmdb; point it at Fedora's path.
mkdir -p "$work/root/etc/rpm"
printf '%%_dbpath /usr/lib/sysimage/rpm\n' >"$work/root/etc/rpm/macros.strata-dbpath"
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
mkdir -p "$(dirname "$out")"
tar -C "$work/root" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$work/root.tar" .
ctr=$(buildah --storage-driver vfs --root "$work/store" --runroot "$work/run" from scratch)
buildah --storage-driver vfs --root "$work/store" --runroot "$work/run" add "$ctr" "$work/root.tar" /
buildah --storage-driver vfs --root "$work/store" --runroot "$work/run" config --cmd /bin/bash "$ctr"
buildah --storage-driver vfs --root "$work/store" --runroot "$work/run" commit --quiet "$ctr" "oci-archive:$out.tmp:localhost/debian-dnf:latest" >/dev/null
buildah --storage-driver vfs --root "$work/store" --runroot "$work/run" rm "$ctr" >/dev/null
mv "$out.tmp" "$out"
echo "made $out"
