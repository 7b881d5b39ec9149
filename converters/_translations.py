"""Lowering of torchvision and ``trtops::`` torch ops to trtops ONNX nodes.

One entry per torch op in :data:`TRANSLATIONS` (the ``custom_translation_table`` handed to
``torch.onnx.export(dynamo=True)``). Each function is traced by the exporter's onnxscript
recorder: calling ``_TRTOPS.<Plugin>(...)`` records one trtops node. Attributes go through
:func:`._nodes.node_attributes`, which fixes their names and ONNX types.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch

from . import _nodes, _torch_ops  # noqa: F401  (_torch_ops registers the trtops:: ops)


def _opset() -> Any:
    import onnxscript

    _nodes.register_onnx_schemas()
    return onnxscript.values.Opset(_nodes.DOMAIN, _nodes.DOMAIN_VERSION)


def _node(op_type: str, *inputs: Any, outputs: int = 1, **attrs: Any) -> Any:
    attrs = _nodes.node_attributes(op_type, attrs)
    attrs.update(plugin_namespace=_nodes.PLUGIN_NAMESPACE, plugin_version=_nodes.PLUGIN_VERSION)
    op = getattr(_opset(), op_type)
    return op(*inputs, **attrs)


def _roi_align(input, rois, spatial_scale: float, pooled_height: int, pooled_width: int,
               sampling_ratio: int, aligned: bool):
    return _node("RoIAlign", input, rois, output_height=pooled_height, output_width=pooled_width,
                 spatial_scale=spatial_scale, sampling_ratio=sampling_ratio, aligned=aligned)


def _ps_roi_align(input, rois, spatial_scale: float, pooled_height: int, pooled_width: int,
                  sampling_ratio: int):
    out = _node("PSRoIAlign", input, rois, output_height=pooled_height, output_width=pooled_width,
                spatial_scale=spatial_scale, sampling_ratio=sampling_ratio)
    # torchvision's second output (channel_mapping / argmax, for backward) has no trtops
    # counterpart; inference graphs never consume it, and the exporter drops it.
    return out, out


def _roi_pool(input, rois, spatial_scale: float, pooled_height: int, pooled_width: int):
    out = _node("RoIPool", input, rois, output_height=pooled_height, output_width=pooled_width,
                spatial_scale=spatial_scale)
    return out, out


def _ps_roi_pool(input, rois, spatial_scale: float, pooled_height: int, pooled_width: int):
    out = _node("PSRoIPool", input, rois, output_height=pooled_height, output_width=pooled_width,
                spatial_scale=spatial_scale)
    return out, out


def _nms(dets, scores, iou_threshold: float):
    indices, _count = _node("NMS", dets, scores, outputs=2, iou_threshold=iou_threshold)
    return indices


def _batched_nms(boxes, scores, idxs, iou_threshold: float):
    indices, _count = _node("BatchedNMS", boxes, scores, idxs, outputs=2, iou_threshold=iou_threshold)
    return indices


def _nms_padded(boxes, scores, idxs, iou_threshold: float, score_threshold: Optional[float],
                max_output_boxes: int):
    return _kernels_nms(boxes, scores, idxs, iou_threshold, score_threshold, max_output_boxes, True, torch.int64)


def _multi_scale_roi_align(features, rois, output_height: int, output_width: int,
                           sampling_ratio: int, spatial_scales, canonical_scale: int,
                           canonical_level: int, aligned: bool, level_mapper: int = 0,
                           finest_scale: int = 56):
    return _node("MultiScaleRoIAlign", *features, rois, output_height=output_height,
                 output_width=output_width, sampling_ratio=sampling_ratio,
                 spatial_scales=list(spatial_scales), canonical_scale=canonical_scale,
                 canonical_level=canonical_level, aligned=aligned, level_mapper=level_mapper,
                 finest_scale=finest_scale)


def _deform_conv2d(input, weight, offset, mask, bias, stride_h: int, stride_w: int, pad_h: int,
                   pad_w: int, dilation_h: int, dilation_w: int, groups: int, offset_groups: int,
                   use_mask: bool):
    # torchvision's Python wrapper always passes a bias (zeros when absent) and a mask (unused
    # unless use_mask); the node takes the bias and, only with use_mask, the mask.
    inputs = [input, offset, weight, bias] + ([mask] if use_mask else [])
    return _node("DeformConv2d", *inputs, stride=[stride_h, stride_w], padding=[pad_h, pad_w],
                 dilation=[dilation_h, dilation_w], groups=groups, offset_groups=offset_groups,
                 has_bias=1, has_mask=int(bool(use_mask)), allow_tf32=0)


# ----- trtops.ops' own custom ops (trtops_kernels::, a model written with trtops.ops) -----


def _kernels_roi_align(input, rois, pooled_height: int, pooled_width: int, spatial_scale: float,
                       sampling_ratio: int, aligned: bool):
    return _roi_align(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned)


def _kernels_ps_roi_align(input, rois, pooled_height: int, pooled_width: int, spatial_scale: float,
                          sampling_ratio: int):
    return _ps_roi_align(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio)[0]


def _kernels_roi_pool(input, rois, pooled_height: int, pooled_width: int, spatial_scale: float):
    return _roi_pool(input, rois, spatial_scale, pooled_height, pooled_width)[0]


def _kernels_ps_roi_pool(input, rois, pooled_height: int, pooled_width: int, spatial_scale: float):
    return _ps_roi_pool(input, rois, spatial_scale, pooled_height, pooled_width)[0]


def _kernels_multi_scale_roi_align(features, rois, pooled_height: int, pooled_width: int, scales,
                                   sampling_ratio: int, aligned: bool, canonical_scale: int,
                                   canonical_level: int, level_mapper: str, finest_scale: int):
    from trtops.ops._roi import LEVEL_MAPPERS  # the node's level_mapper codes are the kernels'

    return _multi_scale_roi_align(features, rois, pooled_height, pooled_width, sampling_ratio, scales,
                                  canonical_scale, canonical_level, aligned,
                                  LEVEL_MAPPERS[level_mapper], finest_scale)


def _kernels_nms(boxes, scores, idxs, iou_threshold: float, score_threshold: Optional[float],
                 max_output_boxes: Optional[int], padded: bool, index_dtype: torch.dtype):
    inputs = (boxes, scores) if idxs is None else (boxes, scores, idxs)
    return _node("NMS" if idxs is None else "BatchedNMS", *inputs, outputs=2,
                 iou_threshold=iou_threshold, score_threshold=score_threshold,
                 max_output_boxes=-1 if max_output_boxes is None else max_output_boxes,
                 padded=int(bool(padded)), index_int32=int(_is_int32(index_dtype)))


def _is_int32(dtype: Any) -> bool:
    """A dtype argument as the exporter hands it over (an ONNX IR DataType; a torch.dtype
    elsewhere) is int32."""
    return dtype == torch.int32 or getattr(dtype, "name", None) == "INT32"


def _kernels_deform_conv2d(input, offset, weight, bias, stride, padding, dilation, groups: int,
                           offset_groups: int, mask, allow_tf32: bool):
    inputs = [input, offset, weight] + ([bias] if bias is not None else []) + ([mask] if mask is not None else [])
    return _node("DeformConv2d", *inputs, stride=list(stride), padding=list(padding), dilation=list(dilation),
                 groups=groups, offset_groups=offset_groups, has_bias=int(bias is not None),
                 has_mask=int(mask is not None), allow_tf32=int(bool(allow_tf32)))


def translation_table() -> dict[Callable[..., Any], Callable[..., Any]]:
    """``custom_translation_table`` for ``torch.onnx.export(dynamo=True)``."""
    import torchvision  # noqa: F401  (registers torch.ops.torchvision)

    tv = torch.ops.torchvision
    import trtops.ops._deform_conv, trtops.ops._nms, trtops.ops._roi  # noqa: F401,E401  (register trtops_kernels::)

    kernels = torch.ops.trtops_kernels
    return {
        tv.roi_align.default: _roi_align,
        tv.ps_roi_align.default: _ps_roi_align,
        tv.roi_pool.default: _roi_pool,
        tv.ps_roi_pool.default: _ps_roi_pool,
        tv.nms.default: _nms,
        tv.deform_conv2d.default: _deform_conv2d,
        torch.ops.trtops.batched_nms.default: _batched_nms,
        torch.ops.trtops.nms_padded.default: _nms_padded,
        torch.ops.trtops.multi_scale_roi_align.default: _multi_scale_roi_align,
        kernels.roi_align.default: _kernels_roi_align,
        kernels.ps_roi_align.default: _kernels_ps_roi_align,
        kernels.roi_pool.default: _kernels_roi_pool,
        kernels.ps_roi_pool.default: _kernels_ps_roi_pool,
        kernels.multi_scale_roi_align.default: _kernels_multi_scale_roi_align,
        kernels.nms.default: _kernels_nms,
        kernels.deform_conv2d.default: _kernels_deform_conv2d,
    }
