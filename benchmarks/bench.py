#!/usr/bin/env python3
"""Shoal against its peers: Spark loading an ImageNet-shaped training set from a remote S3 store.

Reproduces the Alluxio + Analytics Zoo experiment (ImageNet from S3 into Spark for training:
579 s without a cache, 369 s with Alluxio) on one machine, all configurations in one run:

  s3a           direct S3A (hadoop-aws matching Spark 3.5's Hadoop 3.3.4), no cache
  s3a-prefetch  S3A's prefetching input stream (Spark 4 / its Hadoop's hadoop-aws)
  alluxio       Alluxio's client-side page cache (alluxio.hadoop.LocalCacheFileSystem) over S3A,
                pages on local disk
  shoal         Shoal (shoal:/// over an s3:// mount); the cache dir starts empty ("cold" =
                first epoch / first trial, "warm" = the later ones)
  local         the data copied to local disk first (distcp practice, copy time reported
                separately) and read with file://: the physical limit

The remote store is the s3s-fs S3 server in a network namespace this harness creates, behind a veth
shaped with `tc tbf` (bandwidth) and a userspace delay proxy on 127.0.0.1 (round trip per request;
this kernel has no netem). Without netns/tc the proxy shapes the bandwidth alone (said in the output).

Run it through benchmarks/run.sh (installs what it needs); see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "scripts"))

import netem  # noqa: E402
import s3store  # noqa: E402
from gen_imagenet import generate  # noqa: E402

TOOLS = REPO / ".tools"
BENCH_TOOLS = TOOLS / "bench"
SHOAL_JAR = Path(os.environ.get("SHOAL_JAR") or REPO / "build" / "libs" / "shoal-0.1.0.jar")
VENVS = {"spark35": TOOLS / "spark35", "spark4": TOOLS / "spark4"}
LOG4J = REPO / "scripts" / "log4j2-quiet.properties"
BUCKET = "bench"
ACCESS_KEY = "shoal-bench-access"
SECRET_KEY = "shoal-bench-secret-0123456789"
REGION = "us-east-1"

# The link presets. rtt_ms: added once per request and once per new connection (the delay proxy);
# conn_mbit: cap per TCP connection (the proxy); link_mbit: cap of the whole link (tc tbf on the
# veth, or the proxy when tc is unavailable).
PRESETS = {
    "same-region": {"rtt_ms": 5.0, "conn_mbit": 1000.0, "link_mbit": 2000.0,
                    "about": "an EC2 instance reading S3 in its own region: a few ms to the first "
                             "byte of every request, ~1 Gbit/s per connection, 2 Gbit/s in all"},
    "wan": {"rtt_ms": 40.0, "conn_mbit": 200.0, "link_mbit": 400.0,
            "about": "a cluster reading a bucket in another region / over a WAN: tens of ms per "
                     "request, 200 Mbit/s per connection, 400 Mbit/s in all"},
    "loopback": {"rtt_ms": 0.0, "conn_mbit": 0.0, "link_mbit": 0.0,
                 "about": "no emulation (the proxy forwards only): for debugging the harness"},
}
SIZES = {  # images (train + test), classes
    "tiny": (160, 8),
    "small": (2400, 20),
    "medium": (12000, 50),
    "large": (50000, 100),
}
ALL_CONFIGS = ["s3a", "s3a-prefetch", "alluxio", "shoal", "local"]
CACHED = {"alluxio", "shoal"}
QUICK_JAVA_OPTS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------
# processes we start: each in its own process group, stopped by its id on exit
class Procs:
    def __init__(self):
        self.procs = []

    def start(self, cmd, **kw):
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, timeout=10):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p)


PROCS = Procs()


def wait_file(path: Path, proc, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout}s")


def http_ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


# ------------------------------------------------------------------------------------------------
def s3s_bin() -> Path:
    """The S3 server's binary (scripts/setup.sh installs it; SHOAL_TEST_S3S_BIN overrides)."""
    return Path(os.environ.get("SHOAL_TEST_S3S_BIN") or TOOLS / "s3s" / "bin" / "s3s-fs")


class RemoteStore:
    """s3s-fs (in the namespace, or on 127.0.0.1) + the delay proxy; .endpoint is the proxy.

    ``root`` holds the buckets (``bucket`` is the one measured at start); ``log`` prints progress.
    Also used by scripts/demo.py.
    """

    def __init__(self, root: Path, preset: dict, work: Path, use_netns: bool,
                 bucket: str = BUCKET, log=log):
        self.root, self.preset, self.work = root, preset, work
        self.use_netns = use_netns
        self.bucket, self.log = bucket, log
        self.upstream = None
        self.link = None
        self.mode = None
        self.note = ""
        self.endpoint = None

    def start(self):
        s3s = s3s_bin()
        if not os.access(s3s, os.X_OK):
            raise SystemExit(f"s3s-fs not found at {s3s}: run scripts/setup.sh")
        link_in_proxy = self.preset["link_mbit"]
        upstream_host = "127.0.0.1"
        prefix = []
        if self.use_netns:
            try:
                self.link = netem.NetnsLink.create(self.preset["link_mbit"])
                prefix = self.link.exec_prefix()
                upstream_host = self.link.ns_ip
                link_in_proxy = 0.0
                self.mode = "netns+tc-tbf+proxy"
                self.note = (f"S3 server in network namespace {self.link.ns} "
                             f"({self.link.ns_ip}), veth shaped by tc tbf at "
                             f"{self.preset['link_mbit']:g} Mbit/s each way; delay proxy on "
                             f"127.0.0.1 adds {self.preset['rtt_ms']:g} ms per request and caps "
                             f"{self.preset['conn_mbit']:g} Mbit/s per connection")
            except netem.NetemUnavailable as e:
                self.link = None
                self.note = f"netns/tc unavailable ({e}); "
        if self.link is None:
            self.mode = "proxy-only"
            self.note += (f"proxy alone on 127.0.0.1: {self.preset['rtt_ms']:g} ms per request, "
                          f"{self.preset['conn_mbit']:g} Mbit/s per connection and "
                          f"{self.preset['link_mbit']:g} Mbit/s in all, shaped in userspace "
                          "(NOT kernel tc)")
        port = 9000
        s3s_log = open(self.work / "s3s-fs.log", "ab")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        for attempt in range(5):
            if upstream_host == "127.0.0.1":
                import socket
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    port = s.getsockname()[1]
            self.s3s = PROCS.start(prefix + [str(s3s), "--host", upstream_host, "--port", str(port),
                                             "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY,
                                             str(self.root)],
                                   stdout=s3s_log, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL)
            ok = False
            for _ in range(100):
                if self.s3s.poll() is not None:
                    break
                if self._ping_upstream(upstream_host, port, prefix):
                    ok = True
                    break
                time.sleep(0.1)
            if ok:
                break
            PROCS.stop(self.s3s)
        else:
            raise RuntimeError(f"s3s-fs did not start; see {self.work / 's3s-fs.log'}")
        self.upstream = f"{upstream_host}:{port}"
        info = self.work / "proxy.json"
        info.unlink(missing_ok=True)
        self.stats_file = self.work / "proxy-stats.json"
        self.stats_file.unlink(missing_ok=True)
        self.proxy = PROCS.start([sys.executable, str(HERE / "delayproxy.py"),
                                  "--upstream", f"{upstream_host}:{port}",
                                  "--rtt-ms", str(self.preset["rtt_ms"]),
                                  "--conn-mbit", str(self.preset["conn_mbit"]),
                                  "--link-mbit", str(link_in_proxy),
                                  "--info-file", str(info),
                                  "--stats-file", str(self.stats_file),
                                  "--max-seconds", str(6 * 3600)],
                                 stdout=open(self.work / "proxy.log", "ab"),
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        pinfo = wait_file(info, self.proxy, 20, "delay proxy")
        self.endpoint = f"http://127.0.0.1:{pinfo['port']}"
        if not http_ping(self.endpoint + "/"):
            raise RuntimeError("the S3 server does not answer through the proxy")
        self.measured = self._measure()
        self.log(f"remote store: {self.endpoint} -> {upstream_host}:{port}; {self.note}")
        self.log(f"measured through the link: {self.measured}")
        return self

    def traffic(self, timeout: float = 10.0) -> dict:
        """The proxy's counters now: connections, requests (and requests_by_kind), bytes_down,
        bytes_up. Everything a client of the store sends or receives crosses the proxy."""
        last = -1
        try:
            last = json.loads(self.stats_file.read_text()).get("written", 0)
        except (OSError, ValueError):
            pass
        os.kill(self.proxy.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                stats = json.loads(self.stats_file.read_text())
                if stats.get("written", 0) > last:
                    return stats
            except (OSError, ValueError):
                pass
            if self.proxy.poll() is not None:
                raise RuntimeError(f"the delay proxy exited with {self.proxy.returncode}")
            time.sleep(0.02)
        raise RuntimeError(f"the delay proxy wrote no counters within {timeout}s")

    @staticmethod
    def _ping_upstream(host, port, prefix):
        if not prefix:
            return http_ping(f"http://{host}:{port}/")
        import socket
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            return False

    def _measure(self) -> dict:
        """The link as a client sees it: request round trips, and what one connection moves.

        Round trips: an anonymous small request, a new connection each. Throughput: signed GETs
        of the largest object, whole and in 1 MiB ranges (a cache page), each on its own
        connection; the store's own speed is part of it (s3s-fs streams in 4 KiB reads).
        """
        times = []
        for _ in range(5):
            t0 = time.monotonic()
            http_ping(self.endpoint + "/")
            times.append((time.monotonic() - t0) * 1000)
        out = {"request_ms_median": round(statistics.median(times), 2),
               "request_ms_min": round(min(times), 2),
               "note": "new TCP connection per request: connection + request round trips"}
        bucket = self.root / self.bucket
        sizes = {p: p.stat().st_size for p in bucket.rglob("*") if p.is_file()}
        if not sizes:
            return out
        big = max(sizes, key=sizes.get)
        key, size = big.relative_to(bucket).as_posix(), sizes[big]

        def req(**kw):
            r = s3store.get(self.endpoint, self.bucket, key, ACCESS_KEY, SECRET_KEY, REGION, **kw)
            if r["status"] not in (200, 206):
                raise RuntimeError(f"GET {key} through the link answered {r['status']}")
            return r

        whole = [req() for _ in range(2)]
        mib = 1 << 20
        ranges = [req(byte_range=(i * mib, min(size, (i + 1) * mib) - 1))
                  for i in range(min(5, max(1, size // mib)))]
        out.update({
            "get_object": key, "get_object_bytes": size,
            "get_mb_per_s": round(max(r["bytes"] / r["seconds"] for r in whole) / 1e6, 1),
            "range_1mib_ms_median": round(statistics.median(r["seconds"] for r in ranges) * 1e3,
                                          1),
            "throughput_note": "one connection per GET, best of 2 whole-object GETs; "
                               "median of 1 MiB range GETs",
        })
        return out

    def describe(self) -> dict:
        d = {"mode": self.mode, "note": self.note, "endpoint": self.endpoint,
             "upstream": self.upstream, "measured": getattr(self, "measured", None)}
        if self.link:
            d["netns"] = self.link.describe()
        return d

    def stop(self):
        for p in (getattr(self, "proxy", None), getattr(self, "s3s", None)):
            if p is not None:
                PROCS.stop(p)
        if self.link:
            self.link.destroy()


# ------------------------------------------------------------------------------------------------
def s3a_conf(endpoint: str) -> dict:
    """Spark conf for direct S3A against the emulated store at ``endpoint`` (the proxy)."""
    p = "spark.hadoop.fs.s3a."
    return {
        p + "endpoint": endpoint,
        p + "endpoint.region": REGION,
        p + "path.style.access": "true",
        p + "connection.ssl.enabled": "false",
        p + "access.key": ACCESS_KEY,
        p + "secret.key": SECRET_KEY,
        p + "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    }


def workload_command(venv: Path, master: str, jars: list, conf: dict, workload_args: list,
                     quick: bool = False, driver_memory: str = "3g", java_opts=()) -> list:
    """spark-submit of workload.py with the harness's settings (quiet log4j, no UI, 4 shuffle
    partitions, the venv's Python for the workers); ``conf`` wins over them, an empty value
    leaves a key out. Also used by scripts/demo.py."""
    opts = [f"-Dlog4j2.configurationFile=file:{LOG4J}"] if LOG4J.exists() else []
    if quick:
        # --quick checks that the harness runs, not how fast: applications of a few seconds
        # spend much of their CPU in the C2 compiler, so stop at C1.
        opts += QUICK_JAVA_OPTS
    base_conf = {
        "spark.ui.enabled": "false",
        "spark.driver.memory": driver_memory,
        "spark.sql.shuffle.partitions": "4",
        "spark.pyspark.python": str(venv / "bin" / "python"),
        "spark.driver.extraJavaOptions": " ".join(opts + list(java_opts)),
    }
    cmd = [str(venv / "bin" / "spark-submit"), "--master", master]
    if jars:
        cmd += ["--jars", ",".join(jars)]
    for k, v in {**base_conf, **conf}.items():
        if v != "":
            cmd += ["--conf", f"{k}={v}"]
    cmd += [str(HERE / "workload.py"), *workload_args]
    if quick:
        cmd += ["--no-warm-up"]
    return cmd


def spark_env(venv: Path) -> dict:
    """The environment for spark-submit from ``venv``: its bin first on PATH, its Python."""
    env = dict(os.environ)
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    env["PYSPARK_PYTHON"] = str(venv / "bin" / "python")
    env.pop("SPARK_HOME", None)
    return env


def jars_for(venv_name: str):
    """(hadoop version, [hadoop-aws + SDK jars]) for the Spark venv, from .tools/bench/jars."""
    jars_dir = next((VENVS[venv_name] / "lib").glob("python3*/site-packages/pyspark/jars"), None)
    if jars_dir is None:
        return None, []
    api = sorted(jars_dir.glob("hadoop-client-api-*.jar"))
    if not api:
        return None, []
    ver = api[0].name[len("hadoop-client-api-"):-4]
    d = BENCH_TOOLS / "jars" / f"s3a-hadoop{ver}"
    return ver, sorted(str(p) for p in d.glob("*.jar"))


def spark_version(venv: Path) -> str:
    try:
        return subprocess.run([str(venv / "bin" / "python"), "-c",
                               "import pyspark; print(pyspark.__version__)"],
                              capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception:
        return "?"


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work_dir).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.records = []
        self.failures = {}
        self.skipped = {}
        self.epochs_file = self.work / "epochs.jsonl"
        self.epochs_file.unlink(missing_ok=True)

    # -- data ------------------------------------------------------------------------------------
    def dataset(self):
        a = self.args
        images, classes = a.images, a.classes
        store = self.work / f"store-{images}-{classes}-s{a.seed}"
        info_path = store / "dataset.json"
        if info_path.exists():
            info = json.loads(info_path.read_text())
            log(f"dataset: reusing {store} ({info['images']} JPEGs, "
                f"{info['jpeg_bytes'] / 1e6:.1f} MB)")
        else:
            shutil.rmtree(store, ignore_errors=True)
            tmp = store.with_name(store.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            log(f"generating {images} images in {classes} classes")
            info = generate(tmp / BUCKET, images=images, classes=classes, seed=a.seed,
                            rows_per_shard=a.rows_per_shard)
            (tmp / BUCKET / "dataset.json").rename(tmp / "dataset.json")
            tmp.rename(store)
        seeded = s3store.seed_etags(store, BUCKET)
        if seeded["written"]:
            log(f"dataset: stored the ETags of {seeded['written']} objects for s3s-fs "
                "(as an upload would; see s3store.py)")
        self.store_root = store
        self.data_info = info
        return info

    # -- configurations --------------------------------------------------------------------------
    def config_spec(self, name: str):
        """(venv name, jars, conf, jpeg uri, parquet uri, extra workload args) or raises Skip."""
        s3_jpeg, s3_pq = f"s3a://{BUCKET}/imagenet", f"s3a://{BUCKET}/parquet"
        if name in ("s3a", "alluxio", "local"):
            ver, jars = jars_for("spark35")
            if not jars:
                raise Skip(f"hadoop-aws {ver} jars missing in .tools/bench/jars: run benchmarks/setup.sh")
        if name == "s3a":
            return "spark35", jars, s3a_conf(self.store.endpoint), s3_jpeg, s3_pq, []
        if name == "s3a-prefetch":
            if not (VENVS["spark4"] / "bin" / "spark-submit").exists():
                raise Skip(".tools/spark4 (Spark 4) is not installed")
            ver, jars = jars_for("spark4")
            if not jars or not any("hadoop-aws" in j for j in jars):
                raise Skip(f"hadoop-aws {ver} jars missing in .tools/bench/jars: run benchmarks/setup.sh")
            conf = s3a_conf(self.store.endpoint)
            # Hadoop 3.4.0/3.4.1 spell it prefetch.enabled; 3.4.2+ / 3.5 pick a stream type
            conf["spark.hadoop.fs.s3a.prefetch.enabled"] = "true"
            conf["spark.hadoop.fs.s3a.input.stream.type"] = "prefetch"
            return "spark4", jars, conf, s3_jpeg, s3_pq, []
        if name == "alluxio":
            ajars = sorted(str(p) for p in (BENCH_TOOLS / "jars" / "alluxio").glob("*.jar"))
            if not any("alluxio-shaded-client" in j for j in ajars) or \
                    not any("shoal-bench-alluxio" in j for j in ajars):
                raise Skip("Alluxio client jars missing in .tools/bench/jars/alluxio: run "
                           "benchmarks/setup.sh")
            cache = self.work / "cache" / "alluxio"
            conf = s3a_conf(self.store.endpoint)
            a = "spark.hadoop.alluxio.user.client.cache."
            conf.update({
                "spark.hadoop.fs.s3a.impl": "io.shoal.bench.AlluxioCachedS3AFileSystem",
                "spark.hadoop.fs.s3a.impl.disable.cache": "false",
                a + "enabled": "true",
                a + "store.type": "LOCAL",
                a + "dirs": str(cache),
                a + "size": self.args.cache_size.upper() + "B",
                a + "page.size": self.args.page_size.upper() + "B",
                # restore the pages a previous application left before reading (trials)
                a + "async.restore.enabled": "false",
                "spark.hadoop.alluxio.user.metrics.collection.enabled": "false",
            })
            return "spark35", jars + ajars, conf, s3_jpeg, s3_pq, []
        if name == "shoal":
            if not SHOAL_JAR.exists():
                raise Skip(f"{SHOAL_JAR} is not built (gradle --no-daemon jar)")
            cache = self.work / "cache" / "shoal"
            m = "spark.hadoop.shoal.mount.bench."
            conf = {
                # spark-submit looks FileSystems up before it adds --jars: name the class
                "spark.hadoop.fs.shoal.impl": "io.shoal.hadoop.ShoalFileSystem",
                m + "path": "/data",
                m + "uri": f"s3://{BUCKET}",
                m + "readonly": "true",
                m + "option.aws_endpoint": self.store.endpoint,
                m + "option.aws_access_key_id": ACCESS_KEY,
                m + "option.aws_secret_access_key": SECRET_KEY,
                m + "option.aws_region": REGION,
                m + "option.aws_allow_http": "true",
                "spark.hadoop.shoal.cache.dirs": f"{cache}:{self.args.cache_size}",
                "spark.hadoop.shoal.cache.memory.size": self.args.shoal_memory,
                "spark.hadoop.shoal.cache.page.size": self.args.page_size,
            }
            for kv in self.args.shoal_conf:
                k, v = kv.split("=", 1)
                conf[k if k.startswith("spark.") else "spark.hadoop." + k] = v
            return ("spark35", [str(SHOAL_JAR)], conf, "shoal:///data/imagenet",
                    "shoal:///data/parquet", [])
        if name == "local":
            dst = self.work / "localcopy"
            return ("spark35", jars, s3a_conf(self.store.endpoint), f"file://{dst}/imagenet",
                    f"file://{dst}/parquet",
                    ["--copy-from", f"s3a://{BUCKET}/", "--copy-to", f"file://{dst}"])
        raise ValueError(name)

    def reset_cold(self, name: str):
        """Before a configuration's first application: an empty cache (a cold start)."""
        if name in CACHED:
            d = self.work / "cache" / name
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True, exist_ok=True)
        if name == "local":
            shutil.rmtree(self.work / "localcopy", ignore_errors=True)
            (self.work / "localcopy").mkdir(parents=True)

    # -- running ---------------------------------------------------------------------------------
    def run_app(self, name: str, scenario: str, epochs: int, first_epoch: int, formats: str,
                spec) -> dict:
        venv_name, jars, conf, jpeg, pq, extra = spec
        venv = VENVS[venv_name]
        logf = self.work / "logs" / f"{scenario}-{name}-{first_epoch}.log"
        logf.parent.mkdir(parents=True, exist_ok=True)
        args = ["--config", name, "--scenario", scenario, "--out", str(self.epochs_file),
                "--formats", formats, "--epochs", str(epochs), "--first-epoch", str(first_epoch),
                "--expect-images", str(self.data_info["images"]),
                "--proxy-pid", str(self.store.proxy.pid),
                "--proxy-stats", str(self.store.stats_file),
                "--link-pids", f"{self.store.proxy.pid},{self.store.s3s.pid}"]
        if jpeg:
            args += ["--jpeg", jpeg]
        if pq:
            args += ["--parquet", pq]
        cmd = workload_command(venv, self.args.master, jars, conf, args + extra,
                               quick=self.args.quick, driver_memory=self.args.driver_memory)
        env = spark_env(venv)
        t0 = time.monotonic()
        with open(logf, "w") as out:
            out.write(" ".join(c if "secret" not in c else c.split("=")[0] + "=***" for c in cmd)
                      + "\n\n")
            out.flush()
            p = PROCS.start(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                            stdin=subprocess.DEVNULL, cwd=str(self.work))
            try:
                rc = p.wait(timeout=self.args.app_timeout)
            except subprocess.TimeoutExpired:
                PROCS.stop(p)
                rc = "timeout"
            PROCS.stop(p)
        wall = time.monotonic() - t0
        if rc != 0:
            tail = logf.read_text(errors="replace")[-3000:]
            raise AppFailed(f"{name}/{scenario} app exited {rc} after {wall:.0f}s; log {logf}:\n"
                            f"{tail}")
        return {"wall_seconds": round(wall, 2), "log": str(logf)}

    def run_config(self, name: str, scenario: str):
        a = self.args
        try:
            spec = self.config_spec(name)
        except Skip as s:
            log(f"SKIP {name}: {s}")
            self.skipped[name] = str(s)
            return
        self.reset_cold(name)
        # --quick: one epoch is enough where there is no cache to warm
        epochs = 1 if a.quick and name not in CACHED else a.epochs
        apps = [(epochs, 0)] if scenario == "epochs" else [(1, t) for t in range(a.trials)]
        for epochs, first in apps:
            log(f"{scenario}: {name} " + (f"{epochs} epochs" if scenario == "epochs"
                                          else f"trial {first + 1}/{a.trials}"))
            formats = a.formats if scenario == "epochs" else a.trial_formats
            try:
                app = self.run_app(name, scenario, epochs, first, formats, spec)
            except AppFailed as e:
                log(f"FAILED {e}")
                self.failures[f"{scenario}/{name}"] = str(e)[:4000]
                return
            self.app_walls.append({"config": name, "scenario": scenario, "first_epoch": first,
                                   **app})

    def run(self):
        a = self.args
        self.app_walls = []
        t_all = time.monotonic()
        self.dataset()
        self.store = RemoteStore(self.store_root, PRESETS[a.preset], self.work,
                                 use_netns=not a.no_netns)
        try:
            self.store.start()
            names = a.configs.split(",")
            for scenario in a.scenarios.split(","):
                if a.parallel > 1:
                    # --quick: several configurations at once (their times then mean even less)
                    from concurrent.futures import ThreadPoolExecutor
                    with ThreadPoolExecutor(a.parallel) as ex:
                        list(ex.map(lambda n, sc=scenario: self.run_config(n, sc), names))
                else:
                    for name in names:
                        self.run_config(name, scenario)
        finally:
            self.store.stop()
        self.total_seconds = time.monotonic() - t_all
        return self.report()

    # -- results ---------------------------------------------------------------------------------
    def load_records(self):
        recs = []
        if self.epochs_file.exists():
            for line in self.epochs_file.read_text().splitlines():
                if line.strip():
                    recs.append(json.loads(line))
        return recs

    def report(self) -> dict:
        import report

        recs = self.load_records()
        results = {
            "title": "Shoal vs peers: Spark loading an ImageNet-shaped training set from S3",
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(["benchmarks/run.sh"] + self.args.argv),
            "machine": machine(),
            "settings": self.settings(),
            "link": self.store.describe(),
            "dataset": self.data_info,
            "records": recs,
            "apps": self.app_walls,
            "skipped": self.skipped,
            "failures": self.failures,
            "total_seconds": round(self.total_seconds, 1),
        }
        results["table"] = report.summarize(recs, self.args.configs.split(","),
                                            PRESETS[self.args.preset]["link_mbit"] or None)
        results["targets"] = report.targets(results["table"], self.args.preset)
        results["copy"] = [r for r in recs if r.get("kind") == "copy"]
        out = Path(self.args.results_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = out / self.args.results_name
        stem.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
        report.write_csv(results, stem.with_suffix(".csv"))
        chart = None
        try:
            chart = report.chart(results, stem.with_suffix(".png"))
        except Exception as e:  # matplotlib missing: the table still stands
            log(f"no chart: {e}")
        text = report.render(results, chart)
        stem.with_suffix(".md").write_text(text)
        print(text, flush=True)
        log(f"results: {stem}.json, .csv, .md" + (", .png" if chart else ""))
        return results

    def settings(self) -> dict:
        a = self.args
        p = dict(PRESETS[a.preset])
        return {"preset": a.preset, "link": p, "size": a.size, "images": a.images,
                "classes": a.classes, "epochs": a.epochs, "trials": a.trials,
                "formats": a.formats, "trial_formats": a.trial_formats, "scenarios": a.scenarios, "configs": a.configs,
                "master": a.master, "driver_memory": a.driver_memory,
                "parallel_apps": a.parallel,
                "java_opts": QUICK_JAVA_OPTS if a.quick else [],
                "cache_size": a.cache_size, "page_size": a.page_size,
                "shoal_memory": a.shoal_memory, "shoal_conf": a.shoal_conf,
                "quick": a.quick, "seed": a.seed, "rows_per_shard": a.rows_per_shard,
                "alluxio_client": [p.name for p in (BENCH_TOOLS / "jars" / "alluxio").glob("*.jar")],
                "s3a_jars": {v: [Path(j).name for j in jars_for(v)[1]] for v in VENVS},
                "hadoop": {v: jars_for(v)[0] for v in VENVS},
                "spark": {v: spark_version(VENVS[v]) for v in VENVS if VENVS[v].exists()},
                # $SHOAL_JAR may lie outside the repository (a jar of another commit, kept aside)
                "shoal_jar": os.path.relpath(SHOAL_JAR, REPO) if SHOAL_JAR.exists() else None,
                "shoal_jar_mtime": dt.datetime.fromtimestamp(SHOAL_JAR.stat().st_mtime)
                .isoformat(timespec="seconds") if SHOAL_JAR.exists() else None,
                "shoal_commit": git_rev()}


class Skip(Exception):
    pass


class AppFailed(Exception):
    pass


def git_rev():
    try:
        r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "native",
                                "jvm"], capture_output=True, text=True, timeout=10).stdout.strip()
        return r.stdout.strip() + ("+dirty" if dirty else "")
    except Exception:
        return None


def machine() -> dict:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "kernel": platform.release(),
            "os": platform.platform(), "python": platform.python_version(),
            "java": java[0] if java else "?", "hostname": platform.node(),
            "load_avg_at_end": os.getloadavg()}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="tiny dataset, JPEG only, epochs scenario, 2 epochs for the cached "
                         "configurations (cold, warm) and 1 for the others, no warm-up before the "
                         "first epoch: checks the harness runs, its times mean little; results go "
                         "to benchmarks/results/tmp/quick")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="same-region")
    ap.add_argument("--size", default=None,
                    help=f"dataset size: {', '.join(f'{k} ({v[0]} images)' for k, v in SIZES.items())}"
                         " or a number of images (default small; tiny with --quick)")
    ap.add_argument("--classes", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None, help="epochs per application (default 4)")
    ap.add_argument("--trials", type=int, default=None,
                    help="applications in the trials scenario (default 3)")
    ap.add_argument("--formats", default=None, help="jpeg,parquet (default both; jpeg with --quick)")
    ap.add_argument("--trial-formats", default=None,
                    help="formats of the trials scenario (default jpeg: one app per trial is slow)")
    ap.add_argument("--scenarios", default=None, help="epochs,trials (default both)")
    ap.add_argument("--configs", default=",".join(ALL_CONFIGS))
    ap.add_argument("--no-netns", action="store_true", help="no namespace / tc: the proxy shapes all")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="3g")
    ap.add_argument("--cache-size", default="8g", help="disk cache of Shoal and Alluxio")
    ap.add_argument("--page-size", default="1m", help="cache page size of Shoal and Alluxio")
    ap.add_argument("--shoal-memory", default="1g", help="shoal.cache.memory.size")
    ap.add_argument("--shoal-conf", action="append", default=[], metavar="KEY=VALUE",
                    help="extra Shoal setting (shoal.* keys get spark.hadoop.), repeatable")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows-per-shard", type=int, default=256)
    ap.add_argument("--app-timeout", type=int, default=None, help="seconds per Spark application")
    ap.add_argument("--parallel", type=int, default=None,
                    help="Spark applications run at once (default 1; 2 with --quick, whose times "
                         "are then not comparable between configurations)")
    ap.add_argument("--work-dir", default=None, help="default benchmarks/results/tmp/work")
    ap.add_argument("--results-dir", default=None)
    ap.add_argument("--results-name", default=None, help="file stem (default PRESET-SIZE)")
    a = ap.parse_args(argv)
    a.argv = list(argv)
    a.size = a.size or ("tiny" if a.quick else "small")
    if a.size in SIZES:
        a.images, classes = SIZES[a.size]
    else:
        try:
            a.images, classes = int(a.size), max(2, min(100, int(a.size) // 100))
        except ValueError:
            ap.error(f"--size: {a.size!r} is neither {'/'.join(SIZES)} nor a number")
    a.classes = a.classes or classes
    a.epochs = a.epochs or (2 if a.quick else 4)
    a.trials = a.trials or (2 if a.quick else 3)
    a.formats = a.formats or ("jpeg" if a.quick else "jpeg,parquet")
    a.trial_formats = a.trial_formats or "jpeg"
    a.scenarios = a.scenarios or ("epochs" if a.quick else "epochs,trials")
    a.app_timeout = a.app_timeout or (150 if a.quick else 1200)
    a.parallel = a.parallel or (2 if a.quick else 1)
    tmp = HERE / "results" / "tmp"
    a.work_dir = a.work_dir or str(tmp / ("work-quick" if a.quick else "work"))
    a.results_dir = a.results_dir or str(tmp / "quick" if a.quick else HERE / "results")
    a.results_name = a.results_name or f"{a.preset}-{a.size}"
    for c in a.configs.split(","):
        if c not in ALL_CONFIGS:
            ap.error(f"unknown configuration {c!r}; known: {', '.join(ALL_CONFIGS)}")
    return a


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    bench = Bench(args)
    try:
        results = bench.run()
    finally:
        PROCS.stop_all()
    missing = [c for c in args.configs.split(",")
               if not any(r.get("config") == c and r.get("kind") == "epoch" for r in results["records"])]
    if missing:
        log(f"configurations without results: {', '.join(missing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
