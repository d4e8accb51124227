"""Fixtures of the front-end tests: a real S3 server (s3s-fs) on 127.0.0.1 with a small
dataset, Shoal configuration files for it, and FUSE mounts that are always unmounted.

The `shoal` binary is $SHOAL_BIN, else target/debug/shoal, else target/release/shoal;
libshoal.so for the C test is $SHOAL_TEST_LIBSHOAL, else target/debug/libshoal.so, else
target/release/libshoal.so. The Python tests use the library installed with the package.
"""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from s3server import S3Server, mount_conf  # noqa: E402

BUCKET = "data"


def shoal_bin() -> Path:
    for p in (os.environ.get("SHOAL_BIN"), REPO / "target/debug/shoal", REPO / "target/release/shoal"):
        if p and os.access(p, os.X_OK):
            return Path(p)
    raise FileNotFoundError("no shoal binary: run `cargo build --release -p shoal-cli` (or set SHOAL_BIN)")


def libshoal() -> Path:
    for p in (os.environ.get("SHOAL_TEST_LIBSHOAL"), REPO / "target/debug/libshoal.so",
              REPO / "target/release/libshoal.so"):
        if p and os.path.exists(p):
            return Path(p)
    raise FileNotFoundError("no libshoal.so: run `cargo build -p shoal-capi` (or set SHOAL_TEST_LIBSHOAL)")


def jpeg(rng: random.Random) -> bytes:
    """A real JPEG of noise, 1 to 100 KB, or random bytes where Pillow is missing."""
    try:
        from PIL import Image
    except ImportError:
        return rng.randbytes(rng.randint(1_000, 100_000))
    import io

    w, h = rng.randint(16, 160), rng.randint(16, 160)
    out = io.BytesIO()
    Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3)).save(out, "JPEG", quality=90)
    return out.getvalue()


def make_dataset(root: Path, seed: int = 17) -> dict:
    """Files under ``root``: nested directories of small JPEGs, a 6 MiB file for random reads,
    and an empty file. Returns {relative path: bytes}."""
    rng = random.Random(seed)
    files = {}
    for d in ("train/cat", "train/dog", "val/cat", "val/dog"):
        for i in range(6):
            files[f"{d}/img_{i:03d}.jpg"] = jpeg(rng)
    files["big.bin"] = rng.randbytes(6 * 1024 * 1024 + 12345)
    files["labels.txt"] = b"cat\ndog\n"
    files["empty.txt"] = b""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store:
    """An S3 server holding bucket ``data``, and the Shoal keys that mount it on /data."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.root = workdir / "s3root"
        self.bucket = self.root / BUCKET
        self.bucket.mkdir(parents=True)
        self.files = make_dataset(self.bucket)
        self.server = S3Server(self.root, log_path=workdir / "s3s.log").start()

    def conf(self, **extra) -> dict:
        c = mount_conf("data", "/data", f"s3://{BUCKET}", endpoint=self.server.endpoint,
                       access_key=self.server.access_key, secret_key=self.server.secret_key,
                       readonly=True, prefix="")
        c["shoal.cache.dirs"] = f"{self.workdir / 'cache'}:1g"
        c.update({k: str(v) for k, v in extra.items()})
        return c

    def conf_file(self, name: str = "shoal.properties", **extra) -> Path:
        p = self.workdir / name
        p.write_text("".join(f"{k}={v}\n" for k, v in self.conf(**extra).items()))
        return p

    def stop(self):
        self.server.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


@pytest.fixture(scope="module")
def store():
    workdir = Path(tempfile.mkdtemp(prefix="shoal-front-"))
    s = Store(workdir)
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def is_mounted(path: Path) -> bool:
    want = str(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split(" ")[4].encode().decode("unicode_escape")
            if mp == want:
                return True
    return False


def force_unmount(path: Path):
    """Detaches whatever is mounted at ``path`` (a failed test must not wedge later runs)."""
    for cmd in (["umount", "-l", str(path)], ["fusermount3", "-u", "-z", str(path)],
                ["fusermount", "-u", "-z", str(path)]):
        if not is_mounted(path):
            return
        try:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
        except (FileNotFoundError, subprocess.TimeoutExpired):
            pass


class Mount:
    """``shoal --conf CONF mount MOUNTPOINT`` in the foreground, in a process of its own."""

    def __init__(self, conf: Path, mountpoint: Path, *args: str, log: Path | None = None):
        self.conf = conf
        self.mountpoint = mountpoint
        self.log = log or mountpoint.with_name(mountpoint.name + ".log")
        self.args = args
        self.proc = None

    def start(self, timeout: float = 30.0) -> "Mount":
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, SHOAL_LOG=os.environ.get("SHOAL_LOG", "info"))
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [str(shoal_bin()), "--conf", str(self.conf), "mount", *self.args, str(self.mountpoint)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_mounted(self.mountpoint):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"shoal mount exited with {self.proc.returncode}: {self.log_text()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"shoal mount did not mount within {timeout}s: {self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self):
        """Unmounts and ends the process, whatever state they are in."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        force_unmount(self.mountpoint)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()  # a mount that failed to start may still hold its mount point
            raise

    def __exit__(self, *exc):
        self.stop()
        return False


@pytest.fixture(scope="module")
def mounted(store):
    """The store mounted once for the read tests of a module."""
    tmp = Path(tempfile.mkdtemp(prefix="shoal-mnt-"))
    mp = tmp / "mnt"
    m = Mount(store.conf_file(), mp)
    try:
        m.start()
        yield m
    finally:
        m.stop()
        shutil.rmtree(tmp, ignore_errors=True)
