"""trtops: TensorRT plugins and CUDA kernels for the detection operators of torchvision.ops.

Entry points:

* :func:`load_plugins` registers ``libtrtops_plugins.so`` with TensorRT or TensorRT-RTX.
* :mod:`trtops.ops` runs the trtops kernels on torch tensors (CPU: host implementation,
  CUDA: kernels).
* :mod:`trtops.reference` holds pure-PyTorch reference implementations of every operator.
* :mod:`trtops.converters` turns PyTorch/ONNX models into networks that use the plugins.

Submodules are imported lazily so that ``import trtops`` stays cheap and needs neither torch nor
TensorRT.
"""

from __future__ import annotations

import importlib
from typing import Any

from trtops.errors import TrtopsError
from trtops.plugins import load_plugins, plugin_library_path

__version__ = "0.1.0"

__all__ = ["TrtopsError", "__version__", "load_plugins", "plugin_library_path"]

_LAZY_SUBMODULES = {"converters", "ops", "reference", "rtx", "testing"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"trtops.{name}")
    raise AttributeError(f"module 'trtops' has no attribute {name!r}")
