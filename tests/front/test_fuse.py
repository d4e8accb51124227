"""`shoal mount`: the FUSE front end, mounted by the tests on temporary mount points over a
real S3 server (s3s-fs on 127.0.0.1). Every mount is unmounted whatever the outcome.
"""
from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import Mount, Store, force_unmount, is_mounted, sha, shoal_bin


def read(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# ---- reading: the bytes of the store, whatever the tool -------------------------------------


def test_find_stat_cat_read_the_store(mounted, store):
    data = mounted.mountpoint / "data"
    found = subprocess.run(["find", str(data), "-type", "f"], check=True, capture_output=True, text=True)
    got = sorted(os.path.relpath(p, data) for p in found.stdout.split())
    assert got == sorted(store.files)
    # The root lists the mount points.
    assert os.listdir(mounted.mountpoint) == ["data"]
    for rel, content in store.files.items():
        st = os.stat(data / rel)
        assert st.st_size == len(content), rel
        assert st.st_mode & 0o777 == 0o444
    out = subprocess.run(["stat", "-c", "%s %F", str(data / "big.bin")], check=True,
                         capture_output=True, text=True).stdout.split(maxsplit=1)
    assert int(out[0]) == len(store.files["big.bin"]) and out[1].strip() == "regular file"
    cat = subprocess.run(["cat", str(data / "labels.txt"), str(data / "big.bin")], check=True,
                         capture_output=True).stdout
    assert cat == store.files["labels.txt"] + store.files["big.bin"]


def test_os_walk_and_whole_reads(mounted, store):
    data = mounted.mountpoint / "data"
    seen = {}
    for dirpath, dirnames, filenames in os.walk(data):
        for name in filenames:
            p = Path(dirpath) / name
            seen[str(p.relative_to(data))] = read(p)
    assert set(seen) == set(store.files)
    for rel, content in store.files.items():
        assert sha(seen[rel]) == sha(content), rel
    assert os.path.isdir(data / "train" / "cat")
    assert not os.path.exists(data / "train" / "cow")


def test_random_preads(mounted, store):
    content = store.files["big.bin"]
    rng = random.Random(5)
    fd = os.open(mounted.mountpoint / "data" / "big.bin", os.O_RDONLY)
    try:
        for _ in range(300):
            off = rng.randrange(0, len(content) + 100)
            n = rng.choice([1, 17, 4096, 65536, 300_000, 2 * 1024 * 1024])
            assert os.pread(fd, n, off) == content[off:off + n], (off, n)
    finally:
        os.close(fd)


def test_concurrent_readers(mounted, store):
    data = mounted.mountpoint / "data"
    items = list(store.files.items()) * 4
    random.Random(9).shuffle(items)

    def check(item):
        rel, content = item
        return sha(read(data / rel)) == sha(content)

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(check, items))


def test_tf_data_loader_reads_the_store(mounted, store):
    """tf.data, as a TensorFlow input pipeline reads a local directory."""
    tf = pytest.importorskip("tensorflow")
    root = mounted.mountpoint / "data"
    files = tf.data.Dataset.list_files(str(root / "*" / "*" / "*.jpg"), shuffle=False)
    pipeline = files.map(lambda p: (p, tf.io.read_file(p)), num_parallel_calls=4).batch(5)
    got = {}
    for paths, contents in pipeline:
        for p, c in zip(paths.numpy(), contents.numpy()):
            got[os.path.relpath(p.decode(), root)] = c
    want = {k: v for k, v in store.files.items() if k.endswith(".jpg")}
    assert set(got) == set(want)
    assert all(sha(got[k]) == sha(want[k]) for k in want)


def test_pytorch_loader_reads_the_store(mounted, store):
    """PyTorch's DataLoader with worker processes (PyPI's torch is the 4 GB CUDA build, so
    scripts/setup.sh installs it only with SHOAL_SETUP_TORCH=1)."""
    torch = pytest.importorskip("torch", reason="PyTorch is installed by SHOAL_SETUP_TORCH=1 scripts/setup.sh")
    from torch.utils.data import DataLoader, Dataset

    root = mounted.mountpoint / "data" / "train"
    paths = sorted(str(p) for p in root.rglob("*.jpg"))

    class Files(Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            with open(paths[i], "rb") as f:
                return paths[i], torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)

    got = {}
    loader = DataLoader(Files(), batch_size=4, num_workers=2, collate_fn=lambda b: b)
    for batch in loader:
        for path, tensor in batch:
            got[os.path.relpath(path, mounted.mountpoint / "data")] = bytes(tensor.numpy())
    want = {k: v for k, v in store.files.items() if k.startswith("train/")}
    assert set(got) == set(want)
    assert all(sha(got[k]) == sha(want[k]) for k in want)


def test_training_example_over_the_mount(mounted):
    """examples/fuse_training.py, unchanged local-files training code, over the mount."""
    pytest.importorskip("torch", reason="PyTorch is installed by SHOAL_SETUP_TORCH=1 scripts/setup.sh")
    example = Path(__file__).resolve().parents[2] / "examples" / "fuse_training.py"
    out = subprocess.run([sys.executable, str(example), str(mounted.mountpoint / "data" / "train"),
                          "--epochs", "2", "--batch-size", "4", "--shoal-mount", str(mounted.mountpoint)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "12 images, 2 classes, 2 epochs", lines
    assert lines[1].startswith("epoch 1: load ") and "Shoal hit ratio" in lines[1], lines
    assert lines[2].startswith("epoch 2: load "), lines


def test_counters_on_the_root(store, tmp_path):
    import json

    with Mount(store.conf_file(), tmp_path / "mnt") as m:
        before = json.loads(os.getxattr(m.mountpoint, "user.shoal.stats"))
        assert read(m.mountpoint / "data" / "val" / "cat" / "img_004.jpg")
        after = json.loads(os.getxattr(m.mountpoint, "user.shoal.stats"))
        assert {"cache_hits", "cache_misses", "bytes_from_store", "metadata_hits", "fuse_opens",
                "fuse_reads"} <= set(after)
        assert all(after[k] >= before[k] for k in before)
        # A fresh mount's first read of a file reaches Shoal: a hit or a miss.
        assert after["cache_hits"] + after["cache_misses"] > before["cache_hits"] + before["cache_misses"]
        assert "user.shoal.stats" in os.listxattr(m.mountpoint)
        assert os.listxattr(m.mountpoint / "data" / "labels.txt") == []
        with pytest.raises(OSError) as e:
            os.getxattr(m.mountpoint / "data" / "labels.txt", "user.other")
        assert e.value.errno == errno.ENODATA


def test_refused_credentials_are_eacces(store, tmp_path):
    bad = store.conf(**{"shoal.mount.data.option.aws_secret_access_key": "not-the-secret"})
    conf = tmp_path / "bad.properties"
    conf.write_text("".join(f"{k}={v}\n" for k, v in bad.items()))
    with Mount(conf, tmp_path / "mnt") as m:
        with pytest.raises(PermissionError) as e:
            os.listdir(m.mountpoint / "data")
        assert e.value.errno == errno.EACCES
        with pytest.raises(PermissionError):
            os.stat(m.mountpoint / "data" / "labels.txt")
    assert "EACCES" in m.log_text(), m.log_text()
    assert "not-the-secret" not in m.log_text()


def test_the_cli_sees_what_the_mount_cached(mounted, store):
    """The mount fills the same node cache directories as every other Shoal process."""
    read(mounted.mountpoint / "data" / "val" / "dog" / "img_000.jpg")
    out = subprocess.run([str(shoal_bin()), "--conf", str(mounted.conf), "stat", "/data/val/dog/img_000.jpg"],
                         check=True, capture_output=True, text=True).stdout
    assert "100.0% on this node" in out, out


def test_missing_paths_and_writes(mounted):
    data = mounted.mountpoint / "data"
    with pytest.raises(FileNotFoundError):
        open(data / "nope.txt", "rb")
    with pytest.raises(FileNotFoundError):
        os.listdir(mounted.mountpoint / "elsewhere")
    with pytest.raises(NotADirectoryError):
        os.listdir(data / "labels.txt")

    def erofs(fn, *args):
        with pytest.raises(OSError) as e:
            fn(*args)
        assert e.value.errno == errno.EROFS, (fn, e.value)

    erofs(open, data / "new.txt", "wb")
    erofs(open, data / "labels.txt", "r+b")
    erofs(os.mkdir, data / "newdir")
    erofs(os.unlink, data / "labels.txt")
    erofs(os.rmdir, data / "val")
    erofs(os.rename, data / "labels.txt", data / "l2.txt")
    erofs(os.truncate, data / "labels.txt", 0)
    erofs(os.utime, data / "labels.txt", None)
    erofs(os.chmod, data / "labels.txt", 0o600)
    erofs(os.symlink, "labels.txt", data / "link")
    assert read(data / "labels.txt") == b"cat\ndog\n"


# ---- freshness, faults, lifecycle -----------------------------------------------------------


def stats(m: Mount) -> dict:
    import json

    return json.loads(os.getxattr(m.mountpoint, "user.shoal.stats"))


def daemon_requests(m: Mount) -> tuple:
    """The opens and reads the kernel asked the mount for, and the reads Shoal served."""
    st = stats(m)
    return st["fuse_opens"], st["fuse_reads"], st["cache_hits"] + st["cache_misses"]


def test_overwritten_object_is_read_anew_after_the_ttl(tmp_path):
    with Store(tmp_path) as s:
        conf = s.conf_file(**{"shoal.metadata.ttl": "1s", "shoal.metadata.negative.ttl": "1s"})
        with Mount(conf, tmp_path / "mnt") as m:
            f = m.mountpoint / "data" / "labels.txt"
            assert read(f) == b"cat\ndog\n"
            # Opened again, unchanged: the kernel opens it by itself and serves it from its
            # page cache; neither an open nor a read reaches the mount.
            before = daemon_requests(m)
            for _ in range(3):
                assert read(f) == b"cat\ndog\n"
            assert daemon_requests(m) == before
            (s.bucket / "labels.txt").write_bytes(b"cat\ndog\nbird\n")
            (s.bucket / "new.txt").write_bytes(b"fresh")
            deadline = time.monotonic() + 10
            while read(f) != b"cat\ndog\nbird\n":
                assert time.monotonic() < deadline, "the new version was not read within 10 s"
                time.sleep(0.25)
            assert os.stat(f).st_size == len(b"cat\ndog\nbird\n")
            mtime = os.stat(f).st_mtime_ns
            # The same length, other bytes, likely within the same second: a new ETag, so new
            # pages, and another mtime, so the kernel drops the old version's pages.
            (s.bucket / "labels.txt").write_bytes(b"CAT\nDOG\nBIRD\n")
            deadline = time.monotonic() + 10
            before = stats(m)
            while read(f) != b"CAT\nDOG\nBIRD\n":
                assert time.monotonic() < deadline, "the same-length overwrite was not read within 10 s"
                time.sleep(0.25)
            after = stats(m)
            # The kernel dropped the old pages and read the new version through the mount,
            # whose bytes came from the store.
            assert after["fuse_reads"] > before["fuse_reads"]
            assert after["cache_misses"] > before["cache_misses"]
            assert os.stat(f).st_mtime_ns != mtime
            assert read(m.mountpoint / "data" / "new.txt") == b"fresh"


def test_store_that_stops_answering_gives_eio_and_the_mount_survives(tmp_path):
    with Store(tmp_path) as s:
        conf = s.conf_file(**{
            "shoal.store.max.retries": "1",
            "shoal.store.retry.timeout": "3s",
            "shoal.mount.data.option.timeout": "2s",
            "shoal.mount.data.option.connect_timeout": "1s",
            "shoal.metadata.ttl": "10m",
        })
        with Mount(conf, tmp_path / "mnt") as m:
            data = m.mountpoint / "data"
            warm = data / "train" / "cat" / "img_000.jpg"
            cold = data / "train" / "dog" / "img_001.jpg"
            assert read(warm) == s.files["train/cat/img_000.jpg"]
            os.stat(cold)  # its metadata is cached; its bytes are not
            listing = sorted(os.listdir(data))  # so is this listing
            os.kill(s.server.proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                result = {}

                def cold_read():
                    try:
                        result["data"] = read(cold)
                    except OSError as e:
                        result["error"] = e

                t = threading.Thread(target=cold_read, daemon=True)
                t.start()
                # While that read waits on the store, the mount serves what it has.
                time.sleep(0.5)
                assert read(warm) == s.files["train/cat/img_000.jpg"]
                assert sorted(os.listdir(data)) == listing
                t.join(timeout=30)
                elapsed = time.monotonic() - started
                assert not t.is_alive(), "the read of a hung store never returned"
                assert "error" in result, "a read from a stopped store succeeded"
                assert result["error"].errno == errno.EIO, result["error"]
                # Bounded by the retry timeout plus one request's timeout, with slack.
                assert elapsed < 3 + 2 + 6, elapsed
            finally:
                os.kill(s.server.proc.pid, signal.SIGCONT)
            assert read(cold) == s.files["train/dog/img_001.jpg"]
            assert read(warm) == s.files["train/cat/img_000.jpg"]
            assert is_mounted(m.mountpoint)
        assert "EIO" in m.log_text() and "read" in m.log_text(), m.log_text()


def test_sigterm_with_a_reader_holding_a_file(store, tmp_path):
    with Mount(store.conf_file(), tmp_path / "mnt") as m:
        content = store.files["big.bin"]
        f = open(m.mountpoint / "data" / "big.bin", "rb", buffering=0)
        try:
            head = f.read(1024 * 1024)
            m.signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while is_mounted(m.mountpoint):
                assert time.monotonic() < deadline, "SIGTERM did not detach the mount"
                time.sleep(0.05)
            assert m.proc.poll() is None, "the mount exited under an open file"
            rest = f.read()
        finally:
            f.close()
        assert head + rest == content
        assert m.wait(timeout=20) == 0, m.log_text()


def test_sigint_and_fusermount_unmount_cleanly(store, tmp_path):
    with Mount(store.conf_file(), tmp_path / "mnt") as m:
        m.signal(signal.SIGINT)
        assert m.wait() == 0, m.log_text()
        assert not is_mounted(m.mountpoint)
    helper = next((h for h in ("fusermount3", "fusermount") if subprocess.run(
        ["sh", "-c", f"command -v {h}"], capture_output=True).returncode == 0), None)
    if helper is None:
        pytest.fail("fusermount3 is not installed (scripts/setup.sh installs Debian's fuse3)")
    with Mount(store.conf_file(), tmp_path / "mnt2") as m:
        held = open(m.mountpoint / "data" / "labels.txt", "rb")
        busy = subprocess.run([helper, "-u", str(m.mountpoint)], capture_output=True, text=True)
        assert busy.returncode != 0 and is_mounted(m.mountpoint), busy
        held.close()
        deadline = time.monotonic() + 10
        while True:
            out = subprocess.run([helper, "-u", str(m.mountpoint)], capture_output=True, text=True)
            if out.returncode == 0:
                break
            assert time.monotonic() < deadline, out.stderr
            time.sleep(0.1)
        assert m.wait() == 0, m.log_text()
        assert not is_mounted(m.mountpoint)


def test_daemon_mode(store, tmp_path):
    mp = tmp_path / "mnt"
    mp.mkdir()
    log = tmp_path / "daemon.log"
    try:
        out = subprocess.run([str(shoal_bin()), "--conf", str(store.conf_file()), "mount", "--daemon",
                              "--log-file", str(log), str(mp)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        # Ready when the command returns.
        assert is_mounted(mp)
        assert read(mp / "data" / "labels.txt") == b"cat\ndog\n"
        pid = int(out.stderr.split("serving in process")[1].split()[0])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, "the daemon did not exit after SIGTERM"
            time.sleep(0.05)
        assert not is_mounted(mp)
        assert "mounted the Shoal namespace" in log.read_text()
    finally:
        force_unmount(mp)


def test_thread_counts_out_of_range_are_clear_errors_and_the_most_serves(store, tmp_path):
    """--threads 0 and a huge --threads are refused before anything is mounted (a huge one
    used to abort on its buffers and leave a dead mount behind); 256, the most, serves."""
    conf = store.conf_file()
    mp = tmp_path / "mp"
    mp.mkdir()
    for n in ("0", "257", "99999999999"):
        out = subprocess.run([str(shoal_bin()), "--conf", str(conf), "mount", "--threads", n,
                              str(mp)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 1, (n, out.returncode, out.stderr)
        assert f"--threads {n} is out of range: from 1 to 256" in out.stderr, out.stderr
        assert not is_mounted(mp)
    with Mount(conf, mp, "--threads", "256") as m:
        name = sorted(store.files)[0]
        assert (m.mountpoint / "data" / name).read_bytes() == store.files[name]


def test_bad_mount_points_are_clear_errors(store, tmp_path, mounted):
    conf = store.conf_file()

    def mount(mp):
        return subprocess.run([str(shoal_bin()), "--conf", str(conf), "mount", str(mp)],
                              capture_output=True, text=True, timeout=60)

    out = mount(tmp_path / "missing")
    assert out.returncode == 1 and "does not exist" in out.stderr, out.stderr
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    out = mount(full)
    assert out.returncode == 1 and "not empty" in out.stderr, out.stderr
    out = mount(mounted.mountpoint)
    assert out.returncode == 1 and "busy" in out.stderr, out.stderr
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = mount(afile)
    assert out.returncode == 1 and "not a directory" in out.stderr, out.stderr
    bad = tmp_path / "bad.properties"
    bad.write_text("shoal.mount.x.path=/x\nshoal.mount.x.uri=nope://what\n")
    mp = tmp_path / "mp"
    mp.mkdir()
    out = subprocess.run([str(shoal_bin()), "--conf", str(bad), "mount", str(mp)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "nope" in out.stderr, out.stderr
    assert not is_mounted(mp)
