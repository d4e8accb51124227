"""Shoal from Python, without Spark: an fsspec filesystem for ``shoal://`` and ``alluxio://``
(``shoal.fsspec.ShoalFileSystem``) and direct handles (``shoal.Namespace``) over libshoal,
the C API of Shoal's Rust core. The ``shoal_spark`` module beside this package keeps the
cluster-wide load/free/stat helpers for PySpark.
"""
from __future__ import annotations

from .client import File, Namespace, ShoalError, counter_names, process_counters

__all__ = ["Namespace", "File", "ShoalError", "counter_names", "process_counters", "ShoalFileSystem", "__version__"]
__version__ = "0.1.0"


def __getattr__(name):
    # fsspec is imported only when the filesystem is asked for.
    if name == "ShoalFileSystem":
        from .fsspec import ShoalFileSystem

        return ShoalFileSystem
    raise AttributeError(name)
