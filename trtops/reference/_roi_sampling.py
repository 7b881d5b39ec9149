"""Bilinear RoI sampling shared by :func:`roi_align` and :func:`ps_roi_align`.

Each output bin ``(ph, pw)`` of a RoI averages ``gh x gw`` bilinear samples taken on a regular
grid inside the bin. The code is vectorised over RoIs, bins and channels; the only Python loops
run over *sample slots* ``(iy, ix)`` of the grid (``sampling_ratio**2`` iterations for a fixed
ratio, up to the largest adaptive grid otherwise, each slot processing only the RoIs whose grid
has it) and over chunks of RoIs that bound memory, never over RoIs or pixels.

Looping over the sample slots (rather than summing over a sample axis) keeps torchvision's order
of accumulation, and every scalar step is evaluated in the operator's compute dtype in the order
torchvision's CPU kernel evaluates it. With float16 this reproduces its per-operation rounding too
(PyTorch's elementwise float16 ops, like ``c10::Half`` arithmetic, compute in float32 and round the
result), so results agree with torchvision bit for bit in float64, float32 and float16.

Cost: one pass of ~20 elementwise tensor operations per sample slot over the active RoIs'
bins and channels, so time grows with the number of samples like torchvision's (one CPU thread:
1000 RoIs on 2x256x200x304 take ~0.3 s with ``sampling_ratio=2`` and ~2.9 s with adaptive grids
of up to ~30x30 samples per bin, vs ~0.4 s and ~1.6 s for torchvision).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from ._common import CHUNK_ELEMENTS, batch_indices, compute_dtype, float_to_int, scalar

def _axis(coord: Tensor, size: int) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One axis of torchvision's RoI bilinear rule for coordinates ``coord`` (compute dtype).

    Returns ``valid`` (coordinate within ``[-1, size]``; NaN is invalid), the low and high pixel
    indices, and the weights of the high (``l``) and low (``h``) pixel.
    """
    c64 = coord.to(torch.float64)
    valid = (c64 >= -1) & (c64 <= size)
    c = torch.where(coord <= 0, torch.zeros_like(coord), coord)
    low = torch.where(valid, c, torch.zeros_like(c)).to(torch.int64)
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    c = torch.where(at_edge, low.to(coord.dtype), c)
    lo_w = c - low.to(coord.dtype)
    hi_w = 1.0 - lo_w
    return valid, low, high, lo_w, hi_w


def roi_bilinear_pool(
    input: Tensor,
    rois: Tensor,
    spatial_scale: float,
    pooled_height: int,
    pooled_width: int,
    sampling_ratio: int,
    aligned: bool,
    position_sensitive: bool,
) -> Tensor:
    """Shared forward of RoIAlign (``position_sensitive=False``) and PSRoIAlign (``True``).

    ``input`` is ``[N, C, H, W]``, ``rois`` ``[K, 5]`` of the same dtype. Returns
    ``[K, C_out, pooled_height, pooled_width]`` with ``C_out = C`` for RoIAlign and
    ``C / (pooled_height * pooled_width)`` for PSRoIAlign.

    The two torchvision kernels differ in three details, all reproduced:

    * RoIAlign may be unaligned (no half-pixel shift, RoI size forced to at least 1); PSRoIAlign
      is always aligned and never forces the size.
    * RoIAlign's pre-computed empty sample (outside ``[-1, H] x [-1, W]``) still multiplies
      weight 0 with pixel ``(0, 0)`` of the channel (so an inf/NaN there makes the bin NaN);
      PSRoIAlign's empty sample contributes an exact 0.
    * RoIAlign divides by ``max(gh * gw, 1)``, PSRoIAlign by ``gh * gw`` (0/0 = NaN for an
      adaptive grid of a zero-size RoI).
    """
    out_dtype = input.dtype
    dtype = compute_dtype("input", input.dtype)
    n, c, height, width = input.shape
    ph_n, pw_n = pooled_height, pooled_width
    bins = ph_n * pw_n
    c_out = c // bins if position_sensitive else c
    k = rois.shape[0]
    if k == 0 or c_out == 0 or n == 0 or height == 0 or width == 0:
        return torch.zeros((k, c_out, ph_n, pw_n), dtype=out_dtype, device=input.device)

    x = input.to(dtype)
    r = rois.to(dtype)
    dev = x.device

    # Gather table: one row of contiguous channels per (batch[, bin], y, x).
    if position_sensitive:
        # input channel c_in = (c_out * PH + ph) * PW + pw  ->  [N, PH*PW, H, W, C_out]
        table = x.reshape(n, c_out, bins, height, width).permute(0, 2, 3, 4, 1)
    else:
        table = x.permute(0, 2, 3, 1)
    table = table.reshape(-1, c_out)

    batch, batch_ok = batch_indices(r[:, 0], n)

    # --- per-RoI geometry, in torchvision's order of operations ---------------------------
    offset = scalar(0.5 if aligned else 0.0, r)
    ss = scalar(spatial_scale, r)
    start_w = r[:, 1] * ss - offset
    start_h = r[:, 2] * ss - offset
    end_w = r[:, 3] * ss - offset
    end_h = r[:, 4] * ss - offset
    roi_w = end_w - start_w
    roi_h = end_h - start_h
    if not aligned:
        one = scalar(1.0, r)
        roi_w = torch.where(roi_w < one, one, roi_w)
        roi_h = torch.where(roi_h < one, one, roi_h)
    bin_h = roi_h / scalar(float(ph_n), r)
    bin_w = roi_w / scalar(float(pw_n), r)
    if sampling_ratio > 0:
        grid_h = torch.full((k,), sampling_ratio, dtype=torch.int64, device=dev)
        grid_w = grid_h
    else:
        grid_h = float_to_int(torch.ceil(bin_h))
        grid_w = float_to_int(torch.ceil(bin_w))
    if position_sensitive:
        count = (grid_h * grid_w).to(dtype)
    else:
        count = (grid_h * grid_w).clamp(min=1).to(dtype)
    samples_h = grid_h.clamp(min=0)
    samples_w = grid_w.clamp(min=0)

    ph_idx = torch.arange(ph_n, device=dev).to(dtype)
    pw_idx = torch.arange(pw_n, device=dev).to(dtype)
    base_y = start_h[:, None] + ph_idx[None, :] * bin_h[:, None]  # [K, PH]
    base_x = start_w[:, None] + pw_idx[None, :] * bin_w[:, None]  # [K, PW]

    acc = torch.zeros((k, ph_n, pw_n, c_out), dtype=dtype, device=dev)
    # RoIs with samples (and a valid batch index), largest grid height first: the RoIs having
    # sample row iy are then a prefix of every chunk.
    order = torch.sort(samples_h, descending=True, stable=True)[1]
    order = order[(samples_h[order] > 0) & (samples_w[order] > 0) & batch_ok[order]]
    per_roi = bins * max(c_out, 1)
    start = 0
    while start < order.numel():
        rows = int(samples_h[order[start]])
        cols = int(samples_w[order[start:]].max()) if sampling_ratio <= 0 else sampling_ratio
        # Few samples: small chunks keep the ~20 temporaries per sample in cache. Many samples:
        # large chunks amortise the per-sample Python overhead.
        budget = CHUNK_ELEMENTS // 8 if rows * cols <= 16 else CHUNK_ELEMENTS
        sel = order[start : start + max(1, budget // per_roi)]
        start += sel.numel()
        acc[sel] = _accumulate(
            table,
            batch[sel],
            base_y[sel],
            base_x[sel],
            bin_h[sel],
            bin_w[sel],
            grid_h[sel],
            grid_w[sel],
            samples_h[sel],
            samples_w[sel],
            height,
            width,
            bins if position_sensitive else 0,
            position_sensitive,
        )

    out = acc / count[:, None, None, None]
    out = torch.where(batch_ok[:, None, None, None], out, torch.zeros_like(out))
    return out.permute(0, 3, 1, 2).contiguous().to(out_dtype)


def _accumulate(
    table: Tensor,
    batch: Tensor,
    base_y: Tensor,
    base_x: Tensor,
    bin_h: Tensor,
    bin_w: Tensor,
    grid_h: Tensor,
    grid_w: Tensor,
    samples_h: Tensor,
    samples_w: Tensor,
    height: int,
    width: int,
    bins: int,
    position_sensitive: bool,
) -> Tensor:
    """Sum of the bilinear samples of a chunk of RoIs (sorted by decreasing ``samples_h``), in
    torchvision's (iy, ix) order. Returns ``[Kc, PH, PW, C_out]`` in the compute dtype."""
    dtype = base_y.dtype
    kc, ph_n = base_y.shape
    pw_n = base_x.shape[1]
    c_out = table.shape[1]
    dev = table.device
    # Row of pixel (0, 0) of each RoI's plane: [Kc, PH, PW]
    if position_sensitive:
        bin_idx = torch.arange(bins, device=dev).reshape(1, ph_n, pw_n)
        plane = (batch[:, None, None] * bins + bin_idx) * (height * width)
    else:
        plane = (batch * (height * width))[:, None, None].expand(kc, ph_n, pw_n)
    gh_t = grid_h.to(dtype)
    gw_t = grid_w.to(dtype)
    zero = torch.zeros((), dtype=dtype, device=dev)
    acc = torch.zeros((kc, ph_n * pw_n, c_out), dtype=dtype, device=dev)
    max_cols = int(samples_w.max())

    # The x axis does not depend on iy: evaluate it once per ix slot.
    x_axis = []
    for ix in range(max_cols):
        frac = (scalar(ix + 0.5, bin_w) * bin_w) / gw_t
        x_axis.append(_axis(base_x + frac[:, None], width))

    for iy in range(int(samples_h[0])):
        n_y = int((samples_h > iy).sum())  # the RoIs with sample row iy: a prefix
        frac = (scalar(iy + 0.5, bin_h[:n_y]) * bin_h[:n_y]) / gh_t[:n_y]
        y_axis = _axis(base_y[:n_y] + frac[:, None], height)
        for ix in range(int(samples_w[:n_y].max())):
            has = samples_w[:n_y] > ix
            sub: Optional[Tensor] = None if bool(has.all()) else torch.nonzero(has).flatten()

            def pick(t: Tensor) -> Tensor:
                return t[:n_y] if sub is None else t[sub]

            vy, y_lo, y_hi, ly, hy = (pick(t)[:, :, None] for t in y_axis)
            vx, x_lo, x_hi, lx, hx = (pick(t)[:, None, :] for t in x_axis[ix])
            valid = vy & vx  # [n, PH, PW]
            base = pick(plane)
            weights = (hy * hx, hy * lx, ly * hx, ly * lx)
            corners = (y_lo * width + x_lo, y_lo * width + x_hi, y_hi * width + x_lo,
                       y_hi * width + x_hi)
            # term = ((w1*v1 + w2*v2) + w3*v3) + w4*v4, each step rounded like torchvision's
            term: Optional[Tensor] = None
            for w, corner in zip(weights, corners):
                if not position_sensitive:
                    # torchvision's pre-computed empty sample: weight 0 at pixel (0, 0)
                    w = torch.where(valid, w, zero)
                    corner = torch.where(valid, corner, torch.zeros_like(corner))
                product = table.index_select(0, (base + corner).reshape(-1))
                product.mul_(w.reshape(-1, 1))
                if term is None:
                    term = product
                else:
                    term.add_(product)
            assert term is not None
            term = term.reshape(-1, ph_n * pw_n, c_out)
            if position_sensitive:
                term = torch.where(valid.reshape(-1, ph_n * pw_n, 1), term, zero)
            if sub is None:
                acc[:n_y] += term
            else:
                acc[sub] += term
    return acc.reshape(kc, ph_n, pw_n, c_out)
