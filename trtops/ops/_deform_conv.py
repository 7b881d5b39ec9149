"""Deformable convolution v1/v2 with :func:`torchvision.ops.deform_conv2d`'s signature.

CPU tensors run the host implementation of ``libtrtops_kernels.so``, CUDA tensors its fused
implicit-GEMM kernels: tensor cores for float16/bfloat16; for float32 on an sm_80+ GPU, TF32
tensor cores with every operand split into two TF32 numbers (three products per product, float32
accuracy), or rounded to TF32 once when TF32 is allowed; FFMA for float32 on older GPUs and for
float64. Inference only: the result carries no autograd history.
"""

from __future__ import annotations

import ctypes
import math
from typing import NamedTuple, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from trtops import _native
from trtops.ops import _tensor
from trtops.ops._tensor import detached, quiet_under_jit_trace, traced

_OP = "deform_conv2d"
_FLOATING = (torch.float32, torch.float16, torch.bfloat16, torch.float64)

IntPair = Union[int, tuple[int, int]]


def _pair(name: str, value: Union[IntPair, Sequence[int]]) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{_OP}: {name} must be an int or a pair of ints, got {value!r}")


def _check_tensor(
    name: str, tensor: Optional[Tensor], dims: int, dtype: torch.dtype, required: bool = False
) -> None:
    if tensor is None and not required:
        return
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{_OP}: {name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() != dims:
        raise ValueError(f"{_OP}: {name} must have {dims} dimensions, got shape {tuple(tensor.shape)}")
    if tensor.dtype != dtype:
        raise TypeError(f"{_OP}: {name} has dtype {tensor.dtype} but input has dtype {dtype}")


# Argument types of the C ABI (plugins/kernels/deform_conv/deform_conv_c_api.h).
_ARGTYPES = {
    "trtops_deform_conv2d": (ctypes.c_void_p,) * 6
    + (
        ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.c_int32),
        ctypes.c_int32,
        ctypes.c_int32,
        ctypes.c_void_p,
        ctypes.c_int64,
        ctypes.c_int32,
        ctypes.c_void_p,
    ),
    "trtops_deform_conv2d_workspace_size": (
        ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.c_int32),
        ctypes.c_int32,
        ctypes.c_int32,
        ctypes.c_int32,
        ctypes.c_int32,
        ctypes.POINTER(ctypes.c_int64),
    ),
}


def _function(name: str) -> _native.KernelFunction:
    return _native.kernel_function(name, _ARGTYPES[name])


def _output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


class _Geometry(NamedTuple):
    """A checked call's sizes and fields."""

    shape: tuple[int, int, int, int, int, int, int]  #: N, C_in, H, W, C_out, H_out, W_out
    fields: tuple[int, ...]  #: kh, kw, stride (h, w), padding (h, w), dilation (h, w), groups, offset groups
    device: torch.device

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        n, _, _, _, c_out, out_h, out_w = self.shape
        return (n, c_out, out_h, out_w)

    @property
    def stride(self) -> list[int]:
        return list(self.fields[2:4])

    @property
    def padding(self) -> list[int]:
        return list(self.fields[4:6])

    @property
    def dilation(self) -> list[int]:
        return list(self.fields[6:8])

    @property
    def groups(self) -> tuple[int, int]:
        """(groups, offset groups)."""
        return (self.fields[8], self.fields[9])


def _geometry(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    stride: IntPair,
    padding: IntPair,
    dilation: IntPair,
    mask: Optional[Tensor],
) -> _Geometry:
    """Checks a call's tensors and fields as torchvision does (groups and offset groups inferred
    from the shapes); raises TypeError / ValueError naming the argument."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{_OP}: input must be a torch.Tensor, got {type(input).__name__}")
    if input.dtype not in _FLOATING:
        raise TypeError(f"{_OP}: input has unsupported dtype {input.dtype}; supported: {list(_FLOATING)}")
    dtype = input.dtype
    _check_tensor("input", input, 4, dtype)
    _check_tensor("offset", offset, 4, dtype, required=True)
    _check_tensor("weight", weight, 4, dtype, required=True)
    _check_tensor("bias", bias, 1, dtype)
    _check_tensor("mask", mask, 4, dtype)
    stride_h, stride_w = _pair("stride", stride)
    pad_h, pad_w = _pair("padding", padding)
    dil_h, dil_w = _pair("dilation", dilation)
    if stride_h <= 0 or stride_w <= 0:
        raise ValueError(f"{_OP}: stride must be positive, got {(stride_h, stride_w)}")
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f"{_OP}: padding must be non-negative, got {(pad_h, pad_w)}")
    if dil_h <= 0 or dil_w <= 0:
        raise ValueError(f"{_OP}: dilation must be positive, got {(dil_h, dil_w)}")

    batch, in_channels, height, width = input.shape
    out_channels, weight_in, kernel_h, kernel_w = weight.shape
    if kernel_h <= 0 or kernel_w <= 0:
        raise ValueError(f"{_OP}: weight must have a non-empty kernel, got shape {tuple(weight.shape)}")
    if weight_in <= 0 or in_channels % weight_in != 0:
        raise ValueError(
            f"{_OP}: weight.shape[1]={weight_in} must divide input channels {in_channels} (groups = "
            f"in_channels / weight.shape[1])"
        )
    groups = in_channels // weight_in
    if out_channels % groups != 0:
        raise ValueError(f"{_OP}: weight.shape[0]={out_channels} must be divisible by groups={groups}")
    taps = kernel_h * kernel_w
    offset_groups = offset.shape[1] // (2 * taps)
    if offset_groups == 0 or offset.shape[1] != 2 * taps * offset_groups:
        raise ValueError(
            f"{_OP}: offset.shape[1]={offset.shape[1]} must be a positive multiple of "
            f"2 * kernel_h * kernel_w = {2 * taps}"
        )
    if in_channels % offset_groups != 0:
        raise ValueError(
            f"{_OP}: input channels {in_channels} must be divisible by offset groups {offset_groups}"
        )
    out_h = _output_size(height, kernel_h, stride_h, pad_h, dil_h)
    out_w = _output_size(width, kernel_w, stride_w, pad_w, dil_w)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"{_OP}: output size too small: ({out_h}, {out_w}) for input {(height, width)}")
    expected_offset = (batch, 2 * taps * offset_groups, out_h, out_w)
    if tuple(offset.shape) != expected_offset:
        raise ValueError(f"{_OP}: offset must have shape {expected_offset}, got {tuple(offset.shape)}")
    if mask is not None:
        expected_mask = (batch, taps * offset_groups, out_h, out_w)
        if tuple(mask.shape) != expected_mask:
            raise ValueError(f"{_OP}: mask must have shape {expected_mask}, got {tuple(mask.shape)}")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{_OP}: bias must have shape ({out_channels},), got {tuple(bias.shape)}")

    named = {"input": input, "offset": offset, "weight": weight}
    if mask is not None:
        named["mask"] = mask
    if bias is not None:
        named["bias"] = bias
    device = _tensor.same_device(_OP, **named)
    return _Geometry(
        (batch, in_channels, height, width, out_channels, out_h, out_w),
        (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, offset_groups),
        device,
    )


def _deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    dilation: IntPair = (1, 1),
    mask: Optional[Tensor] = None,
    *,
    out: Optional[Tensor] = None,
    allow_tf32: Optional[bool] = None,
) -> Tensor:
    """deform_conv2d writing into ``out`` when given (tests pass a poisoned buffer)."""
    geometry = _geometry(input, offset, weight, bias, stride, padding, dilation, mask)
    if allow_tf32 is None:
        # As torchvision's CUDA kernel, whose im2col GEMM follows torch's matmul TF32 switch.
        allow_tf32 = input.is_cuda and torch.backends.cuda.matmul.allow_tf32
    if out is None and traced(input):
        return torch.ops.trtops_kernels.deform_conv2d(
            input.detach(), offset.detach(), weight.detach(), detached(bias), geometry.stride, geometry.padding,
            geometry.dilation, *geometry.groups, detached(mask), bool(allow_tf32),
        )
    dtype = input.dtype
    device = geometry.device
    out_shape = geometry.out_shape
    if out is None:
        out = torch.empty(out_shape, dtype=dtype, device=device)
    elif tuple(out.shape) != out_shape or out.dtype != dtype or out.device != device or not out.is_contiguous():
        raise ValueError(f"{_OP}: out must be a contiguous {dtype} tensor of shape {out_shape} on {device}")
    if out.numel() == 0:
        return out

    with torch.no_grad():
        input_c = input.detach().contiguous()
        offset_c = offset.detach().contiguous()
        weight_c = weight.detach().contiguous()
        mask_c = mask.detach().contiguous() if mask is not None else None
        bias_c = bias.detach().contiguous() if bias is not None else None
    shape = (ctypes.c_int64 * 7)(*geometry.shape)
    fields = (ctypes.c_int32 * 10)(*geometry.fields)
    code = _tensor.dtype_code(input, _OP, "input")
    workspace = None
    workspace_size = 0
    if device.type == "cuda":
        size = ctypes.c_int64(0)
        _native.check_status(
            _function("trtops_deform_conv2d_workspace_size")(
                shape, fields, code, int(mask is not None), int(bias is not None), int(allow_tf32), ctypes.byref(size)
            )
        )
        workspace_size = size.value
        workspace = torch.empty(max(workspace_size, 1), dtype=torch.uint8, device=device)

    def ptr(t: Optional[Tensor]) -> Optional[int]:
        return _tensor.pointer(t) if t is not None else None

    _tensor.launch(
        device,
        _function("trtops_deform_conv2d"),
        ptr(input_c),
        ptr(offset_c),
        ptr(mask_c),
        ptr(weight_c),
        ptr(bias_c),
        ptr(out),
        shape,
        fields,
        ctypes.c_int32(code),
        ctypes.c_int32(int(allow_tf32)),
        ptr(workspace),
        ctypes.c_int64(workspace_size),
    )
    return out


@quiet_under_jit_trace
def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    dilation: IntPair = (1, 1),
    mask: Optional[Tensor] = None,
    *,
    allow_tf32: Optional[bool] = None,
) -> Tensor:
    """Deformable convolution v2 when ``mask`` is given, v1 otherwise (torchvision semantics).

    Args:
        input: ``[N, C_in, H, W]``.
        offset: ``[N, 2 * offset_groups * kh * kw, H_out, W_out]``, ``(dy, dx)`` pairs per kernel
            tap per offset group.
        weight: ``[C_out, C_in / groups, kh, kw]``; ``groups = C_in / weight.shape[1]``.
        bias: optional ``[C_out]``.
        stride, padding, dilation: ints or ``(h, w)`` pairs.
        mask: optional ``[N, offset_groups * kh * kw, H_out, W_out]``.
        allow_tf32: float32 on CUDA only (keyword-only, not in torchvision's signature): let an
            sm_80+ GPU round the weights and sampled inputs to TF32 (10-bit mantissa) and multiply
            them once, about three times fewer tensor-core products than the default float32
            path (which splits each operand into two TF32 numbers to keep float32 accuracy), at
            about float16 accuracy. ``None`` (default) follows
            ``torch.backends.cuda.matmul.allow_tf32`` (off unless set), as torchvision's CUDA
            kernel does. Ignored by other dtypes, by GPUs without TF32 and by CPU tensors, which
            compute in float32.

    Returns:
        ``[N, C_out, H_out, W_out]`` in the dtype of ``input`` (float32, float16, bfloat16 or
        float64; every tensor must share it).
    """
    return _deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask, allow_tf32=allow_tf32)


class DeformConv2d(nn.Module):
    """Module form of :func:`deform_conv2d`, parameter-compatible with torchvision's DeformConv2d.

    ``allow_tf32`` (keyword-only, default None: torch's matmul TF32 switch) is passed to
    :func:`deform_conv2d`.
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
        *,
        allow_tf32: Optional[bool] = None,
    ) -> None:
        super().__init__()
        if groups <= 0 or in_channels % groups != 0:
            raise ValueError(f"DeformConv2d: in_channels={in_channels} must be divisible by groups={groups}")
        if out_channels % groups != 0:
            raise ValueError(f"DeformConv2d: out_channels={out_channels} must be divisible by groups={groups}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride)
        self.padding = _pair("padding", padding)
        self.dilation = _pair("dilation", dilation)
        self.groups = groups
        self.allow_tf32 = allow_tf32
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        if bias:
            self.bias: Optional[nn.Parameter] = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor, offset: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """``input`` ``[N, C_in, H, W]``, ``offset`` ``[N, 2 * og * kh * kw, H_out, W_out]``,
        optional ``mask`` ``[N, og * kh * kw, H_out, W_out]``."""
        return deform_conv2d(
            input, offset, self.weight, self.bias, stride=self.stride, padding=self.padding,
            dilation=self.dilation, mask=mask, allow_tf32=self.allow_tf32,
        )

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.allow_tf32 is not None:
            s += f", allow_tf32={self.allow_tf32}"
        return s


# ----- The trtops_kernels::deform_conv2d custom op (torch.compile, torch.export; see _tensor.traced) -----


# groups and offset_groups are part of the op (as in torchvision's), though the shapes give them:
# an exported graph's node then carries every field its trtops DeformConv2d node needs.


@torch.library.custom_op(
    "trtops_kernels::deform_conv2d",
    mutates_args=(),
    schema="(Tensor input, Tensor offset, Tensor weight, Tensor? bias, SymInt[] stride, SymInt[] padding, "
    "SymInt[] dilation, SymInt groups, SymInt offset_groups, Tensor? mask, bool allow_tf32) -> Tensor",
)
def _deform_conv2d_op(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    stride: list[int],
    padding: list[int],
    dilation: list[int],
    groups: int,
    offset_groups: int,
    mask: Optional[Tensor],
    allow_tf32: bool,
) -> Tensor:
    # The output allocated here: an `out` call never goes back through the custom op.
    out = _deform_conv2d_fake(
        input, offset, weight, bias, stride, padding, dilation, groups, offset_groups, mask, allow_tf32
    )
    return _deform_conv2d(
        input, offset, weight, bias, _pair("stride", stride), _pair("padding", padding),
        _pair("dilation", dilation), mask, out=out, allow_tf32=allow_tf32,
    )


@_deform_conv2d_op.register_fake
def _deform_conv2d_fake(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    stride: list[int],
    padding: list[int],
    dilation: list[int],
    groups: int,
    offset_groups: int,
    mask: Optional[Tensor],
    allow_tf32: bool,
) -> Tensor:
    geometry = _geometry(
        input, offset, weight, bias, _pair("stride", stride), _pair("padding", padding), _pair("dilation", dilation),
        mask,
    )
    if (groups, offset_groups) != geometry.groups:
        raise ValueError(
            f"{_OP}: groups={groups} and offset_groups={offset_groups} do not match the shapes, which give "
            f"{geometry.groups[0]} and {geometry.groups[1]}"
        )
    return input.new_empty(geometry.out_shape)
