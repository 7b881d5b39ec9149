"""Position-sensitive RoIPool (R-FCN) with torchvision's semantics."""

from __future__ import annotations

from typing import Tuple, Union

import torch
from torch import Tensor, nn

from ._common import (
    CHUNK_ELEMENTS,
    BoxesArg,
    batch_indices,
    check_floating,
    check_real,
    check_same_dtype,
    check_tensor,
    compute_dtype,
    convert_boxes_to_rois,
    int_pair,
)
from .ps_roi_align import check_ps_channels
from .roi_pool import roi_pool_bins

__all__ = ["ps_roi_pool", "PSRoIPool"]


def _integral(t: Tensor) -> Tensor:
    """Zero-padded 2-D inclusive prefix sums over the last two dims: ``[..., H + 1, W + 1]``."""
    p = torch.nn.functional.pad(t, (1, 0, 1, 0))
    return p.cumsum(-1).cumsum(-2)


def ps_roi_pool(
    input: Tensor,
    boxes: BoxesArg,
    output_size: Union[int, Tuple[int, int]],
    spatial_scale: float = 1.0,
) -> Tensor:
    """Position-sensitive average pooling over integer bins, as ``torchvision.ops.ps_roi_pool``.

    Output bin ``(c_out, ph, pw)`` averages input channel ``c_in = (c_out * PH + ph) * PW + pw``
    over the bin rectangle (see :func:`trtops.reference.roi_pool.roi_pool_bins`; note that
    torchvision's forward clips bins to ``H - 1`` / ``W - 1``, so the last row and column of the
    map are never pooled). Empty bins are 0.

    Args:
        input: ``Tensor[N, C, H, W]`` with ``C`` a multiple of ``PH * PW``.
        boxes: ``Tensor[K, 5]`` or ``List[Tensor[L, 4]]``, same dtype as ``input``.
        output_size: ``int`` or ``(PH, PW)``, each ``>= 1``.
        spatial_scale: factor mapping box coordinates to feature-map coordinates.

    Returns:
        ``Tensor[K, C / (PH * PW), PH, PW]`` of ``input``'s dtype.

    Precision: bin sums come from float64 integral images (non-finite values are counted
    separately, so a NaN or inf only affects the bins that contain it, with IEEE rules: any NaN
    or both infinities give NaN), divided by the bin area and rounded once to the dtype.
    torchvision instead accumulates sequentially in the input dtype, so results agree to float
    rounding, not bit for bit: about ``sqrt(area)`` ulps in float32, and in float16 about
    ``sqrt(area) * 2**-12`` relative to the bin's magnitude (torchvision's float16 running sum
    also overflows to inf beyond 65504, where the reference does not). RoIs with a batch index
    outside ``[0, N)`` give zeros (torchvision reads out of bounds).
    """
    check_tensor("input", input, dim=4)
    check_floating("input", input)
    rois = convert_boxes_to_rois(boxes)
    check_same_dtype("input", input, "boxes", rois)
    ph, pw = int_pair("output_size", output_size, minimum=1)
    check_ps_channels(input.shape[1], ph, pw)
    scale = check_real("spatial_scale", spatial_scale)
    dtype = compute_dtype("input", input.dtype)

    n, c, height, width = input.shape
    bins = ph * pw
    c_out = c // bins
    k = rois.shape[0]
    out = torch.zeros((k, c_out, ph, pw), dtype=input.dtype, device=input.device)
    if out.numel() == 0 or n == 0 or height == 0 or width == 0:
        return out

    r = rois.to(dtype)
    batch, batch_ok = batch_indices(r[:, 0], n)
    hs, he, ws, we = roi_pool_bins(r, scale, ph, pw, height, width, position_sensitive=True)
    hs, he = hs[:, :, None].expand(k, ph, pw), he[:, :, None].expand(k, ph, pw)
    ws, we = ws[:, None, :].expand(k, ph, pw), we[:, None, :].expand(k, ph, pw)
    area = ((he - hs) * (we - ws)).to(torch.float64)
    keep = (he > hs) & (we > ws) & batch_ok[:, None, None]  # [K, PH, PW]
    bin_idx = torch.arange(bins, device=input.device).reshape(ph, pw)
    stride_w = width + 1
    stride_h = (height + 1) * stride_w

    has_nonfinite = not bool(torch.isfinite(input).all())
    step = max(1, CHUNK_ELEMENTS // (n * bins * stride_h))
    for o0 in range(0, c_out, step):
        o1 = min(c_out, o0 + step)
        chunk = input[:, o0 * bins : o1 * bins].to(torch.float64)  # channels of outputs o0..o1
        n_chan = chunk.shape[1]
        # Flat index of each output's plane: (batch, local channel)
        local_c = torch.arange(o1 - o0, device=input.device)[:, None, None] * bins + bin_idx
        plane = (batch[:, None, None, None] * n_chan + local_c[None]) * stride_h  # [K,Co,PH,PW]

        def window_sum(prefix: Tensor) -> Tensor:
            flat = prefix.reshape(-1)

            def at(y: Tensor, xx: Tensor) -> Tensor:
                return flat[plane + (y * stride_w + xx)[:, None]]

            return at(he, we) - at(hs, we) - at(he, ws) + at(hs, ws)

        if has_nonfinite:
            fin = torch.isfinite(chunk)
            total = window_sum(_integral(torch.where(fin, chunk, torch.zeros_like(chunk))))
            n_nan = window_sum(_integral(torch.isnan(chunk).to(torch.float64)))
            n_pos = window_sum(_integral((chunk == float("inf")).to(torch.float64)))
            n_neg = window_sum(_integral((chunk == float("-inf")).to(torch.float64)))
            total = torch.where(n_pos > 0, torch.full_like(total, float("inf")), total)
            total = torch.where(n_neg > 0, torch.full_like(total, float("-inf")), total)
            nan = (n_nan > 0) | ((n_pos > 0) & (n_neg > 0))
            total = torch.where(nan, torch.full_like(total, float("nan")), total)
        else:
            total = window_sum(_integral(chunk))
        value = total / area[:, None]
        value = torch.where(keep[:, None], value, torch.zeros_like(value))
        out[:, o0:o1] = value.to(input.dtype)
    return out


class PSRoIPool(nn.Module):
    """Module form of :func:`ps_roi_pool`.

    Shapes: ``input`` ``[N, C, H, W]``, ``rois`` ``[K, 5]`` or ``List[Tensor[L, 4]]`` ->
    ``[K, C / (PH * PW), PH, PW]``.
    """

    def __init__(self, output_size: Union[int, Tuple[int, int]], spatial_scale: float) -> None:
        super().__init__()
        int_pair("output_size", output_size, minimum=1)
        check_real("spatial_scale", spatial_scale)
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input: Tensor, rois: BoxesArg) -> Tensor:
        return ps_roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(output_size={self.output_size}, "
            f"spatial_scale={self.spatial_scale})"
        )
