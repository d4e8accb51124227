"""Spark writes through Shoal, with the jar in --jars and no other setting: Parquet written with
Spark's commit protocol (DataFrame API) to an S3 mount and to a local mount reads back as the same
rows, and the output directory is renamed, listed and deleted through the Hadoop FileSystem API
(from PySpark, spark._jvm); text written with saveAsTextFile (RDD API) and a file written with
FileSystem.create (Hadoop API) read back the same; the store shows each change.

The application is conftest's `suite`, which reads first (test_spark_read.py). The S3 mount is
configured only through Hadoop S3A's keys (spark.hadoop.fs.s3a.*), as on a cluster set up for
S3A; the local mount is a directory of the test's own.
"""
from __future__ import annotations

import math
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pytest

from conftest import FS_CLASS, WRITE_ROOTS

ROOTS = tuple(WRITE_ROOTS)
PARTS = {"part=0", "part=1", "part=2"}


@pytest.fixture(scope="module")
def job(suite):
    return suite


def step(job, root, name):
    entry = job["write"][root]["steps"][name]
    if not entry["ok"]:
        pytest.fail(f"{root} {name} failed in Spark:\n{entry['error']}\n"
                    f"{entry.get('traceback', '')}\nlog: {job['log']}")
    return entry["value"]


def same_value(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b and type(a) is type(b)


def assert_same_rows(value, job, context):
    want = job["expected"]
    assert value["columns"] == sorted(want[0]), f"{context}: columns {value['columns']}"
    got = value["rows"]
    assert len(got) == len(want) == job["rows"], f"{context}: {len(got)} rows, {len(want)} written"
    for g, w in zip(got, want):
        diff = {k: (g.get(k), w[k]) for k in w if not same_value(g.get(k), w[k])}
        assert not diff, f"{context}: row {w['id']} (read, written) differ: {diff}"


def relative(path: str, root_uri_path: str) -> str:
    got = urlparse(path)
    assert got.scheme == "shoal", path
    return PurePosixPath(got.path).relative_to(root_uri_path).as_posix()


@pytest.mark.parametrize("root", ROOTS)
def test_parquet_written_reads_back(job, root):
    assert step(job, root, "write") is True
    assert_same_rows(step(job, root, "read"), job, f"{root} table")


@pytest.mark.parametrize("root", ROOTS)
def test_rename_moves_the_output(job, root):
    value = step(job, root, "rename")
    assert value == {"renamed": True, "src_exists": False, "dst_exists": True}
    # ShoalFileSystem on Hadoop 3.2 (Spark 3.1), ShoalFileSystem33 from Hadoop 3.3.1 on
    assert job["filesystem"]["shoal"]["value"] == FS_CLASS[job["spark"]]
    assert_same_rows(step(job, root, "reread"), job, f"{root} renamed table")


@pytest.mark.parametrize("root", ROOTS)
def test_listing_of_the_renamed_output(job, root):
    value = step(job, root, "list")
    base = PurePosixPath(urlparse(job["write"][root]["uri"]).path) / "renamed"
    files = {relative(f["path"], base.as_posix()): f for f in value["files"]}
    assert all(f["is_file"] for f in files.values())
    assert "_SUCCESS" in files, sorted(files)
    data = sorted(k for k in files if k.endswith(".parquet"))
    assert data and {k.split("/")[0] for k in data} == PARTS, sorted(files)
    assert all(files[k]["length"] > 0 for k in data)
    assert not [k for k in files if "_temporary" in k or k.startswith(".")], sorted(files)
    children = {relative(c["path"], base.as_posix()): c["is_dir"] for c in value["children"]}
    assert children == {"_SUCCESS": False, **{p: True for p in PARTS}}


@pytest.mark.parametrize("root", ROOTS)
def test_recursive_delete_leaves_nothing(job, root):
    value = step(job, root, "delete")
    assert value == {"deleted": True, "exists": False}
    store = Path(job["stores"][root])
    left = sorted(p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file())
    assert not left, f"{root}: files left in the store after the delete: {left[:10]}"


@pytest.mark.parametrize("root", ROOTS)
def test_rdd_text_round_trip(job, root):
    assert step(job, root, "rdd_write") is True
    assert step(job, root, "rdd_read") == sorted(f"line {i}" for i in range(job["rows"]))
    assert step(job, root, "rdd_delete") == {"deleted": True, "exists": False}


@pytest.mark.parametrize("root", ROOTS)
def test_hadoop_api_file_round_trip(job, root):
    assert step(job, root, "hadoop_write") is True
    assert step(job, root, "hadoop_read") == step(job, root, "hadoop_expected")
    assert step(job, root, "hadoop_delete") == {"deleted": True, "exists": False}
