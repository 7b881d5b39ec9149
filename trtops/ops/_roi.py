"""RoI operators (RoIAlign, PS-RoIAlign, RoIPool, PS-RoIPool, MultiScaleRoIAlign) running the
trtops kernels, with torchvision's signatures.

CPU tensors run the host implementation of ``libtrtops_kernels.so``, CUDA tensors the CUDA
kernels on the current torch stream. A channels-last input (``memory_format=torch.channels_last``)
takes the NHWC path and gives a channels-last output of the same logical shape.

Differences from torchvision, all deliberate: RoIs whose batch index is outside ``[0, N)`` or whose
coordinates are not finite give zeros (torchvision reads out of bounds); ``rois`` may be float32
for any input dtype; bfloat16 is supported everywhere; adaptive sampling grids are capped at 1024
samples per bin and axis; ``spatial_scale`` is passed as float32.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any, Callable, Literal, Optional, Sequence, Union, cast

import torch
from torch import Tensor, nn

from trtops import _native
from trtops.ops import _tensor
from trtops.ops._tensor import quiet_under_jit_trace

__all__ = [
    "roi_align",
    "ps_roi_align",
    "roi_pool",
    "ps_roi_pool",
    "multi_scale_roi_align",
    "RoIAlign",
    "PSRoIAlign",
    "RoIPool",
    "PSRoIPool",
    "MultiScaleRoIAlign",
]

BoxesType = Union[Tensor, Sequence[Tensor]]
SizeType = Union[int, Sequence[int]]
LevelMapperName = Literal["torchvision", "mmdet"]

_FEATURE_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
#: feature levels multi_scale_roi_align (kernels and plugin) takes at most
MAX_LEVELS = 8

_c_int32 = ctypes.c_int32
_c_int64 = ctypes.c_int64
_c_void_p = ctypes.c_void_p
_c_float = ctypes.c_float
_SINGLE_LEVEL_HEAD = [_c_void_p, _c_void_p, _c_void_p, _c_int32, _c_int32, _c_int32] + [_c_int64] * 5 + [
    _c_int32,
    _c_int32,
    _c_float,
]
_ARGTYPES: dict[str, list[Any]] = {
    "trtops_roi_align": _SINGLE_LEVEL_HEAD + [_c_int32, _c_int32, _c_void_p, _c_int32, _c_void_p],
    "trtops_roi_align_workspace_size": [_c_int32, _c_int32]
    + [_c_int64] * 5
    + [_c_int32] * 3
    + [ctypes.POINTER(ctypes.c_uint64)],
    "trtops_ps_roi_align": _SINGLE_LEVEL_HEAD + [_c_int32, _c_int32, _c_void_p],
    "trtops_roi_pool": _SINGLE_LEVEL_HEAD + [_c_void_p, _c_int32, _c_void_p],
    "trtops_roi_pool_workspace_size": [_c_int32, _c_int32]
    + [_c_int64] * 5
    + [_c_int32] * 2
    + [ctypes.POINTER(ctypes.c_uint64)],
    "trtops_ps_roi_pool": _SINGLE_LEVEL_HEAD + [_c_int32, _c_void_p],
    "trtops_multi_scale_roi_align": [_c_void_p, _c_void_p, _c_void_p, _c_void_p, _c_int32, _c_void_p, _c_void_p]
    + [_c_int32] * 3
    + [_c_int64] * 3
    + [_c_int32] * 9
    + [_c_void_p],
}

#: multi_scale_roi_align's level mappers, by the code the C ABI takes.
LEVEL_MAPPERS = {"torchvision": 0, "mmdet": 1}


def _function(name: str) -> _native.KernelFunction:
    return _native.kernel_function(name, _ARGTYPES[name])


def _pair(op: str, output_size: SizeType) -> tuple[int, int]:
    if type(output_size) is int and output_size > 0:  # the common call, checked in one step
        return (output_size, output_size)
    items: list[object] = []
    if isinstance(output_size, int):
        items = [output_size, output_size]
    elif isinstance(output_size, (list, tuple)):
        items = list(output_size) * 2 if len(output_size) == 1 else list(output_size)
    ints = [s for s in items if isinstance(s, int) and not isinstance(s, bool)]
    if len(items) != 2 or len(ints) != 2:
        raise TypeError(f"{op}: output_size must be an int or a pair of ints, got {output_size!r}")
    if ints[0] <= 0 or ints[1] <= 0:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return ints[0], ints[1]


def _boxes_to_rois(op: str, boxes: BoxesType) -> Tensor:
    """rois [K, 5] from a [K, 5] tensor or a list of per-image [L, 4] tensors (torchvision's rule)."""
    if isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            if not isinstance(b, Tensor) or b.dim() != 2 or b.size(1) != 4:
                shape = tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise ValueError(f"{op}: boxes[{i}] must be a Tensor of shape [L, 4], got {shape}")
        if len(boxes) == 0:
            raise ValueError(f"{op}: boxes is an empty list")
        concat = torch.cat(list(boxes), dim=0)
        ids = torch.cat(
            [torch.full((b.size(0), 1), i, dtype=concat.dtype, device=concat.device) for i, b in enumerate(boxes)]
        )
        return torch.cat([ids, concat], dim=1)
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{op}: boxes must be a Tensor[K, 5] or a list of Tensor[L, 4], got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.size(1) != 5:
        raise ValueError(f"{op}: rois must have shape [K, 5], got {tuple(boxes.shape)}")
    return boxes


def _check_input(op: str, input: Tensor) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.dim() != 4:
        raise ValueError(f"{op}: input must have shape [N, C, H, W], got {tuple(input.shape)}")
    if input.dtype not in _FEATURE_DTYPES:
        raise TypeError(
            f"{op}: input has unsupported dtype {input.dtype}; supported: float32, float16, bfloat16, float64"
        )


def _check_rois_dtype(op: str, input: Tensor, rois: Tensor) -> None:
    if rois.dtype != input.dtype and rois.dtype != torch.float32:
        raise TypeError(f"{op}: rois has dtype {rois.dtype}; it must be float32 or the input dtype ({input.dtype})")


def _is_channels_last(t: Tensor) -> bool:
    return not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


def _contiguous(t: Tensor) -> Tensor:
    # Checking first skips a dispatcher call per tensor on the common already-contiguous path.
    return t if t.is_contiguous() else t.contiguous()


def _layout_of(input: Tensor) -> tuple[Tensor, int]:
    """(input in a layout the kernels read, layout code)."""
    if input.is_contiguous():
        return input, _native.LAYOUT_CODES["NCHW"]
    if input.is_contiguous(memory_format=torch.channels_last):
        return input, _native.LAYOUT_CODES["NHWC"]
    return input.contiguous(), _native.LAYOUT_CODES["NCHW"]


def _output(op: str, like: Tensor, shape: tuple[int, int, int, int], nhwc: bool, out: Optional[Tensor]) -> Tensor:
    """A fresh output, or the caller's `_out` after checking it matches shape, dtype, device and layout."""
    k, c, ph, pw = shape
    if out is None:
        if nhwc:
            return torch.empty((k, ph, pw, c), dtype=like.dtype, device=like.device).permute(0, 3, 1, 2)
        return torch.empty(shape, dtype=like.dtype, device=like.device)
    if tuple(out.shape) != shape or out.dtype != like.dtype or out.device != like.device:
        raise ValueError(
            f"{op}: _out must be a {like.dtype} tensor of shape {shape} on {like.device}, "
            f"got {out.dtype} {tuple(out.shape)} on {out.device}"
        )
    expected = _strides(shape, nhwc)
    # Only dimensions longer than 1 constrain where the kernel's writes land.
    if any(size > 1 and have != want for size, have, want in zip(shape, out.stride(), expected)):
        layout = "channels-last" if nhwc else "contiguous"
        raise ValueError(f"{op}: _out must be {layout} (strides {expected}), got strides {out.stride()}")
    return out


def _strides(shape: tuple[int, int, int, int], nhwc: bool) -> tuple[int, int, int, int]:
    k, c, h, w = shape
    if nhwc:
        return (h * w * c, 1, w * c, c)
    return (c * h * w, h * w, w, 1)


def _pooled_shape(
    op: str, input: Tensor, rois: Tensor, ph: int, pw: int, position_sensitive: bool
) -> tuple[int, int, int, int]:
    """The output shape [K, C_out, ph, pw]; ValueError when a PS op's channels do not divide."""
    c = input.shape[1]
    if position_sensitive and c % (ph * pw) != 0:
        raise ValueError(
            f"{op}: input channels must be a multiple of output_size[0] * output_size[1] = {ph * pw}, got {c}"
        )
    return (rois.shape[0], c // (ph * pw) if position_sensitive else c, ph, pw)


def _traced_single_level(op: str, input: Tensor, boxes: BoxesType, output_size: SizeType, *fields: object) -> Tensor:
    """A traced call (see ``_tensor.traced``) as one ``trtops_kernels::<op>`` node."""
    rois = _boxes_to_rois(op, boxes)
    ph, pw = _pair(op, output_size)
    return getattr(torch.ops.trtops_kernels, op)(input.detach(), rois.detach(), ph, pw, *fields)


def _single_level_output(op: str, input: Tensor, rois: Tensor, ph: int, pw: int, position_sensitive: bool) -> Tensor:
    """The eager call's checks and an empty output of its shape, dtype and memory format: the
    fake kernel of a single-level custom op, and the output its real kernel launches into."""
    _check_input(op, input)
    rois = _boxes_to_rois(op, rois)
    _check_rois_dtype(op, input, rois)
    _tensor.same_device(op, input=input, rois=rois)
    _pair(op, (ph, pw))
    return _output(op, input, _pooled_shape(op, input, rois, ph, pw, position_sensitive), _is_channels_last(input), None)


def _single_level(
    op: str,
    fn_name: str,
    input: Tensor,
    boxes: BoxesType,
    output_size: SizeType,
    spatial_scale: float,
    extra: tuple,
    position_sensitive: bool,
    out: Optional[Tensor],
    workspace_bytes: Optional[Callable[..., int]] = None,
) -> Tensor:
    """Checks, normalizes and launches one single-level RoI op. `workspace_bytes`, for ops whose C
    ABI takes a workspace (its pointer goes last in `extra`), maps (dtype code, layout, N, C, H, W,
    K, ph, pw) to the bytes to allocate on CUDA (0: none)."""
    _check_input(op, input)
    rois = _boxes_to_rois(op, boxes)
    _check_rois_dtype(op, input, rois)
    device = _tensor.same_device(op, input=input, rois=rois)
    ph, pw = _pair(op, output_size)
    n, c, h, w = input.shape
    shape = _pooled_shape(op, input, rois, ph, pw, position_sensitive)
    x, layout = _layout_of(input)
    nhwc = layout == _native.LAYOUT_CODES["NHWC"]
    rois = _contiguous(rois)
    result = _output(op, input, shape, nhwc, out)
    workspace: Optional[Tensor] = None  # kept alive until the launch is queued
    if workspace_bytes is not None:
        size = 0
        if device.type == "cuda":
            size = workspace_bytes(_tensor.dtype_code(x, op, "input"), layout, n, c, h, w, rois.size(0), ph, pw)
        # torch's allocator returns blocks aligned to far more than the 16 bytes the kernels need.
        workspace = torch.empty(size, dtype=torch.uint8, device=device) if size > 0 else None
        extra = (*extra, _tensor.pointer(workspace) if workspace is not None else None)
    _tensor.launch(
        device,
        _function(fn_name),
        _tensor.pointer(x),
        _tensor.pointer(rois),
        _tensor.pointer(result),
        _tensor.dtype_code(x, op, "input"),
        _tensor.dtype_code(rois, op, "rois"),
        layout,
        n,
        c,
        h,
        w,
        rois.size(0),
        ph,
        pw,
        float(spatial_scale),
        *extra,
    )
    return result


@quiet_under_jit_trace
def roi_align(
    input: Tensor,
    boxes: BoxesType,
    output_size: SizeType,
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
    *,
    _out: Optional[Tensor] = None,
) -> Tensor:
    """RoIAlign, as ``torchvision.ops.roi_align``.

    Args:
        input: features ``[N, C, H, W]`` (contiguous or channels-last), float32/16, bfloat16, float64.
        boxes: ``[K, 5]`` rows (batch_index, x1, y1, x2, y2), or a list of per-image ``[L, 4]`` boxes.
        output_size: ``(ph, pw)`` or an int.
        spatial_scale: factor from box coordinates to input coordinates.
        sampling_ratio: samples per bin and axis; ``<= 0`` adapts to the RoI size.
        aligned: shift the box by -0.5 pixel (pixel-center alignment).

    Returns:
        ``[K, C, ph, pw]`` in the input's dtype and memory format.

    With ``sampling_ratio <= 0`` each bin is summed by map rows of columns (every touched pixel read
    once): the same samples and weights as torchvision, added in another order, so float32 results
    can differ from torchvision's in the last bits. A sample outside the map adds exactly 0, as in
    torchvision's CUDA kernel (its CPU kernel turns such bins into NaN when pixel (0, 0) is NaN).

    On CUDA, a contiguous (NCHW) input with many RoIs gets a scratch buffer from torch's caching
    allocator, the size of one channels-last copy of ``input``. The kernel transposes into it and
    reads channels as 16-byte vectors, which is faster than gathering from NCHW.
    """
    if _out is None and _tensor.traced(input):
        return _traced_single_level(
            "roi_align", input, boxes, output_size, float(spatial_scale), int(sampling_ratio), bool(aligned)
        )
    return _single_level(
        "roi_align",
        "trtops_roi_align",
        input,
        boxes,
        output_size,
        spatial_scale,
        (int(sampling_ratio), int(bool(aligned))),
        False,
        _out,
        workspace_bytes=lambda *dims: _workspace_bytes(
            "trtops_roi_align_workspace_size", *dims, int(sampling_ratio)
        ),
    )


def _workspace_bytes(fn_name: str, *dims: int) -> int:
    """Bytes of the workspace a kernel uses for these arguments (the C ABI's ``*_workspace_size``):
    one channels-last copy of an NCHW input when enough RoIs make that path pay, else 0."""
    size = ctypes.c_uint64(0)
    status = _function(fn_name)(*dims, ctypes.byref(size))
    return int(size.value) if status == 0 else 0


@quiet_under_jit_trace
def ps_roi_align(
    input: Tensor,
    boxes: BoxesType,
    output_size: SizeType,
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    *,
    _out: Optional[Tensor] = None,
) -> Tensor:
    """Position-sensitive RoIAlign, as ``torchvision.ops.ps_roi_align``.

    ``C`` must be a multiple of ``ph * pw``; returns ``[K, C / (ph * pw), ph, pw]``.
    """
    if _out is None and _tensor.traced(input):
        return _traced_single_level(
            "ps_roi_align", input, boxes, output_size, float(spatial_scale), int(sampling_ratio)
        )
    return _single_level(
        "ps_roi_align",
        "trtops_ps_roi_align",
        input,
        boxes,
        output_size,
        spatial_scale,
        (int(sampling_ratio),),
        True,
        _out,
    )


@quiet_under_jit_trace
def roi_pool(
    input: Tensor,
    boxes: BoxesType,
    output_size: SizeType,
    spatial_scale: float = 1.0,
    *,
    _out: Optional[Tensor] = None,
) -> Tensor:
    """RoIPool (max over each bin), as ``torchvision.ops.roi_pool``; returns ``[K, C, ph, pw]``.

    Like :func:`roi_align`, a contiguous CUDA input with many RoIs gets a scratch buffer (one
    channels-last copy of ``input``) from torch's caching allocator.
    """
    if _out is None and _tensor.traced(input):
        return _traced_single_level("roi_pool", input, boxes, output_size, float(spatial_scale))
    return _single_level(
        "roi_pool",
        "trtops_roi_pool",
        input,
        boxes,
        output_size,
        spatial_scale,
        (),
        False,
        _out,
        workspace_bytes=lambda *dims: _workspace_bytes("trtops_roi_pool_workspace_size", *dims),
    )


@quiet_under_jit_trace
def ps_roi_pool(
    input: Tensor,
    boxes: BoxesType,
    output_size: SizeType,
    spatial_scale: float = 1.0,
    *,
    _out: Optional[Tensor] = None,
) -> Tensor:
    """Position-sensitive RoIPool, as ``torchvision.ops.ps_roi_pool``; returns ``[K, C / (ph * pw), ph, pw]``."""
    if _out is None and _tensor.traced(input):
        return _traced_single_level("ps_roi_pool", input, boxes, output_size, float(spatial_scale))
    return _single_level(
        "ps_roi_pool", "trtops_ps_roi_pool", input, boxes, output_size, spatial_scale, (), True, _out
    )


@quiet_under_jit_trace
def multi_scale_roi_align(
    features: Sequence[Tensor],
    boxes: BoxesType,
    output_size: SizeType,
    scales: Sequence[float],
    sampling_ratio: int,
    aligned: bool = False,
    canonical_scale: int = 224,
    canonical_level: int = 4,
    *,
    level_mapper: LevelMapperName = "torchvision",
    finest_scale: int = 56,
    _out: Optional[Tensor] = None,
) -> Tensor:
    """Multi-scale RoIAlign in one kernel: each box goes to a level by its size and is pooled there
    with RoIAlign (``spatial_scale = scales[level]``).

    Args:
        features: per-level ``[N, C, H_l, W_l]`` maps (same N, C, dtype, device; 1 to 8 levels).
        boxes: ``[K, 5]`` rois or a list of per-image ``[L, 4]`` boxes, in image coordinates.
        scales: spatial scale of each level.
        level_mapper: ``"torchvision"``: torchvision's ``LevelMapper`` with ``k_min =
            int(-log2(scales[0]))``, ``k_max = int(-log2(scales[-1]))`` and the canonical constants
            (``torchvision.ops.MultiScaleRoIAlign``). ``"mmdet"``: mmdet's
            ``SingleRoIExtractor.map_roi_levels``, level ``floor(log2(sqrt(area) / finest_scale +
            1e-6))`` clamped to ``[0, levels - 1]``; with ``scales = [1 / s for s in
            featmap_strides]`` and mmcv RoIAlign layers (``aligned`` and ``sampling_ratio`` as in
            their config, usually True and 0) this is ``SingleRoIExtractor(feats, rois)``.
        finest_scale: mmdet's ``finest_scale`` (56 in its configs); only for ``"mmdet"``.

    Boxes whose area is NaN or negative give zeros under either mapper.
    """
    op = "multi_scale_roi_align"
    if level_mapper not in LEVEL_MAPPERS:
        raise ValueError(f"{op}: level_mapper must be one of {sorted(LEVEL_MAPPERS)}, got {level_mapper!r}")
    features = list(features)
    rois = _boxes_to_rois(op, boxes)
    ph, pw = _pair(op, output_size)
    if _out is None and features and _tensor.traced(features[0]):
        return torch.ops.trtops_kernels.multi_scale_roi_align(
            [f.detach() for f in features], rois.detach(), ph, pw, [float(s) for s in scales], int(sampling_ratio), bool(aligned),
            int(canonical_scale), int(canonical_level), level_mapper, int(finest_scale),
        )
    nhwc = _check_levels(features, rois, scales)
    if nhwc:
        levels = list(features)
        layout = _native.LAYOUT_CODES["NHWC"]
    else:
        levels = [_contiguous(f) for f in features]
        layout = _native.LAYOUT_CODES["NCHW"]
    device = features[0].device
    rois = _contiguous(rois)
    n, c = features[0].shape[:2]
    result = _output(op, features[0], (rois.size(0), c, ph, pw), nhwc, _out)
    num = len(levels)
    pointers = (ctypes.c_void_p * num)(*[f.data_ptr() for f in levels])
    heights = _tensor.int64_array([f.shape[2] for f in levels])
    widths = _tensor.int64_array([f.shape[3] for f in levels])
    scale_array = (ctypes.c_float * num)(*[float(s) for s in scales])
    _tensor.launch(
        device,
        _function("trtops_multi_scale_roi_align"),
        ctypes.cast(pointers, ctypes.c_void_p),
        ctypes.cast(heights, ctypes.c_void_p),
        ctypes.cast(widths, ctypes.c_void_p),
        ctypes.cast(scale_array, ctypes.c_void_p),
        num,
        _tensor.pointer(rois),
        _tensor.pointer(result),
        _tensor.dtype_code(features[0], op, "features"),
        _tensor.dtype_code(rois, op, "rois"),
        layout,
        n,
        c,
        rois.size(0),
        ph,
        pw,
        int(sampling_ratio),
        int(bool(aligned)),
        int(canonical_scale),
        int(canonical_level),
        LEVEL_MAPPERS[level_mapper],
        int(finest_scale),
    )
    return result


def _check_levels(features: list[Tensor], rois: Tensor, scales: Sequence[float]) -> bool:
    """multi_scale_roi_align's checks of its levels and rois; whether every level is channels-last
    (the NHWC path; otherwise the levels are read as NCHW)."""
    op = "multi_scale_roi_align"
    if not 1 <= len(features) <= MAX_LEVELS:
        raise ValueError(f"{op}: between 1 and {MAX_LEVELS} feature levels are supported, got {len(features)}")
    if len(scales) != len(features):
        raise ValueError(f"{op}: scales has {len(scales)} entries for {len(features)} feature levels")
    for i, f in enumerate(features):
        _check_input(f"{op}: features[{i}]", f)
    first = features[0]
    for i, f in enumerate(features[1:], start=1):
        if f.dtype != first.dtype or f.shape[:2] != first.shape[:2] or f.device != first.device:
            raise ValueError(
                f"{op}: features[{i}] is {f.dtype} {tuple(f.shape)} on {f.device}; every level must match "
                f"features[0] ({first.dtype}, N={first.shape[0]}, C={first.shape[1]}, {first.device})"
            )
    _check_rois_dtype(op, first, rois)
    _tensor.same_device(op, features=first, rois=rois)
    return all(_is_channels_last(f) for f in features)


# ----- The trtops_kernels:: custom ops (torch.compile, torch.export; see _tensor.traced) -----
# Each real kernel is the eager call with the output allocated by the same code as the fake
# kernel's: a call with `_out` never goes back through the custom op. The schemas are written
# out: torch before 2.5 cannot infer them from this module's (postponed, string) annotations.


@torch.library.custom_op(
    "trtops_kernels::roi_align",
    mutates_args=(),
    schema="(Tensor input, Tensor rois, SymInt pooled_height, SymInt pooled_width, float spatial_scale, "
    "SymInt sampling_ratio, bool aligned) -> Tensor",
)
def _roi_align_op(
    input: Tensor, rois: Tensor, pooled_height: int, pooled_width: int, spatial_scale: float,
    sampling_ratio: int, aligned: bool,
) -> Tensor:
    out = _single_level_output("roi_align", input, rois, pooled_height, pooled_width, False)
    return roi_align(input, rois, (pooled_height, pooled_width), spatial_scale, sampling_ratio, aligned, _out=out)


@_roi_align_op.register_fake
def _roi_align_fake(
    input: Tensor, rois: Tensor, pooled_height: int, pooled_width: int, spatial_scale: float,
    sampling_ratio: int, aligned: bool,
) -> Tensor:
    return _single_level_output("roi_align", input, rois, pooled_height, pooled_width, False)


@torch.library.custom_op(
    "trtops_kernels::ps_roi_align",
    mutates_args=(),
    schema="(Tensor input, Tensor rois, SymInt pooled_height, SymInt pooled_width, float spatial_scale, "
    "SymInt sampling_ratio) -> Tensor",
)
def _ps_roi_align_op(
    input: Tensor, rois: Tensor, pooled_height: int, pooled_width: int, spatial_scale: float, sampling_ratio: int
) -> Tensor:
    out = _single_level_output("ps_roi_align", input, rois, pooled_height, pooled_width, True)
    return ps_roi_align(input, rois, (pooled_height, pooled_width), spatial_scale, sampling_ratio, _out=out)


@_ps_roi_align_op.register_fake
def _ps_roi_align_fake(
    input: Tensor, rois: Tensor, pooled_height: int, pooled_width: int, spatial_scale: float, sampling_ratio: int
) -> Tensor:
    return _single_level_output("ps_roi_align", input, rois, pooled_height, pooled_width, True)


@torch.library.custom_op(
    "trtops_kernels::roi_pool",
    mutates_args=(),
    schema="(Tensor input, Tensor rois, SymInt pooled_height, SymInt pooled_width, float spatial_scale) -> Tensor",
)
def _roi_pool_op(input: Tensor, rois: Tensor, pooled_height: int, pooled_width: int, spatial_scale: float) -> Tensor:
    out = _single_level_output("roi_pool", input, rois, pooled_height, pooled_width, False)
    return roi_pool(input, rois, (pooled_height, pooled_width), spatial_scale, _out=out)


@_roi_pool_op.register_fake
def _roi_pool_fake(input: Tensor, rois: Tensor, pooled_height: int, pooled_width: int, spatial_scale: float) -> Tensor:
    return _single_level_output("roi_pool", input, rois, pooled_height, pooled_width, False)


@torch.library.custom_op(
    "trtops_kernels::ps_roi_pool",
    mutates_args=(),
    schema="(Tensor input, Tensor rois, SymInt pooled_height, SymInt pooled_width, float spatial_scale) -> Tensor",
)
def _ps_roi_pool_op(input: Tensor, rois: Tensor, pooled_height: int, pooled_width: int, spatial_scale: float) -> Tensor:
    out = _single_level_output("ps_roi_pool", input, rois, pooled_height, pooled_width, True)
    return ps_roi_pool(input, rois, (pooled_height, pooled_width), spatial_scale, _out=out)


@_ps_roi_pool_op.register_fake
def _ps_roi_pool_fake(
    input: Tensor, rois: Tensor, pooled_height: int, pooled_width: int, spatial_scale: float
) -> Tensor:
    return _single_level_output("ps_roi_pool", input, rois, pooled_height, pooled_width, True)


def _multi_scale_output(features: list[Tensor], rois: Tensor, ph: int, pw: int, scales: list[float]) -> Tensor:
    """multi_scale_roi_align's checks and empty output (its custom op's fake kernel, and the output
    the real kernel launches into)."""
    op = "multi_scale_roi_align"
    _pair(op, (ph, pw))
    nhwc = _check_levels(features, _boxes_to_rois(op, rois), scales)
    first = features[0]
    return _output(op, first, (rois.shape[0], first.shape[1], ph, pw), nhwc, None)


@torch.library.custom_op(
    "trtops_kernels::multi_scale_roi_align",
    mutates_args=(),
    schema="(Tensor[] features, Tensor rois, SymInt pooled_height, SymInt pooled_width, float[] scales, "
    "SymInt sampling_ratio, bool aligned, SymInt canonical_scale, SymInt canonical_level, str level_mapper, "
    "SymInt finest_scale) -> Tensor",
)
def _multi_scale_roi_align_op(
    features: list[Tensor], rois: Tensor, pooled_height: int, pooled_width: int, scales: list[float],
    sampling_ratio: int, aligned: bool, canonical_scale: int, canonical_level: int, level_mapper: str,
    finest_scale: int,
) -> Tensor:
    out = _multi_scale_output(features, rois, pooled_height, pooled_width, scales)
    return multi_scale_roi_align(
        features, rois, (pooled_height, pooled_width), scales, sampling_ratio, aligned, canonical_scale,
        canonical_level, level_mapper=cast(LevelMapperName, level_mapper), finest_scale=finest_scale, _out=out,
    )


@_multi_scale_roi_align_op.register_fake
def _multi_scale_roi_align_fake(
    features: list[Tensor], rois: Tensor, pooled_height: int, pooled_width: int, scales: list[float],
    sampling_ratio: int, aligned: bool, canonical_scale: int, canonical_level: int, level_mapper: str,
    finest_scale: int,
) -> Tensor:
    return _multi_scale_output(features, rois, pooled_height, pooled_width, scales)


class RoIAlign(nn.Module):
    """Module form of :func:`roi_align` (as ``torchvision.ops.RoIAlign``)."""

    def __init__(self, output_size: SizeType, spatial_scale: float, sampling_ratio: int, aligned: bool = False):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: Tensor, rois: BoxesType) -> Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned})"
        )


class PSRoIAlign(nn.Module):
    """Module form of :func:`ps_roi_align` (as ``torchvision.ops.PSRoIAlign``)."""

    def __init__(self, output_size: SizeType, spatial_scale: float, sampling_ratio: int):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio

    def forward(self, input: Tensor, rois: BoxesType) -> Tensor:
        return ps_roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio})"
        )


class RoIPool(nn.Module):
    """Module form of :func:`roi_pool` (as ``torchvision.ops.RoIPool``)."""

    def __init__(self, output_size: SizeType, spatial_scale: float):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input: Tensor, rois: BoxesType) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale})"


class PSRoIPool(nn.Module):
    """Module form of :func:`ps_roi_pool` (as ``torchvision.ops.PSRoIPool``)."""

    def __init__(self, output_size: SizeType, spatial_scale: float):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input: Tensor, rois: BoxesType) -> Tensor:
        return ps_roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale})"


def _infer_scale(feature: Tensor, original_size: Sequence[int]) -> float:
    """torchvision's rule: the scale is 2 ** round(log2(feature_height / image_height))."""
    approx = float(feature.shape[-2]) / float(original_size[0])
    return 2.0 ** float(torch.tensor(approx).log2().round())


class MultiScaleRoIAlign(nn.Module):
    """Multi-scale RoIAlign in one kernel launch, as ``torchvision.ops.MultiScaleRoIAlign``.

    Args:
        featmap_names: names of the feature maps (keys of the forward's dict) to pool from.
        output_size: ``(ph, pw)`` or an int.
        sampling_ratio: samples per bin and axis (``<= 0``: adaptive).
        canonical_scale, canonical_level: the FPN level mapper's constants (224 and 4).

    forward(x, boxes, image_shapes): ``x`` an (ordered) dict of ``[N, C, H_l, W_l]`` maps, ``boxes``
    a list of per-image ``[L, 4]`` boxes in image coordinates, ``image_shapes`` the ``(H, W)`` of
    each image before the backbone (used once to infer each level's scale).
    """

    def __init__(
        self,
        featmap_names: list[str],
        output_size: SizeType,
        sampling_ratio: int,
        *,
        canonical_scale: int = 224,
        canonical_level: int = 4,
    ):
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.featmap_names = featmap_names
        self.sampling_ratio = sampling_ratio
        self.output_size = tuple(output_size)
        self.scales: Optional[list[float]] = None
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level

    def forward(
        self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
    ) -> Tensor:
        features = [v for k, v in x.items() if k in self.featmap_names]
        if not features:
            raise ValueError(f"MultiScaleRoIAlign: none of {self.featmap_names} is among the inputs {list(x)}")
        if self.scales is None:
            if not image_shapes:
                raise ValueError("MultiScaleRoIAlign: images list should not be empty")
            original = (max(s[0] for s in image_shapes), max(s[1] for s in image_shapes))
            self.scales = [_infer_scale(f, original) for f in features]
        rois = _boxes_to_rois("MultiScaleRoIAlign", boxes)
        if rois.dtype != features[0].dtype and rois.dtype != torch.float32:
            rois = rois.to(features[0].dtype)
        return multi_scale_roi_align(
            features,
            rois,
            self.output_size,
            self.scales,
            self.sampling_ratio,
            aligned=False,
            canonical_scale=self.canonical_scale,
            canonical_level=self.canonical_level,
        )

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(featmap_names={self.featmap_names}, "
            f"output_size={self.output_size}, sampling_ratio={self.sampling_ratio})"
        )
