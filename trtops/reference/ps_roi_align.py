"""Position-sensitive RoIAlign (Light-Head R-CNN) with torchvision's semantics."""

from __future__ import annotations

from typing import Tuple, Union

from torch import Tensor, nn

from ._common import (
    BoxesArg,
    check_floating,
    check_int,
    check_real,
    check_same_dtype,
    check_tensor,
    convert_boxes_to_rois,
    int_pair,
)
from ._roi_sampling import roi_bilinear_pool

__all__ = ["ps_roi_align", "PSRoIAlign"]


def check_ps_channels(channels: int, ph: int, pw: int) -> None:
    if channels % (ph * pw) != 0:
        raise ValueError(
            "input channels must be a multiple of output_size[0] * output_size[1], got "
            f"input.shape[1]={channels} and output_size=({ph}, {pw})"
        )


def ps_roi_align(
    input: Tensor,
    boxes: BoxesArg,
    output_size: Union[int, Tuple[int, int]],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
) -> Tensor:
    """Position-sensitive RoIAlign, as ``torchvision.ops.ps_roi_align``.

    Output bin ``(c_out, ph, pw)`` averages bilinear samples of input channel
    ``c_in = (c_out * PH + ph) * PW + pw``. RoIs are always half-pixel aligned and never forced to
    a minimum size.

    Args:
        input: ``Tensor[N, C, H, W]`` with ``C`` a multiple of ``PH * PW``.
        boxes: ``Tensor[K, 5]`` or ``List[Tensor[L, 4]]``, same dtype as ``input``.
        output_size: ``int`` or ``(PH, PW)``, each ``>= 1``.
        spatial_scale: factor mapping box coordinates to feature-map coordinates.
        sampling_ratio: samples per bin per axis; ``<= 0`` is adaptive (``ceil(bin size)``).

    Returns:
        ``Tensor[K, C / (PH * PW), PH, PW]`` of ``input``'s dtype.

    Edge semantics (torchvision's): samples outside ``[-1, H] x [-1, W]`` contribute exactly 0;
    the bin is divided by ``gh * gw``, so an adaptive grid on a RoI of zero or negative size gives
    0/0 = NaN (or a signed zero). Bit-exact with torchvision's CPU kernel in float64/float32/
    float16; bfloat16 is computed in float32. Out-of-range batch indices give zero rows and NaN
    sample coordinates are empty, as in :func:`roi_align`.
    """
    check_tensor("input", input, dim=4)
    check_floating("input", input)
    rois = convert_boxes_to_rois(boxes)
    check_same_dtype("input", input, "boxes", rois)
    ph, pw = int_pair("output_size", output_size, minimum=1)
    check_ps_channels(input.shape[1], ph, pw)
    scale = check_real("spatial_scale", spatial_scale)
    ratio = check_int("sampling_ratio", sampling_ratio)
    return roi_bilinear_pool(input, rois, scale, ph, pw, ratio, True, position_sensitive=True)


class PSRoIAlign(nn.Module):
    """Module form of :func:`ps_roi_align`.

    Shapes: ``input`` ``[N, C, H, W]``, ``rois`` ``[K, 5]`` or ``List[Tensor[L, 4]]`` ->
    ``[K, C / (PH * PW), PH, PW]``.
    """

    def __init__(
        self,
        output_size: Union[int, Tuple[int, int]],
        spatial_scale: float,
        sampling_ratio: int,
    ) -> None:
        super().__init__()
        int_pair("output_size", output_size, minimum=1)
        check_real("spatial_scale", spatial_scale)
        check_int("sampling_ratio", sampling_ratio)
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio

    def forward(self, input: Tensor, rois: BoxesArg) -> Tensor:
        return ps_roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(output_size={self.output_size}, "
            f"spatial_scale={self.spatial_scale}, sampling_ratio={self.sampling_ratio})"
        )
