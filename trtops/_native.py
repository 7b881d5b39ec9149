"""Locating the native libraries installed inside the package and calling the kernels' C ABI.

The libraries live in ``trtops/lib/`` (installed by CMake through scikit-build-core), next to
``build_info.json``, which records what the build produced and why anything was skipped.
``TRTOPS_LIBRARY_DIR`` overrides the location (e.g. a CMake build folder during development).
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from trtops.errors import TrtopsError

KERNELS_LIBRARY = "libtrtops_kernels.so"
PLUGINS_LIBRARY = "libtrtops_plugins.so"

# Mirrors trtops::StatusCode (plugins/kernels/core/status.h).
STATUS_NAMES = {1: "invalid argument", 2: "unsupported", 3: "CUDA error", 4: "internal error"}
STATUS_INVALID_ARGUMENT = 1

# Mirrors trtops::DataType (plugins/kernels/core/types.h).
DTYPE_CODES = {"float32": 0, "float16": 1, "bfloat16": 2, "float64": 3, "int32": 4, "int64": 5}
# Mirrors trtops::Layout.
LAYOUT_CODES = {"NCHW": 0, "NHWC": 1}


def library_dirs() -> list[Path]:
    """Folders searched for the native libraries, in order."""
    dirs: list[Path] = []
    override = os.environ.get("TRTOPS_LIBRARY_DIR")
    if override:
        dirs.append(Path(override))
    import trtops

    # An editable install can spread the package over the source tree and site-packages.
    for entry in trtops.__path__:
        dirs.append(Path(entry) / "lib")
    return dirs


def find_library(name: str) -> Optional[Path]:
    """Path of a native library of trtops, or None when it was not built/installed."""
    for folder in library_dirs():
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


@functools.lru_cache(maxsize=None)
def build_info() -> dict[str, Any]:
    """What the native build produced (``build_info.json``); ``{}`` when nothing native is installed."""
    for folder in library_dirs():
        path = folder / "build_info.json"
        if path.is_file():
            return json.loads(path.read_text())
    return {}


@functools.lru_cache(maxsize=None)
def kernels_library() -> ctypes.CDLL:
    """The loaded ``libtrtops_kernels.so``; raises TrtopsError naming what is missing."""
    path = find_library(KERNELS_LIBRARY)
    if path is None:
        info = build_info()
        if info and not info.get("kernels_built"):
            why = "the package was built without a CUDA compiler (nvcc), so no kernels exist"
        else:
            why = "the native part of trtops is not installed (install with `pip install .`)"
        searched = ", ".join(str(d) for d in library_dirs())
        raise TrtopsError(f"{KERNELS_LIBRARY} not found: {why}. Searched: {searched}")
    lib = ctypes.CDLL(str(path))
    lib.trtops_version.restype = ctypes.c_char_p
    lib.trtops_last_error_message.restype = ctypes.c_char_p
    lib.trtops_cuda_runtime_version.restype = ctypes.c_int32
    lib.trtops_cuda_device_count.restype = ctypes.c_int32
    return lib


#: An entry point of the kernels' C ABI as ctypes calls it: it returns a status code (0: ok).
KernelFunction = Callable[..., int]
_kernel_functions: dict[str, KernelFunction] = {}


def kernel_function(name: str, argtypes: Sequence[Any]) -> KernelFunction:
    """The C ABI function ``name`` of ``libtrtops_kernels.so`` with its argument types (ctypes
    types, as declared in the C header) and its int32 status result set on first use. Without
    argument types ctypes would pass Python ints as C ints, truncating pointers and 64-bit sizes."""
    fn = _kernel_functions.get(name)
    if fn is None:
        fn = getattr(kernels_library(), name)
        fn.argtypes = list(argtypes)
        fn.restype = ctypes.c_int32
        _kernel_functions[name] = fn
    return fn


def check_status(code: int) -> None:
    """Turns a C ABI status code into an exception carrying the library's message.

    Invalid arguments become ``ValueError`` (the caller passed something wrong); every other
    failure becomes :class:`TrtopsError`.
    """
    if code == 0:
        return
    message = kernels_library().trtops_last_error_message().decode(errors="replace")
    if code == STATUS_INVALID_ARGUMENT:
        raise ValueError(message)
    raise TrtopsError(f"{message} ({STATUS_NAMES.get(code, f'status {code}')})")
