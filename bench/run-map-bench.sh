#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Run dmacache-map-bench (IOAS_COPY vs IOAS_MAP vs VFIO MAP_DMA; targets in docs/performance.md)
# in the test-bed VM and print its table.
#
# usage: bench/run-map-bench.sh [BUILD_DIR] [MAX_MIB] [--mock]
#   BUILD_DIR  meson build directory holding bench/dmacache-map-bench
#              (default: build-lbench)
#   MAX_MIB    largest size, MiB (default 1024); the VM reserves MAX_MIB / 2 + 8
#              hugepages of 2 MiB and gets 4 * that in MiB of RAM plus 512 MiB
#              (vmrun allows hugepages up to half of --mem).
#   --mock     boot with --no-iommu and give both IOASes IOMMUFD_TEST mock
#              domains instead of VT-d ones (no type1 columns)
# Invariants: the host is not touched (everything runs in the throwaway guest);
# the exit status is the benchmark's (or vmrun's on a failed boot).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-lbench}
max=${2:-1024}
mock=${3:-}
case $mock in ''|--mock) ;; *) echo "run-map-bench: unknown option $mock" >&2; exit 2 ;; esac
case $build in /*) ;; *) build=$here/$build ;; esac
exe=$build/bench/dmacache-map-bench
[ -x "$exe" ] || { echo "run-map-bench: $exe not built (ninja -C $build bench/dmacache-map-bench)" >&2; exit 2; }
pages=$((max / 2 + 8))
mem=$((pages * 4 + 512))
cd "$here"
if [ -n "$mock" ]; then
	exec tests/vm/vmrun --timeout 300 --no-iommu --mem "$mem" --hugepages "$pages" -- \
		"$exe" --max-mib "$max" --mock
fi
exec tests/vm/vmrun --timeout 300 --mem "$mem" --hugepages "$pages" -- "$exe" --max-mib "$max"
