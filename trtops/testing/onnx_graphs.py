"""Small ONNX graphs holding one trtops plugin node, for build-tier tests and samples.

A trtops node follows DESIGN.md: domain ``trtops``, ``op_type`` = plugin name, attributes =
plugin fields plus ``plugin_namespace="trtops"`` and ``plugin_version="1"``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

Dim = Union[int, str]  # a str names a dynamic dimension
TensorSpec = tuple[str, str, Sequence[Dim]]  # (name, dtype name as in numpy/torch, shape)

_ONNX_TYPES = {
    "float32": 1,  # onnx.TensorProto.FLOAT
    "float16": 10,
    "bfloat16": 16,
    "int32": 6,
    "int64": 7,
    "bool": 9,
}


def plugin_model(
    op_type: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    attributes: Mapping[str, Any],
    *,
    opset: int = 17,
) -> Any:
    """An onnx.ModelProto with one trtops node ``op_type`` from graph inputs to graph outputs."""
    import onnx
    from onnx import helper

    def value_info(spec: TensorSpec) -> onnx.ValueInfoProto:
        name, dtype, shape = spec
        return helper.make_tensor_value_info(name, _ONNX_TYPES[dtype], list(shape))

    node = helper.make_node(
        op_type,
        [spec[0] for spec in inputs],
        [spec[0] for spec in outputs],
        domain="trtops",
        plugin_namespace="trtops",
        plugin_version="1",
        **dict(attributes),
    )
    graph = helper.make_graph(
        [node], f"trtops_{op_type}", [value_info(s) for s in inputs], [value_info(s) for s in outputs]
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("trtops", 1)],
        producer_name="trtops",
    )
