#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# The main job, run inside the test-bed VM (tests/vm/vmrun) by `./dev main`:
# dmacached on the guest's real /dev/iommu, serving real leases to a demo
# client of two tenants, and the emulated NVMe controller (bound to vfio-pci
# by the guest) to the userspace NVMe example in strict mode: BAR0 and
# interrupts from the daemon, every IOVA from a lease. Then a clean SIGTERM.
#
# usage: scripts/vm-main.sh BUILD_DIR [BACKEND]
# Exit status: the demo's, or 1 if the daemon did not start or did not exit
# cleanly on SIGTERM.
set -u
build=$1
backend=${2:-auto}
work=/tmp/dmacache-main
sock=/run/dmacache/dmacached.sock
mkdir -p $work

cat >$work/dmacached.conf <<CONF
[daemon]
socket = $sock
backend = $backend
pinned_budget = 256M
log_level = info
log_target = stderr

[tenant demo-a]
uids = 0
quota_pinned_bytes = 64M
quota_leases = 64

[tenant demo-b]
uids = 0
quota_pinned_bytes = 64M
quota_leases = 64
CONF
if [ -n "${DMAC_VM_NVME_BDF:-}" ]; then
	cat >>$work/dmacached.conf <<CONF

[tenant nvme]
uids = 0
quota_pinned_bytes = 64M
quota_leases = 64
devices = $DMAC_VM_NVME_BDF
CONF
fi

echo "== dmacached --check-config"
$build/apps/dmacached/dmacached --check-config $work/dmacached.conf || exit 1

echo "== starting dmacached (backend $backend) on $(uname -r)"
$build/apps/dmacached/dmacached --config $work/dmacached.conf --foreground &
daemon=$!
i=0
while [ ! -S $sock ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $daemon 2>/dev/null; then
		echo "vm-main: dmacached did not create $sock" >&2
		exit 1
	fi
	sleep 0.1
done

echo "== dmacachectl status"
$build/apps/dmacachectl/dmacachectl --socket $sock --tenant demo-a status
echo "== dmacache-lease-demo (hugetlb memfd, tenants demo-a and demo-b)"
$build/examples/lease_demo/dmacache-lease-demo --socket $sock --hugetlb --size 8388608
demo=$?
nvme=0
if [ -n "${DMAC_VM_NVME_BDF:-}" ]; then
	echo "== dmacache-nvme-example --daemon (NVMe $DMAC_VM_NVME_BDF, tenant nvme, strict mode)"
	$build/examples/nvme/dmacache-nvme-example --daemon $sock --tenant nvme
	nvme=$?
fi
echo "== dmacachectl stats --json"
$build/apps/dmacachectl/dmacachectl --socket $sock --tenant demo-a --json stats

echo "== SIGTERM"
kill -TERM $daemon
wait $daemon
dstatus=$?
echo "dmacached exited with status $dstatus"
[ $dstatus -eq 0 ] || exit 1
[ $demo -eq 0 ] || exit $demo
exit $nvme
