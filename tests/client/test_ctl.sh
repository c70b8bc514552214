#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# dmacachectl without a daemon: usage and exit codes, and the --json output of
# an unreachable daemon is one valid JSON object (python3 -m json.tool).
# Usage: test_ctl.sh DMACACHECTL
# Invariants: exits 0 only if every check passed; every check prints its name on
# failure.
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

unset DMACACHE_TENANT
"$ctl" --help >"$tmp/out" 2>&1
expect "--help" 0 $?
grep -q '^usage: dmacachectl' "$tmp/out" || { echo "test_ctl: --help prints no usage" >&2; failures=$((failures + 1)); }

"$ctl" >/dev/null 2>&1
expect "no command" 1 $?
"$ctl" frobnicate >/dev/null 2>"$tmp/err"
expect "unknown command" 1 $?
grep -q "unknown command 'frobnicate'" "$tmp/err" || { echo "test_ctl: no message for an unknown command" >&2; failures=$((failures + 1)); }
"$ctl" --all stats >/dev/null 2>&1
expect "--all on stats" 1 $?

"$ctl" --socket "$tmp/none.sock" status >/dev/null 2>"$tmp/err"
expect "status without a tenant" 1 $?
grep -q 'no tenant' "$tmp/err" || { echo "test_ctl: no message for a missing tenant" >&2; failures=$((failures + 1)); }

DMACACHE_TENANT=t "$ctl" --socket "$tmp/none.sock" --json status >"$tmp/json" 2>"$tmp/err"
expect "status of an unreachable daemon" 1 $?
python3 -m json.tool "$tmp/json" >/dev/null || { echo "test_ctl: status --json is not JSON: $(cat "$tmp/json")" >&2; failures=$((failures + 1)); }
grep -q '"reachable": false' "$tmp/json" || { echo "test_ctl: status --json does not say unreachable" >&2; failures=$((failures + 1)); }
grep -q 'No such file or directory' "$tmp/err" || { echo "test_ctl: no errno text on stderr: $(cat "$tmp/err")" >&2; failures=$((failures + 1)); }

for cmd in stats leases tenants "leases --all"; do
	# shellcheck disable=SC2086 # "leases --all" is two words on purpose
	"$ctl" --socket "$tmp/none.sock" --tenant t --json $cmd >/dev/null 2>"$tmp/err"
	expect "$cmd of an unreachable daemon" 1 $?
	[ -s "$tmp/err" ] || { echo "test_ctl: $cmd: no message on stderr" >&2; failures=$((failures + 1)); }
done

if [ "$failures" -ne 0 ]; then
	echo "test_ctl: $failures failure(s)" >&2
	exit 1
fi
echo "test_ctl: ok"
