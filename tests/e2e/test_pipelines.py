"""The training pipelines of examples/, run as a user would, on a small dataset:

  - examples/bigdl_pipeline.py on Spark 3.1 with BigDL 2.4 (Java 11): two applications, one trial
    each, sharing the node cache. The second asks the store for no object (GetObject requests are
    counted at the S3 server), every page it reads is a cache hit, and both models learn (the
    loss is finite and goes down).
  - examples/torch_pipeline.py on Spark 4 with PyTorch's TorchDistributor (two training processes
    on CPU): one application, two trials; the second reads nothing from the store. Only where the
    Spark 4 venv has torch (`SHOAL_SETUP_TORCH=1 scripts/setup.sh`; PyPI's torch is a 4 GB CUDA
    build, too large for CI's clean machine): skipped otherwise, saying so.
"""
from __future__ import annotations

import glob
import math
import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import (BUCKET, PLUGIN_CONF, PREFIX, REPO, S3Server, SPARKS, load_json,
                      spark_submit, tail)

EXAMPLES = REPO / "examples"
GET_OBJECT = re.compile(r"resolved route, op: GetObject\b")


@contextmanager
def counting_s3(root: Path, log: Path):
    """A second S3 server over the same store whose log names every request's operation."""
    old = os.environ.get("RUST_LOG")
    os.environ["RUST_LOG"] = "warn,s3s::ops=debug"
    try:
        server = S3Server(root, log_path=log).start()
    finally:
        if old is None:
            os.environ.pop("RUST_LOG", None)
        else:
            os.environ["RUST_LOG"] = old
    try:
        yield server
    finally:
        server.stop()


def get_objects(log: Path) -> int:
    return len(GET_OBJECT.findall(log.read_text(errors="replace")))


def assert_learns(losses, context):
    assert losses, f"{context}: no loss recorded"
    assert all(math.isfinite(v) for v in losses), f"{context}: losses {losses}"
    k = max(1, len(losses) // 4)
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    assert last < first, f"{context}: the loss did not go down: {losses}"


def pipeline_conf(s3, cache: Path) -> dict:
    conf = s3.mount_conf("data", "/data", f"s3://{BUCKET}/{PREFIX}")
    conf["spark.hadoop.shoal.mount.data.immutable"] = "true"
    conf["spark.hadoop.shoal.cache.dirs"] = f"{cache}:1g"
    return conf


def run_example(spark, jar, script, args, conf, workdir, jars=()):
    out = workdir / "result.json"
    proc = spark_submit(spark, jar, script, [*args, "--json-out", out], conf, workdir,
                        extra_jars=jars)
    if proc.returncode != 0 or not out.exists():
        pytest.fail(f"{script.name} exited with {proc.returncode} after {proc.seconds:.0f}s; "
                    f"log {proc.log}:\n{tail(proc.log)}")
    print(f"\n{script.name} ({proc.seconds:.0f}s):\n" + "\n".join(
        line for line in proc.stdout_text.splitlines() if line.startswith(("trial", "Spark"))))
    return load_json(out)


def bigdl_jars() -> list:
    jars = sorted(glob.glob(str(SPARKS["spark31"] / "lib" / "python3*" / "site-packages" / "bigdl"
                                / "share" / "*" / "lib" / "*.jar")))
    if not jars:
        pytest.fail(f"no BigDL jars in {SPARKS['spark31']}: run scripts/setup.sh")
    return jars


def test_bigdl_pipeline_second_trial_reads_only_the_cache(spark, dataset, jar, workdir):
    if spark != "spark31":
        pytest.skip("BigDL 2.4 runs on Spark 3.1 (its pin)")
    d = workdir / "bigdl"
    d.mkdir()
    args = ["--images", "shoal:///data/images/train/*",
            "--labels", "alluxio://master:19998/data/parquet/images.parquet",
            "--trials", "1", "--iterations", "12", "--batch-size", "8"]
    log = d / "s3s-fs.log"
    with counting_s3(dataset["store"], log) as s3:
        conf = {**pipeline_conf(s3, d / "cache"), **PLUGIN_CONF}
        runs = []
        for n in (1, 2):
            (d / f"app{n}").mkdir()
            before = get_objects(log)
            result = run_example(spark, jar, EXAMPLES / "bigdl_pipeline.py", args, conf,
                                 d / f"app{n}", jars=bigdl_jars())
            runs.append((result["trials"][0], get_objects(log) - before))
    (first, first_gets), (second, second_gets) = runs
    train_images = len(list((dataset["data"] / "images" / "train").rglob("*.jpg")))
    for t in (first, second):
        assert t["images"] == train_images, t
        assert t["cache"] is not None, "no Shoal counters in the driver JVM"
    assert first_gets > 0 and first["cache"]["misses"] > 0, (first, first_gets)
    assert second_gets == 0, f"the second application made {second_gets} GetObject requests"
    assert second["cache"]["misses"] == 0 and second["cache"]["hits"] > 0, second["cache"]
    assert second["cache"]["bytes_from_store"] == 0, second["cache"]
    assert_learns(first["losses"], "BigDL trial 1")
    assert_learns(second["losses"], "BigDL trial 2")


def test_torch_distributor_pipeline(spark, s3, dataset, jar, workdir):
    if spark != "spark4":
        pytest.skip("TorchDistributor pipeline: on the newest Spark")
    python = SPARKS[spark] / "bin" / "python"
    if subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode != 0:
        pytest.skip(f"no torch in {SPARKS[spark]}: install it with SHOAL_SETUP_TORCH=1 "
                    "scripts/setup.sh (PyPI's torch is a 4 GB CUDA build, left out by default)")
    d = workdir / "torch"
    d.mkdir()
    result = run_example(spark, jar, EXAMPLES / "torch_pipeline.py",
                         ["--images", "shoal:///data/images/train",
                          "--labels", "alluxio://master:19998/data/parquet/images.parquet",
                          "--trials", "2", "--iterations", "15", "--processes", "2"],
                         pipeline_conf(s3, d / "cache"), d)
    first, second = result["trials"]
    train_images = len(list((dataset["data"] / "images" / "train").rglob("*.jpg")))
    assert first["images"] == second["images"] == train_images
    assert first["cache"]["misses"] > 0 and first["cache"]["bytes_from_store"] > 0, first
    assert second["cache"]["misses"] == 0 and second["cache"]["hits"] > 0, second["cache"]
    assert second["cache"]["bytes_from_store"] == 0, second["cache"]
    assert_learns(first["losses"], "torch trial 1")
    assert_learns(second["losses"], "torch trial 2")
