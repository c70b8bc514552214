#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Run dmacache-copy-cache-bench (re-lease through dmacached against a fresh
# IOAS_MAP + IOAS_UNMAP, and IOAS_UNMAP calls under churn; issue 12) in the
# test-bed VM and print its tables.
#
# usage: bench/run-copy-cache-bench.sh [BUILD_DIR] [MAX_MIB] [JSON_OUT] [ARGS...]
#   BUILD_DIR  meson build directory holding bench/dmacache-copy-cache-bench
#              and apps/dmacached/dmacached-test (default: build-lbench)
#   MAX_MIB    largest size, MiB (default 1024); the VM reserves MAX_MIB / 2 + 8
#              hugepages of 2 MiB and gets 4 * that in MiB of RAM plus 512 MiB
#              (vmrun allows hugepages up to half of --mem)
#   JSON_OUT   where to write the benchmark's JSON (the guest sees the host's
#              files read-only, so the JSON travels on the console between
#              "@@json-begin" and "@@json-end" and is cut out here); "" for none
#   ARGS       more arguments of the benchmark (--cpus same|split|none)
# Invariants: the host is not touched except JSON_OUT (everything else runs in
# the throwaway guest); the exit status is the benchmark's (or vmrun's on a
# failed boot).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-lbench}
max=${2:-1024}
json=${3:-}
shift $(($# < 3 ? $# : 3))
case $build in /*) ;; *) build=$here/$build ;; esac
exe=$build/bench/dmacache-copy-cache-bench
[ -x "$exe" ] || {
	echo "run-copy-cache-bench: $exe not built" \
		"(ninja -C $build bench/dmacache-copy-cache-bench apps/dmacached/dmacached-test)" >&2
	exit 2
}
pages=$((max / 2 + 8))
mem=$((pages * 4 + 512))
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cd "$here"
rc=0
tests/vm/vmrun --timeout 600 --mem "$mem" --hugepages "$pages" -- \
	"$exe" --max-mib "$max" --json - "$@" >"$out" || rc=$?
tr -d '\r' <"$out" | sed '/^@@json-begin$/,/^@@json-end$/d'
if [ -n "$json" ]; then
	tr -d '\r' <"$out" | sed -n '/^@@json-begin$/,/^@@json-end$/p' | sed '1d;$d' >"$json"
fi
exit "$rc"
