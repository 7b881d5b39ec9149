"""``trtops::`` torch custom ops that stand in for torchvision code during export.

torchvision's own ops (``torch.ops.torchvision.nms``, ``roi_align``, ...) already have fake
kernels and are lowered directly. These custom ops cover what is Python code in torchvision and
therefore cannot be exported as one node otherwise:

* ``trtops::batched_nms``: ``torchvision.ops.batched_nms`` branches on ``boxes.numel()``, which
  torch.export cannot decide for a data-dependent box count.
* ``trtops::multi_scale_roi_align``: a ``MultiScaleRoIAlign`` module as one node instead of a
  level mapper plus one RoIAlign per level glued by scatters.
* ``trtops::nms_padded``: NMS with a static ``[max_output_boxes]`` output (deploy mode).

Each has a fake kernel (shapes only) for torch.export and an eager kernel (the trtops node's
semantics, :mod:`._semantics`), so a patched model still runs in PyTorch.
"""

from __future__ import annotations

from typing import List, Optional

import torch
from torch import Tensor

from . import _semantics


@torch.library.custom_op("trtops::batched_nms", mutates_args=())
def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    return _semantics.nms(boxes, scores, idxs, iou_threshold)[0]


@batched_nms.register_fake
def _batched_nms_fake(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    count = torch.library.get_ctx().new_dynamic_size()
    return boxes.new_empty((count,), dtype=torch.int64)


@torch.library.custom_op("trtops::multi_scale_roi_align", mutates_args=())
def multi_scale_roi_align(
    features: List[Tensor],
    rois: Tensor,
    output_height: int,
    output_width: int,
    sampling_ratio: int,
    spatial_scales: List[float],
    canonical_scale: int,
    canonical_level: int,
    aligned: bool,
) -> Tensor:
    return _semantics.multi_scale_roi_align(
        features, rois, output_height, output_width, sampling_ratio, spatial_scales,
        canonical_scale, canonical_level, aligned,
    )


@multi_scale_roi_align.register_fake
def _multi_scale_roi_align_fake(
    features: List[Tensor],
    rois: Tensor,
    output_height: int,
    output_width: int,
    sampling_ratio: int,
    spatial_scales: List[float],
    canonical_scale: int,
    canonical_level: int,
    aligned: bool,
) -> Tensor:
    first = features[0]
    return first.new_empty((rois.shape[0], first.shape[1], output_height, output_width))


@torch.library.custom_op("trtops::nms_padded", mutates_args=())
def nms_padded(
    boxes: Tensor,
    scores: Tensor,
    idxs: Optional[Tensor],
    iou_threshold: float,
    score_threshold: Optional[float],
    max_output_boxes: int,
) -> tuple[Tensor, Tensor]:
    return _semantics.nms(
        boxes, scores, idxs, iou_threshold, score_threshold, max_output_boxes, padded=True
    )


@nms_padded.register_fake
def _nms_padded_fake(
    boxes: Tensor,
    scores: Tensor,
    idxs: Optional[Tensor],
    iou_threshold: float,
    score_threshold: Optional[float],
    max_output_boxes: int,
) -> tuple[Tensor, Tensor]:
    indices = boxes.new_empty((max_output_boxes,), dtype=torch.int64)
    return indices, boxes.new_empty((), dtype=torch.int64)
