#!/usr/bin/env python3
"""The FUSE mount against its peers, in one run (ratios, not absolute times):

* warm small files: whole reads of 100 KB files through `shoal mount` against the same files
  in a local directory, with 1, 4 and 16 reader threads (files/s);
* warm sequential reads: 1 MiB reads of one large file, mount against local (MB/s);
* cold: every small file read once through a freshly mounted, freshly freed Shoal against the
  same objects read directly with boto3 (a Python S3 client), 16 threads each, both through the
  same link emulator (a delay per request, benchmarks/delayproxy.py).

"Warm" is measured twice: as a user gets it (the kernel's page cache keeps a file's pages
between opens while its version is unchanged) and with `--no-kernel-cache` semantics forced by
remounting before each sample, so every read is served by Shoal's node cache.

    .tools/front/bin/python benchmarks/fuse/bench.py [--files 1000] [--big-mib 256] [--rtt-ms 5]

Writes benchmarks/results/fuse-<time>.json and .md. Needs a release `shoal` (cargo build
--release -p shoal-cli), s3s-fs (scripts/setup.sh) and boto3 (installed into the running
interpreter when missing). Each figure is the median of 5 samples of at least 300 ms, FUSE and
local samples taken in turns (the load of a shared machine moves within seconds); a ratio is the
median of the 5 paired ratios.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests" / "front"))
from s3server import S3Server, mount_conf  # noqa: E402

SAMPLES = 5
MIN_SAMPLE_S = 0.3


def ensure_boto3():
    import importlib.util

    if importlib.util.find_spec("boto3") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "boto3"], check=True)


def is_mounted(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split(" ")[4] == str(path) for line in f)


class Mount:
    def __init__(self, shoal: Path, conf: Path, mp: Path, log: Path):
        self.shoal, self.conf, self.mp, self.log = shoal, conf, mp, log
        self.proc = None

    def __enter__(self):
        self.mp.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([str(self.shoal), "--conf", str(self.conf), "mount", str(self.mp)],
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not is_mounted(self.mp):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mount failed: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if is_mounted(self.mp):
            subprocess.run(["umount", "-l", str(self.mp)], check=False)
        return False

    def stats(self) -> dict:
        return json.loads(os.getxattr(self.mp, "user.shoal.stats"))


def read_whole(path: str) -> int:
    with open(path, "rb", buffering=0) as f:
        n = 0
        while True:
            b = f.read(1 << 20)
            if not b:
                return n
            n += len(b)


# What the last sample did (files or MB) and, for samples that ran their own mount, the CPU time
# of its timed part (reader and daemon); `paired` turns them into CPU time per file or per MB.
LAST = {"units": 0.0, "cpu": None}


def daemon_cpu_seconds(pid: int) -> float:
    """CPU time of every thread of process ``pid`` so far (ns-precise, from schedstat)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def sampled(step) -> float:
    """Calls ``step`` (which returns the units it did: files, MB) until MIN_SAMPLE_S have
    passed; units per second, the units noted in LAST."""
    done = 0
    started = time.perf_counter()
    while True:
        done += step()
        elapsed = time.perf_counter() - started
        if elapsed >= MIN_SAMPLE_S:
            LAST["units"] = done
            return done / elapsed


def files_per_second(paths: list, threads: int) -> float:
    """Whole reads of ``paths`` (cycled) by ``threads`` threads for at least MIN_SAMPLE_S."""
    rng = random.Random(threads)
    order = paths[:]
    rng.shuffle(order)
    with cf.ThreadPoolExecutor(threads) as pool:
        return sampled(lambda: len(list(pool.map(read_whole, order))))


def sequential_mb_per_second(path: str) -> float:
    """Whole reads of ``path`` in 1 MiB reads for at least MIN_SAMPLE_S: MB per second."""
    return sampled(lambda: read_whole(path) / 1e6)


def timed_on(m, work) -> float:
    """One timed ``work()`` (which returns the units it did) on the mount ``m``: units per
    second, with the units and the CPU time of reader and daemon noted in LAST. The mount's
    node cache must have served it all."""
    d0, c0 = daemon_cpu_seconds(m.proc.pid), time.process_time()
    started = time.perf_counter()
    units = work()
    rate = units / (time.perf_counter() - started)
    LAST["units"] = units
    LAST["cpu"] = time.process_time() - c0 + daemon_cpu_seconds(m.proc.pid) - d0
    st = m.stats()
    assert st["cache_misses"] == 0, st
    return rate


KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL = 1 << 15, 1 << 16


def folio_profile(paths: list) -> dict | None:
    """How the kernel's page cache holds the (cached) files ``paths``: how many 4 KiB pages
    the probe saw mapped (it may see fewer than the file has), how many of them belong to large
    folios, and how many large folios. A read copies the page
    cache folio by folio, so where a local file system keeps a file in large folios and FUSE in
    single pages, a warm read through the mount costs more CPU with the daemon doing nothing.
    Reads /proc/self/pagemap and /proc/kpageflags (root); None where they cannot be read."""
    import ctypes
    import mmap
    import struct

    pages = large = heads = 0
    try:
        pagemap = open("/proc/self/pagemap", "rb")
        kflags = open("/proc/kpageflags", "rb")
    except OSError:
        return None
    with pagemap, kflags:
        for path in paths:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    continue
                # A private mapping can give its address to ctypes; untouched, its pages are
                # the page cache's.
                m = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY)
                try:
                    buf = ctypes.c_char.from_buffer(m)
                    base = ctypes.addressof(buf) // mmap.PAGESIZE
                    for i in range((size + mmap.PAGESIZE - 1) // mmap.PAGESIZE):
                        m[i * mmap.PAGESIZE]  # fault the page in (read only)
                        pagemap.seek((base + i) * 8)
                        entry = struct.unpack("<Q", pagemap.read(8))[0]
                        if not entry >> 63:  # not present
                            continue
                        kflags.seek((entry & ((1 << 55) - 1)) * 8)
                        flags = struct.unpack("<Q", kflags.read(8))[0]
                        pages += 1
                        if flags & (KPF_COMPOUND_HEAD | KPF_COMPOUND_TAIL):
                            large += 1
                            heads += bool(flags & KPF_COMPOUND_HEAD)
                    del buf
                finally:
                    m.close()
    if pages == 0:  # PFNs read as 0: no CAP_SYS_ADMIN
        return None
    return {"pages": pages, "pages_in_large_folios": large, "large_folios": heads}


def row(r: dict, fuse_key: str, local_key: str) -> dict:
    """A result row of the paired measurement ``r``, its two rates under the unit's names."""
    keys = ("ratio", "fuse_samples", "local_samples", "ratios", "cpu_ratio", "cpu_ratios",
            "fuse_cpu_per_unit", "local_cpu_per_unit")
    return {fuse_key: r["fuse"], local_key: r["local"], **{k: r[k] for k in keys}}


def paired(fuse, local, daemon_pid=None) -> dict:
    """SAMPLES samples of each, taken in turns (FUSE, local, FUSE, ...) so that both see the
    same load on a shared machine; the ratio is the median of the per-pair ratios.

    Beside the rates, the CPU time per file (or MB) each side costs: the reader's (this
    process, all threads) plus, through FUSE, the daemon's. On a machine whose CPUs are shared
    with other work, wall-clock rates follow the load; CPU time per file does much less, and
    ``cpu_ratio`` (local CPU per file over FUSE CPU per file) is the rate ratio the mount would
    reach where CPU is the limit."""
    f, l, fc, lc = [], [], [], []
    for _ in range(SAMPLES):
        LAST["cpu"] = None
        d0 = daemon_cpu_seconds(daemon_pid) if daemon_pid else 0.0
        c0 = time.process_time()
        f.append(fuse())
        cpu = time.process_time() - c0
        if daemon_pid:
            cpu += daemon_cpu_seconds(daemon_pid) - d0
        if LAST["cpu"] is not None:  # the sample mounted, listed and unmounted besides
            cpu = LAST["cpu"]
        fc.append(cpu / LAST["units"])
        c0 = time.process_time()
        l.append(local())
        lc.append((time.process_time() - c0) / LAST["units"])
    ratios = [a / b for a, b in zip(f, l)]
    cpu_ratios = [b / a for a, b in zip(fc, lc)]
    return {"fuse": statistics.median(f), "local": statistics.median(l),
            "ratio": statistics.median(ratios), "fuse_samples": f, "local_samples": l,
            "ratios": ratios, "fuse_cpu_per_unit": fc, "local_cpu_per_unit": lc,
            "cpu_ratio": statistics.median(cpu_ratios), "cpu_ratios": cpu_ratios}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=1000, help="100 KB files")
    ap.add_argument("--big-mib", type=int, default=256, help="size of the sequential-read file")
    ap.add_argument("--rtt-ms", type=float, default=5.0, help="delay per request on the cold link")
    ap.add_argument("--shoal", type=Path, default=REPO / "target" / "release" / "shoal")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--label", default="", help="what was measured (e.g. the commit), for the results")
    args = ap.parse_args()
    ensure_boto3()
    import boto3
    from botocore.config import Config as BotoConfig

    work = Path(tempfile.mkdtemp(prefix="shoal-fuse-bench-"))
    results = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "label": args.label, "shoal": str(args.shoal),
               "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                           "python": platform.python_version(),
                           "load_before": os.getloadavg()},
               "settings": {"files": args.files, "file_size": 100_000, "big_mib": args.big_mib,
                            "rtt_ms": args.rtt_ms, "samples": SAMPLES, "min_sample_s": MIN_SAMPLE_S}}
    proxy = None
    try:
        root = work / "s3root"
        bucket = root / "bench"
        rng = random.Random(1)
        small = []
        for i in range(args.files):
            p = bucket / "small" / f"d{i // 100:02d}" / f"f{i:05d}.bin"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(rng.randbytes(100_000))
            small.append(p)
        big = bucket / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.big_mib):
                f.write(rng.randbytes(1 << 20))
        server = S3Server(root, log_path=work / "s3s.log").start()
        info_file = work / "proxy.json"
        proxy = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "delayproxy.py"),
                                  "--upstream", f"127.0.0.1:{server.port}", "--rtt-ms", str(args.rtt_ms),
                                  "--info-file", str(info_file)], stdout=subprocess.DEVNULL)
        while not info_file.exists():
            time.sleep(0.05)
        endpoint = f"http://127.0.0.1:{json.loads(info_file.read_text())['port']}"
        conf = work / "shoal.properties"
        keys = mount_conf("bench", "/bench", "s3://bench", endpoint=endpoint, access_key=server.access_key,
                          secret_key=server.secret_key, readonly=True, prefix="")
        keys["shoal.cache.dirs"] = f"{work / 'cache'}:4g"
        keys["shoal.mount.bench.immutable"] = "true"
        conf.write_text("".join(f"{k}={v}\n" for k, v in keys.items()))
        mp = work / "mnt"
        log = work / "mount.log"

        def shoal(*a):
            out = subprocess.run([str(args.shoal), "--conf", str(conf), *a], capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"shoal {' '.join(a)}: {out.stdout}{out.stderr}")

        # ---- cold: Shoal through FUSE against boto3, the same objects, the same link -------
        shoal("free", "/bench")
        with Mount(args.shoal, conf, mp, log) as m:
            paths = [str(mp / "bench" / p.relative_to(bucket)) for p in small]
            started = time.perf_counter()
            with cf.ThreadPoolExecutor(16) as pool:
                got = sum(pool.map(read_whole, paths))
            fuse_cold = len(paths) / (time.perf_counter() - started)
            assert got == 100_000 * len(paths)
            cold_stats = m.stats()
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=server.access_key,
                          aws_secret_access_key=server.secret_key, region_name=server.region,
                          config=BotoConfig(max_pool_connections=16))
        keys_small = [str(p.relative_to(bucket)) for p in small]

        def get(key):
            return len(s3.get_object(Bucket="bench", Key=key)["Body"].read())

        started = time.perf_counter()
        with cf.ThreadPoolExecutor(16) as pool:
            got = sum(pool.map(get, keys_small))
        boto_cold = len(keys_small) / (time.perf_counter() - started)
        assert got == 100_000 * len(keys_small)
        results["cold"] = {"fuse_files_per_s": fuse_cold, "boto3_files_per_s": boto_cold,
                           "ratio": fuse_cold / boto_cold, "shoal_counters": cold_stats}
        print(f"cold 100 KB files, 16 threads: FUSE {fuse_cold:.0f}/s, boto3 {boto_cold:.0f}/s, "
              f"ratio {fuse_cold / boto_cold:.2f}x", flush=True)

        # ---- warm: the node cache holds everything -----------------------------------------
        local_small = [str(p) for p in small]
        for p in local_small + [str(big)]:
            read_whole(p)  # the local copy in the page cache too
        # `shoal load` of the large file sends all its page GETs at once, more than the link
        # emulator serves within the retry timeout; a sequential read (bounded read-ahead) warms it.
        shoal("load", "/bench/small")
        with Mount(args.shoal, conf, mp, log):
            read_whole(str(mp / "bench" / "big.bin"))
        warm = {}

        def node_cache_pass(threads):
            # A fresh mount has an empty kernel cache: one pass per mount.
            with Mount(args.shoal, conf, mp, log) as m:
                paths = [str(mp / "bench" / p.relative_to(bucket)) for p in small]
                # A new process knows no metadata: it lists the dataset first, as a loader's
                # scan does (one LIST per directory, not timed).
                for _ in os.walk(mp / "bench" / "small"):
                    pass

                def work():
                    with cf.ThreadPoolExecutor(threads) as pool:
                        list(pool.map(read_whole, paths))
                    return len(paths)

                return timed_on(m, work)

        def node_cache_sequential():
            # A fresh mount per sample: its kernel cache is empty.
            with Mount(args.shoal, conf, mp, log) as m:
                os.stat(mp / "bench" / "big.bin")
                return timed_on(m, lambda: read_whole(str(mp / "bench" / "big.bin")) / 1e6)

        for kernel_cache in (True, False):
            label = "kernel page cache + Shoal" if kernel_cache else "Shoal node cache only"
            rows = {}
            for threads in (1, 4, 16):
                if kernel_cache:
                    with Mount(args.shoal, conf, mp, log) as m:
                        paths = [str(mp / "bench" / p.relative_to(bucket)) for p in small]
                        files_per_second(paths, threads)  # fill the kernel's cache
                        r = paired(lambda: files_per_second(paths, threads),
                                   lambda: files_per_second(local_small, threads), m.proc.pid)
                else:
                    r = paired(lambda: node_cache_pass(threads),
                               lambda: files_per_second(local_small, threads))
                rows[threads] = row(r, "fuse_files_per_s", "local_files_per_s")
                print(f"warm 100 KB files, {label}, {threads:2d} threads: FUSE {r['fuse']:.0f}/s, "
                      f"local {r['local']:.0f}/s, ratio {r['ratio']:.2f}x, CPU per file {r['cpu_ratio']:.2f}x", flush=True)
            if kernel_cache:
                with Mount(args.shoal, conf, mp, log) as m:
                    bigpath = str(mp / "bench" / "big.bin")
                    read_whole(bigpath)
                    r = paired(lambda: sequential_mb_per_second(bigpath),
                               lambda: sequential_mb_per_second(str(big)), m.proc.pid)
            else:
                r = paired(node_cache_sequential, lambda: sequential_mb_per_second(str(big)))
            rows["sequential_1mib"] = row(r, "fuse_mb_per_s", "local_mb_per_s")
            print(f"warm sequential 1 MiB reads, {label}: FUSE {r['fuse']:.0f} MB/s, "
                  f"local {r['local']:.0f} MB/s, ratio {r['ratio']:.2f}x, CPU per MB {r['cpu_ratio']:.2f}x", flush=True)
            warm["kernel_cache" if kernel_cache else "node_cache_only"] = rows
            if kernel_cache:
                # Where the remaining difference lies: the page cache's folios of the same
                # files, read whole just now, through the mount and local.
                with Mount(args.shoal, conf, mp, log):
                    sample = small[:50]
                    mounted = [str(mp / "bench" / p.relative_to(bucket)) for p in sample]
                    for p in mounted + [str(mp / "bench" / "big.bin")]:
                        read_whole(p)
                    results["page_cache_folios"] = {
                        "small_fuse": folio_profile(mounted),
                        "small_local": folio_profile([str(p) for p in sample]),
                        "big_fuse": folio_profile([str(mp / "bench" / "big.bin")]),
                        "big_local": folio_profile([str(big)]),
                    }
                print(f"page-cache folios: {json.dumps(results['page_cache_folios'])}", flush=True)
        results["warm"] = warm
        results["machine"]["load_after"] = os.getloadavg()
    finally:
        if proxy is not None:
            proxy.terminate()
        try:
            server.stop()
        except NameError:
            pass
        if is_mounted(work / "mnt"):
            subprocess.run(["umount", "-l", str(work / "mnt")], check=False)
        shutil.rmtree(work, ignore_errors=True)

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    out = args.out / f"fuse-{stamp}"
    out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    md = [f"# FUSE benchmark {results['when']}" + (f": {args.label}" if args.label else ""), "",
          f"{args.files} files of 100 KB, a {args.big_mib} MiB file; {os.cpu_count()} CPUs; "
          f"load {results['machine']['load_before'][0]:.1f} before, {results['machine']['load_after'][0]:.1f} after; "
          f"medians of {SAMPLES} samples, FUSE and local in turns; ratios are medians of the paired ratios.", "",
          "| warm | threads | FUSE | local | ratio (target 0.8x) | CPU-time ratio |",
          "|---|---:|---:|---:|---:|---:|"]
    for mode, rows in results["warm"].items():
        for t in (1, 4, 16):
            r = rows[t]
            md.append(f"| {mode} | {t} | {r['fuse_files_per_s']:.0f} files/s | {r['local_files_per_s']:.0f} files/s "
                      f"| {r['ratio']:.2f}x | {r['cpu_ratio']:.2f}x |")
        r = rows["sequential_1mib"]
        md.append(f"| {mode}, sequential 1 MiB | 1 | {r['fuse_mb_per_s']:.0f} MB/s | {r['local_mb_per_s']:.0f} MB/s "
                  f"| {r['ratio']:.2f}x | {r['cpu_ratio']:.2f}x |")
    c = results["cold"]
    md += ["", "CPU-time ratio: the local read's CPU time per file (or MB) over the FUSE read's, "
               "reader plus daemon (median of the 5 pairs): the rate ratio where CPU is the limit.",
           ""]
    folios = results.get("page_cache_folios") or {}
    if all(folios.get(k) for k in ("small_fuse", "small_local", "big_fuse", "big_local")):
        def share(k):
            f = folios[k]
            return (f"{f['pages_in_large_folios'] / f['pages']:.0%} of {f['pages']} pages seen "
                    f"in {f['large_folios']} large folios")
        md += [f"Kernel page cache after warm reads (why the kernel-cache rows differ): 50 small files "
               f"through FUSE {share('small_fuse')}, local {share('small_local')}; the large file "
               f"through FUSE {share('big_fuse')}, local {share('big_local')}.", ""]
    md += [f"Cold, 16 threads, {args.rtt_ms} ms per request: FUSE {c['fuse_files_per_s']:.0f} files/s, "
               f"boto3 {c['boto3_files_per_s']:.0f} files/s: {c['ratio']:.2f}x."]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"wrote {out}.json and .md")


if __name__ == "__main__":
    main()
