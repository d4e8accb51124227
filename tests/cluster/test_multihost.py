"""Locality for real: a Spark standalone cluster (master + 2 workers) whose workers each sit in a
network namespace of their own, with an address of their own and a cache directory of their own,
reading one S3 server.

The test creates everything it uses and removes it on exit: a bridge with 10.77.<n>.1 (master,
driver and S3 server listen there), and per worker a namespace, a veth pair on the bridge and
10.77.<n>.1x. No other address is used. Needs root and `ip`; skipped otherwise.

What it checks (jobs/epochs.py runs the steps):
  * the plugin places files over both worker hosts;
  * the second epoch runs every task NODE_LOCAL or better and >= 95% of each executor's bytes
    come from its node's cache;
  * after `free`, reads go back to the store;
  * after `free` + `load`, the next epoch is all cache hits.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUCKET, PREFIX, REPO, SPARKS, spark_env, spark_submit, tail

JOB = Path(__file__).resolve().parent / "jobs" / "epochs.py"
S3S = Path(os.environ.get("SHOAL_TEST_S3S_BIN") or REPO / ".tools" / "s3s" / "bin" / "s3s-fs")
ACCESS, SECRET = "shoal-cluster-access", "shoal-cluster-secret-0123456789"
WORKERS = 2
TIME_LIMIT_S = int(os.environ.get("SHOAL_MULTIHOST_TIMEOUT", "600"))

def netns_unavailable() -> str | None:
    """Why this machine cannot make network namespaces (None when it can): root and `ip` are
    not enough in a container without CAP_SYS_ADMIN / CAP_NET_ADMIN, so try one."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "needs root and iproute2 (network namespaces)"
    probe = f"shoal-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if made.returncode != 0:
        return f"cannot create a network namespace here: {made.stderr.strip()}"
    return None


_UNAVAILABLE = netns_unavailable()
pytestmark = pytest.mark.skipif(_UNAVAILABLE is not None, reason=_UNAVAILABLE or "")


def sh(*cmd, check=True):
    return subprocess.run([str(c) for c in cmd], check=check, capture_output=True, text=True)


class Network:
    """A bridge in this namespace and WORKERS namespaces on it, all named after this process."""

    def __init__(self):
        tag = os.getpid() % 100000
        self.subnet = 77 + tag % 100  # 10.<subnet>.0.0/24: distinct per concurrent run
        self.bridge = f"shbr{tag}"
        self.host_ip = f"10.{self.subnet}.0.1"
        self.workers = [(f"shoal{tag}w{i}", f"shv{tag}w{i}", f"10.{self.subnet}.0.{11 + i}")
                        for i in range(WORKERS)]

    def __enter__(self):
        try:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            sh("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
            sh("ip", "link", "set", self.bridge, "up")
            for ns, veth, ip in self.workers:
                sh("ip", "netns", "add", ns)
                sh("ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "p")
                sh("ip", "link", "set", veth, "master", self.bridge)
                sh("ip", "link", "set", veth, "up")
                sh("ip", "link", "set", veth + "p", "netns", ns)
                sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
                sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ip}/24", "dev", veth + "p")
                sh("ip", "netns", "exec", ns, "ip", "link", "set", veth + "p", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for ns, veth, _ in self.workers:
            sh("ip", "link", "del", veth, check=False)
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", self.bridge, check=False)
        return False


class Processes:
    """Processes this test started, each in its own process group; all stopped on exit."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, log: Path, env=None, ns=None):
        full = (["ip", "netns", "exec", ns] if ns else []) + [str(c) for c in cmd]
        out = open(log, "wb")
        p = subprocess.Popen(full, stdout=out, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        self.procs.append((p, out))
        return p

    def stop(self):
        for p, _ in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p, out in reversed(self.procs):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            out.close()


def wait_port(host: str, port: int, seconds: float, what: str, ns: str | None = None):
    import socket
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{what} did not listen on {host}:{port} within {seconds}s")


def events(log_dir: Path) -> list:
    files = [p for p in log_dir.iterdir() if p.is_file()]
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def epoch_tasks(evs: list) -> dict:
    """{epoch name: [(locality, host, bytes read)]} from the event log."""
    stage_epoch = {}
    for e in evs:
        if e["Event"] == "SparkListenerJobStart":
            desc = (e.get("Properties") or {}).get("spark.job.description") or ""
            if desc.startswith("epoch:"):
                for s in e["Stage IDs"]:
                    stage_epoch[s] = desc[len("epoch:"):]
    out: dict = {}
    for e in evs:
        if e["Event"] == "SparkListenerTaskEnd" and e["Stage ID"] in stage_epoch:
            info = e["Task Info"]
            if info.get("Failed") or info.get("Killed"):
                continue
            read = ((e.get("Task Metrics") or {}).get("Input Metrics") or {}).get("Bytes Read", 0)
            out.setdefault(stage_epoch[e["Stage ID"]], []).append(
                (info["Locality"], info["Host"], read))
    return out


def delta(metrics: dict, before: str, after: str, name: str) -> dict:
    """{executor: change of a metric} between two snapshots."""
    a, b = metrics[after], metrics[before]
    return {e: a[e].get(name, 0) - b.get(e, {}).get(name, 0) for e in a if e != "driver"}


@pytest.fixture(scope="module")
def cluster_run(spark, s3_store, jar, workdir):
    venv = SPARKS[spark]
    d = workdir / f"multihost-{spark}"
    d.mkdir()
    procs = Processes()
    t0 = time.monotonic()
    with Network() as net:
        try:
            env = spark_env(venv)
            env.pop("SPARK_LOCAL_IP")
            s3_port = 19000 + os.getpid() % 1000
            procs.start([S3S, "--host", net.host_ip, "--port", s3_port, "--access-key", ACCESS,
                         "--secret-key", SECRET, s3_store], d / "s3s.log")
            wait_port(net.host_ip, s3_port, 30, "s3s-fs")
            master_port = s3_port + 1
            menv = dict(env, SPARK_LOCAL_IP=net.host_ip, SPARK_LOG_DIR=str(d))
            procs.start([venv / "bin" / "spark-class", "org.apache.spark.deploy.master.Master",
                         "--host", net.host_ip, "--port", master_port, "--webui-port", 0],
                        d / "master.log", env=menv)
            wait_port(net.host_ip, master_port, 90, "the Spark master")
            master = f"spark://{net.host_ip}:{master_port}"
            for i, (ns, _, ip) in enumerate(net.workers):
                cache = d / f"cache-w{i}"
                cache.mkdir()
                wenv = dict(env, SPARK_LOCAL_IP=ip, SHOAL_CACHE_DIR=str(cache),
                            SPARK_WORKER_DIR=str(d / f"work-w{i}"))
                procs.start([venv / "bin" / "spark-class", "org.apache.spark.deploy.worker.Worker",
                             "--host", ip, "--cores", 1, "--memory", "1g", "--webui-port", 0,
                             master], d / f"worker{i}.log", env=wenv, ns=ns)
            metrics_dir = d / "metrics"
            metrics_dir.mkdir()
            event_dir = d / "events"
            event_dir.mkdir()
            # No fs.<scheme>.impl: the plugin registers the schemes on the driver and executors.
            conf = {}
            base = "spark.hadoop.shoal.mount.data."
            conf.update({
                base + "path": "/data", base + "uri": f"s3://{BUCKET}/{PREFIX}",
                base + "readonly": "true",
                base + "option.aws_endpoint": f"http://{net.host_ip}:{s3_port}",
                base + "option.aws_access_key_id": ACCESS,
                base + "option.aws_secret_access_key": SECRET,
                base + "option.aws_region": "us-east-1",
                base + "option.aws_allow_http": "true",
                # each worker's own directory, from its environment (Hadoop substitutes ${env.*})
                "spark.hadoop.shoal.cache.dirs": "${env.SHOAL_CACHE_DIR}:1g",
                "spark.hadoop.shoal.cache.memory.size": "0",
                "spark.plugins": "io.shoal.spark.ShoalPlugin",
                "spark.driver.host": net.host_ip,
                "spark.driver.bindAddress": net.host_ip,
                "spark.executor.memory": "768m",
                "spark.cores.max": str(WORKERS),
                "spark.sql.files.maxPartitionBytes": "1m",
                "spark.eventLog.enabled": "true",
                "spark.eventLog.dir": str(event_dir),
                # one plain JSON-lines file (Spark 4 rolls and compresses by default)
                "spark.eventLog.rolling.enabled": "false",
                "spark.eventLog.compress": "false",
                "spark.metrics.conf.*.sink.csv.class": "org.apache.spark.metrics.sink.CsvSink",
                "spark.metrics.conf.*.sink.csv.period": "1",
                "spark.metrics.conf.*.sink.csv.unit": "seconds",
                "spark.metrics.conf.*.sink.csv.directory": str(metrics_dir),
            })
            out = d / "result.json"
            driver_cache = d / "cache-driver"
            driver_cache.mkdir()
            os.environ["SHOAL_CACHE_DIR"] = str(driver_cache)
            left = TIME_LIMIT_S - (time.monotonic() - t0)
            proc = spark_submit(venv, jar, [JOB, "--path", "shoal:///data", "--metrics",
                                            metrics_dir, "--executors", WORKERS, "--out", out],
                                conf, d, "epochs", master=master, timeout=int(left))
            if proc.returncode != 0 or not out.exists():
                pytest.fail(f"spark-submit exited with {proc.returncode}; log {proc.log}:\n"
                            f"{tail(proc.log)}")
            result = json.loads(out.read_text())
            result["tasks"] = epoch_tasks(events(event_dir))
            result["log"] = str(proc.log)
            result["net"] = {"workers": [ip for _, _, ip in net.workers]}
            result["caches"] = {i: sum(f.stat().st_size for f in (d / f"cache-w{i}").rglob("*")
                                       if f.is_file()) for i in range(WORKERS)}
            return result
        finally:
            os.environ.pop("SHOAL_CACHE_DIR", None)
            procs.stop()


@pytest.fixture(scope="module")
def s3_store(dataset):
    return dataset["store"]


def ok(result, name):
    s = result["steps"][name]
    if not s["ok"]:
        pytest.fail(f"{name}: {s['error']}\n{s['traceback']}\nlog {result['log']}")
    return s["value"]


def report(result, epoch):
    tasks = result["tasks"][epoch]
    levels: dict = {}
    for level, _, _ in tasks:
        levels[level] = levels.get(level, 0) + 1
    names = {"cold": "start", "warm": "cold", "freed": "free", "loaded": "stat"}
    prev = names[epoch]
    cache = delta(result["metrics"], prev, epoch, "bytes_from_cache")
    store = delta(result["metrics"], prev, epoch, "bytes_from_store")
    ratio = {e: (cache[e] / (cache[e] + store[e]) if cache[e] + store[e] else None) for e in cache}
    print(f"\n  epoch {epoch}: {len(tasks)} tasks, locality {levels}, "
          f"local hit ratio per executor {ratio} (cache {cache}, store {store})")
    return levels, cache, store


def test_second_epoch_is_node_local_and_served_by_the_local_cache(cluster_run, dataset):
    r = cluster_run
    assert sorted(r["hosts"]) == sorted(r["net"]["workers"]), r["hosts"]
    visible = sum(n for rel, n in dataset["sizes"].items()
                  if not Path(rel).name.startswith((".", "_")))
    assert ok(r, "cold") == visible and ok(r, "warm") == visible
    report(r, "cold")
    levels, cache, store = report(r, "warm")
    assert set(levels) <= {"PROCESS_LOCAL", "NODE_LOCAL"}, levels
    for e in cache:
        assert cache[e] + store[e] > 0, f"executor {e} read nothing"
        assert cache[e] >= 0.95 * (cache[e] + store[e]), (e, cache, store)
    hosts = {h for _, h, _ in r["tasks"]["warm"]}
    assert hosts == set(r["net"]["workers"]), "both workers read their share"
    assert all(v > 0 for v in r["caches"].values()), r["caches"]


def test_after_free_reads_go_to_the_store(cluster_run, dataset):
    r = cluster_run
    freed = ok(r, "free")
    assert not freed["unreached"] and set(freed["nodes"]) == set(r["net"]["workers"]), freed
    assert freed["freed_bytes"] > 0
    _, cache, store = report(r, "freed")
    assert sum(store.values()) >= ok(r, "freed"), (cache, store)


def test_after_load_the_first_epoch_is_all_hits(cluster_run, dataset):
    r = cluster_run
    load = ok(r, "load")
    assert load["failures"] == {} and load["fetched_bytes"] == dataset["bytes"]
    assert set(load["files_by_host"]) == set(r["net"]["workers"]), load["files_by_host"]
    stat = ok(r, "stat")
    assert stat["cached_bytes"] == dataset["bytes"], stat
    levels, cache, store = report(r, "loaded")
    assert set(levels) <= {"PROCESS_LOCAL", "NODE_LOCAL"}, levels
    assert sum(store.values()) == 0, store
    assert sum(cache.values()) >= ok(r, "loaded")


def test_free_and_stat_tasks_ask_the_store_for_no_metadata(cluster_run):
    """free and stat plan like load: the driver lists the path once, and each worker's tasks get
    the files with the listing's versions, so they send the store no LIST (each listed the path
    itself before) and no HEAD."""
    r = cluster_run
    for step, prev in (("free", "warm"), ("free2", "freed"), ("stat", "load")):
        ok(r, step)
        executors = delta(r["metrics"], prev, step, "store_metadata_requests")
        driver = (r["metrics"][step]["driver"].get("store_metadata_requests", 0)
                  - r["metrics"][prev]["driver"].get("store_metadata_requests", 0))
        print(f"\n  {step}: metadata requests by the executors {executors}, by the driver {driver}")
        assert len(executors) == WORKERS and all(v == 0 for v in executors.values()), executors
