"""RoIAlign (Mask R-CNN) with torchvision's semantics."""

from __future__ import annotations

from typing import Tuple, Union

from torch import Tensor, nn

from ._common import (
    BoxesArg,
    check_bool,
    check_floating,
    check_int,
    check_real,
    check_same_dtype,
    check_tensor,
    convert_boxes_to_rois,
    int_pair,
)
from ._roi_sampling import roi_bilinear_pool

__all__ = ["roi_align", "RoIAlign"]


def roi_align(
    input: Tensor,
    boxes: BoxesArg,
    output_size: Union[int, Tuple[int, int]],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """Average of bilinear samples over each bin of each RoI, as ``torchvision.ops.roi_align``.

    Args:
        input: ``Tensor[N, C, H, W]`` feature map (float64, float32, float16 or bfloat16).
        boxes: ``Tensor[K, 5]`` rows ``(batch_index, x1, y1, x2, y2)`` or ``List[Tensor[L, 4]]``
            (one tensor per batch element), in input-image coordinates; same dtype as ``input``.
        output_size: ``int`` or ``(height, width)`` of the pooled output, each ``>= 1``.
        spatial_scale: factor mapping box coordinates to feature-map coordinates.
        sampling_ratio: samples per bin along each axis; ``<= 0`` means adaptive,
            ``ceil(roi_size / output_size)`` per RoI and axis.
        aligned: shift boxes by -0.5 pixel (Detectron2); when ``False`` RoIs are forced to be at
            least 1x1 feature pixel.

    Returns:
        ``Tensor[K, C, output_size[0], output_size[1]]`` of ``input``'s dtype.

    Edge semantics (torchvision's): a sample outside ``[-1, H] x [-1, W]`` is empty (weight 0 at
    pixel (0, 0), so an inf/NaN there still poisons the bin), coordinates in ``[-1, 0]`` clamp to
    0 and beyond the last pixel clamp to it. Agreement with torchvision's CPU kernel is bit-exact
    for float64/float32/float16 (same operation order and rounding); bfloat16, which torchvision
    rejects, is computed in float32 and rounded once.

    Deliberate differences: RoIs whose batch index (truncated toward zero) is outside ``[0, N)``
    give zeros (torchvision reads out of bounds); samples at NaN coordinates are empty
    (torchvision 0.29 crashes, later versions treat them as empty); ``output_size`` 0 is rejected
    (torchvision returns an empty tensor).
    """
    check_tensor("input", input, dim=4)
    check_floating("input", input)
    rois = convert_boxes_to_rois(boxes)
    check_same_dtype("input", input, "boxes", rois)
    ph, pw = int_pair("output_size", output_size, minimum=1)
    scale = check_real("spatial_scale", spatial_scale)
    ratio = check_int("sampling_ratio", sampling_ratio)
    check_bool("aligned", aligned)
    return roi_bilinear_pool(input, rois, scale, ph, pw, ratio, aligned, position_sensitive=False)


class RoIAlign(nn.Module):
    """Module form of :func:`roi_align`.

    Shapes: ``input`` ``[N, C, H, W]``, ``rois`` ``[K, 5]`` or ``List[Tensor[L, 4]]`` ->
    ``[K, C, output_size[0], output_size[1]]``.
    """

    def __init__(
        self,
        output_size: Union[int, Tuple[int, int]],
        spatial_scale: float,
        sampling_ratio: int,
        aligned: bool = False,
    ) -> None:
        super().__init__()
        int_pair("output_size", output_size, minimum=1)
        check_real("spatial_scale", spatial_scale)
        check_int("sampling_ratio", sampling_ratio)
        check_bool("aligned", aligned)
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: Tensor, rois: BoxesArg) -> Tensor:
        return roi_align(
            input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(output_size={self.output_size}, "
            f"spatial_scale={self.spatial_scale}, sampling_ratio={self.sampling_ratio}, "
            f"aligned={self.aligned})"
        )
