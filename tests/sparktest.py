"""What the spark-submit test suites (tests/e2e, tests/cluster) share: where the jar and the Spark
venvs are, the `--spark` option, and running one spark-submit with its output in a log file.

Each suite's conftest.py imports it (tests/ is put on sys.path there).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
JAR = Path(os.environ.get("SHOAL_JAR") or REPO / "build" / "libs" / "shoal-0.1.0.jar")
SPARKS = {"spark35": REPO / ".tools" / "spark35", "spark4": REPO / ".tools" / "spark4"}
# Hadoop finds FileSystems by ServiceLoader once per JVM, and spark-submit does so before it adds
# --jars to the class path. The jar makes up for it (FileSystemRegistration on the first
# spark.read, the plugin at start-up); tests that check bytes name the classes too, so that they
# fail only on bytes, and dedicated tests check the registration alone.
FS_IMPL_CONF = {
    "spark.hadoop.fs.shoal.impl": "io.shoal.hadoop.ShoalFileSystem",
    "spark.hadoop.fs.alluxio.impl": "io.shoal.hadoop.AlluxioFileSystem",
}


def add_spark_option(parser):
    parser.addoption("--spark", action="append", choices=sorted(SPARKS),
                     help="Spark venv(s) to test (default: all)")


def parametrize_spark(metafunc):
    if "spark" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("spark") or sorted(SPARKS)
        metafunc.parametrize("spark", chosen, scope="module")


def temp_workdir(prefix: str, keep_var: str):
    """A temp dir for a session (a generator for a fixture); kept when $keep_var is set."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(d, 0o755)  # workers in other namespaces, other users, read it
    yield d
    if os.environ.get(keep_var):
        print(f"\nkept {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


def jar_copy(workdir: Path) -> Path:
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
    env["PYTHONPATH"] = str(REPO / "python")  # shoal_spark
    if not env.get("JAVA_HOME") and Path("/usr/lib/jvm/java-17-openjdk-amd64").is_dir():
        env["JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"
    return env


def submit(venv: Path, jar: Path, app: list, conf: dict, workdir: Path, name: str, *,
           timeout: int, master: str = "local[2]",
           extra: list | None = None) -> subprocess.CompletedProcess:
    """Runs one spark-submit (app: [script, args...] or ["--class", C, jar, args...]). Its stderr
    and then its stdout go to <workdir>/<name>.log (proc.log); stdout alone is also in
    proc.stdout_text, the seconds it took in proc.seconds."""
    spark_submit = venv / "bin" / "spark-submit"
    if not spark_submit.exists():
        pytest.fail(f"{spark_submit} is missing: run scripts/setup.sh")
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
    cmd = [str(spark_submit), "--jars", str(jar)] + (extra or [])
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
