#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# dmacachectl without a daemon: usage and exit codes (2 usage, 3 unreachable),
# --version, DMACACHE_SOCKET, the message for each way a daemon is missing (no
# socket, a stale socket), and one valid JSON object with error, errno and
# message on every --json failure (python3 -m json.tool).
# Usage: test_ctl.sh DMACACHECTL
# Invariants: exits 0 only if every check passed; every check prints its name on
# failure. The daemon-side cases (1 daemon error, 4 permission denied, a stopped
# daemon) are in the daemon suite (tests/daemon/test_metrics.c, ctl-*).
set -u
ctl=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0

expect() { # expect NAME WANTED_EXIT GOT_EXIT
	if [ "$2" != "$3" ]; then
		echo "test_ctl: $1: exit $3, expected $2" >&2
		failures=$((failures + 1))
	fi
}
check() { # check NAME COMMAND...: the command must succeed
	name=$1
	shift
	"$@" || { echo "test_ctl: $name" >&2; failures=$((failures + 1)); }
}
# json_error FILE ERRNAME: FILE is one JSON object naming that error
json_error() {
	python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, dict), d
assert d["error"] == sys.argv[2], d
assert isinstance(d["errno"], int) and d["errno"] > 0, d
assert isinstance(d["message"], str) and d["message"], d
PY
}

unset DMACACHE_TENANT DMACACHE_SOCKET
"$ctl" --help >"$tmp/out" 2>&1
expect "--help" 0 $?
grep -q '^usage: dmacachectl' "$tmp/out" || { echo "test_ctl: --help prints no usage" >&2; failures=$((failures + 1)); }
grep -q '4 permission denied' "$tmp/out" || { echo "test_ctl: --help lists no exit codes" >&2; failures=$((failures + 1)); }
"$ctl" --version >"$tmp/out" 2>&1
expect "--version" 0 $?
grep -q '^dmacachectl [0-9]' "$tmp/out" || { echo "test_ctl: --version: $(cat "$tmp/out")" >&2; failures=$((failures + 1)); }

# usage: exit 2, nothing sent
"$ctl" >/dev/null 2>&1
expect "no command" 2 $?
"$ctl" frobnicate >/dev/null 2>"$tmp/err"
expect "unknown command" 2 $?
grep -q "unknown command 'frobnicate'" "$tmp/err" || { echo "test_ctl: no message for an unknown command" >&2; failures=$((failures + 1)); }
"$ctl" --all stats >/dev/null 2>&1
expect "--all on stats" 2 $?
"$ctl" --bogus stats >/dev/null 2>&1
expect "unknown option" 2 $?
"$ctl" --timeout abc stats >/dev/null 2>&1
expect "--timeout abc" 2 $?
"$ctl" --timeout -5 stats >/dev/null 2>&1
expect "--timeout -5" 2 $?
"$ctl" stats extra >/dev/null 2>&1
expect "two commands" 2 $?
"$ctl" --socket "$tmp/none.sock" leases >/dev/null 2>"$tmp/err"
expect "leases without a tenant" 2 $?
grep -q -- '--tenant' "$tmp/err" || { echo "test_ctl: leases without a tenant: no hint" >&2; failures=$((failures + 1)); }
"$ctl" --json frobnicate >"$tmp/json" 2>/dev/null
expect "--json unknown command" 2 $?
check "--json usage error is one JSON object" json_error "$tmp/json" usage
"$ctl" --json --socket "$tmp/none.sock" metrics >"$tmp/json" 2>/dev/null
expect "metrics --json" 2 $?
check "metrics --json is a JSON usage error" json_error "$tmp/json" usage

# no socket: exit 3, the cause named, for every command
"$ctl" --socket "$tmp/none.sock" status >/dev/null 2>"$tmp/err"
expect "status, no socket" 3 $?
grep -q "is dmacached running? no socket at $tmp/none.sock" "$tmp/err" || { echo "test_ctl: no socket: $(cat "$tmp/err")" >&2; failures=$((failures + 1)); }
for cmd in status stats tenants sessions "leases --all"; do
	# shellcheck disable=SC2086 # "leases --all" is two words on purpose
	"$ctl" --socket "$tmp/none.sock" --json $cmd >"$tmp/json" 2>"$tmp/err"
	expect "$cmd, no socket" 3 $?
	check "$cmd --json, no socket: one JSON object" json_error "$tmp/json" ENOENT
	[ -s "$tmp/err" ] || { echo "test_ctl: $cmd: no message on stderr" >&2; failures=$((failures + 1)); }
done
"$ctl" --socket "$tmp/none.sock" --tenant t --json leases >"$tmp/json" 2>/dev/null
expect "leases, no socket" 3 $?
check "leases --json, no socket" json_error "$tmp/json" ENOENT
"$ctl" --socket "$tmp/none.sock" metrics >"$tmp/out" 2>/dev/null
expect "metrics, no socket" 3 $?
[ -s "$tmp/out" ] && { echo "test_ctl: metrics printed something without a daemon" >&2; failures=$((failures + 1)); }

# DMACACHE_SOCKET is the default; --socket wins over it
DMACACHE_SOCKET="$tmp/env.sock" "$ctl" stats >/dev/null 2>"$tmp/err"
expect "DMACACHE_SOCKET" 3 $?
grep -q "$tmp/env.sock" "$tmp/err" || { echo "test_ctl: DMACACHE_SOCKET not used: $(cat "$tmp/err")" >&2; failures=$((failures + 1)); }
DMACACHE_SOCKET="$tmp/env.sock" "$ctl" --socket "$tmp/opt.sock" stats >/dev/null 2>"$tmp/err"
grep -q "$tmp/opt.sock" "$tmp/err" || { echo "test_ctl: --socket does not win: $(cat "$tmp/err")" >&2; failures=$((failures + 1)); }

# a stale socket (its daemon gone): refused, exit 3
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1]); s.close()' "$tmp/stale.sock"
"$ctl" --socket "$tmp/stale.sock" --json stats >"$tmp/json" 2>"$tmp/err"
expect "stale socket" 3 $?
grep -q 'connection refused: stale socket, daemon not running' "$tmp/err" || { echo "test_ctl: stale socket: $(cat "$tmp/err")" >&2; failures=$((failures + 1)); }
check "stale socket --json" json_error "$tmp/json" ECONNREFUSED

# a listener that never answers (a stopped daemon): exit 3 within the bound
python3 - "$tmp/mute.sock" "$ctl" <<'PY' || failures=$((failures + 1))
import socket, subprocess, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1])
s.listen(8)
t0 = time.monotonic()
r = subprocess.run([sys.argv[2], "--socket", sys.argv[1], "--timeout", "300", "--json",
                    "stats"], capture_output=True, timeout=10)
dt = time.monotonic() - t0
import json
d = json.loads(r.stdout)
ok = r.returncode == 3 and d["error"] == "ETIMEDOUT" and 0.25 <= dt < 5
if not ok:
    print("test_ctl: mute listener: exit %d after %.2fs: %r %r" % (r.returncode, dt, r.stdout,
          r.stderr), file=sys.stderr)
sys.exit(0 if ok else 1)
PY

if [ "$failures" -ne 0 ]; then
	echo "test_ctl: $failures failure(s)" >&2
	exit 1
fi
echo "test_ctl: ok"
