"""trtops.converters: PyTorch/torchvision and ONNX models -> networks that use trtops plugins.

Shipped from the repository's ``converters/`` folder as ``trtops.converters``.

* :func:`export` - torch model -> ONNX with torchvision ops as trtops nodes (torch.export
  path, TorchScript + :func:`rewrite` fallback); ``deploy=True`` for torchvision detectors
  (Faster/Mask/Keypoint R-CNN, RetinaNet, FCOS, SSD) gives static-shape post-processing that TensorRT builds.
* :func:`rewrite` - standard ONNX ``RoiAlign`` / ``NonMaxSuppression`` / ``MaxRoiPool`` /
  ``DeformConv`` -> trtops nodes, with exact glue; reports what it left alone.
* :func:`evaluate` - runs a graph holding trtops nodes on CPU (ONNX Runtime or
  ``onnx.reference`` for standard ops, ``trtops.reference`` for trtops nodes).
* :func:`set_node_attributes` - changes plugin fields of every node of one kind (e.g.
  ``allow_tf32=1`` on ``DeformConv2d``).

See ``README.md`` in this folder for which exporter path is used when.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule that defines it (imported lazily: torch/onnx are heavy)
_EXPORTS = {
    "export": "exporter",
    "torchvision_as_trtops_ops": "exporter",
    "rewrite": "rewriter",
    "RewriteResult": "rewriter",
    "evaluate": "evaluator",
    "run_trtops_node": "evaluator",
    "DeployRCNN": "deploy",
    "DeploySingleStage": "deploy",
    "deploy_module": "deploy",
    "make_node": "_nodes",
    "set_node_attributes": "_nodes",
    "NODE_SPECS": "_nodes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trtops.converters' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
