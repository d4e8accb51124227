"""The benchmark's S3 store as a client sees it: stored ETags for s3s-fs, and signed requests.

**Stored ETags.** S3 computes an object's ETag once, when the object is written, and returns the
stored value on every GET and HEAD. s3s-fs does the same for objects PUT through its API: it keeps
the ETag in a sidecar file at its root, ``.bucket-<b64 bucket>.object-<b64 key>.internal.json``
(``{"e_tag": "<md5 hex>"}``, URL-safe base64 without padding). The benchmark's dataset is written
straight to the server's disk, so it has no sidecars, and s3s-fs then hashes the *whole object* on
every GET and HEAD: a 1 MiB range of a 26 MB Parquet shard cost ~120 ms of server CPU instead of
~10 ms. That is no property of S3 and it charged every page-sized range request (Shoal's and
Alluxio's cold reads) with reading the whole shard. :func:`seed_etags` writes the sidecars that an
upload would have written, once per dataset; ``test_store.py`` checks that the pinned s3s-fs
serves them.

**Signed requests.** :func:`get` sends one SigV4-signed GET or HEAD (payload unsigned) with the
standard library, to measure the link as a client sees it.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import time
import urllib.parse
from pathlib import Path

# Keys we add beside s3s-fs's own: what the sidecar was computed from, so that a changed object is
# hashed again. s3s-fs reads only "e_tag" and "checksum_*" and ignores the rest.
_SIZE, _MTIME = "shoal_bench_size", "shoal_bench_mtime_ns"


def _b64(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def etag_sidecar(root: Path, bucket: str, key: str) -> Path:
    """Where s3s-fs (0.14) keeps the stored ETag of ``bucket/key`` under its root ``root``."""
    return Path(root) / f".bucket-{_b64(bucket)}.object-{_b64(key)}.internal.json"


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def seed_etags(root: Path, bucket: str) -> dict:
    """Give every object of ``root/bucket`` the stored ETag an upload would have given it.

    Idempotent: a sidecar whose size and mtime still match its object is kept. Returns counts.
    """
    root = Path(root)
    written = kept = 0
    for dirpath, _dirs, files in os.walk(root / bucket):
        for name in files:
            path = Path(dirpath) / name
            key = path.relative_to(root / bucket).as_posix()
            st = path.stat()
            side = etag_sidecar(root, bucket, key)
            try:
                info = json.loads(side.read_text())
                if info.get(_SIZE) == st.st_size and info.get(_MTIME) == st.st_mtime_ns \
                        and info.get("e_tag"):
                    kept += 1
                    continue
            except (OSError, ValueError):
                pass
            info = {"e_tag": _md5(path), _SIZE: st.st_size, _MTIME: st.st_mtime_ns}
            tmp = side.with_name(side.name + ".tmp")
            tmp.write_text(json.dumps(info))
            os.replace(tmp, side)
            written += 1
    return {"written": written, "kept": kept}


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def get(endpoint: str, bucket: str, key: str, access: str, secret: str, region: str,
        method: str = "GET", byte_range: tuple | None = None, timeout: float = 60.0) -> dict:
    """One SigV4-signed request; the body is read and dropped. Returns status, etag, bytes, seconds.

    ``byte_range`` is (first, last), inclusive, as in the Range header.
    """
    u = urllib.parse.urlsplit(endpoint)
    host = u.netloc
    path = "/" + urllib.parse.quote(f"{bucket}/{key}", safe="/-_.~")
    now = dt.datetime.now(dt.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-date": amz_date}
    if byte_range is not None:
        headers["range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
    names = sorted(headers)
    canonical = "\n".join([method, path, "", *(f"{n}:{headers[n]}" for n in names), "",
                           ";".join(names), "UNSIGNED-PAYLOAD"])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = _sign(("AWS4" + secret).encode(), day)
    for part in (region, "s3", "aws4_request"):
        k = _sign(k, part)
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, headers={k: v for k, v in headers.items() if k != "host"})
        resp = conn.getresponse()
        n = 0
        while True:
            block = resp.read(1 << 20)
            if not block:
                break
            n += len(block)
        seconds = time.monotonic() - t0
        return {"status": resp.status, "etag": (resp.getheader("ETag") or "").strip('"'),
                "bytes": n, "seconds": seconds}
    finally:
        conn.close()
