"""What examples/bigdl_pipeline.py and examples/torch_pipeline.py share: Shoal's counters around a
trial's data loading, and the line and JSON record each trial reports. It runs on the driver only;
keep it next to the pipeline that imports it (Python finds it in the script's directory)."""
from __future__ import annotations

import json
import math
import sys


def shoal_counters(spark):
    """Shoal's process-wide counters in this JVM (the driver, and the executors in local mode);
    None before the jar's native library is loaded. On a cluster, the plugin publishes each
    executor's counters in Spark's metrics system (plugin.io.shoal.spark.ShoalPlugin.*).
    ``spark`` is a SparkSession or a SparkContext: anything with the py4j ``_jvm``."""
    try:
        native = spark._jvm.io.shoal.jni.NativeMethods
        return dict(zip(list(native.statsNames()), [int(v) for v in native.processStats()]))
    except Exception:
        return None


def hit_ratio(before, after):
    """Pages served by Shoal's cache over pages asked for, between two counter snapshots."""
    if not after:
        return None
    before = before or {}
    hits = after["cache_hits"] - before.get("cache_hits", 0)
    misses = after["cache_misses"] - before.get("cache_misses", 0)
    return {"hits": hits, "misses": misses,
            "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
            "bytes_from_store": after["bytes_from_store"] - before.get("bytes_from_store", 0)}


def report_trial(trial, images, load_s, train_s, losses, cache) -> dict:
    """Prints a trial's line (a warning too where its loss is not finite) and returns its record
    for ``--json-out``."""
    ratio = "n/a" if not cache or cache["hit_ratio"] is None else \
        f"{100 * cache['hit_ratio']:.1f}% ({cache['bytes_from_store']} bytes from the store)"
    print(f"trial {trial}: {images} images, load {load_s:.1f} s, train {train_s:.1f} s "
          f"({len(losses)} iterations, loss {losses[0]:.3f} -> {losses[-1]:.3f}), "
          f"Shoal hit ratio {ratio}", flush=True)
    if not all(math.isfinite(v) for v in losses):
        print(f"trial {trial}: the loss is not finite", file=sys.stderr)
    return {"trial": trial, "images": images, "load_seconds": round(load_s, 3),
            "train_seconds": round(train_s, 3), "losses": losses, "cache": cache}


def write_trials(path, spark_version, trials):
    """``--json-out``: the Spark version and every trial's record, where a path was given."""
    if path:
        with open(path, "w") as f:
            json.dump({"spark_version": spark_version, "trials": trials}, f)
