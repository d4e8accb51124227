#!/usr/bin/env python3
"""An image-training data pipeline over Shoal: the part of a training job that feeds the model.

It reads JPEGs with Spark's ``binaryFile`` source from a Shoal path, decodes every image with
Pillow on the executors (label = the name of the class directory), aggregates per class, reads the
dataset's Parquet table through Shoal as well, and prints what it read. The image read runs for
several epochs: the first comes from the remote store, later ones from Shoal's node-local cache.

Copy it, and run it with the Shoal jar and your mounts in Spark conf::

    spark-submit --jars shoal-0.1.0.jar \\
      --conf spark.hadoop.shoal.mount.data.path=/data \\
      --conf spark.hadoop.shoal.mount.data.uri=s3://my-bucket/datasets \\
      --conf spark.hadoop.shoal.mount.data.option.aws_region=us-east-1 \\
      examples/image_pipeline.py \\
      --images shoal:///data/images/train --parquet shoal:///data/parquet/images.parquet

(``--jars`` is enough: the jar registers the two schemes when Spark SQL looks up its data
sources, as any ``spark.read`` does, and from Spark 3.2 on when the SparkSession is created. An
application that reads ``shoal://`` through the RDD API or the Hadoop API before it has a
SparkSession, or on Spark 3.1 before its first ``spark.read``, adds
``--conf spark.plugins=io.shoal.spark.ShoalPlugin``; see "Spark, Hadoop and Java" in the README.)
``alluxio://host:19998/data/...`` paths work the same way. ``--conf key=value`` sets Spark conf
from here instead (useful with plain ``python``). ``--json-out FILE`` writes the results as JSON.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import PurePosixPath
from urllib.parse import urlparse


def decode_partition(rows):
    """Runs on the executors: decode each image, yield (label, width, height, bytes, mode, ok)."""
    from PIL import Image

    for row in rows:
        label = PurePosixPath(urlparse(row.path).path).parent.name
        try:
            with Image.open(io.BytesIO(row.content)) as img:
                img.load()  # really decode, not only the header
                yield (label, img.width, img.height, len(row.content), img.mode, True)
        except Exception:
            yield (label, 0, 0, len(row.content), "", False)


def read_images(spark, path: str, glob: str):
    return (spark.read.format("binaryFile")
            .option("recursiveFileLookup", "true")
            .option("pathGlobFilter", glob)
            .load(path))


def shoal_counters(spark):
    """Shoal's counters for this JVM (every executor in local mode), or None when unavailable.

    Names come from io.shoal.jni.NativeMethods.statsNames(): cache_hits, cache_misses,
    bytes_from_memory, bytes_from_disk, bytes_from_store, store_get_requests, ...
    """
    try:
        native = spark._jvm.io.shoal.jni.NativeMethods
        return dict(zip(list(native.statsNames()), [int(v) for v in native.processStats()]))
    except Exception:  # the jar is not loaded in this JVM, or no Shoal path was read yet
        return None


def cache_share(before, after):
    """Bytes served by Shoal's cache and by the store between two counter snapshots."""
    if not after:
        return None
    # No counters before: the library was not loaded yet, nothing had been read in this JVM.
    before = before or {}
    delta = {k: after[k] - before.get(k, 0) for k in after}
    cached = delta["bytes_from_memory"] + delta["bytes_from_disk"]
    store = delta["bytes_from_store"]
    out = {"bytes_from_cache": cached, "bytes_from_store": store,
           "store_requests": delta["store_get_requests"],
           "metadata_requests": delta.get("store_metadata_requests", 0),
           # Parquet-aware reads (absent from older jars): coalesced GETs of column chunks, and
           # bytes of chunks fetched but never read
           "parquet_gets": delta.get("parquet_gets", 0),
           "parquet_unread_bytes": delta.get("parquet_unread_bytes", 0),
           "hit_ratio": round(cached / (cached + store), 4) if cached + store else None}
    # Prefetch across files: bytes fetched ahead, and of those the bytes of files then opened
    # (counters of Shoal 0.1 after issue 18; absent before).
    if "prefetch_bytes" in delta:
        out["prefetch_bytes"] = delta["prefetch_bytes"]
        out["prefetch_read_bytes"] = delta["prefetch_read_bytes"]
    return out


def run(spark, args) -> dict:
    from pyspark.sql import functions as F

    result = {"images_path": args.images, "parquet_path": args.parquet, "epochs": []}

    # ---- images: a few epochs over the same files ---------------------------------------------
    per_class = None
    for epoch in range(1, args.epochs + 1):
        counters_before = shoal_counters(spark)
        t0 = time.perf_counter()
        df = read_images(spark, args.images, args.glob)
        decoded = df.select("path", "content").rdd.mapPartitions(decode_partition).toDF(
            "label string, width int, height int, nbytes long, mode string, ok boolean")
        stats = (decoded.groupBy("label")
                 .agg(F.count("*").alias("images"),
                      F.sum(F.col("ok").cast("int")).alias("decoded"),
                      F.sum("nbytes").alias("bytes"),
                      F.round(F.avg("width"), 1).alias("avg_width"),
                      F.round(F.avg("height"), 1).alias("avg_height"),
                      F.min("width").alias("min_width"),
                      F.max("width").alias("max_width"))
                 .orderBy("label")
                 .collect())
        seconds = time.perf_counter() - t0
        per_class = [r.asDict() for r in stats]
        images = sum(r["images"] for r in per_class)
        nbytes = sum(r["bytes"] for r in per_class)
        cache = cache_share(counters_before, shoal_counters(spark))
        result["epochs"].append({"epoch": epoch, "images": images, "bytes": nbytes,
                                 "seconds": round(seconds, 3), "shoal": cache})
        hits = (f", {cache['hit_ratio']:.1%} of bytes from Shoal's cache"
                if cache and cache["hit_ratio"] is not None else "")
        print(f"epoch {epoch}: read and decoded {images} images, {nbytes / 1e6:.2f} MB "
              f"in {seconds:.2f} s ({nbytes / 1e6 / max(seconds, 1e-9):.1f} MB/s){hits}", flush=True)
    result["per_class"] = per_class
    result["images"] = result["epochs"][-1]["images"]
    result["image_bytes"] = result["epochs"][-1]["bytes"]
    result["undecodable"] = sum(r["images"] - r["decoded"] for r in per_class)

    print(f"\nper class ({args.images}):")
    header = ["label", "images", "decoded", "bytes", "avg_width", "avg_height", "min_width", "max_width"]
    print("  " + "".join(f"{h:>12}" for h in header))
    for r in per_class:
        print("  " + "".join(f"{str(r[h]):>12}" for h in header))

    # ---- the Parquet table --------------------------------------------------------------------
    if args.parquet:
        t0 = time.perf_counter()
        table = spark.read.parquet(args.parquet)
        summary = (table.groupBy("split", "label")
                   .agg(F.count("*").alias("rows"),
                        F.sum(F.length("image")).alias("image_bytes"))
                   .orderBy("split", "label")
                   .collect())
        seconds = time.perf_counter() - t0
        rows = sum(r["rows"] for r in summary)
        nbytes = sum(r["image_bytes"] or 0 for r in summary)
        result["parquet"] = {"rows": rows, "image_bytes": nbytes, "seconds": round(seconds, 3),
                             "columns": table.columns,
                             "per_split_label": [r.asDict() for r in summary]}
        print(f"\nparquet {args.parquet}: {rows} rows, columns {table.columns}, "
              f"{nbytes / 1e6:.2f} MB of images, in {seconds:.2f} s")
        for r in summary:
            print(f"  {r['split']:>6} {r['label']:>8} {r['rows']:>6} rows {r['image_bytes']:>10} bytes")
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", required=True,
                    help="directory of class directories of images, e.g. shoal:///data/images/train")
    ap.add_argument("--parquet", help="a Parquet file or directory, e.g. shoal:///data/parquet/images.parquet")
    ap.add_argument("--glob", default="*.jpg", help="file name filter for images (default *.jpg)")
    ap.add_argument("--epochs", type=int, default=2, help="passes over the images (default 2)")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                    help="extra Spark conf, e.g. spark.hadoop.shoal.mount.data.path=/data")
    ap.add_argument("--json-out", help="also write the results to this JSON file")
    args = ap.parse_args(argv)

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("shoal-image-pipeline")
    for kv in args.conf:
        key, sep, value = kv.partition("=")
        if not sep:
            ap.error(f"--conf wants KEY=VALUE, not {kv!r}")
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        print(f"Spark {spark.version}, master {spark.sparkContext.master}", flush=True)
        t0 = time.perf_counter()
        result = run(spark, args)
        result["spark_version"] = spark.version
        result["seconds"] = round(time.perf_counter() - t0, 3)
        print(f"\ntotal {result['seconds']:.2f} s", flush=True)
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump(result, f, indent=1)
        if result["images"] == 0:
            print("no images found under " + args.images, file=sys.stderr)
            return 1
        return 0
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
