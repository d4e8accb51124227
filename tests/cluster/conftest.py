"""Shoal's Spark plugin and cluster-wide cache jobs, end to end, on Spark 3.5 and 4.x.

    .tools/spark35/bin/python -m pytest tests/cluster                  # both Spark versions
    .tools/spark35/bin/python -m pytest tests/cluster --spark spark4   # one of them

test_spark_plugin.py runs in `local-cluster[2,1,1024]` (two executor JVMs on 127.0.0.1);
test_multihost.py (root only) runs a standalone cluster whose workers sit in network namespaces of
their own. Both need build/libs/shoal-0.1.0.jar (`gradle --no-daemon jar`) and
.tools/s3s/bin/s3s-fs. SHOAL_CLUSTER_KEEP=1 keeps the temp dirs (logs, metrics) for a look.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from s3server import S3Server  # noqa: E402

JAR = Path(os.environ.get("SHOAL_JAR") or REPO / "build" / "libs" / "shoal-0.1.0.jar")
SPARKS = {"spark35": REPO / ".tools" / "spark35", "spark4": REPO / ".tools" / "spark4"}
JOB_TIMEOUT_S = int(os.environ.get("SHOAL_CLUSTER_JOB_TIMEOUT", "420"))
# spark-submit looks FileSystems up before it adds --jars: name the classes (see tests/e2e).
FS_IMPL_CONF = {
    "spark.hadoop.fs.shoal.impl": "io.shoal.hadoop.ShoalFileSystem",
    "spark.hadoop.fs.alluxio.impl": "io.shoal.hadoop.AlluxioFileSystem",
}
BUCKET = "shoal-cluster"
PREFIX = "ds"


def pytest_addoption(parser):
    parser.addoption("--spark", action="append", choices=sorted(SPARKS),
                     help="Spark venv(s) to test (default: all)")


def pytest_generate_tests(metafunc):
    if "spark" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("spark") or sorted(SPARKS)
        metafunc.parametrize("spark", chosen, scope="module")


@pytest.fixture(scope="session")
def workdir():
    d = Path(tempfile.mkdtemp(prefix="shoal-cluster-"))
    os.chmod(d, 0o755)
    yield d
    if os.environ.get("SHOAL_CLUSTER_KEEP"):
        print(f"\nkept {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


def make_dataset(root: Path, files: int = 40, seed: int = 5) -> dict:
    """Random files of 1 KiB .. 600 KiB in a few directories, one of 3 MiB, one empty, one hidden;
    returns {relative path: size}."""
    rnd = random.Random(seed)
    sizes = {}
    for i in range(files):
        rel = f"part{i % 4}/f{i:03d}.bin"
        sizes[rel] = rnd.randint(1024, 600 * 1024)
    sizes["large.bin"] = 3 * 1024 * 1024 + 17
    sizes["empty.bin"] = 0
    sizes["_SUCCESS"] = 0
    sizes[".hidden"] = 100
    for rel, n in sizes.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rnd.randbytes(n))
    return sizes


@pytest.fixture(scope="session")
def dataset(workdir):
    store = workdir / "store"
    sizes = make_dataset(store / BUCKET / PREFIX)
    return {"store": store, "sizes": sizes, "bytes": sum(sizes.values())}


@pytest.fixture(scope="session")
def s3(workdir, dataset):
    with S3Server(dataset["store"], log_path=workdir / "s3s-fs.log") as server:
        yield server


@pytest.fixture(scope="session")
def jar():
    if not JAR.is_file():
        pytest.fail(f"{JAR} is missing: build it with `gradle --no-daemon jar`")
    return JAR


def spark_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPARK_HOME", "PYTHONPATH", "SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYSPARK_PYTHON"] = str(venv / "bin" / "python")
    env["PYSPARK_DRIVER_PYTHON"] = str(venv / "bin" / "python")
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["PYTHONPATH"] = str(REPO / "python")
    if not env.get("JAVA_HOME") and Path("/usr/lib/jvm/java-17-openjdk-amd64").is_dir():
        env["JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"
    return env


def spark_submit(venv: Path, jar: Path, app: list, conf: dict, workdir: Path, name: str,
                 master: str = "local[2]", timeout: int = JOB_TIMEOUT_S,
                 extra: list | None = None) -> subprocess.CompletedProcess:
    """Runs one spark-submit (app: [script, args...] or ["--class", C, jar, args...]); its
    output goes to <workdir>/<name>.log, stdout alone also to proc.stdout_text."""
    submit = venv / "bin" / "spark-submit"
    if not submit.exists():
        pytest.fail(f"{submit} is missing: run scripts/setup.sh")
    local_dir = workdir / "spark-local"
    local_dir.mkdir(parents=True, exist_ok=True)
    base = {
        "spark.master": master,
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.local.dir": str(local_dir),
        "spark.driver.memory": "1g",
    }
    base.update(conf)
    cmd = [str(submit), "--jars", str(jar)] + (extra or [])
    for k, v in base.items():
        cmd += ["--conf", f"{k}={v}"]
    cmd += [str(a) for a in app]
    log = workdir / f"{name}.log"
    t0 = time.monotonic()
    with open(log, "wb") as err:
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, env=spark_env(venv),
                                  cwd=workdir, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"spark-submit ran past {timeout}s; log tail:\n{tail(log)}")
    with open(log, "ab") as err:
        err.write(b"\n---- stdout ----\n" + proc.stdout)
    proc.seconds = time.monotonic() - t0
    proc.log = log
    proc.stdout_text = proc.stdout.decode("utf-8", "replace")
    return proc


def tail(path: Path, n: int = 8000) -> str:
    try:
        return path.read_bytes()[-n:].decode("utf-8", "replace")
    except OSError:
        return "(no log)"
