"""Reads through Shoal on executors in JVMs of their own, with the jar in --jars and no other
setting (no plugin, no fs.<scheme>.impl); dumps what it saw.

    spark-submit --master local-cluster[2,1,1024] --jars shoal.jar ... jars_alone.py \
        --path shoal:///data --out result.json

  dataframe: every file under the path via binaryFile (recursive), sha256 computed on executors
  rdd:       sc.binaryFiles(path/part*), sha256 computed in the executors' Python workers
  executors: the executors and the driver, host:port
"""
from __future__ import annotations

import argparse
import json
import traceback

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def guarded(fn):
    try:
        return {"ok": True, "value": fn()}
    except Exception as e:  # a Py4J error carries the Java exception in its text
        return {"ok": False, "error": f"{type(e).__name__}: {e}"[:6000],
                "traceback": traceback.format_exc()[-4000:]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    spark = SparkSession.builder.appName("shoal-jars-alone").getOrCreate()
    sc = spark.sparkContext
    base = args.path.rstrip("/")

    def dataframe():
        rows = (spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(base)
                .select("path", "length", F.sha2("content", 256).alias("sha256")).collect())
        return [r.asDict() for r in rows]

    def rdd():
        def describe(kv):
            import hashlib

            return {"path": kv[0], "length": len(kv[1]),
                    "sha256": hashlib.sha256(kv[1]).hexdigest()}

        return sc.binaryFiles(base + "/part*").map(describe).collect()

    result = {"spark_version": sc.version, "dataframe": guarded(dataframe), "rdd": guarded(rdd)}
    # the executors and the driver (SparkStatusTracker lists both)
    result["executors"] = sorted(f"{e.host()}:{e.port()}"
                                 for e in sc._jsc.sc().statusTracker().getExecutorInfos())
    with open(args.out, "w") as f:
        json.dump(result, f)
    spark.stop()


if __name__ == "__main__":
    main()
