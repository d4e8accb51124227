"""The benchmark's store serves stored ETags, as S3 does: s3store.seed_etags against real s3s-fs.

    .tools/spark35/bin/python -m pytest benchmarks/test_store.py

Without the sidecars s3s-fs hashes a whole object on every GET and HEAD, which charged every
page-sized range request of the benchmark with reading the whole Parquet shard. These tests start
the pinned s3s-fs (scripts/setup.sh installs it) behind the delay proxy with no delay, on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest

import bench
import s3store

KEY = "parquet/train/part-00000.parquet"


@pytest.fixture()
def store():
    if not os.access(bench.s3s_bin(), os.X_OK):
        pytest.fail("s3s-fs is not installed: run scripts/setup.sh")
    with tempfile.TemporaryDirectory(prefix="shoal-bench-store-") as tmp:
        root = Path(tmp) / "root"
        obj = root / bench.BUCKET / KEY
        obj.parent.mkdir(parents=True)
        obj.write_bytes(os.urandom(3 << 20) + b"tail")
        (root / bench.BUCKET / "imagenet" / "a.JPEG").parent.mkdir(parents=True)
        (root / bench.BUCKET / "imagenet" / "a.JPEG").write_bytes(b"\xff\xd8jpeg")
        work = Path(tmp) / "work"
        work.mkdir()
        seeded = s3store.seed_etags(root, bench.BUCKET)
        st = bench.RemoteStore(root, bench.PRESETS["loopback"], work, use_netns=False).start()
        try:
            yield {"root": root, "obj": obj, "store": st, "seeded": seeded}
        finally:
            st.stop()


def _req(store, key=KEY, **kw):
    return s3store.get(store["store"].endpoint, bench.BUCKET, key, bench.ACCESS_KEY,
                       bench.SECRET_KEY, bench.REGION, **kw)


def test_seeded_etag_is_the_objects_md5(store):
    assert store["seeded"] == {"written": 2, "kept": 0}
    want = hashlib.md5(store["obj"].read_bytes()).hexdigest()
    head = _req(store, method="HEAD")
    assert head["status"] == 200 and head["etag"] == want
    part = _req(store, byte_range=(1 << 20, (2 << 20) - 1))
    assert part["status"] == 206 and part["bytes"] == 1 << 20 and part["etag"] == want


def test_server_answers_from_the_sidecar_not_by_hashing(store):
    # A value no hash of the object gives: if the server still hashed the object (or looked for
    # its sidecar elsewhere, as a different s3s-fs version might), HEAD would not return it.
    side = s3store.etag_sidecar(store["root"], bench.BUCKET, KEY)
    info = json.loads(side.read_text())
    info["e_tag"] = "0123456789abcdef0123456789abcdef"
    side.write_text(json.dumps(info))
    assert _req(store, method="HEAD")["etag"] == info["e_tag"]
    assert _req(store, byte_range=(0, 99))["etag"] == info["e_tag"]


def test_seeding_again_keeps_current_sidecars_and_rehashes_changed_objects(store):
    assert s3store.seed_etags(store["root"], bench.BUCKET) == {"written": 0, "kept": 2}
    store["obj"].write_bytes(b"changed")
    assert s3store.seed_etags(store["root"], bench.BUCKET) == {"written": 1, "kept": 1}
    assert _req(store, method="HEAD")["etag"] == hashlib.md5(b"changed").hexdigest()


def test_link_measure_reports_throughput(store):
    m = store["store"].measured
    assert m["get_object"] == KEY and m["get_object_bytes"] == (3 << 20) + 4
    assert m["get_mb_per_s"] > 0 and m["range_1mib_ms_median"] > 0


def test_unsigned_or_missing_key_is_refused(store):
    assert _req(store, key="parquet/nope.parquet", method="HEAD")["status"] == 404
    bad = s3store.get(store["store"].endpoint, bench.BUCKET, KEY, bench.ACCESS_KEY, "wrong",
                      bench.REGION, method="HEAD")
    assert bad["status"] == 403
