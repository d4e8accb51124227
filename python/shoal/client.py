"""Pythonic handles over libshoal: a ``Namespace`` (one configuration's mounts) and ``File``s
opened from it. The fsspec filesystem (``shoal.fsspec``) is built on these. Every call goes
to the Rust core; nothing here decides anything about paths, caching or stores.
"""
from __future__ import annotations

import errno
import os
import threading
from typing import Iterable, Mapping

from ._native import ffi, lib

__all__ = ["Namespace", "File", "ShoalError", "counter_names", "process_counters"]


class ShoalError(OSError):
    """An error of the core that maps to no more specific built-in exception."""


def _exception(kind: int, message: str) -> Exception:
    """The built-in exception family Python code catches, by the core's error kind."""
    by_kind = {
        lib.SHOAL_ERR_NOT_FOUND: (FileNotFoundError, errno.ENOENT),
        lib.SHOAL_ERR_ALREADY_EXISTS: (FileExistsError, errno.EEXIST),
        lib.SHOAL_ERR_NOT_A_DIRECTORY: (NotADirectoryError, errno.ENOTDIR),
        lib.SHOAL_ERR_IS_A_DIRECTORY: (IsADirectoryError, errno.EISDIR),
        lib.SHOAL_ERR_NOT_EMPTY: (OSError, errno.ENOTEMPTY),
        lib.SHOAL_ERR_READ_ONLY: (PermissionError, errno.EROFS),
        lib.SHOAL_ERR_PERMISSION_DENIED: (PermissionError, errno.EACCES),
        lib.SHOAL_ERR_TIMED_OUT: (TimeoutError, errno.ETIMEDOUT),
        lib.SHOAL_ERR_UNSUPPORTED: (ShoalError, errno.EOPNOTSUPP),
    }
    if kind in (lib.SHOAL_ERR_INVALID_ARGUMENT, lib.SHOAL_ERR_CONFIG):
        e = ValueError(message)
    else:
        cls, code = by_kind.get(kind, (ShoalError, errno.EIO))
        e = cls(code, message)
    e.shoal_kind = kind
    return e


class _Err:
    """The error out-parameter of one call."""

    __slots__ = ("ptr",)

    def __init__(self):
        self.ptr = ffi.new("shoal_error **")

    def raise_(self):
        err = self.ptr[0]
        if err == ffi.NULL:
            raise ShoalError(errno.EIO, "libshoal failed without saying why")
        try:
            kind = err.kind
            message = ffi.string(err.message).decode("utf-8", "replace")
        finally:
            lib.shoal_error_free(err)
        raise _exception(kind, message)


def _c(s):
    if isinstance(s, str):
        b = s.encode("utf-8")
    elif isinstance(s, (bytes, os.PathLike)):
        b = os.fsencode(s)  # as os.open takes them
    else:
        raise TypeError(f"expected str, bytes or os.PathLike object, not {type(s).__name__}")
    if b"\0" in b:
        # C would read it only up to the NUL: "/data/x.bin\0.txt" would be "/data/x.bin"
        raise ValueError(f"embedded null byte in {s!r}")
    return ffi.new("char[]", b)


def _info(i) -> dict:
    return {
        "path": ffi.string(i.path).decode("utf-8"),
        "is_dir": bool(i.is_dir),
        "len": int(i.len),
        "mtime_ms": int(i.mtime_ms),
        "etag": None if i.etag == ffi.NULL else ffi.string(i.etag).decode("utf-8"),
    }


def counter_names() -> list:
    """The names of the counters, in the order the counter functions return them."""
    return [ffi.string(lib.shoal_counter_name(i)).decode() for i in range(lib.shoal_counter_count())]


def process_counters() -> dict:
    """The counters of this whole process (every namespace and file)."""
    n = lib.shoal_counter_count()
    values = ffi.new("uint64_t[]", n)
    got = lib.shoal_process_counters(values, n)
    return dict(zip(counter_names()[:got], (int(values[i]) for i in range(got))))


class Namespace:
    """The namespace of one configuration: ``conf`` pairs (the keys Spark and the ``shoal``
    command use) over the files of ``$SHOAL_CONF`` unless ``read_env_conf`` is false.

    Thread-safe. Not shared across ``fork``: a forked child (a DataLoader worker) opens its
    own when it first uses one made by its parent.
    """

    def __init__(self, conf: Mapping[str, str] | Iterable[tuple] = (), read_env_conf: bool = True):
        pairs = list(conf.items()) if isinstance(conf, Mapping) else list(conf)
        self._pairs = [(str(k), str(v)) for k, v in pairs]
        self._read_env_conf = read_env_conf
        self._lock = threading.Lock()
        self._pid = None
        self._handle = None
        self._open()

    def _open(self):
        keys = [_c(k) for k, _ in self._pairs]
        values = [_c(v) for _, v in self._pairs]
        flags = 0 if self._read_env_conf else lib.SHOAL_OPEN_NO_ENV_CONF
        err = _Err()
        h = lib.shoal_fs_open(
            ffi.new("char *[]", keys), ffi.new("char *[]", values), len(keys), flags, err.ptr
        )
        if h == ffi.NULL:
            err.raise_()
        self._handle = ffi.gc(h, lib.shoal_fs_close)
        self._pid = os.getpid()

    @property
    def handle(self):
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    # The parent's handle is the parent's: releasing it here would touch
                    # state whose threads are not in this process. It is forgotten instead.
                    if self._handle is not None:
                        ffi.gc(self._handle, None)
                    self._open()
        return self._handle

    def __getstate__(self):
        return {"pairs": self._pairs, "read_env_conf": self._read_env_conf}

    def __setstate__(self, state):
        self.__init__(state["pairs"], state["read_env_conf"])

    def stat(self, path: str) -> dict:
        """Status of a path: path, is_dir, len, mtime_ms, etag. FileNotFoundError if none."""
        err = _Err()
        p = lib.shoal_stat(self.handle, _c(path), err.ptr)
        if p == ffi.NULL:
            err.raise_()
        try:
            return _info(p)
        finally:
            lib.shoal_file_info_free(p)

    def _listing(self, fn, path: str) -> list:
        err = _Err()
        p = fn(self.handle, _c(path), err.ptr)
        if p == ffi.NULL:
            err.raise_()
        try:
            return [_info(p.entries[i]) for i in range(p.count)]
        finally:
            lib.shoal_listing_free(p)

    def list(self, path: str) -> list:
        """Entries of a directory (or the file itself), sorted by path."""
        return self._listing(lib.shoal_list, path)

    def list_files(self, path: str) -> list:
        """Every file at or under ``path``, sorted: one flat listing per mount."""
        return self._listing(lib.shoal_list_files, path)

    def open(self, path: str) -> "File":
        err = _Err()
        p = lib.shoal_open(self.handle, _c(path), err.ptr)
        if p == ffi.NULL:
            err.raise_()
        return File(path, p)

    def load(self, path: str) -> dict:
        """Brings every file under ``path`` into this node's cache; returns files, bytes,
        fetched_bytes, cached_bytes_before."""
        err = _Err()
        s = ffi.new("shoal_load_summary *")
        if lib.shoal_load(self.handle, _c(path), s, err.ptr) != 0:
            err.raise_()
        return {
            "files": int(s.files),
            "bytes": int(s.bytes),
            "fetched_bytes": int(s.fetched_bytes),
            "cached_bytes_before": int(s.cached_bytes_before),
        }

    def free(self, path: str) -> int:
        """Drops the pages of every file under ``path`` from this node's cache; returns the
        bytes freed on disk."""
        err = _Err()
        freed = ffi.new("uint64_t *")
        if lib.shoal_free(self.handle, _c(path), freed, err.ptr) != 0:
            err.raise_()
        return int(freed[0])

    def counters(self) -> dict:
        """This namespace's counters (cache_hits, cache_misses, bytes_from_store, ...)."""
        n = lib.shoal_counter_count()
        values = ffi.new("uint64_t[]", n)
        got = lib.shoal_fs_counters(self.handle, values, n)
        return dict(zip(counter_names()[:got], (int(values[i]) for i in range(got))))


class File:
    """An open file: positioned reads of one version of it. Thread-safe; close it (or use
    ``with``) to release it at once."""

    def __init__(self, path: str, handle):
        self.path = path
        self._handle = ffi.gc(handle, lib.shoal_file_close)
        self._pid = os.getpid()
        self.size = int(lib.shoal_file_len(handle))

    def _live(self):
        if self._handle is None:
            raise ValueError(f"{self.path} is closed")
        if self._pid != os.getpid():
            # Opened before a fork: the handle is the parent's (see Namespace.handle).
            ffi.gc(self._handle, None)
            self._handle = None
            raise ShoalError(
                errno.EBADF,
                f"{self.path} was opened by process {self._pid} before it forked; "
                "open it again in this process",
            )
        return self._handle

    def pread(self, length: int, offset: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer only at the end of the file)."""
        if length < 0 or offset < 0:
            raise ValueError(f"negative length {length} or offset {offset}")
        handle = self._live()
        length = min(length, max(self.size - offset, 0))
        if length == 0:
            return b""
        buf = bytearray(length)
        err = _Err()
        n = lib.shoal_pread(handle, offset, ffi.from_buffer(buf), length, err.ptr)
        if n < 0:
            err.raise_()
        if n < length:
            del buf[n:]
        return bytes(buf)

    def readinto(self, buf, offset: int) -> int:
        """Reads into a writable buffer at ``offset``; returns the bytes read."""
        if offset < 0:
            raise ValueError(f"negative offset {offset}")
        view = memoryview(buf)
        if view.readonly:
            # cffi would hand C the memory of a bytes object, which Python shares
            raise TypeError(f"readinto() argument must be read-write bytes-like object, "
                            f"not {type(buf).__name__}")
        view = view.cast("B")
        handle = self._live()
        err = _Err()
        n = lib.shoal_pread(handle, offset, ffi.from_buffer(view), len(view), err.ptr)
        if n < 0:
            err.raise_()
        return int(n)

    def close(self):
        h, self._handle = self._handle, None
        if h is not None:
            if self._pid == os.getpid():
                ffi.release(h)
            else:
                ffi.gc(h, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
