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
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from gen_dataset import generate  # noqa: E402
from s3server import S3Server  # noqa: E402

JAR = Path(os.environ.get("SHOAL_JAR") or REPO / "build" / "libs" / "shoal-0.1.0.jar")
SPARKS = {"spark35": REPO / ".tools" / "spark35", "spark4": REPO / ".tools" / "spark4"}
JOB_TIMEOUT_S = int(os.environ.get("SHOAL_E2E_JOB_TIMEOUT", "420"))
# Hadoop finds FileSystems by ServiceLoader once per JVM, and spark-submit does so before it adds
# --jars to the class path; the jar makes up for it when Spark SQL loads its data sources
# (io.shoal.spark.FileSystemRegistration). test_jar_alone_serves_the_schemes checks that contract
# (only --jars and mount conf); the data tests name the classes too, so that they fail only on bytes.
FS_IMPL_CONF = {
    "spark.hadoop.fs.shoal.impl": "io.shoal.hadoop.ShoalFileSystem",
    "spark.hadoop.fs.alluxio.impl": "io.shoal.hadoop.AlluxioFileSystem",
}
BUCKET = "shoal-e2e"
PREFIX = "ds"  # the S3 mount is a prefix inside the bucket, not the bucket root


def pytest_addoption(parser):
    parser.addoption("--spark", action="append", choices=sorted(SPARKS),
                     help="Spark venv(s) to test (default: all)")


def pytest_generate_tests(metafunc):
    if "spark" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("spark") or sorted(SPARKS)
        metafunc.parametrize("spark", chosen, scope="module")


@pytest.fixture(scope="session")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="shoal-e2e-"))
    yield d
    if os.environ.get("SHOAL_E2E_KEEP"):
        print(f"\nkept {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


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
    """A copy of the jar: a rebuild while the tests run must not change the classes under a JVM
    that loads them lazily from the file."""
    if not JAR.is_file():
        pytest.fail(f"{JAR} is missing: build it with `gradle --no-daemon jar`")
    copy = workdir / JAR.name
    shutil.copyfile(JAR, copy)
    return copy


def spark_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPARK_HOME", "PYTHONPATH", "SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYSPARK_PYTHON"] = str(venv / "bin" / "python")
    env["PYSPARK_DRIVER_PYTHON"] = str(venv / "bin" / "python")
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    if not env.get("JAVA_HOME") and Path("/usr/lib/jvm/java-17-openjdk-amd64").is_dir():
        env["JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"
    return env


def spark_submit(venv: Path, jar: Path, script: Path, args: list, conf: dict, workdir: Path,
                 timeout: int = JOB_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Runs one spark-submit in local[2] mode; its output goes to <workdir>/<script>.log."""
    submit = venv / "bin" / "spark-submit"
    if not submit.exists():
        pytest.fail(f"{submit} is missing: run scripts/setup.sh")
    local_dir = workdir / "spark-local"
    local_dir.mkdir(parents=True, exist_ok=True)
    base_conf = {
        "spark.master": "local[2]",
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.local.dir": str(local_dir),
        "spark.sql.shuffle.partitions": "2",
        "spark.driver.memory": "1g",
    }
    base_conf.update(conf)
    cmd = [str(submit), "--jars", str(jar)]
    for k, v in base_conf.items():
        cmd += ["--conf", f"{k}={v}"]
    cmd += [str(script)] + [str(a) for a in args]
    log = workdir / f"{script.stem}.log"
    t0 = time.monotonic()
    with open(log, "wb") as out:
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=spark_env(venv),
                                  cwd=workdir, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"spark-submit ran past {timeout}s; log tail:\n{tail(log)}")
    proc.seconds = time.monotonic() - t0
    proc.log = log
    return proc


def tail(path: Path, n: int = 6000) -> str:
    try:
        return path.read_bytes()[-n:].decode("utf-8", "replace")
    except OSError:
        return "(no log)"


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
