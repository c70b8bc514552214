#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The installed libdmacache is usable: install the build into a temporary
# destdir, compile install_probe.c with `pkg-config --cflags --libs libdmacache`
# against it, run it, and check that the library's dynamic symbol table exports
# dmac_client_* and nothing else.
# Usage: test_install.sh BUILD_DIR PROBE_C
# Invariants: exits 0 only when every step passed; the temp dir is always removed.
set -eu
build=$1
probe=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
	echo "test_install: $*" >&2
	exit 1
}

if ! meson install -C "$build" --no-rebuild --destdir "$tmp/root" >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	fail "meson install failed"
fi
pc=$(find "$tmp/root" -name libdmacache.pc | head -n 1)
[ -n "$pc" ] || fail "libdmacache.pc not installed"
[ -n "$(find "$tmp/root" -path '*/include/dmac/dmacache.h')" ] || fail "dmac/dmacache.h not installed"
[ -n "$(find "$tmp/root" -path '*/include/dmac/common.h')" ] || fail "dmac/common.h not installed"
so=$(find "$tmp/root" -name 'libdmacache.so' | head -n 1)
[ -n "$so" ] || fail "libdmacache.so not installed"

PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR="$tmp/root"
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
flags=$(pkg-config --cflags --libs libdmacache) || fail "pkg-config failed"
echo "pkg-config: $flags"

# A sanitized build installs a sanitized library: the probe needs the same runtime.
san=""
needed=$(readelf -d "$so" | grep NEEDED || true)
case "$needed" in *libasan*) san="$san -fsanitize=address" ;; esac
case "$needed" in *libubsan*) san="$san -fsanitize=undefined" ;; esac
case "$needed" in *libtsan*) san="$san -fsanitize=thread" ;; esac

# shellcheck disable=SC2086 # word splitting of the flags is intended
cc -std=gnu11 -Wall -Wextra -Werror $san -o "$tmp/probe" "$probe" $flags ||
	fail "the probe does not build against the installed library"
LD_LIBRARY_PATH=$(dirname "$so") "$tmp/probe" || fail "the probe failed"

extra=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TtDdBbRrWwVi]$/ { print $3 }' |
	sed 's/@.*//' | grep -v '^dmac_client_' || true)
[ -z "$extra" ] || fail "libdmacache.so exports more than dmac_client_*: $extra"
echo "test_install: ok"
