"""How a job finds shoal:// and alluxio:// with no fs.<scheme>.impl setting (full suite: the oldest
and the newest Spark).

Hadoop reads its FileSystem services once per JVM; spark-submit does so while it resolves
--jars, before it adds them to its class loader, so a jar in --jars is registered only by code of
its own that Spark loads: the first DataFrame read (every Spark), the creation of a SparkSession
(Scala's and Java's builder from Spark 3.2, PySpark's from Spark 4.0) or the Spark plugin
(spark.plugins, loaded at start-up). These tests run one application per way in, each reading
and writing through both schemes with every API:

  - the jar on the start-up class path (--driver-class-path) instead of --jars: Hadoop's own
    service loading finds it, on every Spark (a class that did not load there would break every
    scheme, file:// included);
  - --jars alone, right after a PySpark SparkSession is created (every Spark, in the read and
    write suite's application): Hadoop knows the schemes on Spark 4; before, it answers "No
    FileSystem for scheme" until the first DataFrame access. With the plugin, the RDD API works
    first (on 3.1: tests/e2e/test_pipelines.py, BigDL's NNImageReader on a SparkContext);
  - --jars alone in an application that never creates a SparkSession (SparkContext only, as
    BigDL's init_nncontext makes), the first access an RDD read: fails with Hadoop's error on
    every Spark (tested on 4), and works with the plugin.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import (BUCKET, FS_CLASS, PLUGIN_CONF, PREFIX, SUITE, full_only, load_json,
                      section_errors, spark_submit, tail)

NO_FILESYSTEM = 'No FileSystem for scheme "shoal"'


def run(spark, s3, jar, workdir, tag, args, conf=None, jar_option="--jars", write=False):
    """One application of jobs/suite.py reading through shoal:// and alluxio:// (and, with
    `write`, writing to a local mount through both) with every API."""
    out_dir = workdir / f"{spark}-{tag}"
    out_dir.mkdir(exist_ok=True)
    c = s3.mount_conf("data", "/data", f"s3://{BUCKET}/{PREFIX}")
    c["spark.hadoop.shoal.cache.dirs"] = str(out_dir / "cache")
    c.update(conf or {})
    writes = []
    if write:
        (out_dir / "out").mkdir()
        c["spark.hadoop.shoal.mount.out.path"] = "/out"
        c["spark.hadoop.shoal.mount.out.uri"] = (out_dir / "out").as_uri()
        writes = ["--write", "shoal=shoal:///out/s", "--write", "alluxio=alluxio://m:19998/out/a"]
    out = out_dir / "result.json"
    proc = spark_submit(spark, jar, SUITE,
                        ["--out", out, "--repeat", "1", "--read", "shoal=shoal:///data",
                         "--read", "alluxio=alluxio://master:19998/data", *writes, *args],
                        c, out_dir, jar_option=jar_option)
    assert proc.returncode == 0 and out.exists(), f"log {proc.log}:\n{tail(proc.log)}"
    result = load_json(out)
    result["log"] = str(proc.log)
    return result


def assert_all_passed(result, context):
    errors = section_errors(result)
    assert not errors, f"{context}, log {result['log']}:\n" + "\n".join(
        f"  {k}: {v[:500]}" for k, v in errors.items())
    assert result["read"]["shoal"]["passes"][0]["images_hadoop"]["value"], "read no file"


def assert_unregistered(result, context, first):
    """The first section (`first`) failed with Hadoop's own error: the JVM did not know the
    scheme. (The DataFrame section after it registers the schemes, so the rest may work.)"""
    assert not result["registered"]["ok"], f"{context}: the scheme was known from the start"
    entry = result["read"]["shoal"]["passes"][0][first]
    assert not entry["ok"], f"{context}: expected Hadoop's '{NO_FILESYSTEM}', but the read worked"
    assert NO_FILESYSTEM in entry["error"], entry["error"][:2000]


def test_jar_on_the_startup_class_path(spark, s3, jar, workdir):
    """--driver-class-path instead of --jars, a SparkContext only, the Hadoop API first; reads
    and writes through both schemes with every API."""
    full_only(spark)
    result = run(spark, s3, jar, workdir, "classpath",
                 ["--context-only", "--first", "hadoop"], jar_option="--driver-class-path",
                 write=True)
    assert result["registered"]["ok"], result["registered"]["error"][:2000]
    assert_all_passed(result, "jar on the start-up class path")
    for name in ("shoal", "alluxio"):
        steps = {k: v.get("value") for k, v in result["write"][name]["steps"].items()}
        assert steps["hadoop_read"] == steps["hadoop_expected"], steps
        assert steps["rdd_read"] == sorted(f"line {i}" for i in range(result["rows"]))
        assert len(steps["read"]["rows"]) == result["rows"]
        assert steps["rename"] == {"renamed": True, "src_exists": False, "dst_exists": True}
        assert steps["delete"] == {"deleted": True, "exists": False}
    assert not [p for p in (Path(result["log"]).parent / "out").rglob("*") if p.is_file()]
    assert result["filesystem"]["shoal"]["value"] == FS_CLASS[spark]
    assert result["filesystem"]["alluxio"]["value"] == FS_CLASS[spark].replace("Shoal", "Alluxio")


def test_what_a_session_registers(spark, suite):
    """--jars alone: right after PySpark's SparkSession is created, before anything of Shoal's is
    asked for, does Hadoop know the scheme? (The read and write suite's application.)"""
    registered = suite["registered"]
    if spark == "spark4":
        assert registered["ok"], registered["error"][:2000]
        assert registered["value"] == FS_CLASS[spark]
    else:
        # Spark 3.1 loads no code of the jar when it creates a session; 3.2 to 3.5 only when
        # Scala's builder does, not PySpark's. Hadoop's own error, which Shoal cannot reword.
        assert not registered["ok"], "the scheme was known before the first DataFrame read"
        assert NO_FILESYSTEM in registered["error"], registered["error"][:2000]


@pytest.mark.parametrize("plugin", [False, True], ids=["jars-alone", "plugin"])
def test_spark_context_only(spark, s3, jar, workdir, plugin):
    """No SparkSession until the RDD and Hadoop reads are done (BigDL's way)."""
    full_only(spark)
    if spark == "spark31":
        pytest.skip("on Spark 3.1 test_what_a_session_registers shows the same (a session does "
                    "not register), and the BigDL pipeline (test_pipelines.py) the plugin")
    result = run(spark, s3, jar, workdir, f"context-{'plugin' if plugin else 'jars'}",
                 ["--context-only", "--first", "rdd"], conf=PLUGIN_CONF if plugin else None)
    if plugin:
        assert_all_passed(result, "SparkContext only, RDD first, the plugin")
    else:
        assert_unregistered(result, "SparkContext only, RDD first, --jars alone", "images_rdd")
