#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# What `meson install` gives an operator and an application developer, end to
# end, in a temporary DESTDIR of this build (docs/operations.md "Install and
# first start"):
#
#  - every file where it belongs: dmacached in sbindir, dmacachectl in
#    bindir and nothing else there (the examples go to libexecdir/dmacache),
#    libdmacache with its headers and .pc, the example configuration at the
#    daemon's compiled-in default path (sysconfdir), the systemd units, the
#    sysusers.d entry, the four man pages;
#  - --version of both binaries is the project's version; the installed
#    example configuration passes --check-config; the unit starts the daemon
#    with the same configuration path the binary defaults to;
#  - `systemd-analyze verify` accepts the installed units with no message at
#    all (warnings fail too), their man: references resolving to the
#    installed pages; `systemd-analyze security --offline` keeps the
#    service's exposure at or below DMAC_EXPOSURE_MAX tenths (hardening
#    taken out of the unit fails the test);
#  - pkg-config --static names liburcu-memb and -pthread and nothing that is
#    not installed; an application outside the tree, compiled with nothing
#    but `pkg-config --cflags --libs libdmacache` (and an rpath into the
#    DESTDIR), runs as a non-root tenant against dmacached-test and leases,
#    translates and releases.
#
# systemd-analyze runs here without systemd as PID 1: `verify` loads unit
# files offline. It checks that ExecStart's binary exists, so the verified
# copy has the DESTDIR put in front of the installed binaries' paths; every
# other line is verified as installed.
#
# Environment (tests/install/meson.build): BUILD, SRC, PREFIX, BINDIR,
# SBINDIR, LIBDIR, LIBEXECDIR, INCLUDEDIR, SYSCONFDIR, MANDIR, UNITDIR,
# SYSUSERSDIR, VERSION, DMACACHED_TEST, SANITIZE (b_sanitize), CC.
set -u
export LC_ALL=C

failures=0
fail() {
	echo "test_install: FAIL: $*" >&2
	failures=$((failures + 1))
}

DMAC_EXPOSURE_MAX=${DMAC_EXPOSURE_MAX:-35} # 3.5, in the tenths --threshold takes
tmp=$(mktemp -d /tmp/dmac-install-XXXXXX)
chmod 0755 "$tmp"
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# meson's dirs may be relative to the prefix or absolute
abs() { case $1 in /*) echo "$1" ;; *) echo "$PREFIX/$1" ;; esac; }
dest=$tmp/dest
bindir=$dest$(abs "$BINDIR")
sbindir=$dest$(abs "$SBINDIR")
libdir=$dest$(abs "$LIBDIR")
libexecdir=$dest$(abs "$LIBEXECDIR")
includedir=$dest$(abs "$INCLUDEDIR")
sysconfdir=$dest$(abs "$SYSCONFDIR")
mandir=$dest$(abs "$MANDIR")
unitdir=$dest$(abs "$UNITDIR")
sysusersdir=$dest$(abs "$SYSUSERSDIR")
config=$(abs "$SYSCONFDIR")/dmacache/dmacached.conf

if ! meson install -C "$BUILD" --destdir "$dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	echo "test_install: meson install failed" >&2
	exit 1
fi

# ---- files -------------------------------------------------------------------
for f in "$sbindir/dmacached" "$bindir/dmacachectl"; do
	[ -x "$f" ] || fail "$f missing or not executable"
done
for f in "$libexecdir/dmacache/dmacache-lease-demo" "$libexecdir/dmacache/dmacache-nvme-example"; do
	[ -x "$f" ] || fail "$f missing (the examples go to libexecdir/dmacache)"
done
extra=$(ls "$bindir" | grep -v '^dmacachectl$')
[ -z "$extra" ] || fail "bindir holds more than dmacachectl: $extra"
[ -e "$sbindir/dmacached-test" ] && fail "dmacached-test was installed"
for f in "$libdir/libdmacache.so.0" "$libdir/pkgconfig/libdmacache.pc" \
	"$includedir/dmac/dmacache.h" "$includedir/dmac/common.h" \
	"$sysconfdir/dmacache/dmacached.conf" "$unitdir/dmacached.service" \
	"$unitdir/dmacached.socket" "$sysusersdir/dmacache.conf" \
	"$mandir/man8/dmacached.8" "$mandir/man8/dmacachectl.8" \
	"$mandir/man5/dmacached.conf.5" "$mandir/man3/libdmacache.3"; do
	[ -f "$f" ] || fail "$f missing"
done
cmp -s "$SRC/etc/dmacached.conf" "$sysconfdir/dmacache/dmacached.conf" ||
	fail "the installed configuration is not etc/dmacached.conf"
grep -qx 'g dmacache -' "$sysusersdir/dmacache.conf" || fail "sysusers.d: no group dmacache"
for m in "$mandir"/man*/*; do
	man -l "$m" 2>/dev/null | grep -q '^NAME' || fail "man -l $m renders no NAME section"
	grep -q '@CONFIG@\|@UNITDIR@' "$m" && fail "$m: an unsubstituted @...@"
done
man -l "$mandir/man8/dmacached.8" 2>/dev/null | grep -qF "$config" ||
	fail "dmacached(8) does not name $config"

# ---- the binaries ----------------------------------------------------------------
v=$("$sbindir/dmacached" --version) || fail "dmacached --version exit $?"
[ "$v" = "dmacached $VERSION" ] || fail "dmacached --version: '$v', want 'dmacached $VERSION'"
v=$(LD_LIBRARY_PATH=$libdir "$bindir/dmacachectl" --version) || fail "dmacachectl --version exit $?"
[ "$v" = "dmacachectl $VERSION" ] || fail "dmacachectl --version: '$v', want 'dmacachectl $VERSION'"
"$sbindir/dmacached" --help | grep -q "(default $config)" ||
	fail "dmacached's default configuration is not $config"
grep -qx "ExecStart=$(abs "$SBINDIR")/dmacached --foreground --config $config" \
	"$unitdir/dmacached.service" || fail "the unit's ExecStart: $(grep ExecStart= "$unitdir/dmacached.service")"
"$sbindir/dmacached" --check-config "$sysconfdir/dmacache/dmacached.conf" >"$tmp/check.out" 2>&1 ||
	fail "the installed example configuration is invalid: $(cat "$tmp/check.out")"

# ---- the units -------------------------------------------------------------------
mkdir "$tmp/units"
sed -e "s#^\(Exec[A-Za-z]*=\)$(abs "$SBINDIR")/#\1$sbindir/#" \
	"$unitdir/dmacached.service" >"$tmp/units/dmacached.service"
cp "$unitdir/dmacached.socket" "$tmp/units/"
grep -q "^ExecStart=$sbindir/dmacached " "$tmp/units/dmacached.service" ||
	fail "could not point the verified unit's ExecStart into the DESTDIR"
if ! MANPATH=$mandir systemd-analyze verify --man=yes \
	"$tmp/units/dmacached.service" "$tmp/units/dmacached.socket" >"$tmp/verify.out" 2>&1; then
	fail "systemd-analyze verify: $(cat "$tmp/verify.out")"
elif [ -s "$tmp/verify.out" ]; then
	fail "systemd-analyze verify printed: $(cat "$tmp/verify.out")"
fi
# a broken unit must fail the same check (the check can fail)
sed 's/^Type=notify$/Type=notify\nNoSuchKey=1/' "$tmp/units/dmacached.service" >"$tmp/units/bad.service"
MANPATH=$mandir systemd-analyze verify --man=yes "$tmp/units/bad.service" >"$tmp/bad.out" 2>&1
[ -s "$tmp/bad.out" ] || fail "systemd-analyze verify said nothing about an unknown key"
grep -qx 'Type=notify' "$unitdir/dmacached.service" || fail "the unit is not Type=notify"
grep -qx 'RuntimeDirectory=dmacache' "$unitdir/dmacached.service" || fail "no RuntimeDirectory=dmacache"
grep -qx 'LimitMEMLOCK=infinity' "$unitdir/dmacached.service" || fail "no LimitMEMLOCK=infinity"
if ! systemd-analyze security --offline=true --threshold="$DMAC_EXPOSURE_MAX" \
	"$tmp/units/dmacached.service" >"$tmp/security.out" 2>&1; then
	fail "systemd-analyze security: exposure above $DMAC_EXPOSURE_MAX/10: $(tail -2 "$tmp/security.out")"
fi

# ---- pkg-config and an application outside the tree ----------------------------
pc() { PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --define-variable=prefix="$dest$PREFIX" "$@" libdmacache; }
static=$(pc --static --libs) || fail "pkg-config --static --libs failed"
case " $static " in *" -lurcu-memb "*) ;; *) fail "pkg-config --static lacks -lurcu-memb: $static" ;; esac
case " $static " in *" -pthread "*) ;; *) fail "pkg-config --static lacks -pthread: $static" ;; esac
for l in $static; do
	case $l in
	-ldmacache | -lurcu-memb | -lurcu-common | -pthread | -L*) ;;
	*) fail "pkg-config --static names $l, which nothing installs" ;;
	esac
done
[ "$(pc --modversion)" = "$VERSION" ] || fail "libdmacache.pc version $(pc --modversion)"
san=()
[ "${SANITIZE:-none}" != none ] && san=("-fsanitize=$SANITIZE")
# shellcheck disable=SC2046
if ! $CC -std=c11 -Wall -Werror "${san[@]}" -o "$tmp/ext_client" "$SRC/tests/install/ext_client.c" \
	$(pc --cflags --libs) -Wl,-rpath,"$libdir" >"$tmp/cc.out" 2>&1; then
	fail "compiling ext_client.c with pkg-config: $(cat "$tmp/cc.out")"
fi
chmod 0755 "$tmp/ext_client"

cat >"$tmp/dmacached.conf" <<CONF
[daemon]
socket = $tmp/run/dmacached.sock
backend = test
[tenant ext]
uids = 4001
CONF
"$DMACACHED_TEST" --foreground --config "$tmp/dmacached.conf" 2>"$tmp/daemon.log" &
daemon_pid=$!
for _ in $(seq 500); do
	[ -S "$tmp/run/dmacached.sock" ] && break
	sleep 0.01
done
if [ -x "$tmp/ext_client" ]; then
	if ! setpriv --reuid=4001 --regid=4001 --clear-groups --no-new-privs \
		"$tmp/ext_client" "$tmp/run/dmacached.sock" ext >"$tmp/client.out" 2>&1; then
		fail "ext_client as uid 4001: $(cat "$tmp/client.out")"
	fi
	grep -q 'leased iova' "$tmp/client.out" || fail "ext_client printed: $(cat "$tmp/client.out")"
fi
kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
daemon_pid=
[ "$rc" -eq 0 ] || fail "dmacached-test exit $rc after SIGTERM: $(tail -5 "$tmp/daemon.log")"
grep -q "bound to tenant ext" "$tmp/daemon.log" || fail "the daemon never bound tenant ext"

if [ "$failures" -ne 0 ]; then
	echo "test_install: $failures check(s) failed" >&2
	exit 1
fi
echo "test_install: all checks passed"
