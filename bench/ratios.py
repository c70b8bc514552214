#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Print the translate table and the target ratios of docs/performance.md.

Reads the JSON written by
    dmacache-bench --benchmark_filter=translate --benchmark_format=json
(from a file argument, or stdin) and prints Markdown: ns per lookup for every
translate benchmark, then the ratios the project targets (docs/performance.md).

Invariants:
- A benchmark's time per iteration is its time per lookup on one thread (the
  benchmark counts iterations in lookups); the CPU time is used, as Google
  Benchmark reports it (per thread, summed over threads, divided by the summed
  iterations).
- With --benchmark_repetitions the median aggregate is used; otherwise the mean
  of the runs of the same name.
- Runs that reported an error are shown as "error" with their message, never as
  numbers.
Python 3 standard library only.
"""
import io
import json
import re
import sys

IMPLS = ["imap", "imap_v1", "radix2", "radix2_rcu", "rwlock_tree", "dpdk"]
NAME = re.compile(r"^(translate|translate_range|translate_locked64|translate_chained|translate_burst32)/([a-z_0-9]+)/(\d+)/threads:(\d+)$")
WRITE = re.compile(r"^write/([a-z_0-9]+)/(\d+)/(\d+)$")
WCOUNTERS = ["insert_p50_ns", "insert_mean_ns", "remove_p50_ns", "remove_mean_ns",
             "bytes_per_interval"]
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(stream):
    """Returns (context, ns, overlap, errors, labels), keyed by
    (kind, impl, intervals, threads). overlap is cpu_time / real_time: with n
    threads it is n when they all ran at the same time, 1 when the machine ran
    them one after the other (then locks see no contention)."""
    doc = json.load(stream)
    runs = {}    # key -> list of (ns, overlap)
    medians = {}
    errors = {}
    labels = {}
    for b in doc.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        m = NAME.match(name)
        if not m:
            continue
        key = (m.group(1), m.group(2), int(m.group(3)), int(m.group(4)))
        if b.get("error_occurred"):
            errors[key] = b.get("error_message", "error")
            continue
        if b.get("label"):
            labels[key] = b["label"]
        unit = TO_NS[b.get("time_unit", "ns")]
        val = (b["cpu_time"] * unit,
               b["cpu_time"] / b["real_time"] if b.get("real_time") else 0.0)
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[key] = val
            continue
        runs.setdefault(key, []).append(val)
    agg = {k: (sum(v[0] for v in vs) / len(vs), sum(v[1] for v in vs) / len(vs))
           for k, vs in runs.items()}
    agg.update(medians)
    ns = {k: v[0] for k, v in agg.items()}
    overlap = {k: v[1] for k, v in agg.items()}
    return doc.get("context", {}), ns, overlap, errors, labels


def load_writes(doc):
    """Writer benchmarks: {(impl, intervals, bytes): {counter: value}}, medians of
    the repetitions when there are any, else the mean of the runs."""
    runs, medians = {}, {}
    for b in doc.get("benchmarks", []):
        m = WRITE.match(b.get("run_name", b["name"]))
        if not m or b.get("error_occurred"):
            continue
        key = (m.group(1), int(m.group(2)), int(m.group(3)))
        vals = {c: b[c] for c in WCOUNTERS if c in b}
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[key] = vals
            continue
        runs.setdefault(key, []).append(vals)
    out = {k: {c: sum(v[c] for v in vs if c in v) / len(vs) for c in WCOUNTERS}
           for k, vs in runs.items()}
    out.update(medians)
    return out


def fmt(v):
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main():
    stream = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    text = stream.read()
    ctx, ns, overlap, errors, labels = load(io.StringIO(text))
    writes = load_writes(json.loads(text))
    keys = set(ns) | set(errors)
    intervals = sorted({k[2] for k in keys})
    threads = sorted({k[3] for k in keys})

    print(f"Date: {ctx.get('date', '?')}, host: {ctx.get('host_name', '?')}, "
          f"{ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
          f"load average: {', '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))}")
    print()
    print("ns per lookup (CPU time per lookup on one thread):")
    print()
    print("| benchmark | intervals | threads | " + " | ".join(IMPLS) + " |")
    print("|---|---:|---:|" + "---:|" * len(IMPLS))
    for kind in ("translate", "translate_range"):
        for n in intervals:
            for t in threads:
                cells = []
                for impl in IMPLS:
                    k = (kind, impl, n, t)
                    cells.append("error" if k in errors else fmt(ns.get(k)))
                print(f"| {kind} | {n} | {t} | " + " | ".join(cells) + " |")
    print()

    def get(kind, impl, n, t):
        return ns.get((kind, impl, n, t))

    print("Targets (docs/performance.md). overlap = CPU time / real time of the two")
    print("runs compared (rwlock_tree / imap): 2.00 when both threads ran at once.")
    print()
    print("| ratio | target | intervals | threads | measured | met | overlap |")
    print("|---|---|---:|---:|---:|---|---|")
    rows = []
    for n in intervals:
        for t in threads:
            rows.append(("imap / radix2, single lookups", "<= 1.2", n, t,
                         ratio(get("translate", "imap", n, t),
                               get("translate", "radix2", n, t)),
                         lambda r: r <= 1.2, []))
    for n in intervals:
        rows.append(("rwlock_tree / imap, single lookups", ">= 10", n, 2,
                     ratio(get("translate", "rwlock_tree", n, 2),
                           get("translate", "imap", n, 2)),
                     lambda r: r >= 10,
                     [("translate", "rwlock_tree", n, 2), ("translate", "imap", n, 2)]))
    for n in intervals:
        for t in threads:
            rows.append(("radix2 / imap, 8 MiB ranged lookups", ">= 2", n, t,
                         ratio(get("translate_range", "radix2", n, t),
                               get("translate_range", "imap", n, t)),
                         lambda r: r >= 2, []))
    for name, target, n, t, r, ok, contended in rows:
        met = "-" if r is None else ("yes" if ok(r) else "NO")
        val = "-" if r is None else f"{r:.2f}x"
        ov = [overlap.get(k) for k in contended]
        note = ""
        if ov and all(o is not None for o in ov):
            note = " / ".join(f"{o:.2f}" for o in ov)
            if min(ov) < 1.8:
                note += (" (threads mostly not concurrent: the lock saw little"
                         " contention; the ratio is likely a lower bound)")
        print(f"| {name} | {target} | {n} | {t} | {val} | {met} | {note} |")
    print()

    if any(k[1] == "radix2_rcu" for k in ns):
        print("Informative: radix2 inside the read-side section imap pays per lookup "
              "(radix2_rcu), against radix2 and imap:")
        print()
        print("| benchmark | intervals | threads | radix2_rcu / radix2 | imap / radix2_rcu |")
        print("|---|---:|---:|---:|---:|")
        for kind in ("translate", "translate_range"):
            for n in intervals:
                for t in threads:
                    rr = get(kind, "radix2_rcu", n, t)
                    r1, r2 = ratio(rr, get(kind, "radix2", n, t)), ratio(get(kind, "imap", n, t), rr)
                    print(f"| {kind} | {n} | {t} | {'-' if r1 is None else f'{r1:.2f}x'} "
                          f"| {'-' if r2 is None else f'{r2:.2f}x'} |")
        print()

    print("imap against its previous design, imap_v1 (imap / imap_v1; <= 1: no slower):")
    print()
    print("| benchmark | intervals | threads | imap | imap_v1 | imap / imap_v1 |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in ("translate", "translate_range", "translate_chained", "translate_burst32"):
        for n in intervals:
            for t in threads:
                a, b = get(kind, "imap", n, t), get(kind, "imap_v1", n, t)
                if a is None and b is None:
                    continue
                r = ratio(a, b)
                print(f"| {kind} | {n} | {t} | {fmt(a)} | {fmt(b)} "
                      f"| {'-' if r is None else f'{r:.2f}x'} |")
    print()

    if any(k[0] == "translate_burst32" for k in ns):
        print("Bursts of 32 addresses (translate_burst32: imap one read-side section and "
              "one version per burst; imap_v1 one section around 32 single translates; "
              "radix2 the same 32 lookups), ns per address:")
        print()
        print("| intervals | threads | imap | imap_v1 | radix2 | imap / radix2 "
              "| imap burst / imap single |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n in intervals:
            for t in threads:
                a = get("translate_burst32", "imap", n, t)
                b = get("translate_burst32", "imap_v1", n, t)
                x = get("translate_burst32", "radix2", n, t)
                r1, r2 = ratio(a, x), ratio(a, get("translate", "imap", n, t))
                print(f"| {n} | {t} | {fmt(a)} | {fmt(b)} | {fmt(x)} "
                      f"| {'-' if r1 is None else f'{r1:.2f}x'} "
                      f"| {'-' if r2 is None else f'{r2:.2f}x'} |")
        print()

    if writes:
        print("Writer cost: one insert and one remove of an interval of <bytes> in a map "
              "of <intervals> (ns, p50 and mean of the single op; bytes per interval: "
              "logical sizes):")
        print()
        print("| impl | intervals | bytes | insert p50 | insert mean | remove p50 "
              "| remove mean | bytes / interval | insert p50 vs imap |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for (impl, n, by) in sorted(writes, key=lambda k: (k[2], k[1], k[0])):
            w = writes[(impl, n, by)]
            base = writes.get(("imap", n, by), {}).get("insert_p50_ns")
            r = ratio(w.get("insert_p50_ns"), base)
            print(f"| {impl} | {n} | {by} | {fmt(w.get('insert_p50_ns'))} "
                  f"| {fmt(w.get('insert_mean_ns'))} | {fmt(w.get('remove_p50_ns'))} "
                  f"| {fmt(w.get('remove_mean_ns'))} | {fmt(w.get('bytes_per_interval'))} "
                  f"| {'-' if r is None else f'{r:.2f}x'} |")
        print()

    print("imap against DPDK (dpdk / imap; > 1: imap faster):")
    print()
    print("| benchmark | intervals | threads | ratio | dpdk label |")
    print("|---|---:|---:|---:|---|")
    for kind in ("translate", "translate_range"):
        for n in intervals:
            for t in threads:
                k = (kind, "dpdk", n, t)
                if k in errors:
                    val = f"error: {errors[k]}"
                else:
                    r = ratio(get(kind, "dpdk", n, t), get(kind, "imap", n, t))
                    val = "-" if r is None else f"{r:.2f}x"
                print(f"| {kind} | {n} | {t} | {val} | {labels.get(k, '')} |")

    if any(k[0] == "translate_chained" for k in ns):
        print()
        print("Informative: latency of one lookup (translate_chained: each address "
              "depends on the previous result), ns:")
        print()
        print("| intervals | threads | imap | radix2 | rwlock_tree | imap / radix2 "
              "| rwlock_tree / imap | overlap (rwlock_tree / imap) |")
        print("|---:|---:|---:|---:|---:|---:|---:|---|")
        for n in intervals:
            for t in threads:
                i = get("translate_chained", "imap", n, t)
                x = get("translate_chained", "radix2", n, t)
                w = get("translate_chained", "rwlock_tree", n, t)
                r1, r2 = ratio(i, x), ratio(w, i)
                ov = [overlap.get(("translate_chained", p, n, t))
                      for p in ("rwlock_tree", "imap")]
                ovs = ("" if t == 1 or None in ov
                       else " / ".join(f"{o:.2f}" for o in ov))
                print(f"| {n} | {t} | {fmt(i)} | {fmt(x)} | {fmt(w)} "
                      f"| {'-' if r1 is None else f'{r1:.2f}x'} "
                      f"| {'-' if r2 is None else f'{r2:.2f}x'} | {ovs} |")
    if not any(k[0] == "translate_locked64" for k in ns):
        return
    print()
    print("Informative: imap with one read-side section per 64 lookups "
          "(translate_locked64) against the per-lookup section:")
    print()
    print("| intervals | threads | imap, lock per lookup | imap, lock per 64 "
          "| radix2 | (lock per 64) / radix2 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in intervals:
        for t in threads:
            b = get("translate_locked64", "imap", n, t)
            r = ratio(b, get("translate", "radix2", n, t))
            print(f"| {n} | {t} | {fmt(get('translate', 'imap', n, t))} | {fmt(b)} "
                  f"| {fmt(get('translate', 'radix2', n, t))} "
                  f"| {'-' if r is None else f'{r:.2f}x'} |")


if __name__ == "__main__":
    main()
