"""Spark reads through Shoal exactly the bytes and rows that are in the store, through the
DataFrame API, the RDD API and the plain Hadoop API, with the jar in --jars and no other setting.

One spark-submit per Spark version (conftest's `suite`, jobs/suite.py, which then writes for
test_spark_write.py) reads the dataset through each root with each API, twice on the full-suite
Sparks (the second pass may come from Shoal's cache), and dumps what it saw to JSON; the tests
compare that with the files in the store. Its first access to Shoal is an RDD read (sc.binaryFiles) on Spark 4 and a DataFrame read
on the older ones, where a PySpark job with --jars alone registers the schemes only from its first
DataFrame read (test_registration.py).
"""
from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pyarrow.parquet as pq
import pytest

from conftest import (BUCKET, READ_ROOTS, SUITE, full_only, load_json, spark_submit, tail)

ROOTS = READ_ROOTS


@pytest.fixture(scope="module")
def job(suite):
    return suite


def expected_files(dataset, sub: str) -> dict:
    """relative path (to the dataset root) -> (size, sha256) of the files under <root>/<sub>."""
    root = dataset["data"] if isinstance(dataset, dict) else Path(dataset)
    out = {}
    for p in sorted((root / sub).rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            out[p.relative_to(root).as_posix()] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def section(job, root, key, npass):
    passes = job["read"][root]["passes"]
    if npass >= len(passes):
        pytest.skip(f"one pass on {job['spark_version']} (the smoke subset)")
    entry = passes[npass][key]
    if not entry["ok"]:
        pytest.fail(f"{root} {key} (pass {npass + 1}) failed in Spark:\n{entry['error']}\n"
                    f"{entry.get('traceback', '')}\nlog: {job['log']}")
    return entry["value"]


def relative(path: str, root: str) -> str:
    """The part of a path Spark reports after the root's Shoal path, checking the scheme."""
    uri, shoal_path = ROOTS[root]
    want, got = urlparse(uri), urlparse(path)
    assert got.scheme == want.scheme, f"{path}: scheme {got.scheme!r}, expected {want.scheme!r}"
    assert (got.netloc or "") == (want.netloc or ""), f"{path}: authority {got.netloc!r}"
    rel = PurePosixPath(got.path).relative_to(shoal_path)
    return rel.as_posix()


def same_images(rows, root, dataset, mtimes=True):
    got = {}
    for r in rows:
        rel = relative(r["path"], root)
        assert rel not in got, f"{rel} listed twice"
        if "content_length" in r:
            assert r["length"] == r["content_length"], \
                f"{rel}: length {r['length']} but content {r['content_length']} bytes"
        if mtimes:
            assert r["mtime"] and r["mtime"] > 0, f"{rel}: no modification time"
        got[rel] = (r["length"], r["sha256"])
    want = expected_files(dataset, "images")
    assert len(got) == len(want), f"{len(got)} files read, {len(want)} in the store"
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, f"missing {missing[:5]}, unexpected {extra[:5]}"
    wrong = [k for k in want if got[k] != want[k]]
    assert not wrong, "wrong bytes for " + ", ".join(
        f"{k} (read {got[k][0]} B {got[k][1][:12]}, store {want[k][0]} B {want[k][1][:12]})"
        for k in wrong[:5])


@pytest.mark.parametrize("npass", [0, 1], ids=["cold", "warm"])
@pytest.mark.parametrize("root", sorted(ROOTS))
def test_image_bytes(job, dataset, root, npass):
    """DataFrame API: binaryFile, recursive."""
    same_images(section(job, root, "images", npass), root, dataset)


@pytest.mark.parametrize("npass", [0, 1], ids=["cold", "warm"])
@pytest.mark.parametrize("root", sorted(ROOTS))
def test_rdd_image_bytes(job, dataset, root, npass):
    """RDD API: sc.binaryFiles over a glob."""
    same_images(section(job, root, "images_rdd", npass), root, dataset, mtimes=False)


@pytest.mark.parametrize("npass", [0, 1], ids=["cold", "warm"])
@pytest.mark.parametrize("root", sorted(ROOTS))
def test_hadoop_api_image_bytes(job, dataset, root, npass):
    """Hadoop API: Path.getFileSystem, listFiles (recursive), open and read."""
    same_images(section(job, root, "images_hadoop", npass), root, dataset)


@pytest.mark.parametrize("root", sorted(ROOTS))
def test_image_glob_filter(job, dataset, root):
    rows = section(job, root, "images_glob", 0)
    got = {relative(r["path"], root): (r["length"], r["sha256"]) for r in rows}
    want = {k: v for k, v in expected_files(dataset, "images/train").items() if k.endswith(".jpg")}
    assert got == want


def expected_rows(dataset):
    table = pq.read_table(dataset["data"] / "parquet" / "images.parquet")
    rows = []
    for r in table.to_pylist():
        image = r.pop("image")
        r["image_sha256"] = hashlib.sha256(image).hexdigest()
        r["image_length"] = len(image)
        rows.append(r)
    return table.column_names, sorted(rows, key=lambda r: r["path"])


def same_value(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("npass", [0, 1], ids=["cold", "warm"])
@pytest.mark.parametrize("root", sorted(ROOTS))
def test_parquet_rows(job, dataset, root, npass):
    value = section(job, root, "parquet", npass)
    columns, want = expected_rows(dataset)
    assert value["columns"] == columns
    got = sorted(value["rows"], key=lambda r: r["path"])
    assert len(got) == len(want), f"{len(got)} rows read, {len(want)} in the file"
    for g, w in zip(got, want):
        assert set(g) == set(w), f"{w['path']}: columns {sorted(g)} vs {sorted(w)}"
        diff = {k: (g[k], w[k]) for k in w if not same_value(g[k], w[k])}
        assert not diff, f"{w['path']}: (read, stored) differ: {diff}"


@pytest.mark.parametrize("root", sorted(ROOTS))
def test_parquet_filter_and_projection(job, dataset, root):
    value = section(job, root, "parquet", 0)
    _, want = expected_rows(dataset)
    want = sorted((r["path"], r["nbytes"]) for r in want if r["label_id"] == 1)
    got = sorted((r["path"], r["nbytes"]) for r in value["filtered"])
    assert want and got == want


def test_overwritten_objects_are_not_served_stale(spark, s3, dataset, jar, workdir):
    """Two applications share one cache dir; between them objects in the store are overwritten
    (one with other bytes of the same length). The second must read the new bytes. On the newest
    Spark only: what it checks is the cache's, the same under every Spark, and two applications
    of Spark 3.1 cost CI three minutes."""
    full_only(spark)
    if spark != "spark4":
        pytest.skip("on the newest Spark only: the cache's behaviour, not Spark's")
    name = f"mutable-{spark}"
    data = dataset["store"] / BUCKET / name
    shutil.copytree(dataset["data"], data)
    out_dir = workdir / f"{spark}-overwrite"
    out_dir.mkdir(exist_ok=True)
    conf = s3.mount_conf("mut", "/mut", f"s3://{BUCKET}/{name}")
    conf["spark.hadoop.shoal.cache.dirs"] = str(out_dir / "cache")  # shared by both runs

    def run(tag):
        out = out_dir / f"{tag}.json"
        proc = spark_submit(spark, jar, SUITE,
                            ["--out", out, "--repeat", "1", "--apis", "dataframe",
                             "--read", "mut=shoal:///mut"],
                            conf, out_dir / tag)
        assert proc.returncode == 0 and out.exists(), f"log {proc.log}:\n{tail(proc.log)}"
        entry = load_json(out)["read"]["mut"]["passes"][0]["images"]
        assert entry["ok"], entry["error"]
        return {PurePosixPath(urlparse(r["path"]).path).relative_to("/mut").as_posix():
                (r["length"], r["sha256"]) for r in entry["value"]}

    (out_dir / "first").mkdir()
    (out_dir / "second").mkdir()
    assert_same_files(run("first"), expected_files(data, "images"), "first application")
    cached = [p for p in (out_dir / "cache").rglob("*") if p.is_file()]
    assert cached, "the first application left nothing in shoal.cache.dirs"
    jpgs = sorted((data / "images" / "train").rglob("*.jpg"))
    large = max(jpgs, key=lambda p: p.stat().st_size)
    small = jpgs[0]
    # same length, other bytes: a cache keyed by path + length would serve the old ones
    blob = bytearray(large.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    blob[-3] ^= 0x55
    large.write_bytes(bytes(blob))
    small.write_bytes(small.read_bytes() + b"appended")  # other length
    assert_same_files(run("second"), expected_files(data, "images"),
                      f"second application, after overwriting {large.name} (same length) and "
                      f"{small.name} (longer); logs in {out_dir} (SHOAL_E2E_KEEP=1 keeps them)")


def assert_same_files(got: dict, want: dict, context: str):
    problems = [f"missing {k}" for k in sorted(set(want) - set(got))]
    problems += [f"unexpected {k}" for k in sorted(set(got) - set(want))]
    problems += [f"{k}: read {got[k][0]} B sha256 {got[k][1][:16]}, store {want[k][0]} B "
                 f"sha256 {want[k][1][:16]}" for k in sorted(set(got) & set(want)) if got[k] != want[k]]
    assert not problems, f"{context}: " + "; ".join(problems[:10])
