"""End-to-end tests: spark-submit (local[2]) with the Shoal jar against a local S3 server, on
every Spark a deep-learning pipeline runs on:

    spark31  PySpark 3.1.3 (Hadoop 3.2.0) on Java 11, with BigDL 2.4   full suite, BigDL pipeline
    spark33  PySpark 3.3.4 (Hadoop 3.3.2) on Java 17                   smoke: read and write suites
    spark35  PySpark 3.5.x (Hadoop 3.3.4) on Java 21                   smoke: read and write suites
    spark4   PySpark 4.x (Hadoop 3.5.0) on Java 17, with torch         full suite, TorchDistributor

The full suite adds, to the read and write suites, the scheme registration tests (the jar on the
start-up class path, and what --jars alone covers), a second application after objects were
overwritten, and the pipeline of examples/. No job sets fs.<scheme>.impl. Run with the pytest of
a venv that scripts/setup.sh made (the tests start spark-submit from each Spark venv themselves):

    .tools/spark35/bin/python -m pytest tests/e2e                  # every Spark
    .tools/spark35/bin/python -m pytest tests/e2e --spark spark4   # one of them

Needs build/libs/shoal-0.1.0.jar (`gradle --no-daemon jar`) and .tools/s3s/bin/s3s-fs.
SHOAL_E2E_KEEP=1 keeps the temp dirs (dataset, job logs) for a look afterwards.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))

from gen_dataset import generate  # noqa: E402
from s3server import S3Server  # noqa: E402
from sparktest import (FS_CLASS, HADOOP, PLUGIN_CONF, SPARKS,  # noqa: E402,F401
                       add_spark_option, jar, java_home, parametrize_spark, s3, submit, tail,
                       temp_workdir)

JOB_TIMEOUT_S = int(os.environ.get("SHOAL_E2E_JOB_TIMEOUT", "420"))
BUCKET = "shoal-e2e"
PREFIX = "ds"  # the S3 mount is a prefix inside the bucket, not the bucket root
SUITE = Path(__file__).resolve().parent / "jobs" / "suite.py"
# The oldest and the newest Spark run everything; the others the read and write suites.
FULL = ("spark31", "spark4")


def pytest_addoption(parser):
    add_spark_option(parser)


def pytest_generate_tests(metafunc):
    parametrize_spark(metafunc)


def full_only(spark: str):
    """Skips a test of the full suite on a Spark that runs the smoke subset."""
    if spark not in FULL:
        pytest.skip(f"full suite only ({', '.join(FULL)}); {spark} runs the read and write suites")


@pytest.fixture(scope="session")
def workdir():
    yield from temp_workdir("shoal-e2e-", "SHOAL_E2E_KEEP")


@pytest.fixture(scope="session")
def dataset(workdir):
    """The dataset in the store: <store>/<bucket>/<prefix>/{images,parquet}; manifest."""
    store = workdir / "store"
    data = store / BUCKET / PREFIX
    manifest = generate(data, seed=11, classes=3, train_per_class=6, test_per_class=2,
                        min_size=24, max_size=200, large=1, large_size=1800, row_group_size=4,
                        quiet=True)
    # the manifest is not part of the dataset the jobs read
    (data / "manifest.json").unlink()
    return {"store": store, "data": data, "manifest": manifest}


def spark_submit(spark: str, jar: Path, script: Path, args: list, conf: dict, workdir: Path,
                 timeout: int = JOB_TIMEOUT_S, jar_option: str = "--jars", extra_jars=()):
    """Runs one spark-submit of `script` in local[2] mode on a Spark venv, with that Spark's Java;
    its output goes to <workdir>/<script>.log. `extra_jars` go with the jar."""
    conf = {"spark.sql.shuffle.partitions": "2", **conf}
    jars = ",".join([str(jar), *map(str, extra_jars)])
    return submit(SPARKS[spark], jars, [script, *args], conf, workdir, Path(script).stem,
                  timeout=timeout, jar_option=jar_option, java=java_home(spark))


def load_json(path: Path):
    with open(path) as f:
        return json.load(f)


def run_json_job(spark: str, jar: Path, script: Path, args: list, conf: dict, workdir: Path,
                 out: Path, jar_option: str = "--jars") -> dict:
    """spark-submit a job that writes its findings to `out` as JSON; fails the test when the job
    fails or writes nothing. The result also carries the log path and the job's seconds."""
    proc = spark_submit(spark, jar, script, args, conf, workdir, jar_option=jar_option)
    if proc.returncode != 0 or not out.exists():
        pytest.fail(f"spark-submit exited with {proc.returncode} after {proc.seconds:.0f}s; "
                    f"log {proc.log}:\n{tail(proc.log)}")
    result = load_json(out)
    result["log"] = str(proc.log)
    result["seconds"] = proc.seconds
    return result


def section_errors(result: dict) -> dict:
    """{"<root> <section> (pass n)": error} of every failed section of a suite.py result."""
    errors = {}
    for name, root in result.get("read", {}).items():
        for n, sections in enumerate(root["passes"]):
            for key, entry in sections.items():
                if not entry["ok"]:
                    errors[f"{name} {key} (pass {n + 1})"] = entry["error"]
    for name, root in result.get("write", {}).items():
        for key, entry in root["steps"].items():
            if not entry["ok"]:
                errors[f"{name} {key}"] = entry["error"]
    return errors


# ---- the read and write suite: one application per Spark (jobs/suite.py) ------------------------

# Roots the suite reads: name -> (root URI, Shoal path of that root)
READ_ROOTS = {
    "shoal-s3": ("shoal:///data", "/data"),
    "alluxio-s3": ("alluxio://master:19998/data", "/data"),
    "shoal-file": ("shoal:///local/ds", "/local/ds"),
}
# Roots the suite writes (a bucket of its own through S3A's keys, a local directory)
WRITE_ROOTS = {"s3": "shoal:///s3out", "local": "shoal:///localout/run"}


def s3a_conf(s3) -> dict:
    endpoint = urlparse(s3.endpoint)
    return {
        "spark.hadoop.fs.s3a.access.key": s3.access_key,
        "spark.hadoop.fs.s3a.secret.key": s3.secret_key,
        # host:port without a scheme, with SSL off, as S3A configurations often have it
        "spark.hadoop.fs.s3a.endpoint": endpoint.netloc,
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.endpoint.region": s3.region,
    }


def first_api(spark: str) -> str:
    """The API the suite touches Shoal with first. With --jars alone a PySpark application has
    the schemes from its session on Spark 4 (before, only from its first DataFrame access)."""
    return "rdd" if spark == "spark4" else "dataframe"


@pytest.fixture(scope="session")
def _suites():
    return {}


@pytest.fixture(scope="module")
def suite(spark, s3, dataset, jar, workdir, _suites):
    """The read and write suite on one Spark, in one application with the jar in --jars and no
    other setting: every API through every root, reading twice on the full-suite Sparks (the
    second pass may come from the cache), then writing."""
    if spark in _suites:
        return _suites[spark]
    out_dir = workdir / spark
    out_dir.mkdir(exist_ok=True)
    conf = s3.mount_conf("data", "/data", f"s3://{BUCKET}/{PREFIX}")
    # a local-directory mount of the same files: the parent, to check paths below a mount root
    conf.update(s3.mount_conf("local", "/local", (dataset["data"].parent).as_uri()))
    # Written to: a bucket of its own, mounted at its root and configured through S3A's keys
    # only, as on a cluster set up for S3A; and a local directory. Short names on purpose:
    # s3s-fs keeps a file named after each object key (base64), and the names of Spark's task
    # attempt files come close to the file system's 255-byte limit on their own.
    bucket = "out" + spark.removeprefix("spark")  # S3 bucket names have 3 to 63 characters
    s3_dir = dataset["store"] / bucket
    s3_dir.mkdir()
    local_dir = out_dir / "local-store"
    local_dir.mkdir()
    conf.update(s3a_conf(s3))
    conf.update({
        "spark.hadoop.shoal.mount.s3out.path": "/s3out",
        "spark.hadoop.shoal.mount.s3out.uri": f"s3a://{bucket}",
        "spark.hadoop.shoal.mount.localout.path": "/localout",
        "spark.hadoop.shoal.mount.localout.uri": local_dir.as_uri(),
        # a cache of its own, so the first pass really is cold
        "spark.hadoop.shoal.cache.dirs": str(out_dir / "cache"),
        # s3s-fs answers a HEAD of a key that is a directory on its disk with a 500 (real S3 says
        # 404), which the client retries with backoff; the commit protocol asks for many such
        # statuses. One retry keeps the job short.
        "spark.hadoop.shoal.store.max.retries": "1",
    })
    out = out_dir / "result.json"
    args = ["--out", out, "--repeat", 2 if spark in FULL else 1, "--first", first_api(spark)]
    for name, (uri, _) in READ_ROOTS.items():
        args += ["--read", f"{name}={uri}"]
    for name, uri in WRITE_ROOTS.items():
        args += ["--write", f"{name}={uri}"]
    result = run_json_job(spark, jar, SUITE, args, conf, out_dir, out)
    result["spark"] = spark
    result["stores"] = {"s3": s3_dir, "local": local_dir}
    assert s3.secret_key not in Path(result["log"]).read_text(errors="replace"), \
        "the S3 secret is in the log"
    print(f"\n{spark}: Spark {result['spark_version']}, suite {result['seconds']:.1f}s")
    _suites[spark] = result
    return result
