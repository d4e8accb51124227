#!/usr/bin/env python3
"""One training trial of the demo: one Spark application running the data-loading half of
examples/image_pipeline.py (every image read and decoded, the Parquet table scanned) over direct
S3A or over Shoal, and writing what it read, how long it took and Shoal's counters as JSON.

scripts/demo.py starts it with spark-submit, once per trial and reader:

    spark-submit [--jars ...] [--conf ...] scripts/demo_trial.py --reader shoal \\
        --images shoal:///data/images/train --parquet alluxio://localhost:19998/data/... \\
        --json-out trial.json

The hit ratio covers the whole trial: bytes Shoal served from its memory tier and its disk cache,
against bytes it fetched from the store (``io.shoal.jni.NativeMethods.processStats()``, this JVM:
driver and executors in local mode). A reader without Shoal reports no counters.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import image_pipeline  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reader", required=True, help="the name recorded with the result")
    ap.add_argument("--images", required=True, help="directory of class directories of JPEGs")
    ap.add_argument("--parquet", help="the dataset's Parquet table")
    ap.add_argument("--glob", default="*.jpg")
    ap.add_argument("--json-out", required=True)
    args = ap.parse_args(argv)

    from pyspark.sql import SparkSession

    t_start = time.perf_counter()
    spark = SparkSession.builder.appName(f"shoal-demo-trial-{args.reader}").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        started = time.perf_counter() - t_start
        before = image_pipeline.shoal_counters(spark)
        t0 = time.perf_counter()
        pipeline = argparse.Namespace(images=args.images, parquet=args.parquet, glob=args.glob,
                                      epochs=1)
        result = image_pipeline.run(spark, pipeline)
        seconds = time.perf_counter() - t0
        share = image_pipeline.cache_share(before, image_pipeline.shoal_counters(spark))
        out = {"reader": args.reader, "load_seconds": round(seconds, 3),
               "spark_start_seconds": round(started, 3), "spark_version": spark.version,
               "images": result["images"], "image_bytes": result["image_bytes"],
               "undecodable": result["undecodable"],
               "parquet_rows": (result.get("parquet") or {}).get("rows"),
               "shoal": share}
        tmp = args.json_out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
        Path(tmp).replace(args.json_out)
        print(f"trial ({args.reader}): {seconds:.2f} s", flush=True)
        return 0
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
