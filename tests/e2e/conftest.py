"""End-to-end tests: spark-submit (local[2]) with the Shoal jar against a local S3 server, on
every Spark a deep-learning pipeline runs on:

    spark31  PySpark 3.1.3 (Hadoop 3.2.0) on Java 11, with BigDL 2.4   full suite, BigDL pipeline
    spark33  PySpark 3.3.4 (Hadoop 3.3.2) on Java 17                   smoke: read and write suites
    spark35  PySpark 3.5.x (Hadoop 3.3.4) on Java 17                   smoke: read and write suites
    spark4   PySpark 4.x (Hadoop 3.4) on Java 21, with torch           full suite, TorchDistributor

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

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))

from gen_dataset import generate  # noqa: E402
from s3server import S3Server  # noqa: E402
from sparktest import (FS_CLASS, PLUGIN_CONF, SPARKS, add_spark_option,  # noqa: E402,F401
                       jar_copy, java_home, parametrize_spark, submit, tail, temp_workdir)

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


@pytest.fixture(scope="session")
def s3(workdir, dataset):
    with S3Server(dataset["store"], log_path=workdir / "s3s-fs.log") as server:
        yield server


@pytest.fixture(scope="session")
def jar(workdir):
    return jar_copy(workdir)


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
