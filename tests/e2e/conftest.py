"""End-to-end tests: spark-submit (local[2]) with the Shoal jar against a local S3 server.

Run with the pytest of a venv that scripts/setup.sh made (the tests start spark-submit from each
Spark venv themselves):

    .tools/spark35/bin/python -m pytest tests/e2e                  # Spark 3.5 and 4.x
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
from sparktest import (FS_IMPL_CONF, SPARKS, add_spark_option, jar_copy,  # noqa: E402,F401
                       parametrize_spark, submit, tail, temp_workdir)

JOB_TIMEOUT_S = int(os.environ.get("SHOAL_E2E_JOB_TIMEOUT", "420"))
BUCKET = "shoal-e2e"
PREFIX = "ds"  # the S3 mount is a prefix inside the bucket, not the bucket root


def pytest_addoption(parser):
    add_spark_option(parser)


def pytest_generate_tests(metafunc):
    parametrize_spark(metafunc)


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


def spark_submit(venv: Path, jar: Path, script: Path, args: list, conf: dict, workdir: Path,
                 timeout: int = JOB_TIMEOUT_S):
    """Runs one spark-submit of `script` in local[2] mode; its output goes to
    <workdir>/<script>.log."""
    conf = {"spark.sql.shuffle.partitions": "2", **conf}
    return submit(venv, jar, [script, *args], conf, workdir, Path(script).stem, timeout=timeout)


def load_json(path: Path):
    with open(path) as f:
        return json.load(f)


def run_json_job(venv: Path, jar: Path, script: Path, args: list, conf: dict, workdir: Path,
                 out: Path) -> dict:
    """spark-submit a job that writes its findings to `out` as JSON; fails the test when the job
    fails or writes nothing. The result also carries the log path and the job's seconds."""
    proc = spark_submit(venv, jar, script, args, conf, workdir)
    if proc.returncode != 0 or not out.exists():
        pytest.fail(f"spark-submit exited with {proc.returncode} after {proc.seconds:.0f}s; "
                    f"log {proc.log}:\n{tail(proc.log)}")
    result = load_json(out)
    result["log"] = str(proc.log)
    result["seconds"] = proc.seconds
    return result
