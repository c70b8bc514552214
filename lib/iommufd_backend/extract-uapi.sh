#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# extract-uapi.sh OUTDIR [TARBALL...]
#
# Extract include/uapi/linux/iommufd.h and include/uapi/linux/vfio.h from an
# installed Debian kernel source package (linux-source-X.Y installs
# /usr/src/linux-source-X.Y.tar.xz) into OUTDIR/linux/. Nothing is copied into
# the source tree; the headers are cleaned the way headers_install does it.
# Invariant: when OUTDIR/linux/.source exists, both headers
# are complete and came from the tarball named in it, so a second configure
# reuses them instead of decompressing ~140 MB again.
# Prints the tarball used on stdout; exits 1 with a message if none fits.
set -eu

out=$1
shift
if [ -f "$out/linux/.source" ] && [ -f "$out/linux/iommufd.h" ] && [ -f "$out/linux/vfio.h" ]; then
	cat "$out/linux/.source"
	exit 0
fi

if [ $# -eq 0 ]; then
	# Newest first (version sort on the file name).
	set -- $(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -rV)
fi
for tb in "$@"; do
	[ -f "$tb" ] || continue
	tmp="$out/linux.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	if tar -xJf "$tb" -C "$tmp" --strip-components=4 \
		--wildcards --no-wildcards-match-slash \
		'*/include/uapi/linux/iommufd.h' '*/include/uapi/linux/vfio.h' 2>/dev/null &&
		[ -f "$tmp/iommufd.h" ] && [ -f "$tmp/vfio.h" ]; then
		# What the kernel's headers_install does for these two files: drop
		# the sparse annotations and the _UAPI guard prefix. They have no
		# __KERNEL__ sections; refuse a tarball where that changed.
		if grep -q '__KERNEL__' "$tmp/iommufd.h" "$tmp/vfio.h"; then
			echo "extract-uapi.sh: $tb: __KERNEL__ sections in uapi headers" >&2
			rm -rf "$tmp"
			exit 1
		fi
		for h in iommufd.h vfio.h; do
			sed -E -e 's/([[:space:](])(__user|__force|__iomem)[[:space:]]/\1/g' \
				-e 's@#(ifndef|define|endif[[:space:]]*/[*])[[:space:]]*_UAPI@#\1 @' \
				"$tmp/$h" >"$tmp/$h.new"
			mv "$tmp/$h.new" "$tmp/$h"
		done
		rm -rf "$out/linux"
		echo "$tb" >"$tmp/.source"
		mv "$tmp" "$out/linux"
		echo "$tb"
		exit 0
	fi
	rm -rf "$tmp"
done
echo "extract-uapi.sh: no /usr/src/linux-source-*.tar.xz with include/uapi/linux/iommufd.h" \
	"(install linux-source-6.12: ./dev setup)" >&2
exit 1
