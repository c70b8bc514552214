#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""plot_bench.py: PNG plots from the JSON of dmacache-lease-scale and
dmacache-copy-cache-bench (docs/performance.md, "Lease scale" and "Copy cache
(VM)").

    python3 bench/plot_bench.py [--lease-scale FILE[:LABEL]]...
                                [--copy-cache FILE[:LABEL]]... [--out DIR]

  --lease-scale  JSON of dmacache-lease-scale --json; one row of plots per
                 file (lease p50 and release p50 against outstanding leases,
                 every session and the ping-pong of the same run)
  --copy-cache   JSON of dmacache-copy-cache-bench --json (or the file
                 bench/run-copy-cache-bench.sh cut out); one plot per file:
                 fresh IOAS_MAP + IOAS_UNMAP, strict LEASE + RELEASE (a COPY
                 and an UNMAP through dmacached) and lazy re-LEASE + RELEASE,
                 by size, with the ratio to the re-lease written above
  --out          directory of lease_scale.png and copy_vs_map.png
                 (default docs/img)

Needs matplotlib (Debian: python3-matplotlib, in ./dev's packages). Reads
only the JSON: nothing is scraped from text. Invariants: a file it cannot
read or that lacks a key it needs stops it with a message and status 1,
before any PNG is written; the PNGs are written whole (matplotlib's savefig)
and nothing else is touched.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SESSION_STYLE = {
    "lazy": ("tab:blue", "o", "-"),
    "strict": ("tab:red", "s", "-"),
    "lazy+defer": ("tab:blue", "o", "--"),
    "strict+defer": ("tab:red", "s", "--"),
}


def load(spec):
    path, _, label = spec.partition(":")
    try:
        with open(path) as f:
            return json.load(f), label or os.path.basename(path)
    except (OSError, ValueError) as e:
        sys.exit("plot_bench: %s: %s" % (path, e))


def us(ns):
    return ns / 1000.0


def lease_scale(runs, out):
    fig, axes = plt.subplots(len(runs), 2, figsize=(11, 4.2 * len(runs)), squeeze=False)
    for row, (d, label) in enumerate(runs):
        counts = [c["outstanding"] for c in d["counts"]]
        title = "%s: cpus %s, load average %.1f-%.1f" % (
            label, d["cpus"], d["loadavg_start"][0], d["loadavg_end"][0])
        for col, (op, pp) in enumerate((("lease", "pingpong_lease"),
                                        ("release", "pingpong_release"))):
            ax = axes[row][col]
            for name, (color, marker, ls) in SESSION_STYLE.items():
                ys = [us(c["sessions"][name][op]["p50"]) for c in d["counts"]]
                ax.plot(counts, ys, color=color, marker=marker, linestyle=ls,
                        label="%s (%s)" % (name, d["counts"][0]["sessions"][name]
                                           ["release_policy"]))
            ys = [us(c[pp]["p50"]) for c in d["counts"]]
            size = "72 B" if op == "lease" else "56 B"
            ax.plot(counts, ys, color="black", marker="x", label="raw SEQPACKET ping-pong " + size)
            if op == "lease":
                ax.plot(counts, [1.3 * y for y in ys], color="gray", linestyle=":",
                        label="target: 1.3 x ping-pong")
            ax.set_xscale("log")
            ax.set_ylim(bottom=0)
            ax.set_xlabel("outstanding leases per session")
            ax.set_ylabel("%s p50, us" % op)
            ax.set_title("%s p50 - %s" % (op, title), fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out, "lease_scale.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def copy_cache(runs, out):
    fig, axes = plt.subplots(1, len(runs), figsize=(7 * len(runs), 5), squeeze=False)
    for col, (d, label) in enumerate(runs):
        ax = axes[0][col]
        sizes = [s["bytes"] for s in d["sizes"]]
        fresh = [us(s["map"]["p50"] + s["unmap"]["p50"]) for s in d["sizes"]]
        copy = [us(s["strict_lease"]["p50"] + s["strict_release"]["p50"]) for s in d["sizes"]]
        hit = [us(s["re_lease"]["p50"] + s["lazy_release"]["p50"]) for s in d["sizes"]]
        pp = [us(s["pingpong"]["p50"]) for s in d["sizes"]]
        if all(s["map"]["n"] for s in d["sizes"]):
            ax.plot(sizes, fresh, color="black", marker="x",
                    label="fresh IOAS_MAP + IOAS_UNMAP (bench's own IOAS, VT-d domain)")
            for x, f, h in zip(sizes, fresh, hit):
                ax.annotate(ratio(f / h), (x, f), textcoords="offset points",
                            xytext=(0, 6), ha="center", fontsize=8)
        ax.plot(sizes, copy, color="tab:red", marker="s",
                label="strict LEASE + RELEASE (IOAS_COPY + IOAS_UNMAP via dmacached)")
        ax.plot(sizes, hit, color="tab:blue", marker="o",
                label="lazy re-LEASE + RELEASE (copy hit, no kernel call)")
        ax.plot(sizes, pp, color="gray", marker=".", linestyle=":",
                label="raw SEQPACKET ping-pong 72 B (one round trip, same run)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([human(s) for s in sizes])
        ax.set_xlabel("lease size")
        ax.set_ylabel("p50, us (log)")
        ax.set_title("%s: backend %s, cpus %s (ratios: fresh / re-lease)" % (
            label, d["backend"], d.get("cpus", "?")), fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = os.path.join(out, "copy_vs_map.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def ratio(r):
    return "%.2fx" % r if r < 10 else "%.0fx" % r


def human(b):
    for unit, n in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= n and b % n == 0:
            return "%d %s" % (b // n, unit)
    return "%d B" % b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lease-scale", action="append", default=[])
    ap.add_argument("--copy-cache", action="append", default=[])
    ap.add_argument("--out", default="docs/img")
    a = ap.parse_args()
    if not a.lease_scale and not a.copy_cache:
        ap.error("nothing to plot: give --lease-scale and/or --copy-cache")
    ls = [load(s) for s in a.lease_scale]
    cc = [load(s) for s in a.copy_cache]
    try:
        for d, _ in ls:
            d["counts"][0]["sessions"]["lazy"]["lease"]["p50"]
        for d, _ in cc:
            d["sizes"][0]["re_lease"]["p50"]
    except (KeyError, IndexError, TypeError) as e:
        sys.exit("plot_bench: unexpected JSON (missing %s)" % e)
    os.makedirs(a.out, exist_ok=True)
    if ls:
        print(lease_scale(ls, a.out))
    if cc:
        print(copy_cache(cc, a.out))


if __name__ == "__main__":
    main()
