"""The benchmark's Spark application: load an image-classification training set (train + test) for
several epochs, reading and decoding every image with Pillow, and record each epoch's load time.

This is the data-loading half of the Alluxio + Analytics Zoo experiment (ImageNet from S3 into a
Spark training job). It is run by bench.py with spark-submit; each run is one Spark application.
In the "trials" scenario bench.py starts one application per epoch (hyper-parameter search).

    spark-submit [--jars ...] [--conf ...] workload.py --config NAME --out epochs.jsonl \
        --jpeg URI --parquet URI [--formats jpeg,parquet] [--epochs 4] [--scenario epochs]
        [--copy-from URI --copy-to DIR]

--jpeg URI: a directory with train/<class>/*.JPEG and test/<class>/*.JPEG (read with Spark's
binaryFile source, the label is the class directory). --parquet URI: train/ and test/ directories
of Parquet shards with image bytes + label (Analytics Zoo's ParquetDataset). Every image is decoded
(PIL, converted to RGB) in Python workers; the epoch's time covers listing, reading and decoding.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Shoal's counters as the example pipeline reads them (None where Shoal is not loaded)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from image_pipeline import cache_share, shoal_counters  # noqa: E402


def drop_spark_zip_paths():
    """Takes PySpark's own archives (pyspark.zip, py4j's zip, the spark-core jar) off this Python
    worker's import path, once per worker.

    Spark puts them on every worker's PYTHONPATH, and before each task the worker calls
    importlib.invalidate_caches(); on Python 3.11 that makes zipimport re-read the directory of
    every archive on the path at once, the spark-core jar (15 MB, 5,221 entries) included: about
    0.17 s of CPU per task, whatever the task reads (5.0 s for 40 empty tasks on two cores, 1.6 s
    without). The modules the worker needs are imported already, so it loses nothing. Every
    configuration gets the same: this is Python worker overhead, not data loading.
    """
    import sys

    marks = ("/pyspark/python/lib/", "/pyspark/jars/", "/python/lib/pyspark.zip",
             "/python/lib/py4j-")
    drop = tuple(p for p in sys.path if p.endswith((".zip", ".jar")) and any(m in p for m in marks))
    if not drop:
        return
    sys.path[:] = [p for p in sys.path if p not in drop]
    for k in [k for k in sys.path_importer_cache if k.startswith(drop)]:
        del sys.path_importer_cache[k]


def decode_batches(batches):
    """mapInPandas: decode every image of each batch; yields (width, height, nbytes) per image."""
    import io

    drop_spark_zip_paths()
    import pandas as pd
    from PIL import Image

    for pdf in batches:
        ws, hs, ns = [], [], []
        for b in pdf["content"]:
            with Image.open(io.BytesIO(b)) as im:
                rgb = im.convert("RGB")  # forces the full decode
                ws.append(rgb.width)
                hs.append(rgb.height)
            ns.append(len(b))
        yield pd.DataFrame({"w": ws, "h": hs, "n": ns, "label": pdf["label"].values})


def load_split(spark, fmt: str, uri: str) -> dict:
    from pyspark.sql import functions as F

    if fmt == "jpeg":
        df = (spark.read.format("binaryFile")
              .option("recursiveFileLookup", "true")
              .option("pathGlobFilter", "*.JPEG")
              .load(uri)
              .select(F.regexp_extract("path", r"/([^/]+)/[^/]+$", 1).alias("label"), "content"))
    elif fmt == "parquet":
        df = (spark.read.parquet(uri)
              .select(F.col("label").cast("string").alias("label"), F.col("image").alias("content")))
    else:
        raise ValueError(fmt)
    decoded = df.mapInPandas(decode_batches, schema="w int, h int, n long, label string")
    row = decoded.agg(F.count(F.lit(1)).alias("images"), F.sum("n").alias("bytes"),
                      F.sum(F.col("w").cast("long") * F.col("h")).alias("pixels"),
                      F.countDistinct("label").alias("labels")).collect()[0]
    return {k: int(row[k] or 0) for k in ("images", "bytes", "pixels", "labels")}


def warm_up(spark, formats):
    """Starts the Python workers, loads Pillow on in-memory images, and runs each format's read
    path once on a few local files, so that the first epoch measures loading data from the store,
    not process start-up or the JIT compiling Spark's readers (every configuration gets the same;
    without it the first epoch of the local copy took 5.8 s against 2.7-3.2 s for the next ones).
    """
    import io
    import shutil
    import tempfile

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(buf, format="JPEG")
    jpeg = buf.getvalue()
    rows = [(str(i % 2), bytearray(jpeg)) for i in range(64)]
    df = spark.createDataFrame(rows, "label string, content binary")  # 2 partitions in local[2]
    df.mapInPandas(decode_batches, schema="w int, h int, n long, label string").count()
    d = tempfile.mkdtemp(prefix="shoal-bench-warm-up-")
    try:
        for label in ("a", "b"):
            os.makedirs(os.path.join(d, "jpeg", label))
            for i in range(8):
                with open(os.path.join(d, "jpeg", label, f"{label}_{i}.JPEG"), "wb") as f:
                    f.write(jpeg)
        if "parquet" in formats:  # (writing it is a job of its own: only where it is read)
            spark.createDataFrame([(f"{i}.JPEG", bytearray(jpeg), i % 2) for i in range(16)],
                                  "filename string, image binary, label int") \
                .coalesce(1).write.parquet(f"file://{d}/parquet")
        for fmt in formats:
            load_split(spark, fmt, f"file://{d}/{fmt}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def copy_tree(spark, src: str, dst: str, threads: int = 8) -> dict:
    """distcp practice: copy every file under ``src`` to ``dst`` with ``threads`` parallel copiers
    (Hadoop FileUtil.copy through the JVM; like distcp with that many maps)."""
    from concurrent.futures import ThreadPoolExecutor

    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    Path = jvm.org.apache.hadoop.fs.Path
    src_path, dst_path = Path(src), Path(dst)
    src_fs, dst_fs = src_path.getFileSystem(conf), dst_path.getFileSystem(conf)
    t0 = time.monotonic()
    files = []
    it = src_fs.listFiles(src_path, True)
    base = src_fs.makeQualified(src_path).toString().rstrip("/")
    while it.hasNext():
        st = it.next()
        p = st.getPath().toString()
        files.append((p, p[len(base):].lstrip("/"), st.getLen()))
    listed = time.monotonic()

    def one(f):
        s, rel, _ = f
        jvm.org.apache.hadoop.fs.FileUtil.copy(src_fs, Path(s), dst_fs, Path(dst_path, rel), False,
                                               conf)

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, files))
    return {"files": len(files), "bytes": sum(f[2] for f in files),
            "list_seconds": round(listed - t0, 3), "seconds": round(time.monotonic() - t0, 3),
            "threads": threads}


def link_traffic(pid: int, stats_file: str, timeout: float = 10.0):
    """The delay proxy's counters so far (it writes them to `stats_file` when it gets
    SIGUSR1): bytes that crossed the link (down + up) and requests by kind ("GET object",
    "GET bucket" for a listing, "HEAD object", ...). None when there is no proxy to ask."""
    import signal

    if not pid or not stats_file:
        return None

    def read():
        try:
            with open(stats_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    last = (read() or {}).get("written", 0)
    try:
        os.kill(pid, signal.SIGUSR1)
    except OSError:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = read()
        if st and st.get("written", 0) > last:
            return {"bytes": st.get("bytes_down", 0) + st.get("bytes_up", 0),
                    "requests": dict(st.get("requests_by_kind", {}))}
        time.sleep(0.01)
    return None


def cpu_now(link_pids) -> dict:
    """CPU seconds used so far by the whole machine (every core's busy time, from /proc/stat)
    and by the emulated link's processes (the delay proxy and the S3 server, which a real
    node would not run), for `cpu_between`."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = sum(v) - v[3] - (v[4] if len(v) > 4 else 0)  # all but idle and iowait
    if not link_pids:
        return {"machine": busy / tick, "link": None}
    link = 0
    for pid in link_pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            link += int(fields[11]) + int(fields[12])  # utime, stime (every thread)
        except (OSError, IndexError, ValueError):
            return {"machine": busy / tick, "link": None}
    return {"machine": busy / tick, "link": link / tick}


def cpu_between(before, after) -> dict:
    """CPU seconds of an epoch: the machine's, the emulated link's, and the rest (Spark, its
    Python workers and the cache under test; anything else running on the machine too)."""
    machine = after["machine"] - before["machine"]
    if before["link"] is None or after["link"] is None:
        return {"cpu_machine": round(machine, 2), "cpu_link": None, "cpu_app": None}
    link = after["link"] - before["link"]
    return {"cpu_machine": round(machine, 2), "cpu_link": round(link, 2),
            "cpu_app": round(machine - link, 2)}


def traffic_between(before, after) -> dict:
    """What crossed the link between two `link_traffic` readings: bytes, and requests by kind
    (every request of the application, metadata and data, as the store saw them)."""
    if None in (before, after):
        return {"link_bytes": None, "link_requests": None}
    kinds = set(before["requests"]) | set(after["requests"])
    requests = {k: after["requests"].get(k, 0) - before["requests"].get(k, 0) for k in sorted(kinds)}
    return {"link_bytes": after["bytes"] - before["bytes"],
            "link_requests": {k: n for k, n in requests.items() if n}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="configuration name, recorded with the times")
    ap.add_argument("--scenario", default="epochs", choices=["epochs", "trials"])
    ap.add_argument("--out", required=True, help="JSON lines file the epoch records are appended to")
    ap.add_argument("--jpeg", help="URI of the JPEG tree (train/, test/)")
    ap.add_argument("--parquet", help="URI of the Parquet shards (train/, test/)")
    ap.add_argument("--formats", default="jpeg,parquet")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--first-epoch", type=int, default=0, help="index of the first epoch (trials)")
    ap.add_argument("--expect-images", type=int, default=0, help="fail unless train+test has this many")
    ap.add_argument("--copy-from", help="copy this tree to --copy-to first (the local-copy config)")
    ap.add_argument("--copy-to")
    ap.add_argument("--copy-threads", type=int, default=8)
    ap.add_argument("--proxy-pid", type=int, default=0,
                    help="the delay proxy's pid: each epoch records the bytes it moved")
    ap.add_argument("--proxy-stats", default="", help="the file the delay proxy writes")
    ap.add_argument("--link-pids", default="",
                    help="pids of the emulated link (proxy, S3 server), comma-separated: each "
                         "epoch records their CPU time apart from the machine's")
    ap.add_argument("--no-warm-up", action="store_true",
                    help="skip the warm-up (--quick: the first epoch then includes worker start-up)")
    args = ap.parse_args(argv)

    from pyspark.sql import SparkSession

    t_start = time.monotonic()
    spark = SparkSession.builder.appName(f"shoal-bench-{args.config}-{args.scenario}").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    started = time.monotonic() - t_start

    def emit(rec):
        rec.update({"config": args.config, "scenario": args.scenario, "pid": os.getpid()})
        with open(args.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print("BENCH " + json.dumps(rec), flush=True)

    t0 = time.monotonic()
    if not args.no_warm_up:
        warm_up(spark, [f for f in args.formats.split(",") if f])
    emit({"kind": "app", "spark_start_seconds": round(started, 3),
          "warm_up_seconds": round(time.monotonic() - t0, 3),
          "spark_version": spark.version,
          "hadoop_version": spark._jvm.org.apache.hadoop.util.VersionInfo.getVersion()})
    if args.copy_from:
        marker = os.path.join(args.copy_to.replace("file://", ""), "_COPIED")
        if os.path.exists(marker):
            emit({"kind": "copy", "skipped": True})
        else:
            rec = copy_tree(spark, args.copy_from, args.copy_to, args.copy_threads)
            open(marker, "w").write(json.dumps(rec))
            emit({"kind": "copy", **rec})

    uris = {"jpeg": args.jpeg, "parquet": args.parquet}
    link_pids = [int(p) for p in args.link_pids.split(",") if p]
    for fmt in [f for f in args.formats.split(",") if f]:
        if not uris.get(fmt):
            raise SystemExit(f"--{fmt} is needed for format {fmt}")
        base = uris[fmt].rstrip("/")
        for e in range(args.first_epoch, args.first_epoch + args.epochs):
            counters = shoal_counters(spark)
            moved = link_traffic(args.proxy_pid, args.proxy_stats)
            cpu0 = cpu_now(link_pids)
            began = time.time()
            t0 = time.monotonic()
            train = load_split(spark, fmt, base + "/train")
            test = load_split(spark, fmt, base + "/test")
            secs = time.monotonic() - t0
            cpu = cpu_between(cpu0, cpu_now(link_pids))
            moved_after = link_traffic(args.proxy_pid, args.proxy_stats)
            total = train["images"] + test["images"]
            emit({"kind": "epoch", "format": fmt, "epoch": e, "seconds": round(secs, 4),
                  "began": round(began, 3),
                  "train_images": train["images"], "test_images": test["images"],
                  "bytes": train["bytes"] + test["bytes"],
                  "pixels": train["pixels"] + test["pixels"], "labels": train["labels"],
                  # bytes that crossed the link during the epoch (both ways; prefetches that
                  # outlive the epoch are counted in the next one), and the requests by kind
                  **traffic_between(moved, moved_after),
                  # CPU seconds during the epoch: the machine's, the emulated link's, the rest
                  **cpu,
                  # Shoal only: bytes from its cache and from the store, store GETs, hit ratio
                  "shoal": cache_share(counters, shoal_counters(spark))})
            if args.expect_images and total != args.expect_images:
                raise SystemExit(f"{args.config}/{fmt} epoch {e}: read {total} images, expected "
                                 f"{args.expect_images}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
