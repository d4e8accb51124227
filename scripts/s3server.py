#!/usr/bin/env python3
"""A local S3 server (s3s-fs) for Shoal's tests and demo, bound to 127.0.0.1 only.

Every subdirectory of the root directory is a bucket; its files are the objects.

From Python (tests)::

    from s3server import S3Server
    with S3Server(root="/tmp/store") as s3:          # free port, waits until it answers
        conf = s3.mount_conf("data", "/data", "s3://demo/prefix")   # spark.hadoop.* keys
    # stopped here, also on exceptions, at interpreter exit, and when this process dies

From a shell (the demo)::

    scripts/s3server.py --root DIR --info-file info.json &   # runs until SIGTERM / SIGINT
    # info.json appears once the server answers: {"endpoint": ..., "access_key": ..., ...}

Only the Python standard library is used.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO_ROOT / ".tools" / "s3s" / "bin" / "s3s-fs"
HOST = "127.0.0.1"  # never anything else
DEFAULT_ACCESS_KEY = "shoal-test-access"
DEFAULT_SECRET_KEY = "shoal-test-secret-0123456789"
REGION = "us-east-1"


def s3s_binary() -> Path:
    """The s3s-fs binary: $SHOAL_TEST_S3S_BIN, else the one scripts/setup.sh installs."""
    path = Path(os.environ.get("SHOAL_TEST_S3S_BIN") or DEFAULT_BIN)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"s3s-fs not found at {path}: run scripts/setup.sh")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _die_with_parent():
    """preexec_fn: the server gets SIGTERM when the process that started it dies (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:  # not Linux: atexit and the context manager still stop it
        pass


class S3Server:
    """One s3s-fs process serving ``root`` on 127.0.0.1:<port>."""

    def __init__(self, root, port: int | None = None, access_key: str = DEFAULT_ACCESS_KEY,
                 secret_key: str = DEFAULT_SECRET_KEY, binary=None, log_path=None,
                 start_timeout: float = 30.0):
        self.root = Path(root).resolve()
        self.requested_port = port
        self.port: int | None = None
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = REGION
        self.binary = Path(binary) if binary else s3s_binary()
        self.log_path = Path(log_path) if log_path else None
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> "S3Server":
        if self.proc is not None:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="s3s-fs-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        attempts = 1 if self.requested_port else 5  # a free port can be taken before we bind it
        last_error = None
        for _ in range(attempts):
            self.port = self.requested_port or free_port()
            try:
                self._spawn()
                return self
            except RuntimeError as e:
                last_error = e
                self.stop()
        raise last_error

    def _spawn(self):
        self._log_file = open(self.log_path, "ab")
        cmd = [str(self.binary), "--host", HOST, "--port", str(self.port),
               "--access-key", self.access_key, "--secret-key", self.secret_key, str(self.root)]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=_die_with_parent)
        atexit.register(self.stop)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3s-fs exited with {self.proc.returncode} on port {self.port}: "
                                   f"{self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.1)
        raise RuntimeError(f"s3s-fs did not answer on {self.endpoint} within "
                           f"{self.start_timeout}s: {self.log_tail()}")

    def ping(self) -> bool:
        """True when the server answers HTTP at all (an anonymous request gets 403, that's fine)."""
        try:
            with urllib.request.urlopen(self.endpoint + "/", timeout=2) as r:
                return r.status < 600
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except Exception:
            return "(no log)"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- helpers for clients --------------------------------------------------------------------
    def info(self) -> dict:
        return {"endpoint": self.endpoint, "host": HOST, "port": self.port,
                "access_key": self.access_key, "secret_key": self.secret_key,
                "region": self.region, "root": str(self.root),
                "pid": self.proc.pid if self.proc else None}

    def mount_conf(self, name: str, path: str, uri: str, readonly: bool = True,
                   prefix: str = "spark.hadoop.") -> dict:
        """Spark conf for one Shoal mount of ``uri`` (s3://bucket/prefix) on ``path``."""
        return mount_conf(name, path, uri, endpoint=self.endpoint, access_key=self.access_key,
                          secret_key=self.secret_key, region=self.region, readonly=readonly,
                          prefix=prefix)


def mount_conf(name, path, uri, endpoint=None, access_key=None, secret_key=None,
               region=REGION, readonly=True, prefix="spark.hadoop.") -> dict:
    """The Shoal mount keys (user contract) for one mount, as Spark conf (``spark.hadoop.``)."""
    base = f"{prefix}shoal.mount.{name}."
    conf = {base + "path": path, base + "uri": uri}
    if uri.startswith(("s3://", "s3a://")):
        opts = {"aws_endpoint": endpoint, "aws_access_key_id": access_key,
                "aws_secret_access_key": secret_key, "aws_region": region}
        if endpoint and endpoint.startswith("http://"):
            opts["aws_allow_http"] = "true"
        conf.update({f"{base}option.{k}": v for k, v in opts.items() if v is not None})
    if readonly:
        conf[base + "readonly"] = "true"
    return conf


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="directory served; each subdirectory is a bucket")
    ap.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    ap.add_argument("--access-key", default=DEFAULT_ACCESS_KEY)
    ap.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    ap.add_argument("--info-file", help="write the server's endpoint and keys here (JSON) once it answers")
    ap.add_argument("--log", help="s3s-fs log file (default: a temp file)")
    args = ap.parse_args(argv)

    server = S3Server(args.root, port=args.port, access_key=args.access_key,
                      secret_key=args.secret_key, log_path=args.log)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        server.start()
        info = json.dumps(server.info())
        if args.info_file:
            tmp = args.info_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(info + "\n")
            os.replace(tmp, args.info_file)  # appears complete or not at all
        print(info, flush=True)
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(0.5)
        if server.proc is not None:
            print(f"s3s-fs exited with {server.proc.returncode}: {server.log_tail()}", file=sys.stderr)
            return 1
        return 0
    finally:
        server.stop()
        if args.info_file:
            try:
                os.unlink(args.info_file)
            except FileNotFoundError:
                pass


if __name__ == "__main__":
    sys.exit(main())
