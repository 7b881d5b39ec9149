"""Registering ``libtrtops_plugins.so`` with a TensorRT runtime."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from types import ModuleType
from typing import Union

from trtops import _native
from trtops.errors import TrtopsError

PLUGIN_NAMESPACE = "trtops"
PLUGIN_VERSION = "1"
#: The plugins of each kernel family (CMake's TRTOPS_KERNEL_FAMILIES decides which are built).
PLUGINS_BY_FAMILY = {
    "roi": ("RoIAlign", "PSRoIAlign", "RoIPool", "PSRoIPool", "MultiScaleRoIAlign"),
    "nms": ("NMS", "BatchedNMS"),
    "deform_conv": ("DeformConv2d",),
}
#: TensorRT Python modules tried, in order, when load_plugins() is given none.
RUNTIME_MODULES = ("tensorrt", "tensorrt_rtx")

_lock = threading.Lock()
# Runtime modules (by name: one plugin registry each) this process loaded the library into, so a
# second call does not load it twice.
_loaded: set[str] = set()


def plugin_library_path() -> Path:
    """Path of ``libtrtops_plugins.so``; raises :class:`TrtopsError` saying why it is missing."""
    path = _native.find_library(_native.PLUGINS_LIBRARY)
    if path is not None:
        return path
    info = _native.build_info()
    if not info:
        why = "the native part of trtops is not installed (install with `pip install .`)"
    elif not info.get("plugins_built"):
        why = info.get("plugins_skip_reason") or "the plugin library was not built"
        why = f"it was not built: {why}; rebuild with TENSORRT_ROOT=/path/to/TensorRT pip install ."
    else:
        why = "build_info.json says it was built, but the file is missing from the installation"
    raise TrtopsError(f"{_native.PLUGINS_LIBRARY} not available: {why}")


def built_plugins() -> list[str]:
    """Sorted names of the plugins the installed build contains (from build_info.json)."""
    info = _native.build_info()
    if not info.get("plugins_built"):
        return []
    return sorted(name for family in info.get("kernel_families", []) for name in PLUGINS_BY_FAMILY[family])


def import_runtime(trt: Union[None, str, ModuleType] = None) -> ModuleType:
    """The TensorRT Python module to use: the one given (module or name), else the first of
    ``tensorrt``, ``tensorrt_rtx`` that imports."""
    if isinstance(trt, ModuleType):
        return trt
    names = (trt,) if trt else RUNTIME_MODULES
    errors = []
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise TrtopsError(
        "no TensorRT Python runtime could be imported ("
        + "; ".join(errors)
        + "). Install TensorRT or TensorRT-RTX, e.g. `pip install tensorrt-rtx-cu13`."
    )


def registered_plugins(trt: Union[None, str, ModuleType] = None) -> list[str]:
    """Names of the trtops plugins (namespace ``trtops``) currently in the runtime's registry."""
    runtime = import_runtime(trt)
    registry = runtime.get_plugin_registry()
    names = {
        creator.name
        for creator in registry.all_creators
        if getattr(creator, "plugin_namespace", "") == PLUGIN_NAMESPACE
    }
    return sorted(names)


def load_plugins(trt: Union[None, str, ModuleType] = None) -> list[str]:
    """Register the trtops plugins with a TensorRT runtime and return their names.

    Args:
        trt: the TensorRT Python module (``tensorrt`` or ``tensorrt_rtx``) or its name; when
            omitted, ``tensorrt`` is tried first, then ``tensorrt_rtx``.

    Returns:
        The sorted names of the plugins of namespace ``trtops`` now in the runtime's registry.

    Raises:
        TrtopsError: the plugin library was not built (and why: e.g. TensorRT headers were absent
            at build time), no TensorRT runtime is importable, or the runtime refused the library.

    Calling it again is harmless: the library is loaded once per registry.
    """
    runtime = import_runtime(trt)
    path = plugin_library_path()
    registry = runtime.get_plugin_registry()
    with _lock:
        if runtime.__name__ not in _loaded:
            handle = registry.load_library(str(path))
            if handle is None:
                raise TrtopsError(
                    f"{runtime.__name__} {getattr(runtime, '__version__', '?')} refused to load {path} "
                    "(see the TensorRT log above for the reason)"
                )
            _loaded.add(runtime.__name__)
    return registered_plugins(runtime)


def plugin_fields(trt: Union[None, str, ModuleType] = None) -> dict[str, list[dict[str, object]]]:
    """For every registered trtops plugin, its creator's fields: name, type and length."""
    runtime = import_runtime(trt)
    fields: dict[str, list[dict[str, object]]] = {}
    for creator in runtime.get_plugin_registry().all_creators:
        if getattr(creator, "plugin_namespace", "") != PLUGIN_NAMESPACE:
            continue
        collection = creator.field_names
        fields[creator.name] = [
            {"name": f.name, "type": str(f.type).split(".")[-1], "length": int(f.size)}
            for f in (collection if collection is not None else [])
        ]
    return fields
