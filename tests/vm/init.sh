#!/bin/busybox sh
# SPDX-License-Identifier: BSD-3-Clause
#
# /init of the VM test tier's initramfs (tests/vm/vmrun packs it with a
# static busybox). It prepares the guest, chroots into the host root and runs
# the command vmrun wrote into the control share, then powers off.
#
# Protocol with vmrun (all on the kernel command line, read from /proc/cmdline):
#   dmac.marker=HEX      random per run; every line meant for vmrun carries it
#   dmac.vfio=0|1        bind the emulated NVMe controller to vfio-pci
#   dmac.hugepages=N     expected 2 MiB hugepage count (the kernel's own
#                        hugepages=N parameter reserves them at boot)
#   dmac.shell=0|1       interactive shell instead of the command
# Lines on the console (ttyS0), which vmrun parses:
#   DMAC-VM-START <marker>           the command's output starts after this
#   DMAC-VM-EXIT <marker> <status>   the command ended with <status>
#   DMAC-VM-ERROR <marker> <text>    guest setup failed; no command was run
# The same status is also written to /run/dmac-vm/status (the control share).
#
# Invariants:
# - The host root is mounted read-only; the chroot's /tmp, /run, /dev/shm are
#   guest tmpfs, /dev/hugepages a hugetlbfs, /proc /sys /dev the guest's own.
# - The command runs with a clean environment: PATH, HOME=/tmp, the
#   DMAC_VM_* facts below, plus what run.sh (written by vmrun) exports.
# - Whatever happens, the guest powers off at the end (poweroff -f); if this
#   script dies instead, the kernel panics and panic=-1 with QEMU's
#   -no-reboot ends the VM, which vmrun reports as a failure (no marker).
PATH=/bin
export PATH

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

marker=none
vfio=1
hugepages=0
shell=0
# shellcheck disable=SC2013 # the command line is one line of words
for w in $(cat /proc/cmdline); do
	case "$w" in
	dmac.marker=*) marker=${w#*=} ;;
	dmac.vfio=*) vfio=${w#*=} ;;
	dmac.hugepages=*) hugepages=${w#*=} ;;
	dmac.shell=*) shell=${w#*=} ;;
	esac
done

# fail TEXT: report a setup failure to vmrun and stop the guest.
fail() {
	echo "DMAC-VM-ERROR $marker $*"
	poweroff -f
	sleep 10
}

root=/mnt/host
mkdir -p $root
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot $root ||
	fail "cannot mount the host root (9p tag hostroot)"
for d in proc sys dev; do
	mount -o bind /$d $root/$d || fail "cannot bind /$d into the host root"
done
# Keep the host's /tmp and /run reachable under /mnt/host-{tmp,run} before
# tmpfs covers them: paths listed in the control share's 'keep' file (the
# checkout, the working directory) are bound back into the tmpfs.
mkdir -p /mnt/host-tmp /mnt/host-run
mount -o bind $root/tmp /mnt/host-tmp || fail "cannot bind the host's /tmp"
mount -o bind $root/run /mnt/host-run || fail "cannot bind the host's /run"
mount -t tmpfs -o mode=1777 tmpfs $root/tmp || fail "cannot mount tmpfs on /tmp"
mount -t tmpfs -o mode=755 tmpfs $root/run || fail "cannot mount tmpfs on /run"
mkdir -p $root/run/dmac-vm $root/dev/shm $root/dev/pts $root/dev/hugepages
mount -t 9p -o trans=virtio,version=9p2000.L dmacctl $root/run/dmac-vm ||
	fail "cannot mount the control share (9p tag dmacctl)"
if [ -f $root/run/dmac-vm/keep ]; then
	while read -r p; do
		case "$p" in
		/tmp/*) src=/mnt/host-tmp/${p#/tmp/} ;;
		/run/*) src=/mnt/host-run/${p#/run/} ;;
		*) continue ;;
		esac
		[ -d "$src" ] || continue
		mkdir -p "$root$p" && mount -o bind "$src" "$root$p" ||
			fail "cannot bind the host's $p into the guest"
	done <$root/run/dmac-vm/keep
fi
mount -t tmpfs -o mode=1777 tmpfs $root/dev/shm || fail "cannot mount /dev/shm"
mount -t devpts -o gid=5,mode=620 devpts $root/dev/pts || fail "cannot mount /dev/pts"
mount -t hugetlbfs -o pagesize=2M hugetlbfs $root/dev/hugepages || fail "cannot mount hugetlbfs"

got=$(cat /proc/sys/vm/nr_hugepages)
[ "$got" = "$hugepages" ] ||
	fail "asked for $hugepages hugepages of 2 MiB, the kernel reserved $got"

nvme_bdf=
nvme_group=
nvme_cdev=
if [ "$vfio" = 1 ]; then
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/class")" = 0x010802 ]; then
			nvme_bdf=${d##*/}
			break
		fi
	done
	[ -n "$nvme_bdf" ] || fail "no NVMe controller (PCI class 0x010802) found"
	dev=/sys/bus/pci/devices/$nvme_bdf
	[ -e "$dev/driver" ] && echo "$nvme_bdf" >"$dev/driver/unbind"
	echo vfio-pci >"$dev/driver_override" || fail "cannot set driver_override of $nvme_bdf"
	echo "$nvme_bdf" >/sys/bus/pci/drivers_probe
	case "$(readlink "$dev/driver")" in
	*/vfio-pci) ;;
	*) fail "$nvme_bdf did not bind to vfio-pci" ;;
	esac
	nvme_group=$(readlink "$dev/iommu_group")
	nvme_group=${nvme_group##*/}
	[ -n "$nvme_group" ] || fail "$nvme_bdf has no IOMMU group (is intel_iommu on?)"
	i=0
	while [ $i -lt 50 ]; do
		for c in "$dev"/vfio-dev/vfio*; do
			[ -c "/dev/vfio/devices/${c##*/}" ] && nvme_cdev=/dev/vfio/devices/${c##*/}
		done
		[ -n "$nvme_cdev" ] && [ -c "/dev/vfio/$nvme_group" ] && break
		i=$((i + 1))
		sleep 0.1
	done
	[ -n "$nvme_cdev" ] || fail "no /dev/vfio/devices/vfioN appeared for $nvme_bdf"
	[ -c "/dev/vfio/$nvme_group" ] || fail "no /dev/vfio/$nvme_group appeared for $nvme_bdf"
fi

# Keep kernel messages below KERN_ERR off the console the output streams on.
echo 4 >/proc/sys/kernel/printk

set -- env -i \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/tmp \
	DMAC_VM=1 \
	DMAC_VM_HUGEPAGES="$hugepages" \
	DMAC_VM_HUGETLBFS=/dev/hugepages \
	DMAC_VM_CTL=/run/dmac-vm \
	DMAC_VM_NVME_BDF="$nvme_bdf" \
	DMAC_VM_NVME_GROUP="$nvme_group" \
	DMAC_VM_NVME_CDEV="$nvme_cdev"

if [ "$shell" = 1 ]; then
	[ -f $root/run/dmac-vm/env.sh ] || fail "vmrun wrote no env.sh"
	sh_bin=/bin/bash
	[ -x $root$sh_bin ] || sh_bin=/bin/sh
	echo "DMAC-VM-START $marker"
	echo "dmacache test guest: host root read-only at /, exit the shell to power off"
	setsid -c "$@" chroot $root /bin/sh -c \
		". /run/dmac-vm/env.sh && exec $sh_bin -i" </dev/ttyS0 >/dev/ttyS0 2>&1
	status=$?
else
	[ -f $root/run/dmac-vm/run.sh ] || fail "vmrun wrote no run.sh"
	echo "DMAC-VM-START $marker"
	"$@" chroot $root /bin/sh /run/dmac-vm/run.sh </dev/null
	status=$?
fi
echo "$status" >$root/run/dmac-vm/status
echo "DMAC-VM-EXIT $marker $status"
poweroff -f
sleep 10
