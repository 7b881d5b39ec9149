"""Deformable convolution v1/v2 with torchvision's semantics."""

from __future__ import annotations

import math
from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch.nn import init

from ._common import (
    CHUNK_ELEMENTS,
    check_bool,
    check_floating,
    check_int,
    check_same_dtype,
    check_tensor,
    compute_dtype,
    int_pair,
)

__all__ = ["deform_conv2d", "DeformConv2d"]

IntPair = Union[int, Tuple[int, int]]


def _sample_columns(
    table: Tensor,
    zero_row: int,
    batch: Tensor,
    y: Tensor,
    x: Tensor,
    mask: Optional[Tensor],
    height: int,
    width: int,
) -> Tensor:
    """Bilinear samples of one offset group, torchvision's deformable im2col rule.

    ``table`` is ``[N*H*W + 1, Cg]`` (channels contiguous, last row zero), ``batch``/``y``/``x``/
    ``mask`` are ``[P]`` (compute dtype for y/x/mask). Returns ``[P, Cg]``:
    ``mask * sum_corners(weight * pixel)``, where a sample with ``y <= -1``, ``y >= H``,
    ``x <= -1`` or ``x >= W`` is 0 and corners outside the map read 0.
    """
    dtype = y.dtype
    y64, x64 = y.to(torch.float64), x.to(torch.float64)
    inside = (y64 > -1) & (y64 < height) & (x64 > -1) & (x64 < width)  # NaN -> outside
    zero = torch.zeros((), dtype=dtype, device=y.device)
    y = torch.where(inside, y, zero)
    x = torch.where(inside, x, zero)
    y_lo = torch.floor(y).to(torch.int64)
    x_lo = torch.floor(x).to(torch.int64)
    y_hi, x_hi = y_lo + 1, x_lo + 1
    ly = y - y_lo.to(dtype)
    lx = x - x_lo.to(dtype)
    hy = 1.0 - ly
    hx = 1.0 - lx
    plane = batch * (height * width)
    terms = []
    for wy, yy, y_ok in ((hy, y_lo, y_lo >= 0), (ly, y_hi, y_hi <= height - 1)):
        for wx, xx, x_ok in ((hx, x_lo, x_lo >= 0), (lx, x_hi, x_hi <= width - 1)):
            row = torch.where(y_ok & x_ok, plane + yy * width + xx, zero_row)
            terms.append((wy * wx)[:, None] * table.index_select(0, row))
    val = terms[0] + terms[1] + terms[2] + terms[3]  # the corners' order: the same rounding as before
    val = torch.where(inside[:, None], val, zero)
    if mask is not None:
        val = mask[:, None] * val
    return val


def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    dilation: IntPair = (1, 1),
    mask: Optional[Tensor] = None,
) -> Tensor:
    """Deformable convolution (v2 with ``mask``, v1 without), as ``torchvision.ops.deform_conv2d``.

    Args:
        input: ``Tensor[B, C_in, H, W]``.
        offset: ``Tensor[B, 2 * G_off * KH * KW, OH, OW]``; for offset group ``g`` and kernel tap
            ``t = i * KW + j`` the channels ``g * 2 * KH * KW + 2 * t`` and ``+ 1`` hold the
            ``(dy, dx)`` displacement of that tap. ``G_off`` (offset groups) is inferred as
            ``offset.shape[1] // (2 * KH * KW)``; input channel ``c`` uses group
            ``c // (C_in / G_off)``.
        weight: ``Tensor[C_out, C_in / groups, KH, KW]``; ``groups = C_in // weight.shape[1]``.
        bias: optional ``Tensor[C_out]``.
        stride, padding, dilation: ``int`` or ``(h, w)``.
        mask: optional ``Tensor[B, G_off * KH * KW, OH, OW]`` modulation (DCNv2).

    Returns:
        ``Tensor[B, C_out, OH, OW]`` with ``OH = (H + 2 * pad_h - (dil_h * (KH - 1) + 1)) //
        stride_h + 1`` (likewise OW).

    Sampling follows torchvision: tap ``(i, j)`` at output ``(oy, ox)`` samples
    ``y = oy * stride_h - pad_h + i * dil_h + dy`` (likewise x); samples with ``y <= -1``,
    ``y >= H``, ``x <= -1`` or ``x >= W`` are 0, other corners outside the map read 0. The
    sampled columns are evaluated in the input's dtype operation by operation as torchvision
    does (float16 included), so they match bit for bit; the channel contraction is a matrix
    product whose summation order differs from torchvision's GEMM (float16: float32
    accumulation rounded once, as PyTorch's CPU half GEMM), so outputs agree to float rounding.
    bfloat16 (rejected by torchvision on CPU) is computed in float32. NaN sample coordinates
    give 0 (torchvision converts NaN to int: undefined behaviour).
    """
    check_tensor("input", input, dim=4)
    check_floating("input", input)
    check_tensor("offset", offset, dim=4)
    check_tensor("weight", weight, dim=4)
    check_same_dtype("input", input, "offset", offset)
    check_same_dtype("input", input, "weight", weight)
    if bias is not None:
        check_tensor("bias", bias, dim=1)
        check_same_dtype("input", input, "bias", bias)
    if mask is not None:
        check_tensor("mask", mask, dim=4)
        check_same_dtype("input", input, "mask", mask)
    stride_h, stride_w = int_pair("stride", stride, minimum=1)
    pad_h, pad_w = int_pair("padding", padding, minimum=0)
    dil_h, dil_w = int_pair("dilation", dilation, minimum=1)

    batch_n, c_in, height, width = input.shape
    c_out, c_per_wgrp, kh, kw = weight.shape
    taps = kh * kw
    if kh == 0 or kw == 0:
        raise ValueError(
            f"weight must have a non-empty kernel, got weight.shape={tuple(weight.shape)}"
        )
    if c_per_wgrp == 0 or c_in % c_per_wgrp != 0:
        raise ValueError(
            "input channels must be a multiple of weight.shape[1] (groups = C_in / "
            f"weight.shape[1]), got input.shape[1]={c_in} and weight.shape[1]={c_per_wgrp}"
        )
    n_wgrp = c_in // c_per_wgrp
    if c_out % n_wgrp != 0:
        raise ValueError(
            f"weight.shape[0] must be a multiple of groups={n_wgrp}, got weight.shape[0]={c_out}"
        )
    n_ogrp = offset.shape[1] // (2 * taps)
    if n_ogrp == 0 or offset.shape[1] != n_ogrp * 2 * taps:
        raise ValueError(
            "offset.shape[1] must be a positive multiple of 2 * kernel_h * kernel_w = "
            f"{2 * taps}, got offset.shape[1]={offset.shape[1]}"
        )
    if c_in % n_ogrp != 0:
        raise ValueError(
            f"input channels must be a multiple of the offset groups {n_ogrp} "
            f"(offset.shape[1] // {2 * taps}), got input.shape[1]={c_in}"
        )
    out_h = (height + 2 * pad_h - (dil_h * (kh - 1) + 1)) // stride_h + 1
    out_w = (width + 2 * pad_w - (dil_w * (kw - 1) + 1)) // stride_w + 1
    if out_h <= 0 or out_w <= 0:
        raise ValueError(
            f"output size would be {out_h}x{out_w}: input.shape={tuple(input.shape)} is too "
            f"small for kernel {kh}x{kw}, padding=({pad_h}, {pad_w}), dilation=({dil_h}, {dil_w})"
        )
    if tuple(offset.shape) != (batch_n, n_ogrp * 2 * taps, out_h, out_w):
        raise ValueError(
            f"offset must have shape {(batch_n, n_ogrp * 2 * taps, out_h, out_w)}, got "
            f"offset.shape={tuple(offset.shape)}"
        )
    if mask is not None and tuple(mask.shape) != (batch_n, n_ogrp * taps, out_h, out_w):
        raise ValueError(
            f"mask must have shape {(batch_n, n_ogrp * taps, out_h, out_w)}, got "
            f"mask.shape={tuple(mask.shape)}"
        )
    if bias is not None and bias.shape[0] != c_out:
        raise ValueError(f"bias must have shape ({c_out},), got bias.shape={tuple(bias.shape)}")

    dtype = compute_dtype("input", input.dtype)
    dev = input.device
    out = torch.empty((batch_n, out_h, out_w, c_out), dtype=dtype, device=dev)
    if out.numel() == 0:
        return out.permute(0, 3, 1, 2).to(input.dtype)
    x = input.to(dtype)
    c_per_ogrp = c_in // n_ogrp
    c_out_per_wgrp = c_out // n_wgrp
    # Gather tables: per offset group [N*H*W + 1, C/G_off] with a trailing zero row.
    tables: List[Tensor] = []
    for g in range(n_ogrp):
        part = x[:, g * c_per_ogrp : (g + 1) * c_per_ogrp].permute(0, 2, 3, 1)
        part = part.reshape(-1, c_per_ogrp)
        tables.append(torch.cat([part, part.new_zeros((1, c_per_ogrp))], dim=0))
    zero_row = batch_n * height * width
    # offset [B, G, taps, 2, OH, OW] -> [B, OH, OW, G, taps]
    off = offset.to(dtype).reshape(batch_n, n_ogrp, taps, 2, out_h, out_w)
    positions = batch_n * out_h * out_w
    off_y = off[:, :, :, 0].permute(0, 3, 4, 1, 2).reshape(positions, n_ogrp, taps)
    off_x = off[:, :, :, 1].permute(0, 3, 4, 1, 2).reshape(positions, n_ogrp, taps)
    msk = None
    if mask is not None:
        msk = mask.to(dtype).reshape(batch_n, n_ogrp, taps, out_h, out_w)
        msk = msk.permute(0, 3, 4, 1, 2).reshape(positions, n_ogrp, taps)
    # weight [C_out, Cg, KH, KW] -> per group [taps * Cg, C_out/groups], matching columns
    # laid out as [P, taps, C] (tap-major, channel-minor).
    w = weight.to(dtype).reshape(n_wgrp, c_out_per_wgrp, c_per_wgrp, taps)
    w_mats = w.permute(0, 3, 2, 1).reshape(n_wgrp, taps * c_per_wgrp, c_out_per_wgrp)
    matmul_dtype = torch.float32 if dtype == torch.float16 else dtype
    w_mats = w_mats.to(matmul_dtype)

    tap_i = torch.arange(kh, device=dev).repeat_interleave(kw)  # [taps]
    tap_j = torch.arange(kw, device=dev).repeat(kh)
    # Positions are (b, oy, ox); chunk them so the columns stay within budget.
    pos_all = torch.arange(positions, device=dev)
    step = max(1, CHUNK_ELEMENTS // (taps * c_in))
    out_flat = out.reshape(positions, c_out)
    for p0 in range(0, positions, step):
        p = pos_all[p0 : p0 + step]
        b = p // (out_h * out_w)
        oy = (p // out_w) % out_h
        ox = p % out_w
        base_y = (oy * stride_h - pad_h)[:, None] + tap_i[None, :] * dil_h  # [P, taps] int
        base_x = (ox * stride_w - pad_w)[:, None] + tap_j[None, :] * dil_w
        b_rep = b[:, None].expand(-1, taps).reshape(-1)
        cols = []
        for g in range(n_ogrp):
            dy = off_y[p0 : p0 + p.numel(), g]  # [P, taps]
            dx = off_x[p0 : p0 + p.numel(), g]
            yy = (base_y.to(dtype) + dy).reshape(-1)
            xx = (base_x.to(dtype) + dx).reshape(-1)
            m = None if msk is None else msk[p0 : p0 + p.numel(), g].reshape(-1)
            cols.append(_sample_columns(tables[g], zero_row, b_rep, yy, xx, m, height, width))
        col = torch.cat(cols, dim=1).reshape(p.numel(), taps, c_in)  # [P, taps, C_in]
        for g in range(n_wgrp):
            part = col[:, :, g * c_per_wgrp : (g + 1) * c_per_wgrp].reshape(p.numel(), -1)
            res = part.to(matmul_dtype) @ w_mats[g]
            out_flat[p0 : p0 + p.numel(), g * c_out_per_wgrp : (g + 1) * c_out_per_wgrp] = (
                res.to(dtype)
            )
    if bias is not None:
        out = out + bias.to(dtype)
    return out.permute(0, 3, 1, 2).contiguous().to(input.dtype)


class DeformConv2d(nn.Module):
    """Module form of :func:`deform_conv2d` with learnable ``weight`` and optional ``bias``.

    Shapes: ``input`` ``[B, C_in, H, W]``, ``offset`` ``[B, 2 * G_off * KH * KW, OH, OW]``,
    optional ``mask`` ``[B, G_off * KH * KW, OH, OW]`` -> ``[B, C_out, OH, OW]``.
    Parameters are initialised like torchvision's (Kaiming-uniform weight, uniform bias), in
    the same order, so a fixed seed gives the same initial values.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels)
        out_channels = check_int("out_channels", out_channels)
        groups = check_int("groups", groups)
        check_bool("bias", bias)
        if groups < 1:
            raise ValueError(f"groups must be >= 1, got groups={groups}")
        if in_channels % groups != 0:
            raise ValueError(
                f"in_channels must be divisible by groups, got in_channels={in_channels} and "
                f"groups={groups}"
            )
        if out_channels % groups != 0:
            raise ValueError(
                f"out_channels must be divisible by groups, got out_channels={out_channels} and "
                f"groups={groups}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = int_pair("kernel_size", kernel_size, minimum=1)
        self.stride = int_pair("stride", stride, minimum=1)
        self.padding = int_pair("padding", padding, minimum=0)
        self.dilation = int_pair("dilation", dilation, minimum=1)
        self.groups = groups
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, *self.kernel_size)
        )
        if bias:
            self.bias: Optional[nn.Parameter] = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.weight.shape[2] * self.weight.shape[3]
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor, offset: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        return deform_conv2d(
            input,
            offset,
            self.weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            mask=mask,
        )

    def __repr__(self) -> str:
        parts = [
            f"{self.in_channels}",
            f"{self.out_channels}",
            f"kernel_size={self.kernel_size}",
            f"stride={self.stride}",
        ]
        if self.padding != (0, 0):
            parts.append(f"padding={self.padding}")
        if self.dilation != (1, 1):
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is None:
            parts.append("bias=False")
        return f"{type(self).__name__}({', '.join(parts)})"
