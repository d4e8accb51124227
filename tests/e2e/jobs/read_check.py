"""PySpark job for the e2e tests: reads images and Parquet through the given roots, dumps JSON.

    spark-submit --jars shoal-0.1.0.jar <mount conf> read_check.py --out result.json \\
        --root NAME=URI [--root NAME=URI ...] [--repeat 2]

For every root URI (e.g. shoal:///data, alluxio://master:19998/data) and every pass it records:
  images:      every file under URI/images via binaryFile (recursive): path, length,
               modificationTime, sha256 of the content (computed in the JVM)
  images_glob: the same with pathGlobFilter=*.jpg, under URI/images/train only
  parquet:     every row of URI/parquet/images.parquet (the image column as sha256 + length)
  parquet_filtered: label_id = 1, two columns (column pruning and row-group reads)
Errors are recorded per root (type and message) instead of ending the job, so that one broken
path shows up as one failed test.
"""
import argparse
import json
import sys
import time
import traceback


def collect_images(spark, uri, glob=None):
    from pyspark.sql import functions as F

    reader = spark.read.format("binaryFile").option("recursiveFileLookup", "true")
    if glob:
        reader = reader.option("pathGlobFilter", glob)
    df = reader.load(uri)
    rows = df.select(
        "path", "length", F.col("modificationTime").cast("long").alias("mtime"),
        F.sha2("content", 256).alias("sha256"),
        F.octet_length("content").alias("content_length"),
    ).collect()
    return [r.asDict() for r in rows]


def collect_parquet(spark, uri):
    from pyspark.sql import functions as F

    df = spark.read.parquet(uri)
    cols = [c for c in df.columns if c != "image"]
    rows = df.select(*cols, F.sha2("image", 256).alias("image_sha256"),
                     F.octet_length("image").alias("image_length")).collect()
    filtered = df.where("label_id = 1").select("path", "nbytes").collect()
    return {"columns": df.columns, "rows": [r.asDict() for r in rows],
            "filtered": [r.asDict() for r in filtered],
            "partitions": df.rdd.getNumPartitions()}


def guarded(fn, *args):
    t0 = time.perf_counter()
    try:
        return {"ok": True, "value": fn(*args), "seconds": round(time.perf_counter() - t0, 3)}
    except Exception as e:  # a Py4J error carries the Java exception in its text
        return {"ok": False, "error": f"{type(e).__name__}: {e}"[:6000],
                "traceback": traceback.format_exc()[-4000:],
                "seconds": round(time.perf_counter() - t0, 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", action="append", required=True, metavar="NAME=URI")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("shoal-e2e-read-check").getOrCreate()
    result = {"spark_version": spark.version, "roots": {}}
    try:
        for spec in args.root:
            name, _, uri = spec.partition("=")
            base = uri.rstrip("/")
            passes = []
            for _ in range(args.repeat):
                passes.append({
                    "images": guarded(collect_images, spark, base + "/images"),
                    "images_glob": guarded(collect_images, spark, base + "/images/train", "*.jpg"),
                    "parquet": guarded(collect_parquet, spark, base + "/parquet/images.parquet"),
                })
            result["roots"][name] = {"uri": uri, "passes": passes}
    finally:
        with open(args.out, "w") as f:
            json.dump(result, f)
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
