"""The plugin and the cluster-wide cache jobs from PySpark, step by step; dumps what it saw.

    spark-submit --jars shoal.jar --conf spark.plugins=io.shoal.spark.ShoalPlugin ... \
        cache_ops.py --path shoal:///data --metrics DIR --executors 2 --out result.json

Metrics come from Spark's CSV sink (DIR), which the test configures with a 1 s period.
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import time
import traceback

from pyspark.sql import SparkSession

import shoal_spark

PLUGIN = "plugin.io.shoal.spark.ShoalPlugin."
NAMES = ["cache_hits", "cache_misses", "bytes_from_cache", "bytes_from_store",
         "store_get_requests", "evictions", "cache_used_bytes", "cache_capacity_bytes"]


def metrics(directory: str) -> dict:
    """{executor id: {name: latest value}} from the CSV sink's files."""
    out: dict = {}
    for f in glob.glob(os.path.join(directory, f"*.{PLUGIN}*.csv")):
        base = os.path.basename(f)[: -len(".csv")]
        head, name = base.split(PLUGIN)
        executor = head.rstrip(".").split(".")[-1]
        with open(f) as fh:
            rows = [r for r in csv.reader(fh) if r and r[0] != "t"]
        if rows:
            out.setdefault(executor, {})[name] = int(float(rows[-1][1]))
    return out


def executor_sum(snapshot: dict, name: str) -> int:
    return sum(v.get(name, 0) for e, v in snapshot.items() if e != "driver")


def settle(directory: str, seconds: float = 3.0) -> dict:
    time.sleep(seconds)  # two CSV periods: every executor has reported since the job ended
    return metrics(directory)


def job_args():
    """The arguments of this job and of epochs.py."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--executors", type=int, default=2)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def record(steps: dict, name: str, fn):
    """Runs one step and keeps its value, or its error for the test to report."""
    try:
        steps[name] = {"ok": True, "value": fn()}
    except Exception as e:  # noqa: BLE001 - reported to the test
        steps[name] = {"ok": False, "error": repr(e), "traceback": traceback.format_exc()}


def read_all(spark, path: str) -> int:
    """Reads every file under ``path`` once (binaryFile, one file per task); their bytes."""
    df = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(path)
    return int(df.selectExpr("coalesce(sum(length(content)), 0) AS n").collect()[0]["n"])


def await_executors(sc, executors: int, seconds: float):
    """The plugin's executor membership, once ``executors`` have joined or ``seconds`` passed."""
    m = sc._jvm.io.shoal.spark.ExecutorMembership.current()
    deadline = time.time() + seconds
    while m.executors() < executors and time.time() < deadline:
        time.sleep(0.5)
    return m


def main():
    args = job_args()
    spark = SparkSession.builder.getOrCreate()
    sc = spark.sparkContext
    jvm = sc._jvm
    out: dict = {"spark_version": spark.version, "steps": {}}

    def step(name, fn):
        record(out["steps"], name, fn)

    def read_step():
        # Settled too: a reporter's last row may predate the end of the job before (a load's
        # GETs are counted when they start, its bytes when they arrive).
        before = settle(args.metrics)
        n = read_all(spark, args.path)
        after = settle(args.metrics)
        delta = {k: executor_sum(after, k) - executor_sum(before, k) for k in NAMES}
        return {"bytes": n, "delta": delta}

    def membership():
        m = await_executors(sc, args.executors, 120)
        return {"executors": m.executors(), "hosts": list(m.hosts())}

    step("membership", membership)
    # First, before anything here registers the schemes (shoal_spark does) or loads Spark SQL's
    # data sources: an RDD-only read, which only the plugin makes resolvable; then free what it
    # cached, so that the steps below start cold.
    def rdd_read():
        sc._jsc.hadoopConfiguration().set(
            "mapreduce.input.fileinputformat.input.dir.recursive", "true")
        return int(sc.binaryFiles(args.path).map(lambda kv: len(kv[1])).sum())

    step("rdd_read", rdd_read)
    step("rdd_free", lambda: shoal_spark.free(spark, args.path))
    step("stat_cold", lambda: shoal_spark.stat(spark, args.path))
    step("load1", lambda: shoal_spark.load(spark, args.path))
    step("load2", lambda: shoal_spark.load(spark, args.path))
    step("stat_loaded", lambda: shoal_spark.stat(spark, args.path))
    step("read_loaded", read_step)
    step("free", lambda: shoal_spark.free(spark, args.path))
    step("stat_freed", lambda: shoal_spark.stat(spark, args.path))
    step("read_freed", read_step)
    step("stat_reread", lambda: shoal_spark.stat(spark, args.path))
    step("metrics", lambda: settle(args.metrics, 0))

    def leave():
        m = jvm.io.shoal.spark.ExecutorMembership.current()
        ids = sorted(e for e in metrics(args.metrics) if e != "driver")
        victim = ids[-1]
        sc._jsc.sc().killExecutor(victim)
        deadline = time.time() + 60
        while m.executors() >= args.executors and time.time() < deadline:
            time.sleep(0.5)
        return {"killed": victim, "executors": m.executors(), "hosts": list(m.hosts())}

    step("executor_leaves", leave)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    spark.stop()


if __name__ == "__main__":
    main()
