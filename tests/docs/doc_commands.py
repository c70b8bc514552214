#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""doc_commands.py: run the shell commands the docs show, so they cannot drift.

    doc_commands.py BUILD_DIR SOURCE_DIR DOC.md...

A fenced ```sh block whose previous non-blank line is the marker

    <!-- doc-test -->                  run as written
    <!-- doc-test: daemon -->          run with a dmacached-test serving
                                       DMACACHE_SOCKET (backend test; tenant
                                       "demo" for root, admin sessions for root)

is run with `bash -euo pipefail` in a fresh scratch directory, with the build's
dmacached, dmacached-test and dmacachectl first on PATH and these variables
set: DMAC_SRC (the source tree), DMAC_BUILD (the build tree), DMAC_SCRATCH
(the scratch directory). A block fails the run when it exits non-zero; its
output is printed. Every marked block runs; a document without any marked
block is an error (a marker lost in an edit would otherwise pass silently).

Exit 0 when every block of every document passed, 1 otherwise, 2 on usage.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MARK = re.compile(r"^<!--\s*doc-test(?::\s*(\w+))?\s*-->\s*$")


def blocks(path):
    """Yield (line number, mode, text) for every marked ```sh block."""
    lines = open(path, encoding="utf-8").read().splitlines()
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i].strip())
        if not m:
            i += 1
            continue
        mode = m.group(1) or "plain"
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines) or not lines[j].strip().startswith("```sh"):
            raise SystemExit("%s:%d: doc-test marker not followed by a ```sh block"
                             % (path, i + 1))
        k = j + 1
        body = []
        while k < len(lines) and not lines[k].strip().startswith("```"):
            body.append(lines[k])
            k += 1
        if k >= len(lines):
            raise SystemExit("%s:%d: unterminated ```sh block" % (path, j + 1))
        yield j + 1, mode, "\n".join(body) + "\n"
        i = k + 1


class Daemon:
    """A dmacached-test on a socket in @p scratch, for 'daemon' blocks."""

    def __init__(self, build, scratch):
        self.dir = os.path.join(scratch, "daemon")
        os.makedirs(self.dir)
        os.chmod(scratch, 0o755)
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "run", "dmacached.sock")
        conf = os.path.join(self.dir, "dmacached.conf")
        with open(conf, "w") as f:
            # (a long HELLO deadline: on a loaded CI machine a client may
            # take seconds between connect() and HELLO)
            f.write("[daemon]\nsocket = %s\nbackend = test\nlog_level = info\n"
                    "hello_timeout_ms = 60000\n[tenant demo]\nuids = 0\n" % self.sock)
        exe = os.path.join(build, "apps", "dmacached", "dmacached-test")
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen([exe, "--foreground", "--config", conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(500):
            if self.proc.poll() is not None:
                raise RuntimeError("dmacached-test exited at start:\n" + self.output())
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                s.connect(self.sock)
                return
            except OSError:
                time.sleep(0.01)
            finally:
                s.close()
        self.stop()
        raise RuntimeError("dmacached-test did not listen within 5 s")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run_block(build, src, doc, line, mode, text):
    scratch = tempfile.mkdtemp(prefix="dmac-doctest-")
    daemon = None
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.join(build, "apps", "dmacached"),
                                   os.path.join(build, "apps", "dmacachectl"),
                                   env.get("PATH", "/usr/bin:/bin")])
    env.update(DMAC_SRC=src, DMAC_BUILD=build, DMAC_SCRATCH=scratch)
    try:
        if mode == "daemon":
            daemon = Daemon(build, scratch)
            env["DMACACHE_SOCKET"] = daemon.sock
        elif mode != "plain":
            print("%s:%d: unknown doc-test mode '%s'" % (doc, line, mode))
            return False
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=scratch, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        ok = r.returncode == 0
        print("%s %s:%d (%s)" % ("ok  " if ok else "FAIL", doc, line, mode))
        if not ok:
            print("  commands:\n" + "".join("    " + ln + "\n" for ln in text.splitlines()))
            print("  exit %d, output:\n%s" % (r.returncode, r.stdout))
            if daemon:
                print("  daemon log:\n" + daemon.output())
        return ok
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print("FAIL %s:%d (%s): %s" % (doc, line, mode, e))
        return False
    finally:
        if daemon:
            daemon.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    build, src, docs = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3:]
    failed = total = 0
    for doc in docs:
        found = list(blocks(doc))
        if not found:
            print("FAIL %s: no doc-test block (a marker lost in an edit?)" % doc)
            failed += 1
        for line, mode, text in found:
            total += 1
            if not run_block(build, src, doc, line, mode, text):
                failed += 1
    print("%d block(s), %d failed" % (total, failed))
    return 1 if failed or not total else 0


if __name__ == "__main__":
    sys.exit(main())
