"""libshoal (Shoal's C API) loaded with cffi, declared from the C header it was built with.

The library is installed inside this package (``_libshoal*.so``); ``$SHOAL_LIBRARY`` names
another build to load instead (a ``target/release/libshoal.so`` while developing).
"""
from __future__ import annotations

import glob
import os
import re

import cffi

_HERE = os.path.dirname(os.path.abspath(__file__))


def _declarations(header: str) -> str:
    """The header as cffi's cdef reads it: no preprocessor lines but integer #defines, no
    C++ blocks."""
    out = []
    skipping = 0
    for line in header.splitlines():
        stripped = line.strip()
        if stripped.startswith("#if"):
            if skipping or "__cplusplus" in stripped:
                skipping += 1
            continue
        if skipping:
            if stripped.startswith("#endif"):
                skipping -= 1
            continue
        if stripped.startswith("#define"):
            parts = stripped.split()
            if len(parts) == 3 and re.fullmatch(r"-?(0x[0-9a-fA-F]+|[0-9]+)[uUlL]*", parts[2]):
                out.append(f"#define {parts[1]} {parts[2].rstrip('uUlL')}")
            continue
        if stripped.startswith("#"):
            continue
        out.append(line)
    return "\n".join(out)


def _library_path() -> str:
    override = os.environ.get("SHOAL_LIBRARY")
    if override:
        return override
    found = sorted(glob.glob(os.path.join(_HERE, "_libshoal*.so")))
    if not found:
        raise ImportError(
            f"libshoal is not installed in {_HERE}: install the package with "
            "`pip install ./python` (it builds the library with cargo), or set SHOAL_LIBRARY "
            "to a libshoal.so"
        )
    return found[0]


ffi = cffi.FFI()
with open(os.path.join(_HERE, "shoal.h"), encoding="utf-8") as _f:
    ffi.cdef(_declarations(_f.read()))
lib = ffi.dlopen(_library_path())
