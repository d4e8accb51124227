"""Epochs over a Shoal path on a standalone cluster, with the cache jobs between them.

Each epoch reads every file once (binaryFile, one file per task) under its own job description
("epoch:<name>"); the test reads locality levels from the event log and per-executor cache metrics
from the CSV sink. Steps: epoch cold, epoch warm, free, epoch freed, free + load, epoch loaded.
"""
from __future__ import annotations

import json
import sys
import time

from pyspark.sql import SparkSession

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cache_ops import await_executors, job_args, metrics, read_all, record  # noqa: E402

import shoal_spark  # noqa: E402


def main():
    args = job_args()
    spark = SparkSession.builder.getOrCreate()
    sc = spark.sparkContext
    out = {"spark_version": spark.version, "steps": {}, "metrics": {}}

    def snap(name):
        time.sleep(3)  # the CSV sink reports every second
        out["metrics"][name] = metrics(args.metrics)

    def epoch(name):
        sc.setJobDescription(f"epoch:{name}")
        n = read_all(spark, args.path)
        sc.setJobDescription(None)
        return n

    def run(name, fn):
        record(out["steps"], name, fn)
        snap(name)

    m = await_executors(sc, args.executors, 180)
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
