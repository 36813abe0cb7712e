#!/usr/bin/env bash
# Installs strata's system packages (Debian/Ubuntu with apt, Fedora/RHEL
# with dnf) and creates the unprivileged test user with subordinate id
# ranges. Idempotent: it installs only what is missing.
# usage: hack/deps.sh TEST_USER "DEB PACKAGES" "RPM PACKAGES"
set -euo pipefail
user=$1 debs=$2 rpms=$3
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then sudo=sudo; else
		echo "deps: run as root (or install sudo)" >&2; exit 1
	fi
fi
if command -v apt-get >/dev/null; then
	missing=()
	for p in $debs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "deps: installing ${missing[*]}"
		$sudo apt-get update -q
		# Exactly what is listed: recommended packages (netavark, CNI
		# plugins, fuse-overlayfs) are not needed and would hide, on the
		# machines that test, what a lean machine lacks.
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
elif command -v dnf >/dev/null; then
	missing=()
	for p in $rpms; do rpm -q "$p" >/dev/null 2>&1 || missing+=("$p"); done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "deps: installing ${missing[*]}"
		$sudo dnf install -y --setopt=install_weak_deps=False "${missing[@]}"
	fi
else
	echo "deps: neither apt-get nor dnf found: install by hand: $debs" >&2
	exit 1
fi
# The rootless tests' user, with subordinate uid/gid ranges.
if ! getent passwd "$user" >/dev/null; then
	$sudo useradd --create-home --shell /bin/bash "$user"
fi
for f in /etc/subuid /etc/subgid; do
	[ -e "$f" ] || $sudo touch "$f"
	if ! grep -q "^$user:" "$f"; then
		echo "$user:300000:65536" | $sudo tee -a "$f" >/dev/null
	fi
done
