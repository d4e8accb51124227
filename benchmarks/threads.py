#!/usr/bin/env python3
"""CPU time per thread name during each epoch of a benchmark run.

    python3 benchmarks/threads.py sample /tmp/threads.jsonl --seconds 600 &   # before run.sh
    benchmarks/run.sh ... --results-name NAME
    kill %1
    python3 benchmarks/threads.py epochs /tmp/threads.jsonl benchmarks/results/NAME.json

`sample` reads every thread's CPU time (`/proc/<pid>/task/<tid>/stat`) about four times a second
and appends one JSON line per sample. `epochs` takes the samples nearest to each epoch's start
(`began` in its record) and end, and prints the CPU seconds each thread name used in between,
digits dropped (`C2 CompilerThread0` and `1` are one name), largest first. It shows what a
cold epoch spends beyond a warm one: the JIT's compiler threads, the Python workers (and the
delay proxy, also `python`), Spark's task threads, the Rust runtime's (`tokio-rt-worker`, which
the S3 server's threads are named too) and Shoal's I/O threads (`shoal-io`). Sampling costs some
CPU of its own, so take the epoch times from a run without it.
"""
import argparse
import collections
import json
import os
import re
import sys
import time


def snapshot() -> dict:
    """{"pid/tid": [name, cpu seconds]} for every thread of the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    s = f.read()
            except OSError:
                continue
            name = s[s.index("(") + 1:s.rindex(")")]
            fields = s[s.rindex(")") + 1:].split()
            out[f"{pid}/{tid}"] = [name, (int(fields[11]) + int(fields[12])) / tick]
    return out


def sample(path: str, seconds: float, every: float = 0.25) -> None:
    end = time.time() + seconds
    with open(path, "a") as f:
        while time.time() < end:
            f.write(json.dumps({"t": round(time.time(), 3), "threads": snapshot()}) + "\n")
            f.flush()
            time.sleep(every)


def by_name(before: dict, after: dict) -> collections.Counter:
    """CPU seconds per thread name between two snapshots (a thread's name is its last one)."""
    used = collections.Counter()
    for key, (name, cpu) in after.items():
        d = cpu - before.get(key, [name, 0.0])[1]
        if d > 0:
            name = "kworker" if name.startswith("kworker") else re.sub(r"[#\d]+$", "", name)
            used[name] += d
    return used


def epochs(samples_path: str, results_path: str, top: int = 10) -> None:
    with open(samples_path) as f:
        samples = [json.loads(line) for line in f if line.strip()]
    if not samples:
        sys.exit(f"{samples_path}: no samples")
    with open(results_path) as f:
        records = json.load(f)["records"]

    def nearest(t):
        return min(samples, key=lambda s: abs(s["t"] - t))

    for r in records:
        if r.get("kind") != "epoch" or "began" not in r:
            continue
        a, b = nearest(r["began"]), nearest(r["began"] + r["seconds"])
        used = by_name(a["threads"], b["threads"])
        print(f"{r['config']} {r['format']} epoch {r['epoch']}: {r['seconds']:.2f} s "
              f"(sampled {b['t'] - a['t']:.2f} s), {sum(used.values()):.2f} CPU s: "
              + ", ".join(f"{k} {v:.2f}" for k, v in used.most_common(top)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample", help="sample every thread's CPU time into a JSON lines file")
    s.add_argument("out")
    s.add_argument("--seconds", type=float, default=600)
    e = sub.add_parser("epochs", help="CPU seconds per thread name during each epoch")
    e.add_argument("samples")
    e.add_argument("results", help="a run's results JSON (its epoch records)")
    e.add_argument("--top", type=int, default=10)
    args = ap.parse_args(argv)
    if args.cmd == "sample":
        sample(args.out, args.seconds)
    else:
        epochs(args.samples, args.results, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
