#!/usr/bin/env python3
"""A synthetic, in-memory S3 endpoint for LISTING benchmarks only (benchmarks/scale/s3a_listing.py).

It holds N made-up object keys and their sizes in memory, no data: bucket `bench`, keys
`d/c%05d/f%07d.bin` for i in 0..N (1,000 per directory), sizes from `sizes_for(n)` of scale.py.
It answers what a client needs to list them: ListObjectsV2 and V1 (prefix, delimiter, max-keys
capped at 1,000 as S3 does, continuation-token / start-after / marker), HEAD of an object,
HEAD and GET of the bucket, `?location`. A page is a slice of a sorted list whose XML was built
once at start, found by bisection, so serving it costs O(page) and the clients are what is
measured. Authentication is not checked (any signature passes). Anything else gets 501 with an
S3 error document and a line on stderr, which shows what a client asked for.

GET /_stats returns (and resets) the counts of the requests served, by kind, the entries listed
and the seconds spent building listing pages, as JSON.

Usage: listserver.py N [--port 0]   (prints "port P" as its first line on stdout)

Listens on 127.0.0.1 only. Not an S3 server: objects cannot be read or written.
"""
import argparse
import bisect
import collections
import hashlib
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from scale import PER_DIR, sizes_for  # noqa: E402

BUCKET = "bench"
ISO_TIME = "2024-01-01T00:00:00.000Z"
HTTP_TIME = "Mon, 01 Jan 2024 00:00:00 GMT"
NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEYS = 1000


def key_of(i):
    return "d/c%05d/f%07d.bin" % (i // PER_DIR, i)


def etag(key):
    return hashlib.md5(key.encode()).hexdigest()


class Store:
    def __init__(self, n):
        self.keys = [key_of(i) for i in range(n)]  # sorted: the numbers are zero-padded
        assert all(a < b for a, b in zip(self.keys, self.keys[1:]))
        self.sizes = sizes_for(n)
        # Each object's <Contents> element, built once.
        self.contents = [
            ("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>&quot;%s&quot;</ETag>"
             "<Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>"
             % (escape(k), ISO_TIME, etag(k), s)).encode()
            for k, s in zip(self.keys, self.sizes)
        ]

    def find(self, key):
        i = bisect.bisect_left(self.keys, key)
        return i if i < len(self.keys) and self.keys[i] == key else None

    def page(self, prefix, delimiter, after, max_keys):
        """(first index, end index, common prefixes, truncated, last name returned): the keys
        under `prefix` strictly after `after`, rolled up at `delimiter`, at most `max_keys`
        entries (keys and prefixes together)."""
        keys = self.keys
        start = bisect.bisect_right(keys, after) if after else 0
        if after and delimiter and after.endswith(delimiter):
            # After a common prefix: past every key under it.
            start = bisect.bisect_left(keys, after + "\U0010ffff")
        start = max(start, bisect.bisect_left(keys, prefix))
        if not delimiter:
            end_all = bisect.bisect_left(keys, prefix + "\U0010ffff")
            end = min(end_all, start + max_keys)
            last = keys[end - 1] if end > start else None
            return [(start, end)], [], end < end_all, last
        # With a delimiter: runs of keys and the common prefixes between them.
        runs, prefixes, count, i, last = [], [], 0, start, None
        run_start = i
        n = len(keys)
        while i < n and count < max_keys and keys[i].startswith(prefix):
            k = keys[i]
            d = k.find(delimiter, len(prefix))
            if d < 0:
                i += 1
                count += 1
                last = k
                continue
            if run_start < i:
                runs.append((run_start, i))
            cp = k[: d + len(delimiter)]
            prefixes.append(cp)
            count += 1
            last = cp
            i = bisect.bisect_left(keys, cp + "\U0010ffff")
            run_start = i
        end = i
        if run_start < end:
            runs.append((run_start, end))
        truncated = end < n and keys[end].startswith(prefix)
        return runs, prefixes, truncated, last


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "listserver"
    sys_version = ""
    store = None
    stats = collections.Counter()
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet: only the 501s are logged
        pass

    def count(self, kind):
        with self.lock:
            self.stats[kind] += 1

    def send(self, code, body=b"", headers=(), content_type="application/xml"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("x-amz-request-id", "0")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, s3code, message):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
                "<Resource>%s</Resource><RequestId>0</RequestId></Error>"
                % (s3code, escape(message), escape(self.path))).encode()
        self.send(code, body)

    def unsupported(self):
        self.count("unsupported %s" % self.command)
        sys.stderr.write("listserver: 501 %s %s\n" % (self.command, self.path))
        sys.stderr.flush()
        self.error(501, "NotImplemented", "not served by this listing benchmark endpoint")

    def parse(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        q = {k: v[0] for k, v in q.items()}
        path = urllib.parse.unquote(url.path).lstrip("/")
        bucket, _, key = path.partition("/")
        return bucket, key, q

    def do_HEAD(self):
        bucket, key, q = self.parse()
        if bucket != BUCKET:
            self.count("HEAD other bucket")
            return self.send(404)
        if not key and not q:
            self.count("HEAD bucket")
            return self.send(200, headers=[("x-amz-bucket-region", "us-east-1")])
        if q:
            return self.unsupported()
        i = self.store.find(key)
        if i is None:
            self.count("HEAD object, missing")
            return self.send(404)
        self.count("HEAD object")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(self.store.sizes[i]))
        self.send_header("ETag", '"%s"' % etag(key))
        self.send_header("Last-Modified", HTTP_TIME)
        self.send_header("x-amz-request-id", "0")
        self.end_headers()

    def do_GET(self):
        if self.path == "/_stats":
            with self.lock:
                body = json.dumps(dict(self.stats), sort_keys=True).encode()
                self.stats.clear()
            return self.send(200, body, content_type="application/json")
        bucket, key, q = self.parse()
        if bucket != BUCKET:
            self.count("GET other bucket")
            return self.error(404, "NoSuchBucket", "no such bucket")
        if key:
            return self.unsupported()
        if "location" in q:
            self.count("GET bucket location")
            return self.send(200, ('<?xml version="1.0" encoding="UTF-8"?>\n'
                                   '<LocationConstraint xmlns="%s"></LocationConstraint>' % NS).encode())
        allowed = {"list-type", "prefix", "delimiter", "max-keys", "continuation-token",
                   "start-after", "marker", "encoding-type", "fetch-owner"}
        if set(q) - allowed:
            return self.unsupported()
        self.list(q)

    def list(self, q):
        began = time.perf_counter()
        v2 = q.get("list-type") == "2"
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        try:
            asked = int(q.get("max-keys", MAX_KEYS))
        except ValueError:
            return self.error(400, "InvalidArgument", "max-keys")
        max_keys = max(0, min(asked, MAX_KEYS))
        if v2:
            token = q.get("continuation-token")
            after = urllib.parse.unquote(token) if token else q.get("start-after", "")
        else:
            after = q.get("marker", "")
        self.count("GET list v%d%s max-keys=%s%s" % (
            2 if v2 else 1, " delimiter" if delimiter else "", q.get("max-keys", "-"),
            " continued" if (q.get("continuation-token") or q.get("marker")) else ""))
        if max_keys:
            runs, prefixes, truncated, last = self.store.page(prefix, delimiter, after, max_keys)
        else:
            runs, prefixes, truncated, last = [], [], False, None
        n = sum(e - s for s, e in runs) + len(prefixes)
        with self.lock:
            self.stats["listed entries"] += n
        e = escape
        head = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="%s">' % NS,
                "<Name>%s</Name><Prefix>%s</Prefix><MaxKeys>%d</MaxKeys>" % (BUCKET, e(prefix), max_keys)]
        if delimiter:
            head.append("<Delimiter>%s</Delimiter>" % e(delimiter))
        if "encoding-type" in q:
            head.append("<EncodingType>%s</EncodingType>" % e(q["encoding-type"]))
        head.append("<IsTruncated>%s</IsTruncated>" % ("true" if truncated else "false"))
        if v2:
            head.append("<KeyCount>%d</KeyCount>" % n)
            if q.get("continuation-token"):
                head.append("<ContinuationToken>%s</ContinuationToken>" % e(q["continuation-token"]))
            if q.get("start-after"):
                head.append("<StartAfter>%s</StartAfter>" % e(q["start-after"]))
            if truncated:
                # The token is the last name returned, quoted: opaque to the client.
                head.append("<NextContinuationToken>%s</NextContinuationToken>"
                            % e(urllib.parse.quote(last, safe="")))
        else:
            head.append("<Marker>%s</Marker>" % e(after))
            if truncated:
                head.append("<NextMarker>%s</NextMarker>" % e(last))
        parts = ["".join(head).encode()]
        for s, t in runs:
            parts.extend(self.store.contents[s:t])
        for p in prefixes:
            parts.append(("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % e(p)).encode())
        parts.append(b"</ListBucketResult>")
        body = b"".join(parts)
        with self.lock:
            self.stats["listing seconds (server side, before sending)"] += time.perf_counter() - began
        self.send(200, body)

    def do_PUT(self):
        self.parse()
        self.unsupported()

    do_POST = do_PUT
    do_DELETE = do_PUT


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("objects", type=int)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    Handler.store = Store(a.objects)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    print("port %d" % server.server_address[1], flush=True)
    sys.stderr.write("listserver: synthetic in-memory S3 listing endpoint for benchmarks only, "
                     "%d keys in bucket %s, http://127.0.0.1:%d\n"
                     % (a.objects, BUCKET, server.server_address[1]))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
