"""Epochs over a Shoal path on a standalone cluster, with the cache jobs between them.

Each epoch reads every file once (binaryFile, one file per task) under its own job description
("epoch:<name>"); the test reads locality levels from the event log and per-executor cache metrics
from the CSV sink. Steps: epoch cold, epoch warm, free, epoch freed, free + load, epoch loaded.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback

from pyspark.sql import SparkSession

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cache_ops import metrics  # noqa: E402

import shoal_spark  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--executors", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    spark = SparkSession.builder.getOrCreate()
    sc = spark.sparkContext
    out = {"spark_version": spark.version, "steps": {}, "metrics": {}}

    def snap(name):
        time.sleep(3)  # the CSV sink reports every second
        out["metrics"][name] = metrics(args.metrics)

    def epoch(name):
        sc.setJobDescription(f"epoch:{name}")
        df = (spark.read.format("binaryFile").option("recursiveFileLookup", "true")
              .load(args.path))
        n = df.selectExpr("coalesce(sum(length(content)), 0) AS n").collect()[0]["n"]
        sc.setJobDescription(None)
        return int(n)

    def run(name, fn):
        try:
            out["steps"][name] = {"ok": True, "value": fn()}
        except Exception as e:  # noqa: BLE001
            out["steps"][name] = {"ok": False, "error": repr(e), "traceback": traceback.format_exc()}
        snap(name)

    m = sc._jvm.io.shoal.spark.ExecutorMembership.current()
    deadline = time.time() + 180
    while m.executors() < args.executors and time.time() < deadline:
        time.sleep(0.5)
    out["hosts"] = list(m.hosts())
    snap("start")
    run("cold", lambda: epoch("cold"))
    run("warm", lambda: epoch("warm"))
    run("free", lambda: shoal_spark.free(spark, args.path))
    run("freed", lambda: epoch("freed"))
    run("free2", lambda: shoal_spark.free(spark, args.path))
    run("load", lambda: shoal_spark.load(spark, args.path))
    run("stat", lambda: shoal_spark.stat(spark, args.path))
    run("loaded", lambda: epoch("loaded"))
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    spark.stop()


if __name__ == "__main__":
    main()
