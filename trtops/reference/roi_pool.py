"""RoIPool (Fast R-CNN) with torchvision's semantics."""

from __future__ import annotations

from typing import Dict, Tuple, Union

import torch
from torch import Tensor, nn

from ._common import (
    CHUNK_ELEMENTS,
    FLT_MAX,
    BoxesArg,
    batch_indices,
    check_floating,
    check_real,
    check_same_dtype,
    check_tensor,
    compute_dtype,
    convert_boxes_to_rois,
    float_to_int,
    int_pair,
    round_half_away,
    scalar,
)

__all__ = ["roi_pool", "RoIPool", "roi_pool_bins"]


def roi_pool_bins(
    rois: Tensor,
    spatial_scale: float,
    pooled_height: int,
    pooled_width: int,
    height: int,
    width: int,
    *,
    position_sensitive: bool,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Integer bin rectangles ``[hstart, hend) x [wstart, wend)`` of RoIPool / PSRoIPool.

    Evaluated in ``rois``' dtype (float16 included) in torchvision's order: corners are
    ``round(coordinate * spatial_scale)`` with C rounding (halves away from zero); RoIPool's size
    is ``max(end - start + 1, 1)``, PSRoIPool's ``max(end - start, 1)``; bin edges are
    ``floor(ph * bin)`` and ``ceil((ph + 1) * bin)`` shifted by the RoI start and clipped to
    ``[0, H]`` (RoIPool) or ``[0, H - 1]`` (PSRoIPool's forward: its last row/column is never
    pooled). Returns four ``int64`` tensors: hstart/hend ``[K, PH]``, wstart/wend ``[K, PW]``.
    """
    r = rois
    ss = scalar(spatial_scale, r)
    start_w = float_to_int(round_half_away(r[:, 1] * ss))
    start_h = float_to_int(round_half_away(r[:, 2] * ss))
    end_w = float_to_int(round_half_away(r[:, 3] * ss))
    end_h = float_to_int(round_half_away(r[:, 4] * ss))
    extra = 0 if position_sensitive else 1
    roi_w = (end_w - start_w + extra).clamp(min=1)
    roi_h = (end_h - start_h + extra).clamp(min=1)
    bin_h = roi_h.to(r.dtype) / scalar(float(pooled_height), r)
    bin_w = roi_w.to(r.dtype) / scalar(float(pooled_width), r)
    limit_h = height - 1 if position_sensitive else height
    limit_w = width - 1 if position_sensitive else width

    def edges(bin_size: Tensor, start: Tensor, count: int, limit: int) -> Tuple[Tensor, Tensor]:
        idx = torch.arange(count, device=r.device).to(r.dtype)
        lo = float_to_int(torch.floor(idx[None, :] * bin_size[:, None]))
        hi = float_to_int(torch.ceil((idx + 1)[None, :] * bin_size[:, None]))
        lo = (lo + start[:, None]).clamp(0, limit)
        hi = (hi + start[:, None]).clamp(0, limit)
        return lo, hi

    hstart, hend = edges(bin_h, start_h, pooled_height, limit_h)
    wstart, wend = edges(bin_w, start_w, pooled_width, limit_w)
    return hstart, hend, wstart, wend


def _floor_log2(n: Tensor) -> Tensor:
    """floor(log2(n)) for positive int64 ``n`` (exact, via the binary exponent)."""
    _, exponent = torch.frexp(n.to(torch.float64))
    return exponent.to(torch.int64) - 1


def roi_pool(
    input: Tensor,
    boxes: BoxesArg,
    output_size: Union[int, Tuple[int, int]],
    spatial_scale: float = 1.0,
) -> Tensor:
    """Max over integer bins of each RoI, as ``torchvision.ops.roi_pool``.

    Args:
        input: ``Tensor[N, C, H, W]`` (float64, float32, float16 or bfloat16).
        boxes: ``Tensor[K, 5]`` or ``List[Tensor[L, 4]]``, same dtype as ``input``.
        output_size: ``int`` or ``(PH, PW)``, each ``>= 1``.
        spatial_scale: factor mapping box coordinates to feature-map coordinates.

    Returns:
        ``Tensor[K, C, PH, PW]`` of ``input``'s dtype.

    Semantics (torchvision's, see :func:`roi_pool_bins` for the bin geometry): an empty bin
    (clipped away) is 0; NaN inputs are never selected (torchvision compares with ``>``), and the
    max starts from ``-FLT_MAX`` converted to the dtype (``-inf`` in float16), so a bin of only
    NaN/-inf values gives that start value. Max is exact, so results equal torchvision's bit for
    bit in every dtype it supports; bfloat16 (rejected by torchvision) uses the same rules.
    RoIs with a batch index outside ``[0, N)`` give zeros (torchvision reads out of bounds).

    Implementation: range maxima come from a sparse table (max over ``2^a x 2^b`` windows,
    built by doubling) looked up at the four corners of each bin, so the cost does not grow
    with bin area and no Python loop runs over RoIs or pixels.
    """
    check_tensor("input", input, dim=4)
    check_floating("input", input)
    rois = convert_boxes_to_rois(boxes)
    check_same_dtype("input", input, "boxes", rois)
    ph, pw = int_pair("output_size", output_size, minimum=1)
    scale = check_real("spatial_scale", spatial_scale)
    dtype = compute_dtype("input", input.dtype)

    n, c, height, width = input.shape
    k = rois.shape[0]
    out = torch.zeros((k * ph * pw, c), dtype=input.dtype, device=input.device)
    if out.numel() == 0 or n == 0 or height == 0 or width == 0:
        return out.reshape(k, ph, pw, c).permute(0, 3, 1, 2).contiguous()

    r = rois.to(dtype)
    batch, batch_ok = batch_indices(r[:, 0], n)
    hs, he, ws, we = roi_pool_bins(r, scale, ph, pw, height, width, position_sensitive=False)
    # Per output bin: [K, PH, PW] -> flat
    hs, he = hs[:, :, None].expand(k, ph, pw), he[:, :, None].expand(k, ph, pw)
    ws, we = ws[:, None, :].expand(k, ph, pw), we[:, None, :].expand(k, ph, pw)
    b = batch[:, None, None].expand(k, ph, pw)
    nonempty = (he > hs) & (we > ws) & batch_ok[:, None, None]
    sel = torch.nonzero(nonempty.reshape(-1)).flatten()
    if sel.numel() == 0:
        return out.reshape(k, ph, pw, c).permute(0, 3, 1, 2).contiguous()
    hs, he = hs.reshape(-1)[sel], he.reshape(-1)[sel]
    ws, we = ws.reshape(-1)[sel], we.reshape(-1)[sel]
    b = b.reshape(-1)[sel]
    lv_h = _floor_log2(he - hs)
    lv_w = _floor_log2(we - ws)
    # Bins grouped by their (row level, column level): one table lookup per group.
    by_level: Dict[Tuple[int, int], Tensor] = {}
    for key in torch.unique(lv_h * 64 + lv_w).tolist():
        by_level[(key // 64, key % 64)] = torch.nonzero(lv_h * 64 + lv_w == key).flatten()

    # NaN never wins torchvision's ">" comparison: make it -inf. The start value
    # (-FLT_MAX in the dtype) is applied after the lookup.
    start_value = scalar(-FLT_MAX, torch.empty((), dtype=input.dtype, device=input.device))
    result = torch.empty((sel.numel(), c), dtype=input.dtype, device=input.device)
    channel_step = max(1, CHUNK_ELEMENTS // (n * height * width))
    max_h = max(lv for lv, _ in by_level)
    for c0 in range(0, c, channel_step):
        c1 = min(c, c0 + channel_step)
        feat = input[:, c0:c1].permute(0, 2, 3, 1)  # [N, H, W, Cc]
        feat = torch.where(torch.isnan(feat), torch.full_like(feat, float("-inf")), feat)
        rows = feat  # rows[j] = max over 2^j rows starting at y (valid y: H - 2^j + 1)
        for lv_row in range(max_h + 1):
            if lv_row > 0:
                half = 1 << (lv_row - 1)
                rows = torch.maximum(rows[:, :-half], rows[:, half:])
            wanted = sorted(lv_c for (lv_r, lv_c) in by_level if lv_r == lv_row)
            if not wanted:
                continue
            table = rows
            for lv_col in range(wanted[-1] + 1):
                if lv_col > 0:
                    half = 1 << (lv_col - 1)
                    table = torch.maximum(table[:, :, :-half], table[:, :, half:])
                if lv_col not in wanted:
                    continue
                members = by_level[(lv_row, lv_col)]
                t_h, t_w = table.shape[1], table.shape[2]
                flat = table.reshape(-1, c1 - c0)
                mb, mhs, mhe = b[members], hs[members], he[members]
                mws, mwe = ws[members], we[members]
                top, bottom = mhs, mhe - (1 << lv_row)
                left, right = mws, mwe - (1 << lv_col)
                corners = [
                    flat.index_select(0, (mb * t_h + y) * t_w + x) for y in (top, bottom) for x in (left, right)
                ]
                value = torch.maximum(torch.maximum(corners[0], corners[1]), torch.maximum(corners[2], corners[3]))
                result[members, c0:c1] = torch.maximum(value, start_value)
    out[sel] = result
    return out.reshape(k, ph, pw, c).permute(0, 3, 1, 2).contiguous()


class RoIPool(nn.Module):
    """Module form of :func:`roi_pool`.

    Shapes: ``input`` ``[N, C, H, W]``, ``rois`` ``[K, 5]`` or ``List[Tensor[L, 4]]`` ->
    ``[K, C, output_size[0], output_size[1]]``.
    """

    def __init__(self, output_size: Union[int, Tuple[int, int]], spatial_scale: float) -> None:
        super().__init__()
        int_pair("output_size", output_size, minimum=1)
        check_real("spatial_scale", spatial_scale)
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input: Tensor, rois: BoxesArg) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(output_size={self.output_size}, "
            f"spatial_scale={self.spatial_scale})"
        )

