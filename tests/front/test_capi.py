"""The C API (libshoal.so, shoal.h) from C: a small program compiled by the test with the
system's C compiler, run against a real S3 server; and the header's check in the build."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, libshoal

HEADER_DIR = REPO / "native" / "capi" / "include"


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler (cc, gcc or clang) on PATH")
    lib = libshoal()
    exe = tmp_path_factory.mktemp("capi") / "capi_check"
    subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread",
                    "-I", str(HEADER_DIR), str(Path(__file__).with_name("capi_check.c")),
                    "-L", str(lib.parent), "-lshoal", f"-Wl,-rpath,{lib.parent}", "-o", str(exe)],
                   check=True)
    return exe


def run(program, store, *args, check=True):
    pairs = [f"{k}={v}" for k, v in store.conf().items()]
    out = subprocess.run([str(program), *pairs, "--", *args], capture_output=True, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"{args}: exit {out.returncode}: {out.stderr.decode(errors='replace')}")
    return out


def lines(out):
    return out.stdout.decode().splitlines()


def test_stat_list_and_files(program, store):
    assert lines(run(program, store, "stat", "/data/big.bin"))[0] == \
        f"f /data/big.bin {len(store.files['big.bin'])} etag"
    listing = [l.split() for l in lines(run(program, store, "list", "/data"))[:-1]]
    assert [(kind, path) for kind, path, *_ in listing] == [
        ("f", "/data/big.bin"), ("f", "/data/empty.txt"), ("f", "/data/labels.txt"),
        ("d", "/data/train"), ("d", "/data/val")]
    assert [int(n) for _, path, n, _ in listing if not path.endswith(("train", "val"))] == [
        len(store.files["big.bin"]), 0, len(store.files["labels.txt"])]
    files = lines(run(program, store, "files", "/data/train"))[:-1]
    want = sorted(k for k in store.files if k.startswith("train/"))
    assert [l.split()[1] for l in files] == ["/data/" + k for k in want]
    assert [int(l.split()[2]) for l in files] == [len(store.files[k]) for k in want]
    root = lines(run(program, store, "list", "/"))[:-1]
    assert root == ["d /data 0 -"]


def test_positioned_reads_return_the_store_bytes(program, store):
    for rel in ("big.bin", "labels.txt", "empty.txt", "val/cat/img_002.jpg"):
        assert run(program, store, "cat", f"/data/{rel}").stdout == store.files[rel], rel


def test_one_handle_read_by_many_threads(program, store):
    want = sum(store.files["big.bin"])
    sums = [int(x) for x in lines(run(program, store, "threads", "/data/big.bin", "8"))[:-1]]
    assert sums == [want] * 8


def test_errors_carry_kind_and_message(program, store):
    out = lines(run(program, store, "missing", "/data/nope.bin"))
    kind, _, code = out[0].split()[1:4]
    assert kind == code.rstrip(":") == "1", out
    assert "/data/nope.bin" in out[0]
    assert out[1].split()[1] == out[1].split()[3] == "4", out
    bad = lines(run(program, store, "badconf"))[0]
    assert bad.split()[1] == bad.split()[3].rstrip(":") == "14", bad
    assert "shoal.mount.x" in bad


def test_load_free_and_counters(program, store):
    run(program, store, "free", "/data/val")
    first, second = lines(run(program, store, "load", "/data/val"))[:2]
    total = sum(len(v) for k, v in store.files.items() if k.startswith("val/"))
    assert first.split()[1:8:2] == ["12", str(total), str(total), "0"], first
    # Loaded already: nothing fetched, everything cached before.
    assert second.split()[1:8:2] == ["12", str(total), "0", str(total)], second
    freed = int(lines(run(program, store, "free", "/data/val"))[0].split()[1])
    assert freed >= total
    counters = {l.split()[0]: (int(l.split()[1]), int(l.split()[2]))
                for l in lines(run(program, store, "counters", "/data/labels.txt"))[:-1]}
    assert counters["cache_hits"][0] >= 1 and counters["cache_hits"][1] >= counters["cache_hits"][0]
    assert "bytes_from_store" in counters and "cache_misses" in counters


def test_stale_header_fails_the_build(tmp_path):
    """The build step that keeps include/shoal.h in step with the Rust source."""
    header = HEADER_DIR / "shoal.h"
    saved = header.read_bytes()
    try:
        header.write_bytes(saved.replace(b"shoal_pread", b"shoal_pread_renamed", 1))
        out = subprocess.run(["cargo", "build", "--release", "-p", "shoal-capi"], cwd=REPO,
                             capture_output=True, text=True, timeout=900)
        assert out.returncode != 0
        assert "shoal.h is stale" in out.stderr, out.stderr[-2000:]
    finally:
        header.write_bytes(saved)
    out = subprocess.run(["cargo", "build", "--release", "-p", "shoal-capi"], cwd=REPO,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
