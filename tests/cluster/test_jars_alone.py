"""--jars alone on executors in JVMs of their own (local-cluster mode, two executors): no plugin,
no fs.<scheme>.impl. The driver registers the schemes when the session is created (Spark 3.2 and
later) and Spark sends its Hadoop configuration, the mapping included, with every task, so the
executors read shoal:// through the DataFrame and the RDD API with nothing set for them.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pytest

from conftest import BUCKET, PREFIX, SPARKS, spark_submit, tail

JOB = Path(__file__).resolve().parent / "jobs" / "jars_alone.py"


def expected(store: Path, sizes: dict, prefix: str = "", empty: bool = True) -> dict:
    """{relative path: (size, sha256)} of the files Spark lists (no hidden or _ files; Spark's
    file sources also skip empty files)."""
    out = {}
    for rel in sizes:
        if not empty and sizes[rel] == 0:
            continue
        if rel.startswith(prefix) and not PurePosixPath(rel).name.startswith((".", "_")):
            data = (store / BUCKET / PREFIX / rel).read_bytes()
            out[rel] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def test_executors_read_with_the_jar_in_jars_alone(spark, s3, dataset, jar, workdir):
    d = workdir / f"{spark}-jars-alone"
    d.mkdir()
    conf = s3.mount_conf("data", "/data", f"s3://{BUCKET}/{PREFIX}")
    conf["spark.hadoop.shoal.cache.dirs"] = f"{d / 'cache'}:1g"
    conf["spark.executor.memory"] = "512m"
    out = d / "result.json"
    proc = spark_submit(SPARKS[spark], jar, [JOB, "--path", "shoal:///data", "--out", out],
                        conf, d, "jars_alone", master="local-cluster[2,1,1024]")
    if proc.returncode != 0 or not out.exists():
        pytest.fail(f"spark-submit exited with {proc.returncode}; log {proc.log}:\n{tail(proc.log)}")
    result = json.loads(out.read_text())
    assert len(result["executors"]) == 3, result["executors"]  # two executors and the driver
    for api, prefix, empty in (("dataframe", "", False), ("rdd", "part", True)):
        entry = result[api]
        assert entry["ok"], f"{api}: {entry.get('error')}\n{entry.get('traceback')}\nlog {proc.log}"
        got = {PurePosixPath(urlparse(r["path"]).path).relative_to("/data").as_posix():
               (r["length"], r["sha256"]) for r in entry["value"]}
        assert got == expected(dataset["store"], dataset["sizes"], prefix, empty), api
