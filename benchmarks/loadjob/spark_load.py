#!/usr/bin/env python3
"""The Spark load job (`ShoalTool load`) of many small files from a local S3 server, jar against
jar in the same run: wall time, object GETs and how many were in flight at once.

    benchmarks/loadjob/spark_load.py --jar before=/path/main.jar --jar after=build/libs/shoal-0.1.0.jar \
        --files 2000 --rounds 2

The dataset (ImageNet-shaped sizes: 2 KB to 110 KB) sits in s3s-fs on 127.0.0.1 behind the
harness's delay proxy (`delayproxy.py`: --rtt-ms per request, --conn-mbit per connection; the
`same-region` preset's 5 ms and 1 Gbit/s by default), a new proxy per run, so each run's counts
are its own. Each run is a new Spark application (`--master`, local[4] by default) with an empty
cache directory, running `spark-submit --class io.shoal.spark.ShoalTool JAR load --json
shoal:///data`; the jars take turns within each round. Reported per run: the load's own seconds
(from its summary, without Spark's start), spark-submit's seconds, object GETs and the peak of
object GETs in flight at once (both counted by the proxy), and the progress lines the driver
printed. Results go to --out (markdown and JSON).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(HERE))

import delayproxy  # noqa: E402
from s3server import S3Server  # noqa: E402
from s3store import seed_etags  # noqa: E402

BUCKET = "loadjob"


def make_dataset(root: Path, files: int, seed: int = 11) -> int:
    rnd = random.Random(seed)
    total = 0
    for i in range(files):
        n = rnd.randint(2_000, 110_000)
        p = root / BUCKET / "data" / f"class{i % 50:02d}" / f"img{i:06d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rnd.randbytes(n))
        total += n
    seed_etags(root, BUCKET)
    return total


def start_proxy(upstream: str, rtt_ms: float, conn_mbit: float, work: Path, name: str):
    stats = work / f"{name}.stats.json"
    try:
        proc, endpoint = delayproxy.start(upstream, work / f"{name}.proxy.json", stats,
                                          "--rtt-ms", str(rtt_ms), "--conn-mbit", str(conn_mbit))
    except RuntimeError as e:
        raise SystemExit(str(e))
    return proc, endpoint, stats


def run_one(args, s3: S3Server, work: Path, label: str, jar: str, rnd: int) -> dict:
    name = f"{label}-{rnd}"
    proxy, endpoint, stats_file = start_proxy(s3.endpoint.replace("http://", ""), args.rtt_ms,
                                              args.conn_mbit, work, name)
    cache = work / f"cache-{name}"
    cache.mkdir()
    conf = {
        "spark.master": args.master,
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.local.dir": str(work / "spark-local"),
        "spark.driver.memory": "1g",
        "spark.hadoop.shoal.mount.data.path": "/data",
        "spark.hadoop.shoal.mount.data.uri": f"s3://{BUCKET}/data",
        "spark.hadoop.shoal.mount.data.option.aws_endpoint": endpoint,
        "spark.hadoop.shoal.mount.data.option.aws_access_key_id": s3.access_key,
        "spark.hadoop.shoal.mount.data.option.aws_secret_access_key": s3.secret_key,
        "spark.hadoop.shoal.mount.data.option.aws_region": s3.region,
        "spark.hadoop.shoal.mount.data.option.aws_allow_http": "true",
        "spark.hadoop.shoal.mount.data.immutable": "true",
        "spark.hadoop.shoal.cache.dirs": f"{cache}:4g",
        "spark.hadoop.shoal.cache.memory.size": "0",
        "spark.executor.heartbeatInterval": "2s",
    }
    cmd = [str(Path(args.venv) / "bin" / "spark-submit")]
    for k, v in conf.items():
        cmd += ["--conf", f"{k}={v}"]
    cmd += ["--class", "io.shoal.spark.ShoalTool", jar, "load", "--json", "shoal:///data"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPARK_HOME", "PYTHONPATH", "SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS")}
    env["PATH"] = f"{Path(args.venv) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    if not env.get("JAVA_HOME") and Path("/usr/lib/jvm/java-17-openjdk-amd64").is_dir():
        env["JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"
    log = work / f"{name}.log"
    t0 = time.time()
    with open(log, "w") as err:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, env=env, text=True,
                              timeout=args.timeout)
    submit_s = time.time() - t0
    proxy.send_signal(signal.SIGTERM)
    proxy.wait(timeout=30)
    stats = json.loads(stats_file.read_text())
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{name}: spark-submit exited {proc.returncode}; see {log}")
    summary = json.loads(lines[-1])
    progress = [ln.strip() for ln in log.read_text(errors="replace").splitlines()
                if "Shoal load [" in ln]
    return {
        "jar": label, "round": rnd, "load_s": summary["seconds"], "submit_s": round(submit_s, 2),
        "files": summary["files"], "fetched_bytes": summary["fetched_bytes"],
        "failures": len(summary["failures"]),
        "object_gets": stats["requests_by_kind"].get("GET object", 0),
        "heads": stats["requests_by_kind"].get("HEAD object", 0),
        "peak_gets_in_flight": stats.get("object_gets_in_flight_peak"),
        "progress_lines": progress,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jar", action="append", required=True, help="LABEL=PATH, in turn order")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--master", default="local[4]")
    ap.add_argument("--rtt-ms", type=float, default=5.0)
    ap.add_argument("--conn-mbit", type=float, default=1000.0)
    ap.add_argument("--venv", default=str(REPO / ".tools" / "spark35"))
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    jars = [j.split("=", 1) for j in args.jar]
    with tempfile.TemporaryDirectory(prefix="shoal-loadjob-") as tmp:
        work = Path(tmp)
        store = work / "store"
        total = make_dataset(store, args.files)
        print(f"dataset: {args.files} files, {total / 1e6:.1f} MB", flush=True)
        runs = []
        with S3Server(store, log_path=work / "s3s-fs.log") as s3:
            for rnd in range(1, args.rounds + 1):
                for label, jar in jars:
                    r = run_one(args, s3, work, label, jar, rnd)
                    runs.append(r)
                    print(f"round {rnd} {label}: load {r['load_s']:.2f} s (spark-submit "
                          f"{r['submit_s']:.1f} s), {r['object_gets']} GETs, peak in flight "
                          f"{r['peak_gets_in_flight']}, {len(r['progress_lines'])} progress "
                          f"lines, {r['failures']} failed", flush=True)
    stamp = time.strftime("%Y-%m-%dT%H%M%S")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    meta = {"files": args.files, "bytes": total, "master": args.master, "rtt_ms": args.rtt_ms,
            "conn_mbit": args.conn_mbit, "loadavg": load, "jars": dict(jars)}
    (out / f"loadjob-{stamp}.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    md = [f"# Spark load job, {args.files} files ({total / 1e6:.1f} MB), {args.master}, "
          f"{args.rtt_ms:g} ms per request, {args.conn_mbit:g} Mbit/s per connection",
          "", f"Load average at the end: {load[0]:.1f}. Jars: " +
          ", ".join(f"{k} = `{v}`" for k, v in jars) + ".", "",
          "| round | jar | load s | spark-submit s | object GETs | peak GETs in flight "
          "| progress lines |", "|---:|---|---:|---:|---:|---:|---:|"]
    for r in runs:
        md.append(f"| {r['round']} | {r['jar']} | {r['load_s']:.2f} | {r['submit_s']:.1f} | "
                  f"{r['object_gets']} | {r['peak_gets_in_flight']} | "
                  f"{len(r['progress_lines'])} |")
    if len(jars) == 2:
        a, b = jars[0][0], jars[1][0]
        ratios = [ra["load_s"] / rb["load_s"] for ra, rb in
                  zip([r for r in runs if r["jar"] == a], [r for r in runs if r["jar"] == b])]
        md += ["", f"Load time {a} / {b}, per round: " +
               ", ".join(f"{x:.2f}x" for x in ratios)]
    md += ["", "Progress lines of the last run of each jar:", ""]
    for label, _ in jars:
        last = [r for r in runs if r["jar"] == label][-1]
        md += [f"- {label}:"] + [f"  - `{ln}`" for ln in last["progress_lines"][-8:]]
    (out / f"loadjob-{stamp}.md").write_text("\n".join(md) + "\n")
    print(out / f"loadjob-{stamp}.md")


if __name__ == "__main__":
    main()
