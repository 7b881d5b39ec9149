"""trtops.ops' ``trtops_kernels::`` ops in the TorchScript exporter (``dynamo=False``).

The torch.export path lowers them in :mod:`._translations`. A model written with trtops.ops that
torch.export cannot take goes through the TorchScript exporter instead (``exporter="auto"``'s
fallback, or ``"torchscript"``); there each op's symbolic function below emits its trtops node
directly, with the same fields.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from . import _nodes

# g.op takes a list value under the same suffix as one value (e.g. "dims_i")
_KIND_SUFFIX = {_nodes.INT: "i", _nodes.FLOAT: "f", _nodes.INTS: "i", _nodes.FLOATS: "f"}
_INT32 = 3  # torch's ScalarType code of int32, as a ScalarType argument reaches a symbolic


def _node(g: Any, op_type: str, *inputs: Any, outputs: int = 1, **fields: Any) -> Any:
    """One trtops node: ``fields`` checked and typed by the node table (:mod:`._nodes`)."""
    spec = _nodes.NODE_SPECS[op_type]
    attrs = {
        f"{name}_{_KIND_SUFFIX[spec.attributes[name][0]]}": value
        for name, value in _nodes.node_attributes(op_type, fields).items()
    }
    attrs.update(plugin_namespace_s=_nodes.PLUGIN_NAMESPACE, plugin_version_s=_nodes.PLUGIN_VERSION)
    return g.op(f"{_nodes.DOMAIN}::{op_type}", *inputs, outputs=outputs, **attrs)


def _symbolics() -> dict[str, Callable[..., Any]]:
    from torch.onnx import symbolic_helper as sym

    def is_none(value: Any) -> bool:
        return value is None or sym._is_none(value)

    @sym.parse_args("v", "v", "i", "i", "f", "i", "b")
    def roi_align(g, input, rois, pooled_height, pooled_width, spatial_scale, sampling_ratio, aligned):  # type: ignore[no-untyped-def]
        return _node(g, "RoIAlign", input, rois, output_height=pooled_height, output_width=pooled_width,
                     spatial_scale=spatial_scale, sampling_ratio=sampling_ratio, aligned=int(aligned))

    @sym.parse_args("v", "v", "i", "i", "f", "i")
    def ps_roi_align(g, input, rois, pooled_height, pooled_width, spatial_scale, sampling_ratio):  # type: ignore[no-untyped-def]
        return _node(g, "PSRoIAlign", input, rois, output_height=pooled_height, output_width=pooled_width,
                     spatial_scale=spatial_scale, sampling_ratio=sampling_ratio)

    def pool(op_type: str) -> Callable[..., Any]:
        @sym.parse_args("v", "v", "i", "i", "f")
        def symbolic(g, input, rois, pooled_height, pooled_width, spatial_scale):  # type: ignore[no-untyped-def]
            return _node(g, op_type, input, rois, output_height=pooled_height, output_width=pooled_width,
                         spatial_scale=spatial_scale)

        return symbolic

    @sym.parse_args("v", "v", "i", "i", "fs", "i", "b", "i", "i", "s", "i")
    def multi_scale_roi_align(g, features, rois, pooled_height, pooled_width, scales, sampling_ratio,  # type: ignore[no-untyped-def]
                              aligned, canonical_scale, canonical_level, level_mapper, finest_scale):
        from trtops.ops._roi import LEVEL_MAPPERS  # the node's level_mapper codes are the kernels'

        return _node(g, "MultiScaleRoIAlign", *sym._unpack_list(features), rois, output_height=pooled_height,
                     output_width=pooled_width, sampling_ratio=sampling_ratio, spatial_scales=list(scales),
                     canonical_scale=canonical_scale, canonical_level=canonical_level, aligned=int(aligned),
                     level_mapper=LEVEL_MAPPERS[level_mapper], finest_scale=finest_scale)

    def nms(g, boxes, scores, idxs, iou_threshold, score_threshold, max_output_boxes, padded, index_dtype):  # type: ignore[no-untyped-def]
        batched = not is_none(idxs)
        inputs = (boxes, scores, idxs) if batched else (boxes, scores)
        threshold = None if is_none(score_threshold) else sym._get_const(score_threshold, "f", "score_threshold")
        cap = -1 if is_none(max_output_boxes) else sym._get_const(max_output_boxes, "i", "max_output_boxes")
        return _node(g, "BatchedNMS" if batched else "NMS", *inputs, outputs=2,
                     iou_threshold=sym._get_const(iou_threshold, "f", "iou_threshold"),
                     score_threshold=threshold, max_output_boxes=cap,
                     padded=int(sym._get_const(padded, "b", "padded")),
                     index_int32=int(sym._get_const(index_dtype, "i", "index_dtype") == _INT32))

    def deform_conv2d(g, input, offset, weight, bias, stride, padding, dilation, groups, offset_groups, mask,  # type: ignore[no-untyped-def]
                      allow_tf32):
        inputs = [input, offset, weight] + ([] if is_none(bias) else [bias]) + ([] if is_none(mask) else [mask])
        return _node(g, "DeformConv2d", *inputs, stride=sym._get_const(stride, "is", "stride"),
                     padding=sym._get_const(padding, "is", "padding"),
                     dilation=sym._get_const(dilation, "is", "dilation"),
                     groups=sym._get_const(groups, "i", "groups"),
                     offset_groups=sym._get_const(offset_groups, "i", "offset_groups"),
                     has_bias=int(not is_none(bias)), has_mask=int(not is_none(mask)),
                     allow_tf32=int(sym._get_const(allow_tf32, "b", "allow_tf32")))

    return {
        "roi_align": roi_align,
        "ps_roi_align": ps_roi_align,
        "roi_pool": pool("RoIPool"),
        "ps_roi_pool": pool("PSRoIPool"),
        "multi_scale_roi_align": multi_scale_roi_align,
        "nms": nms,
        "deform_conv2d": deform_conv2d,
    }


def register(opset: int) -> None:
    """Registers the symbolic function of every ``trtops_kernels::`` op for ``opset``."""
    import trtops.ops._deform_conv  # noqa: F401  (each module registers its trtops_kernels:: ops)
    import trtops.ops._nms  # noqa: F401
    import trtops.ops._roi  # noqa: F401

    for name, symbolic in _symbolics().items():
        torch.onnx.register_custom_op_symbolic(f"trtops_kernels::{name}", symbolic, opset)
