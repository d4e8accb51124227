"""The Spark plugin (membership, metrics) and the cluster-wide cache jobs (load, stat, free) in
local-cluster mode: two executor JVMs sharing one node cache, as executors of one host do.

One PySpark job per Spark version (python/shoal_spark.py) runs the steps in order; then
`spark-submit --class io.shoal.spark.ShoalTool` runs stat / free / load from the shell in new
applications, which find the node cache the earlier application left (DESIGN decision 4).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import (BUCKET, PREFIX, SPARKS, spark_submit, tail)

JOB = Path(__file__).resolve().parent / "jobs" / "cache_ops.py"
PATH = "shoal:///data"
METRIC_NAMES = ["cache_hits", "cache_misses", "bytes_from_memory", "bytes_from_disk",
                "bytes_from_cache", "bytes_from_store", "store_get_requests", "evictions",
                "cache_used_bytes", "cache_capacity_bytes"]


def base_conf(s3, cache: Path) -> dict:
    # No fs.<scheme>.impl: the plugin (or, for the tool, its own main) registers the schemes.
    conf = s3.mount_conf("data", "/data", f"s3://{BUCKET}/{PREFIX}")
    conf["spark.hadoop.shoal.cache.dirs"] = f"{cache}:1g"
    # the memory tier is per process: with none, the node cache is the shared directory alone
    conf["spark.hadoop.shoal.cache.memory.size"] = "0"
    return conf


@pytest.fixture(scope="module")
def env(spark, s3, workdir):
    d = workdir / spark
    d.mkdir(exist_ok=True)
    return {"dir": d, "conf": base_conf(s3, d / "cache")}


@pytest.fixture(scope="module")
def job(spark, env, jar):
    d = env["dir"]
    metrics = d / "metrics"
    metrics.mkdir()
    conf = dict(env["conf"])
    conf.update({
        "spark.plugins": "io.shoal.spark.ShoalPlugin",
        "spark.executor.memory": "512m",
        "spark.metrics.conf.*.sink.csv.class": "org.apache.spark.metrics.sink.CsvSink",
        "spark.metrics.conf.*.sink.csv.period": "1",
        "spark.metrics.conf.*.sink.csv.unit": "seconds",
        "spark.metrics.conf.*.sink.csv.directory": str(metrics),
        "spark.sql.files.maxPartitionBytes": "1m",
    })
    out = d / "result.json"
    proc = spark_submit(SPARKS[spark], jar,
                        [JOB, "--path", PATH, "--metrics", metrics, "--executors", 2, "--out", out],
                        conf, d, "cache_ops", master="local-cluster[2,1,1024]")
    if proc.returncode != 0 or not out.exists():
        pytest.fail(f"spark-submit exited with {proc.returncode} after {proc.seconds:.0f}s; "
                    f"log {proc.log}:\n{tail(proc.log)}")
    result = json.loads(out.read_text())
    result["log"] = proc.log
    print(f"\n{spark}: Spark {result['spark_version']}, job {proc.seconds:.1f}s")
    return result


def step(job, name):
    s = job["steps"][name]
    if not s["ok"]:
        pytest.fail(f"step {name} failed: {s['error']}\n{s['traceback']}\nlog: {job['log']}")
    return s["value"]


def test_plugin_tracks_executors(job):
    m = step(job, "membership")
    assert m["executors"] == 2
    assert m["hosts"] == ["127.0.0.1"]
    left = step(job, "executor_leaves")
    assert left["executors"] == 1, left


def test_rdd_job_resolves_the_scheme_through_the_plugin(job, dataset):
    """The first read is an RDD (no Spark SQL, so no DataSourceRegister has been loaded) and no
    fs.shoal.impl is set: the plugin alone makes shoal:// resolvable."""
    # Hadoop's FileInputFormat skips . and _ files, as Spark's file sources do.
    assert step(job, "rdd_read") == visible_bytes(dataset)
    step(job, "rdd_free")


def test_load_warms_every_file_once(job, dataset):
    files, total = len(dataset["sizes"]), dataset["bytes"]
    cold = step(job, "stat_cold")
    assert cold["files"] == files and cold["bytes"] == total
    assert cold["cached_bytes"] == 0 and not cold["unreached"]

    first = step(job, "load1")
    assert first["failures"] == {}
    assert first["files"] == files and first["bytes"] == total
    assert first["fetched_bytes"] == total
    assert first["cached_bytes_before"] == 0
    nonempty = sum(1 for n in dataset["sizes"].values() if n > 0)
    assert sum(first["files_by_host"].values()) == nonempty, "every non-empty file, on its host"
    second = step(job, "load2")
    assert second["failures"] == {}
    assert second["fetched_bytes"] == 0, "a second load fetches nothing"
    assert second["already_cached_files"] == files
    assert second["cached_bytes_before"] == total

    loaded = step(job, "stat_loaded")
    assert loaded["cached_bytes"] == total and loaded["cached_percent"] == 100.0
    assert set(loaded["nodes"]) == {"127.0.0.1"}


def test_progress_bar_on_stderr(job):
    log = Path(job["log"]).read_text(errors="replace")
    assert "Shoal load [" in log and "files" in log


def visible_bytes(dataset) -> int:
    """What Spark's file sources read: hidden files (., _) are skipped."""
    return sum(n for rel, n in dataset["sizes"].items()
               if not Path(rel).name.startswith((".", "_")))


def test_reads_after_load_are_hits_and_after_free_go_to_the_store(job, dataset):
    total = visible_bytes(dataset)
    warm = step(job, "read_loaded")
    assert warm["bytes"] == total
    print(f"\nafter load: {warm['delta']}")
    assert warm["delta"]["bytes_from_store"] == 0
    assert warm["delta"]["cache_misses"] == 0
    assert warm["delta"]["bytes_from_cache"] >= total
    assert warm["delta"]["cache_hits"] > 0

    freed = step(job, "free")
    assert freed["freed_bytes"] >= dataset["bytes"] and not freed["unreached"]
    assert step(job, "stat_freed")["cached_bytes"] == 0

    cold = step(job, "read_freed")
    print(f"after free: {cold['delta']}")
    assert cold["bytes"] == total
    assert cold["delta"]["bytes_from_store"] >= total
    assert cold["delta"]["cache_misses"] > 0
    reread = step(job, "stat_reread")
    assert reread["cached_bytes"] == total, "the files Spark read are cached again"


def test_metrics_reach_spark_sinks(job):
    snapshot = step(job, "metrics")
    executors = [e for e in snapshot if e != "driver"]
    assert "driver" in snapshot and len(executors) == 2, sorted(snapshot)
    for e in ["driver"] + executors:
        missing = [n for n in METRIC_NAMES if n not in snapshot[e]]
        assert not missing, f"{e}: {missing}"
    assert sum(snapshot[e]["cache_used_bytes"] for e in executors) > 0
    assert snapshot[executors[0]]["cache_capacity_bytes"] == 1 << 30


def tool(spark, env, jar, name, *args):
    proc = spark_submit(SPARKS[spark], jar, ["--class", "io.shoal.spark.ShoalTool", jar, *args],
                        env["conf"], env["dir"], name, master="local[2]")
    return proc


def test_shoal_tool_from_spark_submit(spark, env, jar, job, dataset):
    total = visible_bytes(dataset)
    # A new application finds what the job left in the node's cache.
    p = tool(spark, env, jar, "tool_stat", "stat", "--json", PATH)
    assert p.returncode == 0, tail(p.log)
    stat = json.loads(p.stdout_text.strip().splitlines()[-1])
    assert stat["cached_bytes"] == total, stat

    p = tool(spark, env, jar, "tool_free", "free", PATH)
    assert p.returncode == 0, tail(p.log)
    assert "Shoal free shoal:///data" in p.stdout_text and "freed" in p.stdout_text

    p = tool(spark, env, jar, "tool_load", "load", "--json", PATH)
    assert p.returncode == 0, tail(p.log)
    load = json.loads(p.stdout_text.strip().splitlines()[-1])
    assert load["fetched_bytes"] == dataset["bytes"] and load["failures"] == {}

    p = tool(spark, env, jar, "tool_missing", "load", "shoal:///nothing/here")
    assert p.returncode != 0
    p = tool(spark, env, jar, "tool_usage", "bogus", PATH)
    assert p.returncode == 2 and "usage:" in tail(p.log)
