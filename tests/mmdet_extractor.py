"""mmdet's SingleRoIExtractor over mmcv RoIAlign layers, transcribed for the tests (mmdet and mmcv
are not installed here): the oracle of the MultiScaleRoIAlign kernels' and plugin's mmdet level
mapper, and of rewrite()'s MMCVMultiLevelRoiAlign rule.

mmcv's RoIAlign computes torchvision's roi_align (same sampling, borders and `aligned`), with its
spatial_scale a C float; mmdet's map_roi_levels puts the 1e-6 inside the log2, torchvision's
LevelMapper after it.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torchvision.ops as tv


def map_roi_levels(rois: torch.Tensor, num_levels: int, finest_scale: int = 56) -> torch.Tensor:
    """mmdet's SingleRoIExtractor.map_roi_levels: the level of each [K, 5] roi row."""
    scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
    levels = torch.floor(torch.log2(scale / finest_scale + 1e-6))
    return levels.clamp(min=0, max=num_levels - 1).long()


def single_roi_extractor(
    features: Sequence[torch.Tensor],
    rois: torch.Tensor,
    output_size: tuple[int, int],
    strides: Sequence[float],
    sampling_ratio: int,
    aligned: bool,
    finest_scale: int = 56,
    level_rois: torch.Tensor | None = None,
) -> torch.Tensor:
    """SingleRoIExtractor.forward(features, rois): each roi pooled on its level, zeros for rows
    no level takes (a NaN level). `level_rois` (default `rois`) are the rows the levels are mapped
    from: a float64 evaluation of float32 rois must map them in float32, as mmdet and the kernels
    do, since boxes near a level boundary map differently in float64."""
    scales = [torch.tensor(1 / s, dtype=torch.float32).item() for s in strides]
    if len(features) == 1:
        return tv.roi_align(features[0], rois, output_size, scales[0], sampling_ratio, aligned)
    levels = map_roi_levels(rois if level_rois is None else level_rois, len(features), finest_scale)
    out = features[0].new_zeros((len(rois), features[0].shape[1], *output_size))
    for i, (feature, scale) in enumerate(zip(features, scales)):
        idx = (levels == i).nonzero(as_tuple=False).squeeze(1)
        if len(idx):
            out[idx] = tv.roi_align(feature, rois[idx], output_size, scale, sampling_ratio, aligned)
    return out


def boxes_at_level_boundaries(finest_scale: int = 56) -> torch.Tensor:
    """[123, 5] rows of square boxes (batch 0) whose side is finest_scale * 2**k * (1 - d), k = 1..3,
    d in [0, 2e-6]: where the 1e-6 (inside the log2 in mmdet's mapper, after it in torchvision's)
    decides the level, so that the two mappers disagree on some of them."""
    rows = []
    for k in (1, 2, 3):
        for d in torch.linspace(0, 2e-6, 41, dtype=torch.float64).tolist():
            side = finest_scale * 2**k * (1 - d)
            rows.append([0.0, 3.0, 5.0, 3.0 + side, 5.0 + side])
    return torch.tensor(rows, dtype=torch.float32)
