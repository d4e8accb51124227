#!/usr/bin/env python3
"""Listing a million objects: Shoal against direct S3A, both over the same S3 listing endpoint
(issue 16: "listing 1M objects no slower than S3A"). See README.md beside this file.

For each size the driver starts `listserver.py` (a synthetic, in-memory S3 endpoint that serves
listings only: N keys, no data, pages built at start, so the clients are measured, not the
server), then lists `s3://bench/d` recursively 3 times with Shoal (`scale_probe list-s3`, a new
process each, the listing streamed) and 3 times with Hadoop's S3AFileSystem (`ListS3A.java`, a
new JVM each, `fs.listFiles(path, true)` iterated; the JVM lists at least once and for at least
5 s to warm up, then the next listing is timed). Medians by time; every listing must count N
files.

Usage: s3a_listing.py [--sizes 10000,100000,1000000] [--out FILE] [--tools DIR]

Needs the Spark 3.5 venv (`scripts/setup.sh`) and the S3A jars (`benchmarks/setup.sh --s3a
spark35`) under .tools/, a JDK (javac, java) and cargo.
"""
import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

from scale import build, probe_bin  # noqa: E402 (this directory is on sys.path)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUNS = 3
SERVER_NOTE = ("The endpoint is `listserver.py`, a synthetic in-memory S3 listing server (sorted "
               "keys, pages of at most 1,000 as S3 serves them, XML built once at start), so "
               "both clients are measured, not the server.")


def classpath(tools):
    spark = glob.glob(os.path.join(tools, "spark35", "lib", "python3*", "site-packages", "pyspark", "jars"))
    s3a = os.path.join(tools, "bench", "jars", "s3a-hadoop3.3.4")
    if not spark or not glob.glob(os.path.join(s3a, "hadoop-aws-*.jar")):
        sys.exit("Hadoop or S3A jars missing under %s: run scripts/setup.sh and "
                 "benchmarks/setup.sh --s3a spark35 (or pass --tools)" % tools)
    return os.path.join(spark[0], "*") + ":" + os.path.join(s3a, "*")


def compile_java(work, cp):
    classes = os.path.join(work, "s3a-classes")
    os.makedirs(classes, exist_ok=True)
    subprocess.run(["javac", "-cp", cp, "-d", classes, os.path.join(HERE, "ListS3A.java")], check=True)
    return classes + ":" + cp


class Server:
    """listserver.py with n keys, started here and stopped by its pid."""

    def __init__(self, n, log):
        self.log = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "listserver.py"), str(n)],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            self.stop()
            sys.exit("listserver did not start: %r (see %s)" % (line, log))
        self.endpoint = "http://127.0.0.1:%d" % int(line.split()[1])

    def stats(self):
        """The requests served since the last call, by kind."""
        with urllib.request.urlopen(self.endpoint + "/_stats") as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_json(args, what):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed (%d): %s" % (what, r.returncode, r.stderr[-3000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def median(runs):
    return sorted(runs, key=lambda r: r["list_s"])[len(runs) // 2]


def run_size(n, work, cp):
    print("== %d objects" % n, flush=True)
    t = time.time()
    server = Server(n, os.path.join(work, "listserver-%d.log" % n))
    res = {"objects": n, "server_start_s": round(time.time() - t, 2)}
    try:
        shoal = []
        for _ in range(RUNS):
            cache = os.path.join(work, "cache-%d" % n)
            shutil.rmtree(cache, ignore_errors=True)
            os.makedirs(cache)
            r = run_json([probe_bin(), "list-s3", server.endpoint, cache, "1g"], "scale_probe list-s3")
            shutil.rmtree(cache, ignore_errors=True)
            assert r["files"] == n, "Shoal listed %d files of %d" % (r["files"], n)
            print("  shoal %s" % json.dumps(r), flush=True)
            shoal.append(r)
        res["shoal_requests"] = server.stats()
        s3a = []
        for _ in range(RUNS):
            r = run_json(["java", "-cp", cp, "ListS3A", "s3a://bench/d", server.endpoint], "ListS3A")
            assert r["files"] == n, "S3A listed %d files of %d" % (r["files"], n)
            print("  s3a   %s" % json.dumps(r), flush=True)
            s3a.append(r)
        res["s3a_requests"] = server.stats()
    finally:
        server.stop()
    res["shoal_runs"], res["s3a_runs"] = shoal, s3a
    res["shoal"], res["s3a"] = median(shoal), median(s3a)
    key = "listing seconds (server side, before sending)"
    res["server_s_per_listing"] = {
        "shoal": res["shoal_requests"].get(key, 0) / RUNS,
        "s3a": res["s3a_requests"].get(key, 0) / sum(x["warmups"] + 1 for x in s3a),
    }
    return res


def requests_per_listing(stats, listings):
    n = sum(v for k, v in stats.items() if k.startswith(("GET", "HEAD")))
    return n / listings


def table(results):
    out = ["| objects | Shoal list | S3A list (warm JVM) | Shoal / S3A time | files (Shoal / S3A) "
           "| Shoal peak RSS (growth) | requests per listing (Shoal / S3A) | S3A first listing (cold JVM) |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        sh, s3 = r["shoal"], r["s3a"]
        out.append("| {:,} | {:.3f} s | {:.3f} s | {:.2f}x | {:,} / {:,} | {:.1f} MB ({:.1f} MB) "
                   "| {:.0f} / {:.0f} | {:.3f} s |".format(
                       r["objects"], sh["list_s"], s3["list_s"], sh["list_s"] / s3["list_s"],
                       sh["files"], s3["files"], sh["rss_peak"] / 1e6,
                       (sh["rss_peak"] - sh["rss_before"]) / 1e6,
                       requests_per_listing(r["shoal_requests"], RUNS),
                       requests_per_listing(r["s3a_requests"], sum(x["warmups"] + 1 for x in r["s3a_runs"])),
                       statistics.median(x["first_list_s"] for x in r["s3a_runs"])))
    return "\n".join(out)


def environment():
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    return "%s, %d CPUs, load average %.1f at start, Python %s, %s; Shoal release build, " \
           "S3A = hadoop-aws 3.3.4 (Spark 3.5's Hadoop)" % (
               platform.platform(), os.cpu_count(), os.getloadavg()[0], platform.python_version(), java)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "scale-bench", "s3a-listing"))
    ap.add_argument("--tools", default=os.path.join(ROOT, ".tools"),
                    help="the .tools directory holding spark35/ and bench/jars/ (default ROOT/.tools)")
    ap.add_argument("--out", default=None, help="write the results table (markdown) here")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    os.makedirs(a.work, exist_ok=True)
    cp = compile_java(a.work, classpath(a.tools))
    build()
    env = environment()
    print(env, flush=True)
    print(SERVER_NOTE, flush=True)
    results = [run_size(n, a.work, cp) for n in sizes]
    text = ("Environment: %s\n\n%s Shoal: `scale_probe list-s3`, a new process per listing, "
            "`walk_stream` of a mount over `s3://bench/d`. S3A: `ListS3A.java`, a new JVM per run, "
            "`fs.listFiles(path, true)` once and for at least 5 s to warm the JVM, then the timed "
            "listing (the first listing of the cold JVM is the last column). Median of %d each. "
            "Both list 1,000 keys a page (S3A asks for 5,000, `fs.s3a.paging.maximum`; the server "
            "caps pages at 1,000 as S3 does).\n\n%s\n" % (env, SERVER_NOTE, RUNS, table(results)))
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n```json\n" + json.dumps(results, indent=1) + "\n```\n")


if __name__ == "__main__":
    main()
