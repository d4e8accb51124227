#!/usr/bin/env python3
"""Scale benchmark: Shoal over 10k, 100k and 1M small objects against the same reads of a local
directory. See README.md beside this file.

Every measurement runs in a new process of `scale_probe` (native/core/examples/scale_probe.rs),
so "a new process's first hit" and "resident memory" mean what they say. The dataset is served
by a cached `file://` mount: the source directory is also the local-directory peer (the S3
server of the test kit keeps one file per object and one request per listing page, which at a
million objects measures the server, not Shoal; this is said in the output).

Usage: scale.py [--sizes 10000,100000] [--work DIR] [--quick] [--keep]
"""
import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PER_DIR = 1000


def probe_bin():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "release", "examples", "scale_probe")


def build():
    if os.environ.get("SCALE_NO_BUILD"):
        return
    subprocess.run(
        ["nice", "cargo", "build", "--release", "-q", "-p", "shoal-core", "--example", "scale_probe"],
        cwd=ROOT,
        check=True,
    )


def sizes_for(n, seed=16):
    """Median ~2 KB (log-normal), clipped to 200 B..110 KB; one in 200 is 60-110 KB."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        if rnd.random() < 0.005:
            out.append(rnd.randint(60_000, 110_000))
        else:
            out.append(max(200, min(110_000, int(rnd.lognormvariate(7.6, 0.6)))))
    return out


def generate(data, n):
    marker = data + ".complete"
    if os.path.exists(marker):
        return
    shutil.rmtree(data, ignore_errors=True)
    block = os.urandom(1 << 20)
    t = time.time()
    for i, size in enumerate(sizes_for(n)):
        d = os.path.join(data, "c%05d" % (i // PER_DIR))
        if i % PER_DIR == 0:
            os.makedirs(d, exist_ok=True)
        off = (i * 7919) % ((1 << 20) - size)
        with open(os.path.join(d, "f%07d.bin" % i), "wb") as f:
            f.write(i.to_bytes(8, "little") + block[off : off + size - 8])
    open(marker, "w").close()
    print("  generated %d files in %.1f s" % (n, time.time() - t), flush=True)


def du(path):
    out = subprocess.run(["du", "-sb", "--apparent-size", path], capture_output=True, text=True)
    alloc = subprocess.run(["du", "-sB1", path], capture_output=True, text=True)
    return int(out.stdout.split()[0]), int(alloc.stdout.split()[0])


def inodes(path):
    n = 0
    for _, dirs, files in os.walk(path):
        n += len(dirs) + len(files)
    return n + 1


def probe(mode, data, cache, capacity, extra=None):
    args = [probe_bin(), mode, data, cache, str(capacity)] + ([extra] if extra else [])
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("scale_probe %s failed (%d): %s" % (mode, r.returncode, r.stderr[-2000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def free_gb(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / 1e9


def listing(data, cache, big):
    """The flat listing held whole against streamed, each in a new process, median of 3."""
    out = {}
    for name, mode, meta in [("whole", "whole", "1g"), ("stream", "stream", "1g"),
                             ("stream_16m", "stream", "16m")]:
        runs = [probe(mode, data, cache, big, meta) for _ in range(3)]
        runs.sort(key=lambda r: r["list_s"])
        r = runs[1]
        r["growth"] = r["rss_peak"] - r["rss_before"]
        out[name] = r
    return out


def run_size(work, n, keep, only_listing=False):
    data = os.path.join(work, "data-%d" % n)
    cache = os.path.join(work, "cache-%d" % n)
    print("== %d objects (free disk %.1f GB)" % (n, free_gb(work)), flush=True)
    generate(data, n)
    data_bytes, data_alloc = du(data)
    shutil.rmtree(cache, ignore_errors=True)
    big = str(data_alloc * 4 + (1 << 30))
    res = {"objects": n, "data_bytes": data_bytes, "data_alloc": data_alloc}
    res["listing"] = listing(data, cache, big)
    if only_listing:
        if not keep:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(data, ignore_errors=True)
            os.remove(data + ".complete")
        print(json.dumps(res), flush=True)
        return res
    paths = os.path.join(work, "paths-%d.txt" % n)
    res["list"] = probe("list", data, cache, big, paths)
    res["load"] = probe("load", data, cache, big)
    res["warm"] = probe("warm", data, cache, big)
    # A new process's first hit, 5 times on different cached files.
    with open(paths) as f:
        names = f.read().split()
    firsts = [probe("first", data, cache, big, names[(k * 7919) % len(names)]) for k in range(5)]
    res["first"] = {
        "median_ms": statistics.median(x["first_hit_ms"] for x in firsts),
        "max_ms": max(x["first_hit_ms"] for x in firsts),
        "dir_entries_examined": max(x["dir_entries_examined"] for x in firsts),
        "bytes_from_store": sum(x["bytes_from_store"] for x in firsts),
    }
    res["meta"] = probe("meta", data, cache, big)
    cache_bytes, cache_alloc = du(cache)
    res["cache"] = {"inodes": inodes(cache), "alloc": cache_alloc}
    # One eviction pass: a capacity 80% of what the directory holds.
    res["evict"] = probe("evict", data, cache, str(int(cache_alloc * 0.8)))
    res["cache"]["inodes_after_evict"] = inodes(cache)
    if not keep:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
        os.remove(data + ".complete")
        os.remove(paths)
    print(json.dumps(res), flush=True)
    return res


LISTING_ROWS = [
    ("listing held whole (walk_files): time / peak memory growth", lambda r: "%.2f s / %.1f MB" % (r["listing"]["whole"]["list_s"], r["listing"]["whole"]["growth"] / 1e6)),
    ("listing streamed (walk_stream): time / peak memory growth", lambda r: "%.2f s / %.1f MB" % (r["listing"]["stream"]["list_s"], r["listing"]["stream"]["growth"] / 1e6)),
    ("  the same, metadata cache 16 MiB (not kept)", lambda r: "%.2f s / %.1f MB" % (r["listing"]["stream_16m"]["list_s"], r["listing"]["stream_16m"]["growth"] / 1e6)),
]


def table(results, only_listing=False):
    rows = [
        ("objects", lambda r: "{:,}".format(r["objects"])),
        ("data (apparent / allocated)", lambda r: "%.0f / %.0f MB" % (r["data_bytes"] / 1e6, r["data_alloc"] / 1e6)),
        ("listing, Shoal (first / again)", lambda r: "%.3f / %.3f s" % (r["list"]["shoal_list_s"], r["list"]["shoal_list_again_s"])),
        ("listing, local walk (read_dir + stat)", lambda r: "%.3f s" % r["list"]["local_walk_s"]),
        ("cold fill through Shoal", lambda r: "%.0f files/s" % r["load"]["files_per_s"]),
        ("warm open+read, Shoal", lambda r: "%.0f files/s" % r["warm"]["shoal_files_per_s"]),
        ("warm open+read, local directory", lambda r: "%.0f files/s" % r["warm"]["local_files_per_s"]),
        ("Shoal / local", lambda r: "%.2fx" % (r["warm"]["shoal_files_per_s"] / r["warm"]["local_files_per_s"])),
        ("new process, first hit (median / max of 5)", lambda r: "%.1f / %.1f ms" % (r["first"]["median_ms"], r["first"]["max_ms"])),
        ("  cache entries examined by it", lambda r: str(r["first"]["dir_entries_examined"])),
        ("peak resident memory, warm read", lambda r: "%.1f MB" % (r["warm"]["peak_rss"] / 1e6)),
        ("memory per cached status", lambda r: "%d B" % r["meta"]["bytes_per_status"]),
        ("cache inodes (per object)", lambda r: "%d (%.2f)" % (r["cache"]["inodes"], r["cache"]["inodes"] / r["objects"])),
        ("cache on disk", lambda r: "%.0f MB" % (r["cache"]["alloc"] / 1e6)),
        ("eviction pass to 90% of 80% (time / files removed: pages or packs / entries examined)", lambda r: "%.2f s / %d / %d" % (r["evict"]["evict_s"], r["evict"]["evictions"], r["evict"]["dir_entries_examined"])),
        ("  peak memory of the evicting process", lambda r: "%.1f MB" % (r["evict"]["peak_rss"] / 1e6)),
    ] + LISTING_ROWS
    if only_listing:
        rows = rows[:2] + LISTING_ROWS
    out = ["| | " + " | ".join("{:,}".format(r["objects"]) for r in results) + " |",
           "|---" * (len(results) + 1) + "|"]
    for name, f in rows[1:]:
        out.append("| %s | %s |" % (name, " | ".join(f(r) for r in results)))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "scale-bench"))
    ap.add_argument("--quick", action="store_true", help="2,000 objects only (CI smoke)")
    ap.add_argument("--keep", action="store_true", help="keep datasets and cache directories")
    ap.add_argument("--out", default=None, help="write the results table (markdown) here")
    ap.add_argument("--listing-only", action="store_true",
                    help="only the listing held whole against streamed (no cache fill)")
    a = ap.parse_args()
    sizes = [2000] if a.quick else [int(s) for s in a.sizes.split(",")]
    os.makedirs(a.work, exist_ok=True)
    need_gb = max(sizes) * 9e3 / 1e9  # data + cache, with margin
    if free_gb(a.work) < need_gb + 2:
        sys.exit("not enough free disk at %s: %.1f GB free, about %.1f GB needed" % (a.work, free_gb(a.work), need_gb + 2))
    build()
    env = "%s, %d CPUs, %s; dataset served by a cached file:// mount (the source directory is " \
          "also the local peer; no S3 server holds the objects at these sizes)" % (
              platform.platform(), os.cpu_count(), platform.python_version())
    print(env, flush=True)
    results = [run_size(a.work, n, a.keep, a.listing_only) for n in sizes]
    text = "Environment: %s\n\n%s\n" % (env, table(results, a.listing_only))
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n```json\n" + json.dumps(results, indent=1) + "\n```\n")
    if a.quick:
        r = results[0]
        assert r["warm"]["bytes_from_store"] == 0, "warm read went to the store"
        assert r["first"]["bytes_from_store"] == 0, "first hit went to the store"
        assert r["list"]["files"] == r["objects"] == r["list"]["local_files"]


if __name__ == "__main__":
    main()
