"""Python face of ``libtrtops_plugin_harness.so``: drive a trtops plugin like a TensorRT runtime.

Without TensorRT: create a plugin from its creator with fields, read ``getFieldsToSerialize``,
re-create it from those fields (what engine deserialization does), clone it, run the build-phase
calls at concrete shapes (``configure``), and on a GPU run ``onShapeChange`` + ``enqueue`` on torch
CUDA tensors with the workspace size the plugin asked for.

    harness = PluginHarness()
    plugin = harness.create("RoIAlign", {"output_height": 7, "output_width": 7, "spatial_scale": 0.25})
    plugin.fields()        # {'output_height': ('INT32', [7]), ...}
    plugin.recreate().fields() == plugin.fields()
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from trtops import _native
from trtops.errors import TrtopsError
from trtops.plugins import plugin_library_path

HARNESS_LIBRARY = "libtrtops_plugin_harness.so"
MAX_DIMS = 8

# nvinfer1::PluginFieldType values
_FIELD_TYPES = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.int32): 5, np.dtype(np.int64): 10}
_FIELD_TYPE_NAMES = {1: "FLOAT32", 2: "FLOAT64", 5: "INT32", 10: "INT64"}
# nvinfer1::DataType values by torch dtype name
_DATA_TYPES = {"float32": 0, "float16": 1, "int32": 3, "bool": 4, "bfloat16": 7, "int64": 8}
# nvinfer1::TensorFormat values
FORMATS = {"linear": 0, "hwc8": 2, "hwc": 8}

FieldValue = Union[int, float, Sequence[int], Sequence[float], np.ndarray]
#: (dtype name, shape, format name) of one tensor for configure/enqueue
TensorSpec = tuple[str, Sequence[int], str]


def _field_array(value: FieldValue) -> np.ndarray:
    """int -> int32, float -> float32, lists likewise; numpy arrays keep their dtype."""
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value)
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if all(isinstance(v, (bool, int, np.integer)) for v in values):
        return np.asarray(values, dtype=np.int32)
    return np.asarray(values, dtype=np.float32)


class HarnessPlugin:
    """One plugin object created through the harness."""

    def __init__(self, harness: "PluginHarness", handle: int) -> None:
        self._harness = harness
        self._handle = ctypes.c_void_p(handle)

    def __del__(self) -> None:
        if getattr(self, "_handle", None) and self._handle.value:
            self._harness._lib.trtops_harness_destroy(self._handle)

    def fields(self) -> dict[str, tuple[str, list[float]]]:
        """getFieldsToSerialize: name -> (type name, values)."""
        buffer = ctypes.create_string_buffer(1 << 16)
        self._harness._check(self._harness._lib.trtops_harness_fields(self._handle, buffer, len(buffer)))
        result: dict[str, tuple[str, list[float]]] = {}
        for entry in filter(None, buffer.value.decode().split(";")):
            name, type_code, _length, values = entry.split(":")
            parsed = [float(v) for v in values.split(",")] if values else []
            result[name] = (_FIELD_TYPE_NAMES.get(int(type_code), type_code), parsed)
        return result

    def recreate(self) -> "HarnessPlugin":
        """A new plugin from this one's serialized fields (the engine deserialization path)."""
        return self._harness._wrap(self._harness._lib.trtops_harness_recreate(self._handle))

    def clone(self, attach_to_context: bool = False) -> "HarnessPlugin":
        lib = self._harness._lib
        return self._harness._wrap(lib.trtops_harness_clone(self._handle, int(attach_to_context)))

    @staticmethod
    def _descs(specs: Sequence[TensorSpec]) -> tuple[Any, Any, Any, Any]:
        n = len(specs)
        types = (ctypes.c_int32 * max(n, 1))(*[_DATA_TYPES[s[0]] for s in specs])
        formats = (ctypes.c_int32 * max(n, 1))(*[FORMATS[s[2]] for s in specs])
        ranks = (ctypes.c_int32 * max(n, 1))(*[len(s[1]) for s in specs])
        dims = (ctypes.c_int64 * max(n * MAX_DIMS, 1))()
        for i, spec in enumerate(specs):
            for d, extent in enumerate(spec[1]):
                dims[i * MAX_DIMS + d] = int(extent)
        return types, formats, ranks, dims

    def configure(self, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> int:
        """Build phase at these shapes; returns getWorkspaceSize. Raises TrtopsError on rejection."""
        size = self._harness._lib.trtops_harness_configure(
            self._handle, len(inputs), *self._descs(inputs), len(outputs), *self._descs(outputs)
        )
        if size < 0:
            raise TrtopsError(self._harness.last_error())
        return int(size)

    def enqueue(self, inputs: Sequence[Any], outputs: Sequence[Any], workspace: Optional[Any] = None,
                formats: Optional[Sequence[str]] = None) -> None:
        """onShapeChange + enqueue on torch CUDA tensors, on torch's current stream (no sync)."""
        import torch

        tensors = [*inputs, *outputs]
        formats = list(formats or ["linear"] * len(tensors))
        specs = [(str(t.dtype).replace("torch.", ""), list(t.shape), f) for t, f in zip(tensors, formats)]
        in_specs, out_specs = specs[: len(inputs)], specs[len(inputs):]
        in_ptrs = (ctypes.c_void_p * max(len(inputs), 1))(*[t.data_ptr() for t in inputs])
        out_ptrs = (ctypes.c_void_p * max(len(outputs), 1))(*[t.data_ptr() for t in outputs])
        stream = torch.cuda.current_stream().cuda_stream
        self._harness._check(
            self._harness._lib.trtops_harness_enqueue(
                self._handle, len(inputs), *self._descs(in_specs), len(outputs), *self._descs(out_specs),
                in_ptrs, out_ptrs, ctypes.c_void_p(workspace.data_ptr() if workspace is not None else 0),
                ctypes.c_void_p(stream),
            )
        )


class PluginHarness:
    """The trtops plugin library opened by the harness (no TensorRT needed)."""

    def __init__(self, plugin_library: Optional[Path] = None) -> None:
        path = _native.find_library(HARNESS_LIBRARY)
        if path is None:
            raise TrtopsError(f"{HARNESS_LIBRARY} not found: it is built together with the plugin library")
        lib = ctypes.CDLL(str(path))
        lib.trtops_harness_last_error.restype = ctypes.c_char_p
        lib.trtops_harness_open.restype = ctypes.c_void_p
        lib.trtops_harness_create.restype = ctypes.c_void_p
        lib.trtops_harness_recreate.restype = ctypes.c_void_p
        lib.trtops_harness_recreate.argtypes = [ctypes.c_void_p]
        lib.trtops_harness_clone.restype = ctypes.c_void_p
        lib.trtops_harness_clone.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        lib.trtops_harness_destroy.argtypes = [ctypes.c_void_p]
        lib.trtops_harness_configure.restype = ctypes.c_int64
        self._lib = lib
        library = str(plugin_library or plugin_library_path())
        handle = lib.trtops_harness_open(library.encode())
        if not handle:
            raise TrtopsError(self.last_error())
        self._library = ctypes.c_void_p(handle)

    def last_error(self) -> str:
        return self._lib.trtops_harness_last_error().decode(errors="replace")

    def _check(self, code: int) -> None:
        if code != 0:
            raise TrtopsError(self.last_error())

    def _wrap(self, handle: Optional[int]) -> HarnessPlugin:
        if not handle:
            raise TrtopsError(self.last_error())
        return HarnessPlugin(self, handle)

    def create(self, name: str, fields: Mapping[str, FieldValue], phase: str = "build") -> HarnessPlugin:
        """createPlugin(name, fields) of the trtops creator; TrtopsError with the plugin's log if
        the creator refuses."""
        arrays = [_field_array(v) for v in fields.values()]
        n = len(arrays)
        names = (ctypes.c_char_p * max(n, 1))(*[k.encode() for k in fields])
        types = (ctypes.c_int32 * max(n, 1))(*[_FIELD_TYPES[a.dtype] for a in arrays])
        data = (ctypes.c_void_p * max(n, 1))(*[a.ctypes.data for a in arrays])
        lengths = (ctypes.c_int32 * max(n, 1))(*[a.size for a in arrays])
        handle = self._lib.trtops_harness_create(
            self._library, name.encode(), 0 if phase == "build" else 1, n, names, types, data, lengths
        )
        return self._wrap(handle)
