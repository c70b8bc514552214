#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""check_security.py: every test docs/security.md names exists in this build.

    check_security.py SECURITY_MD BUILD_DIR VM_TESTS(true|false)

Reads every name in backticks in the 'Test' column of the threat table, and
every backticked name in the text with a test prefix (adv-, vm-adv-, lazy-,
device-, devices-); a row without a test, or a name that is not a test
registered in the build (meson introspect --tests), fails the check. vm-tier names are checked only
when the vm tests are configured. Exit 0 when every
name resolves, 1 otherwise (each missing name printed).
"""
import json
import re
import subprocess
import sys


def main():
    md, build, vm = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
    out = subprocess.run(["meson", "introspect", "--tests", build],
                         check=True, capture_output=True, text=True).stdout
    tests = {t["name"] for t in json.loads(out)}
    text = open(md, encoding="utf-8").read()
    table = text[text.index("## Threat table"):]
    rows = [line for line in table.splitlines()
            if line.startswith("|") and not line.startswith("|---")][1:]
    missing, seen = [], 0
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) != 3:
            missing.append("malformed row: " + row)
            continue
        names = re.findall(r"`([A-Za-z0-9_.-]+)`", cells[2])
        if not names:
            missing.append("row without a test: " + row)
        for n in names:
            seen += 1
            looks_vm = n.startswith(("vm-", "nvme-", "iommufd-", "main-job-"))
            if n in tests or (looks_vm and not vm):
                continue
            missing.append("not a test of this build: %s (row: %s)" % (n, cells[0]))
    # the prose names tests too: every name with a test suite's prefix
    # anywhere on the page must resolve as well
    for n in sorted(set(re.findall(r"`((?:adv|vm-adv|lazy|device|devices)-[A-Za-z0-9_.-]+)`",
                                   text))):
        seen += 1
        if n in tests or (n.startswith("vm-") and not vm):
            continue
        missing.append("not a test of this build: %s (in the text)" % n)
    for m in missing:
        print("security.md:", m)
    print("%d test names in the threat table, %d problem(s)" % (seen, len(missing)))
    return 1 if missing or not seen else 0


if __name__ == "__main__":
    sys.exit(main())
