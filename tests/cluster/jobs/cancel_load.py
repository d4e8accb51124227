"""A Shoal load job cancelled while it runs, from PySpark; dumps what the store saw.

    spark-submit --jars shoal.jar cancel_load.py --path shoal:///cancel --proxy-pid PID \
        --proxy-stats stats.json --out result.json

The store sits behind benchmarks/delayproxy.py (a round trip per request), which writes its
request counts to --proxy-stats on SIGUSR1. The load runs on a thread; once some GETs have
reached the store, sc.cancelAllJobs() cancels it (Spark kills its tasks without interrupting
their threads, as ShoalTool asks). The object GETs are counted at the cancel, after a settling
time and after a while more; then a second load finishes the files.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import traceback

from pyspark.sql import SparkSession

import shoal_spark


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", required=True)
    ap.add_argument("--proxy-pid", type=int, required=True)
    ap.add_argument("--proxy-stats", required=True)
    ap.add_argument("--cancel-after-gets", type=int, default=12)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    spark = SparkSession.builder.getOrCreate()
    sc = spark.sparkContext
    out: dict = {"spark_version": spark.version}

    def gets() -> int:
        """Object GETs the store has been sent so far."""
        before = 0
        if os.path.exists(args.proxy_stats):
            with open(args.proxy_stats) as f:
                before = json.load(f).get("written", 0)
        os.kill(args.proxy_pid, signal.SIGUSR1)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with open(args.proxy_stats) as f:
                    s = json.load(f)
                if s.get("written", 0) > before:
                    return s["requests_by_kind"].get("GET object", 0)
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        raise RuntimeError("the proxy wrote no counts")

    first: dict = {}

    def load():
        try:
            first["value"] = shoal_spark.load(spark, args.path)
        except Exception as e:  # noqa: BLE001 - the cancelled job's error is the point
            first["error"] = str(e)[:3000]

    try:
        t = threading.Thread(target=load)
        t0 = time.time()
        t.start()
        deadline = time.time() + 120
        while gets() < args.cancel_after_gets and time.time() < deadline and t.is_alive():
            time.sleep(0.05)
        out["gets_before_cancel"] = gets()
        sc.cancelAllJobs()
        out["cancelled_at_s"] = round(time.time() - t0, 2)
        out["gets_at_cancel"] = gets()
        t.join(120)
        out["load_returned_s"] = round(time.time() - t0, 2)
        out["first"] = first
        time.sleep(3)  # the kill is seen within 0.1 s, the fetches in flight end within a round trip
        out["gets_settled"] = gets()
        time.sleep(4)
        out["gets_later"] = gets()
        second = shoal_spark.load(spark, args.path)
        out["second"] = second
        out["gets_after_second"] = gets()
    except Exception as e:  # noqa: BLE001 - reported to the test
        out["error"] = repr(e)
        out["traceback"] = traceback.format_exc()
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    spark.stop()


if __name__ == "__main__":
    main()
