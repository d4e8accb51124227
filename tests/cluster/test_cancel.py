"""A Shoal load job cancelled while it runs stops fetching (issue #18).

`sc.cancelAllJobs()` from another thread of the application kills the load's tasks; before,
each task's native call went on fetching its files to the end after the task was gone. The
store sits behind benchmarks/delayproxy.py (200 ms per request, so that the load takes
several seconds), which counts the object GETs: after the cancel, only the GETs in flight then
(at most `shoal.load.parallel` per running task) may still arrive, and none later; a second
load then fetches each remaining file once.
"""
from __future__ import annotations

import json
import sys

import pytest

from conftest import BUCKET, REPO, SPARKS, spark_submit, tail

sys.path.insert(0, str(REPO / "benchmarks"))
import delayproxy  # noqa: E402

JOB = REPO / "tests" / "cluster" / "jobs" / "cancel_load.py"
FILES = 240
SIZE = 3000
PARALLEL = 4
SLOTS = 2  # local[2]


@pytest.fixture
def proxy(s3, workdir):
    d = workdir / "cancel-proxy"
    d.mkdir(exist_ok=True)
    stats = d / "stats.json"
    try:
        proc, endpoint = delayproxy.start(s3.endpoint.replace("http://", ""), d / "proxy.json",
                                          stats, "--rtt-ms", "200")
    except RuntimeError as e:
        pytest.fail(str(e))
    yield {"pid": proc.pid, "stats": stats, "endpoint": endpoint}
    proc.terminate()
    proc.wait(10)


def test_cancelled_load_stops_its_fetches(spark, s3, proxy, dataset, workdir, jar):
    d = workdir / f"cancel-{spark}"
    d.mkdir()
    prefix = f"cancel-{spark}"
    root = dataset["store"] / BUCKET / prefix
    for i in range(FILES):
        p = root / f"d{i % 4}" / f"f{i:04d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bytes([i % 251]) * SIZE)
    conf = s3.mount_conf("cancel", "/cancel", f"s3://{BUCKET}/{prefix}")
    conf["spark.hadoop.shoal.mount.cancel.option.aws_endpoint"] = proxy["endpoint"]
    conf["spark.hadoop.shoal.cache.dirs"] = f"{d / 'cache'}:1g"
    conf["spark.hadoop.shoal.cache.memory.size"] = "0"
    conf["spark.hadoop.shoal.load.parallel"] = str(PARALLEL)
    conf["spark.hadoop.shoal.prefetch.enabled"] = "false"
    conf["spark.shoal.progress"] = "false"
    out = d / "result.json"
    proc = spark_submit(SPARKS[spark], jar,
                        [JOB, "--path", "shoal:///cancel", "--proxy-pid", proxy["pid"],
                         "--proxy-stats", proxy["stats"], "--out", out],
                        conf, d, "cancel_load", master=f"local[{SLOTS}]")
    if proc.returncode != 0 or not out.exists():
        pytest.fail(f"spark-submit exited with {proc.returncode}; log {proc.log}:\n{tail(proc.log)}")
    r = json.loads(out.read_text())
    print(f"\n{spark}: {json.dumps({k: v for k, v in r.items() if k != 'second'})}")
    assert "error" not in r, f"{r.get('error')}\n{r.get('traceback')}\nlog: {proc.log}"
    assert "error" in r["first"] and "cancel" in r["first"]["error"], r["first"]
    in_flight = PARALLEL * SLOTS
    assert r["gets_settled"] - r["gets_at_cancel"] <= in_flight, r
    assert r["gets_later"] == r["gets_settled"], f"GETs went on after the cancel: {r}"
    assert r["gets_settled"] < FILES // 2, r
    second = r["second"]
    assert second["failures"] == {} and second["files"] == FILES, second
    assert second["fetched_bytes"] + second["cached_bytes_before"] == FILES * SIZE
    # Each file crossed the link once over both loads.
    assert r["gets_after_second"] - r["gets_later"] == second["fetched_bytes"] // SIZE
    assert r["gets_after_second"] == FILES, r
