"""An fsspec filesystem for ``shoal://`` and ``alluxio://`` paths, over libshoal.

Registered with fsspec under both protocols (entry points), so pandas, pyarrow, Ray Data and
PyTorch datasets read Shoal paths without Spark::

    import pandas as pd
    df = pd.read_parquet("shoal:///datasets/tables/x.parquet")      # $SHOAL_CONF's mounts

    import fsspec
    fs = fsspec.filesystem("shoal", **{
        "shoal.mount.data.path": "/data",
        "shoal.mount.data.uri": "s3://bucket/data",
    })
    fs.ls("/data")

The configuration is that of the ``shoal`` command: the files of ``$SHOAL_CONF``, then the
keyword options whose names start with ``shoal.`` or ``fs.`` (or a ``conf`` mapping), which win.
Reads go through the node cache directories that Spark executors and the FUSE mount use.
Read-only: opening for writing raises ``PermissionError`` (EROFS).
"""
from __future__ import annotations

import datetime
import errno
import os

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from .client import Namespace

__all__ = ["ShoalFileSystem", "ShoalFile"]

_SCHEMES = ("shoal://", "alluxio://")


def _entry(i: dict) -> dict:
    d = {
        "name": i["path"],
        "size": i["len"],
        "type": "directory" if i["is_dir"] else "file",
        "mtime": i["mtime_ms"] / 1000.0,
    }
    if i["etag"] is not None:
        d["ETag"] = i["etag"]
    return d


class ShoalFileSystem(AbstractFileSystem):
    """Shoal's namespace as an fsspec filesystem (read-only)."""

    protocol = ("shoal", "alluxio")
    root_marker = "/"

    def __init__(self, conf=None, read_env_conf: bool = True, **storage_options):
        pairs = dict(conf or {})
        fsspec_options = {}
        for k, v in storage_options.items():
            if k.startswith(("shoal.", "fs.")):
                pairs[k] = v
            else:
                fsspec_options[k] = v
        super().__init__(**fsspec_options)
        self.namespace = Namespace(pairs, read_env_conf=read_env_conf)

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
        for scheme in _SCHEMES:
            if path.startswith(scheme):
                rest = path[len(scheme):]
                # The authority (host:port) is accepted and ignored, as by the Hadoop side.
                slash = rest.find("/")
                path = "/" if slash < 0 else rest[slash:]
                break
        if not path.startswith("/"):
            path = "/" + path
        while "//" in path:
            path = path.replace("//", "/")
        return path.rstrip("/") or "/"

    @staticmethod
    def _get_kwargs_from_urls(path):
        return {}

    def unstrip_protocol(self, name: str) -> str:
        return "shoal://" + self._strip_protocol(name)

    # ---- metadata -----------------------------------------------------------------------

    def ls(self, path, detail=True, **kwargs):
        path = self._strip_protocol(path)
        entries = [_entry(i) for i in self.namespace.list(path)]
        return entries if detail else [e["name"] for e in entries]

    def info(self, path, **kwargs):
        return _entry(self.namespace.stat(self._strip_protocol(path)))

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        path = self._strip_protocol(path)
        if maxdepth is not None or withdirs:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        try:
            files = {i["path"]: _entry(i) for i in self.namespace.list_files(path)}
        except FileNotFoundError:
            files = {}
        return files if detail else sorted(files)

    def modified(self, path):
        return datetime.datetime.fromtimestamp(self.info(path)["mtime"], tz=datetime.timezone.utc)

    def created(self, path):
        return self.modified(path)

    def ukey(self, path):
        i = self.info(path)
        return i.get("ETag") or f"{i['size']}-{i['mtime']}"

    # ---- data ---------------------------------------------------------------------------

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        if mode != "rb":
            raise PermissionError(
                errno.EROFS, f"Shoal's Python filesystem is read-only; cannot open {path} with mode {mode!r}"
            )
        return ShoalFile(self, path, mode=mode, block_size=block_size, cache_options=cache_options, **kwargs)

    def cat_file(self, path, start=None, end=None, **kwargs):
        path = self._strip_protocol(path)
        with self.namespace.open(path) as f:
            size = f.size
            start = 0 if start is None else (start if start >= 0 else max(size + start, 0))
            end = size if end is None else (end if end >= 0 else max(size + end, 0))
            if end <= start:
                return b""
            return f.pread(end - start, start)

    # ---- the node cache -----------------------------------------------------------------

    def load(self, path) -> dict:
        """Brings every file under ``path`` into this node's cache."""
        return self.namespace.load(self._strip_protocol(path))

    def free(self, path) -> int:
        """Drops ``path``'s pages from this node's cache (the store is not touched)."""
        return self.namespace.free(self._strip_protocol(path))

    def counters(self) -> dict:
        """Counters of this filesystem: cache_hits, cache_misses, bytes_from_store, ..."""
        return self.namespace.counters()

    # ---- writes: not supported ----------------------------------------------------------

    def _read_only(self, *args, **kwargs):
        raise PermissionError(errno.EROFS, "Shoal's Python filesystem is read-only")

    mkdir = makedirs = rmdir = _rm = rm_file = rm = cp_file = mv = touch = pipe_file = put_file = _read_only


class ShoalFile(AbstractBufferedFile):
    """A file opened for reading; ranges come from the core with positioned reads."""

    def __init__(self, fs, path, mode="rb", block_size=None, cache_options=None, size=None,
                 **kwargs):
        # ``size``, given by fsspec's ``reopen`` when a pickled file is loaded, is the size of
        # the version the pickling process had open; the version opened now has its own.
        path = fs._strip_protocol(path)
        self._native = fs.namespace.open(path)
        super().__init__(
            fs,
            path,
            mode=mode,
            block_size=block_size or "default",
            cache_options=cache_options,
            size=self._native.size,
            **kwargs,
        )

    def _fetch_range(self, start, end):
        if self._native._pid != os.getpid():
            self._native = self.fs.namespace.open(self.path)
        return self._native.pread(end - start, start)

    def close(self):
        super().close()
        native = getattr(self, "_native", None)
        if native is not None:
            native.close()
