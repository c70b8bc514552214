#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# The main job, run inside the test-bed VM (tests/vm/vmrun) by `./dev main`:
# dmacached on the guest's real /dev/iommu, serving real leases to a demo
# client of two tenants, and the emulated NVMe controller (bound to vfio-pci
# by the guest) to the userspace NVMe example in strict mode: BAR0 and
# interrupts from the daemon, every IOVA from a lease. Then a clean SIGTERM.
#
# Who runs what: root runs the daemon (it owns /dev/iommu and the devices;
# with the systemd unit's one capability and limits, checked below) and
# dmacachectl's admin view (daemon-wide STATS). The tenants run as the
# non-root uids their configuration lists, as in production: the lease demo
# (one process acting for both demo tenants) as uid 4001, the NVMe example
# as uid 4002, and dmacachectl's tenant view (status) as uid 4001.
#
# usage: scripts/vm-main.sh BUILD_DIR [BACKEND]
# Exit status: the demo's, or 1 if the daemon did not start, if dmacachectl
# failed, or if the daemon did not exit cleanly on SIGTERM.
set -u
build=$1
backend=${2:-auto}
work=/tmp/dmacache-main
sock=/run/dmacache/dmacached.sock
demo_uid=4001
nvme_uid=4002
mkdir -p $work

# Run "$@" as uid $1 (primary gid the same number), root dropped for good:
# real, effective and saved uid and gid, no supplementary groups, no
# capabilities (none inheritable, an empty bounding set), no_new_privs.
# setpriv is util-linux's; the guest runs the host's root filesystem.
as_uid() {
	u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --clear-groups --inh-caps=-all \
		--bounding-set=-all --no-new-privs -- "$@"
}
command -v setpriv >/dev/null || {
	echo "vm-main: setpriv (util-linux) is missing: cannot run the tenants as non-root" >&2
	exit 1
}

cat >$work/dmacached.conf <<CONF
[daemon]
socket = $sock
backend = $backend
pinned_budget = 256M
log_level = info
log_target = stderr

[tenant demo-a]
uids = $demo_uid
quota_pinned_bytes = 64M
quota_leases = 64

[tenant demo-b]
uids = $demo_uid
quota_pinned_bytes = 64M
quota_leases = 64
CONF
if [ -n "${DMAC_VM_NVME_BDF:-}" ]; then
	cat >>$work/dmacached.conf <<CONF

[tenant nvme]
uids = $nvme_uid
quota_pinned_bytes = 64M
quota_leases = 64
devices = $DMAC_VM_NVME_BDF
CONF
fi

echo "== dmacached --check-config"
$build/apps/dmacached/dmacached --check-config $work/dmacached.conf || exit 1

# As the systemd unit runs it (etc/systemd/dmacached.service.in): root with
# CapabilityBoundingSet=CAP_CHOWN, LimitMEMLOCK=infinity, LimitNOFILE=65536.
echo "== starting dmacached (backend $backend) on $(uname -r), the unit's capabilities and limits"
prlimit --memlock=unlimited:unlimited --nofile=65536:65536 \
	setpriv --inh-caps=-all --bounding-set=-all,+chown -- \
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

caps=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/$daemon/status)
echo "dmacached runs with CapEff $caps (CAP_CHOWN alone: 0000000000000001)"
if [ "$caps" != 0000000000000001 ]; then
	echo "vm-main: dmacached's capabilities are not the unit's" >&2
	kill -KILL $daemon
	exit 1
fi

ctl=0
echo "== dmacachectl status (tenant demo-a, uid $demo_uid)"
as_uid $demo_uid $build/apps/dmacachectl/dmacachectl --socket $sock --tenant demo-a status || ctl=1
echo "== dmacache-lease-demo (hugetlb memfd, tenants demo-a and demo-b, uid $demo_uid)"
as_uid $demo_uid $build/examples/lease_demo/dmacache-lease-demo --socket $sock --hugetlb \
	--size 8388608
demo=$?
nvme=0
if [ -n "${DMAC_VM_NVME_BDF:-}" ]; then
	echo "== dmacache-nvme-example --daemon (NVMe $DMAC_VM_NVME_BDF, tenant nvme, uid $nvme_uid, strict mode)"
	as_uid $nvme_uid $build/examples/nvme/dmacache-nvme-example --daemon $sock --tenant nvme
	nvme=$?
fi
echo "== dmacachectl --tenant @admin --json stats (root: the daemon-wide figures)"
$build/apps/dmacachectl/dmacachectl --socket $sock --tenant @admin --json stats || ctl=1

echo "== SIGTERM"
kill -TERM $daemon
wait $daemon
dstatus=$?
echo "dmacached exited with status $dstatus"
[ $dstatus -eq 0 ] || exit 1
[ $demo -eq 0 ] || exit $demo
[ $ctl -eq 0 ] || exit 1
exit $nvme
