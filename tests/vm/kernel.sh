#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# kernel.sh: print the path of a bzImage for the VM test tier, building it
# when needed.
#
#   tests/vm/kernel.sh            print the path (stdout, one line); progress
#                                 and errors go to stderr
#   tests/vm/kernel.sh --build    same, but ignore the shared prebuilt copy
#                                 (exercises the build path)
#
# Invariants:
# - stdout carries exactly one line, the absolute path of a bzImage, and only
#   on success (exit 0). Any failure exits 1 with a message: never 77, a
#   missing kernel is a failure of the tier, not a skip.
# - Order of choice: $DMAC_VM_KERNEL (must exist; overrides everything), then
#   $DMAC_SHARED_DIR/vm/bzImage and <repo>/../shared/vm/bzImage when their
#   sha256 matches the SHA256SUMS beside them, then the cache, then a build.
# - The cache lives outside the source tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/dmacache/kernel-<key>/bzImage, where key
#   is the sha256 of tests/vm/kernel.config-fragment followed by the version
#   of the linux-source-6.12 package. A cache entry is complete iff its
#   'bzImage' exists: it is renamed into place last, after the .config check.
# - One build at a time per cache entry: the build runs under flock on
#   kernel-<key>.lock; a second caller waits and then reuses the result.
# - The finished .config must have CONFIG_IOMMUFD=y, CONFIG_IOMMUFD_TEST=y,
#   CONFIG_VFIO_DEVICE_CDEV=y and CONFIG_INTEL_IOMMU=y, or the build fails.
set -euo pipefail

# The whole script is one compound command, so bash parses all of it before
# running any: editing this file during a half-hour build cannot derail it.
{
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
fragment=$here/kernel.config-fragment
src_pkg=linux-source-6.12
src_tar=/usr/src/$src_pkg.tar.xz
required_options=(CONFIG_IOMMUFD CONFIG_IOMMUFD_TEST CONFIG_VFIO_DEVICE_CDEV CONFIG_INTEL_IOMMU)

die() {
	printf 'kernel.sh: error: %s\n' "$*" >&2
	exit 1
}
log() { printf 'kernel.sh: %s\n' "$*" >&2; }

force_build=0
case "${1:-}" in
"") ;;
--build) force_build=1 ;;
*) die "usage: kernel.sh [--build]" ;;
esac

# 1. Explicit override.
if [ -n "${DMAC_VM_KERNEL:-}" ]; then
	[ -f "$DMAC_VM_KERNEL" ] || die "DMAC_VM_KERNEL=$DMAC_VM_KERNEL does not exist"
	readlink -f "$DMAC_VM_KERNEL"
	exit 0
fi

# 2. A verified shared prebuilt copy.
# shared_ok DIR: DIR/bzImage matches the bzImage line of DIR/SHA256SUMS.
shared_ok() {
	local dir=$1 want got
	[ -f "$dir/bzImage" ] && [ -f "$dir/SHA256SUMS" ] || return 1
	want=$(awk '$2 == "bzImage" || $2 == "*bzImage" { print $1 }' "$dir/SHA256SUMS")
	[ -n "$want" ] || return 1
	got=$(sha256sum "$dir/bzImage" | awk '{ print $1 }')
	if [ "$got" != "$want" ]; then
		log "ignoring $dir/bzImage: sha256 $got does not match SHA256SUMS"
		return 1
	fi
}
if [ "$force_build" -eq 0 ]; then
	for d in ${DMAC_SHARED_DIR:+"$DMAC_SHARED_DIR/vm"} "$top/../shared/vm"; do
		if shared_ok "$d"; then
			readlink -f "$d/bzImage"
			exit 0
		fi
	done
fi

# 3. The cache, or a build into it.
[ -f "$fragment" ] || die "missing $fragment"
[ -f "$src_tar" ] || die "no kernel available: $src_tar is missing (run ./dev setup, or apt-get install $src_pkg bc bison flex libelf-dev libssl-dev), or set DMAC_VM_KERNEL"
version=$(dpkg-query -W -f='${Version}' "$src_pkg" 2>/dev/null) ||
	version="tar-$(stat -c '%s-%Y' "$src_tar")"
key=$({ cat "$fragment"; printf '%s\n' "$src_pkg $version"; } | sha256sum | cut -c1-16)
cache_root=${XDG_CACHE_HOME:-${HOME:?HOME is unset}/.cache}/dmacache
entry=$cache_root/kernel-$key

# config_ok FILE: every required option is built in.
config_ok() {
	local opt
	for opt in "${required_options[@]}"; do
		grep -qx "$opt=y" "$1" || {
			log "$1: $opt is not =y"
			return 1
		}
	done
}

if [ -f "$entry/bzImage" ]; then
	echo "$entry/bzImage"
	exit 0
fi

for tool in make gcc bc bison flex xz tar flock; do
	command -v "$tool" >/dev/null || die "cannot build the kernel: '$tool' is missing (run ./dev setup)"
done

mkdir -p "$cache_root"
exec 9>"$entry.lock"
if ! flock -n 9; then
	log "another process is building $entry; waiting for it"
	flock 9
fi
if [ -f "$entry/bzImage" ]; then
	echo "$entry/bzImage"
	exit 0
fi

work=$entry.build
rm -rf "$work"
mkdir -p "$work" "$entry"
# Remove the source tree on every exit path; a failed build keeps its log.
trap 'rm -rf "$work/src"' EXIT
trap 'exit 1' INT TERM HUP

jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)
blog=$entry/build.log
log "building $src_pkg $version into $entry (log: $blog; 15-30 minutes on 2 cores)"
# (&& chains: set -e does not apply on the left of ||.)
(mkdir "$work/src" &&
	tar -C "$work/src" --strip-components=1 -xf "$src_tar" &&
	cd "$work/src" &&
	make -s defconfig &&
	scripts/kconfig/merge_config.sh -m .config "$fragment" &&
	make -s olddefconfig) >"$blog" 2>&1 || die "kernel configuration failed, see $blog"
config_ok "$work/src/.config" || die "the configured kernel lacks required options (see $blog)"
(cd "$work/src" && make -j"$jobs" bzImage) >>"$blog" 2>&1 ||
	die "kernel build failed, see the end of $blog"
config_ok "$work/src/.config" || die "the built kernel lacks required options"
cp "$work/src/.config" "$entry/config"
cp "$work/src/arch/x86/boot/bzImage" "$entry/bzImage.tmp"
mv "$entry/bzImage.tmp" "$entry/bzImage"
rm -rf "$work"
log "built $entry/bzImage in $(($(date +%s) - start)) s"
echo "$entry/bzImage"
exit 0
}
