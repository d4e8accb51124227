"""Shoal's cluster-wide cache operations from PySpark.

The Shoal jar must be on the driver's class path (``--jars shoal-0.1.0.jar``); each call runs a
Spark job through ``io.shoal.spark.ShoalTool`` and returns its summary as a dict::

    from shoal_spark import load, free, stat
    summary = load(spark, "shoal:///datasets/imagenet")   # each file on its owner node
    summary["fetched_bytes"], summary["failures"]          # a second load fetches nothing
    stat(spark, "shoal:///datasets/imagenet")["cached_percent"]
    free(spark, "shoal:///datasets/imagenet")              # every node drops the pages

For placement on the executors' hosts, start Spark with ``spark.plugins=io.shoal.spark.ShoalPlugin``.
``load`` prints a progress bar on the driver's stderr while it runs.
"""
from __future__ import annotations

import json

__all__ = ["load", "free", "stat"]


def _tool(spark):
    jvm = spark.sparkContext._jvm
    return jvm.io.shoal.spark.ShoalTool


def load(spark, path: str) -> dict:
    """Loads every file under ``path`` into the cache of its owner node.

    Keys: path, files, bytes, fetched_bytes, cached_bytes_before, already_cached_files, seconds,
    throughput_bytes_per_second, failures ({path: error}), files_by_host ({host: files}).
    """
    return json.loads(_tool(spark).load(spark._jsparkSession, str(path)).toJson())


def free(spark, path: str) -> dict:
    """Drops the pages of every file under ``path`` from every node's cache (not the store).

    Keys: op, path, files, bytes, cached_bytes (before), freed_bytes, errors, seconds, unreached
    (hosts that never answered), nodes ({host: {files, bytes, cached_bytes, cached_files,
    freed_bytes, errors}}).
    """
    return json.loads(_tool(spark).free(spark._jsparkSession, str(path)).toJson())


def stat(spark, path: str) -> dict:
    """How much of ``path`` is cached, per node and in total (``cached_percent``).

    Keys as for :func:`free`.
    """
    return json.loads(_tool(spark).stat(spark._jsparkSession, str(path)).toJson())
