"""What each trtops node computes, as torch functions over node attributes.

Used twice: by :mod:`evaluate` to run trtops nodes on CPU, and as the eager kernels of the
``trtops::`` torch custom ops that :mod:`export` routes torchvision through. The math is
``trtops.reference`` (torchvision's semantics); this module only adds what the plugins add on
top: RoIs as ``[K, 5]``, the NMS score threshold, output cap, padding and count.
"""

from __future__ import annotations

from types import ModuleType
from typing import Optional, Sequence

import torch
from torch import Tensor

#: torchvision's LevelMapper epsilon (fixed there, fixed in the MultiScaleRoIAlign plugin).
LEVEL_EPS = 1e-6


def _reference() -> ModuleType:  # imported lazily: trtops.reference pulls in nothing heavy, but keep it cheap
    import trtops.reference as reference

    return reference


def nms(
    boxes: Tensor,
    scores: Tensor,
    idxs: Optional[Tensor],
    iou_threshold: float,
    score_threshold: Optional[float] = None,
    max_output_boxes: int = -1,
    padded: bool = False,
    index_int32: bool = False,
) -> tuple[Tensor, Tensor]:
    """The NMS / BatchedNMS plugins: ``(indices, count)``.

    Candidates are the boxes with ``score >= score_threshold`` (all when None); kept indices are
    ordered by decreasing score, ties by lower index, cut to ``max_output_boxes`` (``-1``: no
    cap). ``padded`` fills ``[max_output_boxes]`` with ``-1`` after the kept ones. ``count`` is a
    0-D int64 tensor.
    """
    ref = _reference()
    candidates = torch.arange(boxes.shape[0], device=boxes.device)
    if score_threshold is not None:
        candidates = candidates[scores >= score_threshold]
    b, s = boxes[candidates], scores[candidates]
    if idxs is None:
        keep = ref.nms(b, s, float(iou_threshold))
    else:
        keep = ref.batched_nms(b, s, idxs[candidates], float(iou_threshold))
    keep = candidates[keep]
    # decreasing score, ties by lower index: stable sort of the ascending indices
    keep = keep.sort().values
    keep = keep[torch.sort(scores[keep], descending=True, stable=True).indices]
    if max_output_boxes >= 0:
        keep = keep[:max_output_boxes]
    count = torch.tensor(keep.shape[0], dtype=torch.int64)
    if padded:
        if max_output_boxes < 1:
            raise ValueError(f"padded NMS needs max_output_boxes >= 1, got {max_output_boxes}")
        fill = torch.full((max_output_boxes - keep.shape[0],), -1, dtype=keep.dtype)
        keep = torch.cat([keep, fill])
    return keep.to(torch.int32 if index_int32 else torch.int64), count


def level_range(spatial_scales: Sequence[float]) -> tuple[int, int]:
    """``(k_min, k_max)`` of a pyramid whose levels have the given scales, as torchvision's
    ``_setup_scales`` derives them (``-log2`` in float32, truncated)."""
    lvl_min = -torch.log2(torch.tensor(spatial_scales[0], dtype=torch.float32)).item()
    lvl_max = -torch.log2(torch.tensor(spatial_scales[-1], dtype=torch.float32)).item()
    return int(lvl_min), int(lvl_max)


def multi_scale_roi_align(
    features: Sequence[Tensor],
    rois: Tensor,
    output_height: int,
    output_width: int,
    sampling_ratio: int,
    spatial_scales: Sequence[float],
    canonical_scale: int = 224,
    canonical_level: int = 4,
    aligned: bool = False,
    level_mapper: int = 0,
    finest_scale: int = 56,
) -> Tensor:
    """The MultiScaleRoIAlign plugin: each RoI pooled from the FPN level its size maps to
    (``level_mapper`` 0: torchvision's LevelMapper, 1: mmdet's ``map_roi_levels``)."""
    ref = _reference()
    if len(features) != len(spatial_scales):
        raise ValueError(
            f"MultiScaleRoIAlign: {len(features)} feature maps but {len(spatial_scales)} spatial_scales"
        )
    size = (int(output_height), int(output_width))
    if len(features) == 1:
        return ref.roi_align(features[0], rois, size, spatial_scales[0], sampling_ratio, bool(aligned))
    if level_mapper == 1:
        mapper = ref.MmdetLevelMapper(len(features), finest_scale, LEVEL_EPS)
    elif level_mapper == 0:
        k_min, k_max = level_range(spatial_scales)
        mapper = ref.LevelMapper(k_min, k_max, canonical_scale, canonical_level, LEVEL_EPS)
    else:
        raise ValueError(f"MultiScaleRoIAlign: level_mapper must be 0 (torchvision) or 1 (mmdet), got {level_mapper}")
    levels = mapper([rois[:, 1:]])
    first = features[0]
    result = torch.zeros((rois.shape[0], first.shape[1]) + size, dtype=first.dtype)
    for level, (feature, scale) in enumerate(zip(features, spatial_scales)):
        members = torch.where(levels == level)[0]
        pooled = ref.roi_align(feature, rois[members], size, scale, sampling_ratio, bool(aligned))
        result[members] = pooled.to(result.dtype)
    return result


def deform_conv2d(inputs: Sequence[Tensor], attrs: dict) -> Tensor:
    """The DeformConv2d plugin: inputs ``(input, offset, weight, [bias], [mask])``."""
    ref = _reference()
    x, offset, weight = inputs[:3]
    rest = list(inputs[3:])
    bias = rest.pop(0) if attrs.get("has_bias", 0) else None
    mask = rest.pop(0) if attrs.get("has_mask", 0) else None
    return ref.deform_conv2d(
        x,
        offset,
        weight,
        bias,
        stride=tuple(attrs.get("stride", (1, 1))),
        padding=tuple(attrs.get("padding", (0, 0))),
        dilation=tuple(attrs.get("dilation", (1, 1))),
        mask=mask,
    )
