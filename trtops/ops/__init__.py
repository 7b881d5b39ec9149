"""trtops kernels as PyTorch functions with torchvision's signatures.

CPU tensors run the host implementation, CUDA tensors the CUDA kernels (queued on the tensor's
device and current torch stream, without host synchronization). Both live in
``libtrtops_kernels.so``; the functions raise :class:`trtops.TrtopsError` when it is missing.

Under ``torch.compile`` / ``torch.export`` (and for meta tensors) each call is one
``torch.ops.trtops_kernels.<op>`` custom op, whose fake kernel gives the output's shape; an
eager call launches directly. ``trtops.converters.export`` lowers those ops to trtops nodes.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> private submodule of trtops.ops that defines it
_EXPORTS = {
    "roi_align": "_roi",
    "ps_roi_align": "_roi",
    "roi_pool": "_roi",
    "ps_roi_pool": "_roi",
    "RoIAlign": "_roi",
    "PSRoIAlign": "_roi",
    "RoIPool": "_roi",
    "PSRoIPool": "_roi",
    "MultiScaleRoIAlign": "_roi",
    "multi_scale_roi_align": "_roi",
    "nms": "_nms",
    "batched_nms": "_nms",
    "deform_conv2d": "_deform_conv",
    "DeformConv2d": "_deform_conv",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trtops.ops' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"trtops.ops.{module}"), name)
    globals()[name] = value  # later lookups skip this hook (it runs on every call otherwise)
    return value
