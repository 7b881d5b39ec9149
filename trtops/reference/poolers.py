"""Multi-scale RoIAlign over an FPN pyramid with torchvision's semantics (and mmdet's level
mapping, which the MultiScaleRoIAlign plugin also offers)."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ._common import check_int, check_real, check_tensor, convert_boxes_to_rois, int_pair
from .boxes import box_area
from .roi_align import roi_align

__all__ = ["MultiScaleRoIAlign", "LevelMapper", "MmdetLevelMapper", "infer_scale", "setup_scales"]


class LevelMapper:
    """FPN level of each box: eq. 1 of the FPN paper, as torchvision's ``LevelMapper``.

    ``level = floor(canonical_level + log2(sqrt(area) / canonical_scale) + eps)``, clamped to
    ``[k_min, k_max]`` and returned relative to ``k_min`` (``int64``). ``sqrt(area)`` is
    evaluated in the boxes' dtype widened like :func:`box_area` (float16 -> float32).
    """

    def __init__(
        self,
        k_min: int,
        k_max: int,
        canonical_scale: int = 224,
        canonical_level: int = 4,
        eps: float = 1e-6,
    ) -> None:
        self.k_min = check_int("k_min", k_min)
        self.k_max = check_int("k_max", k_max)
        self.s0 = canonical_scale
        self.lvl0 = canonical_level
        self.eps = check_real("eps", eps)

    def __call__(self, boxlists: Sequence[Tensor]) -> Tensor:
        size = torch.sqrt(torch.cat([box_area(b) for b in boxlists]))
        eps = torch.tensor(self.eps, dtype=size.dtype)
        levels = torch.floor(self.lvl0 + torch.log2(size / self.s0) + eps)
        levels = torch.clamp(levels, min=self.k_min, max=self.k_max)
        return levels.to(torch.int64) - self.k_min

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(k_min={self.k_min}, k_max={self.k_max}, "
            f"canonical_scale={self.s0}, canonical_level={self.lvl0}, eps={self.eps})"
        )


class MmdetLevelMapper:
    """Level of each box as mmdet's ``SingleRoIExtractor.map_roi_levels`` computes it.

    ``level = floor(log2(sqrt(area) / finest_scale + eps))``, clamped to ``[0, num_levels - 1]``
    (``int64``). It differs from :class:`LevelMapper` with the matching canonical constants only in
    where ``eps`` sits: inside the logarithm here, after it there. ``sqrt(area)`` is evaluated as in
    :class:`LevelMapper`. A NaN level (a NaN or negative area) converts to an integer that matches
    no level, as in both libraries on the CPU.
    """

    def __init__(self, num_levels: int, finest_scale: int = 56, eps: float = 1e-6) -> None:
        self.num_levels = check_int("num_levels", num_levels)
        if self.num_levels < 1:
            raise ValueError(f"MmdetLevelMapper: num_levels must be at least 1, got {num_levels}")
        self.finest_scale = check_int("finest_scale", finest_scale)
        if self.finest_scale < 1:
            raise ValueError(f"MmdetLevelMapper: finest_scale must be positive, got {finest_scale}")
        self.eps = check_real("eps", eps)

    def __call__(self, boxlists: Sequence[Tensor]) -> Tensor:
        size = torch.sqrt(torch.cat([box_area(b) for b in boxlists]))
        eps = torch.tensor(self.eps, dtype=size.dtype)
        levels = torch.floor(torch.log2(size / self.finest_scale + eps))
        levels = torch.clamp(levels, min=0, max=self.num_levels - 1)
        return levels.to(torch.int64)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_levels={self.num_levels}, finest_scale={self.finest_scale}, eps={self.eps})"
        )


def infer_scale(feature: Tensor, original_size: Sequence[int]) -> float:
    """Scale of a feature map relative to the (padded) image, assumed ``2**-k``.

    As torchvision: ``2 ** round(log2(feature_height / image_height))`` with the ratio and
    ``log2`` in float32 and round-half-to-even. Only the height is used (torchvision computes
    the width's scale too but discards it).
    """
    ratio = float(feature.shape[-2]) / float(original_size[0])
    return 2 ** float(torch.tensor(ratio).log2().round())


def setup_scales(
    features: Sequence[Tensor],
    image_shapes: Sequence[Tuple[int, int]],
    canonical_scale: int,
    canonical_level: int,
    eps: float = 1e-6,
) -> Tuple[List[float], LevelMapper]:
    """Per-level scales and the level mapper, inferred as torchvision does: the reference image
    size is the element-wise maximum of ``image_shapes``; the pyramid's levels are
    ``int(-log2(scale))`` (float32) of the first and last feature map."""
    if len(image_shapes) == 0:
        raise ValueError("image_shapes must list at least one (height, width), got image_shapes=[]")
    max_h = max(int(shape[0]) for shape in image_shapes)
    max_w = max(int(shape[1]) for shape in image_shapes)
    scales = [infer_scale(f, (max_h, max_w)) for f in features]
    lvl_min = -torch.log2(torch.tensor(scales[0], dtype=torch.float32)).item()
    lvl_max = -torch.log2(torch.tensor(scales[-1], dtype=torch.float32)).item()
    mapper = LevelMapper(int(lvl_min), int(lvl_max), canonical_scale, canonical_level, eps)
    return scales, mapper


class MultiScaleRoIAlign(nn.Module):
    """RoIAlign from the FPN level matching each box's size, as torchvision's
    ``MultiScaleRoIAlign``.

    Args:
        featmap_names: names of the feature maps (keys of ``x``) to pool from.
        output_size: ``int`` or ``(height, width)`` of the pooled output.
        sampling_ratio: RoIAlign sampling ratio (``<= 0`` adaptive).
        canonical_scale: box size pooled from ``canonical_level`` (224 in the FPN paper).
        canonical_level: the level ``k0`` (4).
        eps: added before flooring the level (1e-6, torchvision's fixed value).

    Forward:
        ``x``: ``Dict[str, Tensor[N, C, H_l, W_l]]`` (levels in increasing stride, used in
        ``x``'s order), ``boxes``: ``List[Tensor[L_i, 4]]`` per image in image coordinates,
        ``image_shapes``: ``List[(height, width)]`` of the images before padding. Returns
        ``Tensor[sum L_i, C, output_size[0], output_size[1]]`` (unaligned RoIAlign).

    Like torchvision, the scales and level mapper are inferred on the first call and then
    cached: later calls with other image sizes reuse them. Output equals torchvision's module
    bit for bit (same level assignment; :func:`roi_align` is bit-exact).
    """

    def __init__(
        self,
        featmap_names: List[str],
        output_size: Union[int, Tuple[int, int], List[int]],
        sampling_ratio: int,
        *,
        canonical_scale: int = 224,
        canonical_level: int = 4,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if not isinstance(featmap_names, (list, tuple)) or not all(
            isinstance(name, str) for name in featmap_names
        ):
            raise TypeError(
                f"featmap_names must be a list of str, got featmap_names={featmap_names!r}"
            )
        self.featmap_names = featmap_names
        # The validated pair: an int or a 1-sequence is repeated (int_pair's rule).
        self.output_size = int_pair("output_size", output_size, minimum=1)
        self.sampling_ratio = check_int("sampling_ratio", sampling_ratio)
        self.canonical_scale = check_int("canonical_scale", canonical_scale)
        self.canonical_level = check_int("canonical_level", canonical_level)
        self.eps = check_real("eps", eps)
        self.scales: Optional[List[float]] = None
        self.map_levels: Optional[LevelMapper] = None

    def forward(
        self,
        x: Dict[str, Tensor],
        boxes: List[Tensor],
        image_shapes: List[Tuple[int, int]],
    ) -> Tensor:
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of feature maps, got x={type(x).__name__}")
        if not isinstance(boxes, (list, tuple)):
            raise TypeError(
                f"boxes must be a list of Tensor[L, 4], got boxes={type(boxes).__name__}"
            )
        features = [v for k, v in x.items() if k in self.featmap_names]
        if not features:
            raise ValueError(
                f"x holds none of featmap_names={self.featmap_names}, got keys {list(x.keys())}"
            )
        for i, f in enumerate(features):
            check_tensor(f"x[{i}]", f, dim=4)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = setup_scales(
                features, image_shapes, self.canonical_scale, self.canonical_level, self.eps
            )
        rois = convert_boxes_to_rois(boxes)
        if len(features) == 1:
            return roi_align(
                features[0], rois, self.output_size, self.scales[0], self.sampling_ratio
            )
        levels = self.map_levels(boxes)
        first = features[0]
        result = torch.zeros(
            (rois.shape[0], first.shape[1]) + self.output_size,
            dtype=first.dtype,
            device=first.device,
        )
        for level, (feature, scale) in enumerate(zip(features, self.scales)):
            members = torch.where(levels == level)[0]
            pooled = roi_align(
                feature, rois[members], self.output_size, scale, self.sampling_ratio
            )
            result[members] = pooled.to(result.dtype)
        return result

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(featmap_names={self.featmap_names}, "
            f"output_size={self.output_size}, sampling_ratio={self.sampling_ratio})"
        )
