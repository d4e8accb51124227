"""The Python package (`pip install ./python`): libshoal through cffi, the fsspec filesystem
for shoal:// and alluxio://, pandas and pyarrow reading through it, and fsspec's own
abstract test suite (the part a read-only filesystem can pass: `get`)."""
from __future__ import annotations

import errno
import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import fsspec
import pytest

import shoal
from shoal.fsspec import ShoalFileSystem



@pytest.fixture
def fs(store):
    return fsspec.filesystem("shoal", skip_instance_cache=True, **store.conf())


def test_the_package_installs_the_library_and_shoal_spark():
    import shoal_spark

    assert {"load", "free", "stat"} <= set(shoal_spark.__all__)
    site = Path(shoal.__file__).parent
    assert any(p.name.startswith("_libshoal") for p in site.iterdir()), list(site.iterdir())
    assert (site / "shoal.h").is_file()
    assert Path(shoal_spark.__file__).parent == site.parent


# ---- the C API from Python --------------------------------------------------------------------


def test_namespace_reads_the_store(store):
    ns = shoal.Namespace(store.conf(), read_env_conf=False)
    st = ns.stat("/data/big.bin")
    assert st["len"] == len(store.files["big.bin"]) and not st["is_dir"] and st["etag"]
    assert [e["path"] for e in ns.list("/")] == ["/data"]
    files = ns.list_files("/data")
    assert [f["path"] for f in files] == sorted("/data/" + k for k in store.files)
    with ns.open("/data/big.bin") as f:
        content = store.files["big.bin"]
        assert f.size == len(content)
        assert f.pread(100, 5_000_000) == content[5_000_000:5_000_100]
        assert f.pread(1000, len(content) - 10) == content[-10:]
        assert f.pread(10, len(content) + 5) == b""
        buf = bytearray(4096)
        assert f.readinto(buf, 4096) == 4096 and bytes(buf) == content[4096:8192]
        with pytest.raises(ValueError):
            f.pread(-1, 0)
    with pytest.raises(ValueError):
        f.pread(1, 0)


def test_errors_become_the_builtin_exceptions(store):
    ns = shoal.Namespace(store.conf(), read_env_conf=False)
    with pytest.raises(FileNotFoundError) as e:
        ns.stat("/data/missing")
    assert "/data/missing" in str(e.value) and e.value.errno == errno.ENOENT
    with pytest.raises(IsADirectoryError):
        ns.open("/data/train")
    with pytest.raises(FileNotFoundError):
        ns.list("/elsewhere")
    with pytest.raises(ValueError) as e:
        shoal.Namespace({"shoal.mount.x.path": "/x"}, read_env_conf=False)
    assert "shoal.mount.x" in str(e.value)
    with pytest.raises(ValueError):
        shoal.Namespace({"shoal.cache.memory.size": "lots"}, read_env_conf=False)


def test_a_nul_in_a_path_or_a_setting_is_refused_not_cut_short(store, fs):
    """C strings end at a NUL: "/data/big.bin\\0.txt" must not read /data/big.bin (Python's own
    open() refuses such a path with ValueError too)."""
    ns = shoal.Namespace(store.conf(), read_env_conf=False)
    for call in (ns.stat, ns.open, ns.list, ns.load, ns.free):
        with pytest.raises(ValueError, match="embedded null byte"):
            call("/data/big.bin\0.txt")
    with pytest.raises(ValueError, match="embedded null byte"):
        fs.cat_file("shoal:///data/big.bin\0.txt")
    with pytest.raises(ValueError, match="embedded null byte"):
        shoal.Namespace({**store.conf(), "shoal.cache.page.size": "64k\0junk"},
                        read_env_conf=False)


def test_paths_of_each_kind_and_buffers_that_cannot_be_written(store):
    ns = shoal.Namespace(store.conf(), read_env_conf=False)
    content = store.files["big.bin"]
    # bytes and os.PathLike paths, as os.open takes them; anything else is a TypeError
    assert ns.stat(b"/data/big.bin")["len"] == len(content)
    assert ns.stat(Path("/data/big.bin"))["len"] == len(content)
    for bad in (None, 17):
        with pytest.raises(TypeError, match="expected str, bytes or os.PathLike"):
            ns.stat(bad)
    with ns.open("/data/big.bin") as f:
        # a bytes object is immutable (and may be shared): never written into
        frozen = bytes(16)
        with pytest.raises(TypeError, match="read-write bytes-like"):
            f.readinto(frozen, 0)
        assert frozen == bytes(16)
        with pytest.raises(TypeError):
            f.readinto(memoryview(bytearray(8)).toreadonly(), 0)
        with pytest.raises(ValueError, match="negative offset"):
            f.readinto(bytearray(8), -1)
        part = bytearray(12)
        assert f.readinto(memoryview(part)[4:8], 100) == 4
        assert bytes(part[4:8]) == content[100:104] and part[:4] == bytes(4)


def test_an_open_fsspec_file_pickles_at_its_position(store, fs):
    """What a DataLoader started with "spawn" does to a dataset holding an open file."""
    import pickle

    content = store.files["big.bin"]
    with fs.open("shoal:///data/big.bin") as f:
        f.seek(1000)
        f.read(10)
        g = pickle.loads(pickle.dumps(f))
        try:
            assert g.tell() == 1010 and g.size == len(content)
            assert g.read(100) == content[1010:1110]
        finally:
            g.close()


def test_load_free_and_counters(store):
    ns = shoal.Namespace(store.conf(), read_env_conf=False)
    ns.free("/data/train/cat")
    s = ns.load("/data/train/cat")
    total = sum(len(v) for k, v in store.files.items() if k.startswith("train/cat/"))
    assert (s["files"], s["bytes"], s["fetched_bytes"]) == (6, total, total)
    assert ns.load("/data/train/cat")["fetched_bytes"] == 0
    before = ns.counters()
    with ns.open("/data/train/cat/img_001.jpg") as f:
        f.pread(10, 0)
    after = ns.counters()
    assert after["cache_hits"] > before["cache_hits"]
    assert after["bytes_from_store"] == before["bytes_from_store"]
    assert set(shoal.counter_names()) == set(after)
    assert shoal.process_counters()["cache_hits"] >= after["cache_hits"]


def test_threads_share_a_namespace(store):
    ns = shoal.Namespace(store.conf(), read_env_conf=False)
    errors = []

    def work(rel):
        try:
            with ns.open("/data/" + rel) as f:
                assert f.pread(f.size, 0) == store.files[rel]
        except Exception as e:  # noqa: BLE001 - collected and re-raised below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(rel,)) for rel in list(store.files) * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_forked_children_open_their_own(store):
    """A DataLoader worker forked after the parent used Shoal works with its own runtime."""
    ns = shoal.Namespace(store.conf(), read_env_conf=False)
    parent_file = ns.open("/data/labels.txt")
    assert parent_file.pread(3, 0) == b"cat"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        code = 1
        try:
            with ns.open("/data/val/dog/img_003.jpg") as f:
                ok = f.pread(f.size, 0) == store.files["val/dog/img_003.jpg"]
            try:
                parent_file.pread(1, 0)
                inherited = "usable"
            except OSError as e:
                inherited = "refused" if "before it forked" in str(e) else repr(e)
            os.write(w, f"{ok} {inherited}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == "True refused", report
    # The parent is untouched.
    assert parent_file.pread(3, 4) == b"dog"


# ---- fsspec ---------------------------------------------------------------------------------


def test_fsspec_registration_and_urls(store, fs):
    assert fsspec.get_filesystem_class("shoal") is ShoalFileSystem
    assert fsspec.get_filesystem_class("alluxio") is ShoalFileSystem
    assert fs.ls("shoal:///data", detail=False) == ["/data/big.bin", "/data/empty.txt", "/data/labels.txt",
                                                    "/data/train", "/data/val"]
    assert fs.cat("alluxio://master:19998/data/labels.txt") == b"cat\ndog\n"
    assert fs.cat("shoal://any:1/data/labels.txt") == b"cat\ndog\n"
    info = fs.info("shoal:///data/train")
    assert info["type"] == "directory" and info["name"] == "/data/train"
    assert fs.info("/data/big.bin")["size"] == len(store.files["big.bin"])
    assert fs.isdir("/data/val") and fs.isfile("/data/labels.txt") and not fs.exists("/data/nope")
    assert sorted(fs.find("/data/val")) == sorted("/data/" + k for k in store.files if k.startswith("val/"))
    assert fs.find("/data", maxdepth=1) == ["/data/big.bin", "/data/empty.txt", "/data/labels.txt"]
    assert sorted(fs.glob("/data/train/*/img_00[12].jpg")) == [
        "/data/train/cat/img_001.jpg", "/data/train/cat/img_002.jpg",
        "/data/train/dog/img_001.jpg", "/data/train/dog/img_002.jpg"]
    assert fs.du("/data/val") == sum(len(v) for k, v in store.files.items() if k.startswith("val/"))
    assert fs.unstrip_protocol("/data/x") == "shoal:///data/x"


def test_fsspec_open_seek_read(store, fs):
    content = store.files["big.bin"]
    with fs.open("shoal:///data/big.bin", block_size=256 * 1024) as f:
        assert f.read(10) == content[:10]
        f.seek(3_000_000)
        assert f.read(1_000_000) == content[3_000_000:4_000_000]
        f.seek(-5, io.SEEK_END)
        assert f.read() == content[-5:]
    with fsspec.open("shoal:///data/labels.txt", "r", **store.conf()) as f:
        assert f.read().splitlines() == ["cat", "dog"]
    assert fs.cat_file("/data/big.bin", start=10, end=20) == content[10:20]
    assert fs.cat_file("/data/big.bin", start=-4) == content[-4:]
    assert fs.cat("/data/empty.txt") == b""


def test_fsspec_is_read_only(fs):
    for call in (lambda: fs.open("/data/new", "wb"), lambda: fs.mkdir("/data/d"),
                 lambda: fs.rm("/data/labels.txt"), lambda: fs.pipe("/data/x", b"1"),
                 lambda: fs.touch("/data/t")):
        with pytest.raises(PermissionError) as e:
            call()
        assert e.value.errno == errno.EROFS


def test_shoal_conf_environment(store, tmp_path):
    conf = store.conf_file("env.properties")
    code = (
        "import fsspec, shoal\n"
        "fs = fsspec.filesystem('shoal')\n"
        "print(fs.cat('/data/labels.txt').decode().split())\n"
        "over = fsspec.filesystem('shoal', skip_instance_cache=True,"
        " **{'shoal.mount.data.path': '/other'})\n"
        "print(over.ls('/', detail=False))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, SHOAL_CONF=str(conf)), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["['cat', 'dog']", "['/other']"]


def test_pandas_and_pyarrow_read_through_shoal(store):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    table = pa.table({"id": list(range(1000)), "label": ["cat", "dog"] * 500})
    tables = store.bucket / "tables"
    tables.mkdir(exist_ok=True)
    pq.write_table(table, tables / "part-0.parquet")
    pq.write_table(table, tables / "part-1.parquet")
    df = pd.read_parquet("shoal:///data/tables/part-0.parquet", storage_options=store.conf())
    assert df["id"].sum() == sum(range(1000)) and list(df.columns) == ["id", "label"]
    fs = fsspec.filesystem("shoal", **store.conf())
    dataset = ds.dataset("/data/tables", filesystem=fs, format="parquet")
    assert dataset.to_table().num_rows == 2000
    csv = pd.read_csv("alluxio://master:19998/data/labels.txt", header=None, storage_options=store.conf())
    assert list(csv[0]) == ["cat", "dog"]


# ---- fsspec's own abstract tests: the part a read-only filesystem can pass --------------------

from fsspec.tests.abstract import AbstractFixtures, AbstractGetTests  # noqa: E402


class _StagedShoal(ShoalFileSystem):
    """The Shoal filesystem under test, with the fixtures' set-up writes (touch, mkdir, pipe,
    rm) done in the mounted directory itself; every read goes through Shoal."""

    def __init__(self, backing: str, **kw):
        super().__init__(**kw)
        self.backing = backing

    def _local(self, path):
        rel = self._strip_protocol(path)
        assert rel.startswith("/src"), rel
        return os.path.join(self.backing, rel[len("/src"):].lstrip("/"))

    def mkdir(self, path, create_parents=True, **kwargs):
        os.makedirs(self._local(path), exist_ok=True)

    makedirs = mkdir

    def touch(self, path, truncate=True, **kwargs):
        os.makedirs(os.path.dirname(self._local(path)), exist_ok=True)
        Path(self._local(path)).write_bytes(b"")

    def pipe_file(self, path, value, **kwargs):
        os.makedirs(os.path.dirname(self._local(path)), exist_ok=True)
        Path(self._local(path)).write_bytes(value)

    def rm(self, path, recursive=False, **kwargs):
        import shutil

        for p in [path] if isinstance(path, str) else path:
            local = self._local(p)
            shutil.rmtree(local) if os.path.isdir(local) else os.remove(local)


class TestFsspecAbstractGet(AbstractFixtures, AbstractGetTests):
    @pytest.fixture(scope="class")
    @classmethod
    def fs(cls, tmp_path_factory):
        backing = tmp_path_factory.mktemp("backing")
        cache = tmp_path_factory.mktemp("cache")
        return _StagedShoal(
            str(backing),
            skip_instance_cache=True,
            read_env_conf=False,
            **{
                "shoal.mount.src.path": "/src",
                "shoal.mount.src.uri": f"file://{backing}",
                # Through the node cache like any store, and no metadata cached between the
                # fixtures' writes and the reads under test.
                "shoal.mount.src.cache": "true",
                "shoal.metadata.ttl": "0",
                "shoal.metadata.negative.ttl": "0",
                "shoal.cache.dirs": f"{cache}:256m",
            },
        )

    @pytest.fixture
    def fs_path(self):
        return "/src"

    @pytest.fixture
    def fs_join(self):
        return lambda *parts: "/".join(p.rstrip("/") for p in parts)

    @pytest.fixture
    def supports_empty_directories(self):
        return True

    def test_reads_really_go_through_shoal(self, fs):
        fs.pipe_file("/src/probe", b"probe bytes")
        before = fs.counters()["cache_misses"]
        assert fs.cat("/src/probe") == b"probe bytes"
        assert fs.counters()["cache_misses"] == before + 1
        fs.rm("/src/probe")


def test_torch_dataset_example(store, tmp_path):
    """examples/torch_dataset.py: a Dataset over the fsspec filesystem, forked DataLoader
    workers, the first epoch from the store and the second from the node cache."""
    pytest.importorskip("torch", reason="PyTorch is installed by SHOAL_SETUP_TORCH=1 scripts/setup.sh")
    pytest.importorskip("PIL")
    from PIL import Image

    images = store.bucket / "images"
    for cls in ("cat", "dog"):
        (images / cls).mkdir(parents=True, exist_ok=True)
        for i in range(6):
            Image.new("RGB", (40 + i, 30), (i * 40, 100, 200)).save(images / cls / f"{i}.jpg")
    conf = store.conf(**{"shoal.cache.dirs": f"{tmp_path / 'cache'}:256m"})
    example = Path(__file__).resolve().parents[2] / "examples" / "torch_dataset.py"
    out = subprocess.run([sys.executable, str(example), "shoal:///data/images", "--epochs", "2",
                          "--workers", "2", "--batch-size", "4", "--conf",
                          *[f"{k}={v}" for k, v in conf.items()]],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "12 images, 2 classes"
    # The cold epoch fetches every image from the store once (12 misses); reads that find pages
    # that prefetch across files brought in first are hits.
    assert "12 images" in lines[1] and re.search(r"\(\d+ hits, 12 misses\)", lines[1]), lines
    assert "Shoal hit ratio 100.0% (12 hits, 0 misses)" in lines[2], lines
