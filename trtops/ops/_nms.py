"""Non-maximum suppression with torchvision's signatures: :func:`nms` and :func:`batched_nms`.

Semantics are torchvision's (``torchvision.ops.nms`` / the per-class path of
``torchvision.ops.batched_nms``): a box is suppressed by a kept, higher-scoring box (of the same
class for ``batched_nms``) when their IoU is ``> iou_threshold``; the result holds the indices of
the kept boxes by decreasing score. Defined beyond torchvision:

* equal scores: lower index first; NaN scores sort before all others (as ``torch.sort``);
* a box with a NaN coordinate never suppresses and is never suppressed (its IoU is NaN);
* keyword-only extras of the TensorRT plugins: ``score_threshold`` (candidates need
  ``score >= score_threshold``), ``max_output_boxes`` (keep at most that many) and ``padded``
  (a fixed ``[max_output_boxes]`` output filled with -1 plus a count, without host synchronization).

CPU tensors run the host implementation, CUDA tensors the kernels (one stream, no host
synchronization except reading the count to size an unpadded result, as torchvision does).

IoU is computed as torchvision's CPU kernel does: ``inter / (area_a + area_b - inter)``, each
operation rounded on its own (no fused multiply-add), the same on CPU and GPU.
torchvision's CUDA kernel is compiled with fused multiply-adds. When an IoU lies within one ulp of
the threshold, it can therefore decide the other way. Seen once on an H100: 1 box in 80,000 (four sets of 20,000),
IoU 0.500000124 against threshold 0.5, kept by torchvision CUDA and suppressed by trtops. Inputs
quantized to a coarse grid (as tests do) never hit this.
"""

from __future__ import annotations

import ctypes
import functools
import math
from typing import NamedTuple, Optional, Tuple, Union

import torch

from trtops import _native
from trtops.ops._tensor import (call_on_cuda_device, detached, dtype_code, launch, pointer, quiet_under_jit_trace,
                               same_device, traced)

__all__ = ["nms", "batched_nms"]

_BOX_DTYPES = (torch.float32, torch.float16, torch.float64)
_INDEX_DTYPES = (torch.int32, torch.int64)


# Argument types of the C ABI (plugins/kernels/nms/nms_c_api.h).
_ARGTYPES = {
    "trtops_nms_workspace_size": (
        ctypes.c_int64, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
        ctypes.POINTER(ctypes.c_uint64),
    ),
    "trtops_nms": (
        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
        ctypes.c_int64, ctypes.c_double, ctypes.c_int32, ctypes.c_double, ctypes.c_int64, ctypes.c_int32,
        ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
        ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int32, ctypes.c_void_p,
    ),
}


def _function(name: str) -> _native.KernelFunction:
    return _native.kernel_function(name, _ARGTYPES[name])


def _check_inputs(
    op: str,
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: Optional[torch.Tensor],
    iou_threshold: float,
    score_threshold: Optional[float],
    max_output_boxes: Optional[int],
    padded: bool,
) -> None:
    if not isinstance(boxes, torch.Tensor) or not isinstance(scores, torch.Tensor):
        raise TypeError(f"{op}: boxes and scores must be tensors")
    if boxes.dim() != 2 or boxes.size(1) != 4:
        raise ValueError(f"{op}: boxes must have shape [N, 4], got {list(boxes.shape)}")
    if scores.dim() != 1 or scores.size(0) != boxes.size(0):
        raise ValueError(
            f"{op}: scores must have shape [N] with N = boxes.size(0) = {boxes.size(0)}, got {list(scores.shape)}"
        )
    if boxes.dtype not in _BOX_DTYPES:
        raise TypeError(f"{op}: boxes has unsupported dtype {boxes.dtype}; supported: float32, float16, float64")
    if scores.dtype not in _BOX_DTYPES:
        raise TypeError(f"{op}: scores has unsupported dtype {scores.dtype}; supported: float32, float16, float64")
    if idxs is not None:
        if not isinstance(idxs, torch.Tensor):
            raise TypeError(f"{op}: idxs must be a tensor")
        if idxs.dim() != 1 or idxs.size(0) != boxes.size(0):
            raise ValueError(
                f"{op}: idxs must have shape [N] with N = boxes.size(0) = {boxes.size(0)}, got {list(idxs.shape)}"
            )
        if idxs.dtype not in _INDEX_DTYPES:
            raise TypeError(f"{op}: idxs has unsupported dtype {idxs.dtype}; supported: int32, int64")
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float)):
        raise TypeError(f"{op}: iou_threshold must be a float, got {type(iou_threshold).__name__}")
    if math.isnan(iou_threshold):
        raise ValueError(f"{op}: iou_threshold must not be NaN")
    if score_threshold is not None:
        if isinstance(score_threshold, bool) or not isinstance(score_threshold, (int, float)):
            raise TypeError(f"{op}: score_threshold must be a float, got {type(score_threshold).__name__}")
        if math.isnan(score_threshold):
            raise ValueError(f"{op}: score_threshold must not be NaN")
    if max_output_boxes is not None:
        if isinstance(max_output_boxes, bool) or not isinstance(max_output_boxes, int):
            raise TypeError(f"{op}: max_output_boxes must be an int, got {type(max_output_boxes).__name__}")
        if max_output_boxes < 0:
            raise ValueError(f"{op}: max_output_boxes must be >= 0, got {max_output_boxes}")
    if padded and max_output_boxes is None:
        raise ValueError(f"{op}: padded=True needs max_output_boxes")


def _nms_into(
    keep: torch.Tensor,
    count: torch.Tensor,
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: Optional[torch.Tensor],
    iou_threshold: float,
    score_threshold: Optional[float] = None,
    max_output_boxes: Optional[int] = None,
    padded: bool = False,
) -> None:
    """Runs NMS into caller-provided outputs (tests pass poisoned buffers).

    ``keep``: int32/int64 with at least ``max_output_boxes`` (or N) elements; ``count``: one int64.
    """
    op = "nms" if idxs is None else "batched_nms"
    _check_inputs(op, boxes, scores, idxs, iou_threshold, score_threshold, max_output_boxes, padded)
    _queue(keep, count, boxes, scores, idxs, iou_threshold, score_threshold, max_output_boxes, padded)


@functools.lru_cache(maxsize=256)
def _cuda_workspace_size(
    device_index: int, n: int, batched: int, box_code: int, score_code: int, class_code: int, index_code: int
) -> int:
    """Workspace bytes of one CUDA call; cached, as it depends only on these (and CUB's tuning
    for the device's architecture): a call of a few thousand boxes takes ~0.1 ms, and every
    microsecond of Python before its first launch is time the GPU waits."""
    workspace_size = _function("trtops_nms_workspace_size")
    size = ctypes.c_uint64(0)
    call_on_cuda_device(
        torch.device("cuda", device_index),
        lambda _: workspace_size(
            n, batched, box_code, score_code, class_code, index_code, ctypes.byref(size)
        ),
    )
    return size.value


def _queue(
    keep: torch.Tensor,
    count: torch.Tensor,
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: Optional[torch.Tensor],
    iou_threshold: float,
    score_threshold: Optional[float],
    max_output_boxes: Optional[int],
    padded: bool,
) -> None:
    """_nms_into after _check_inputs."""
    op = "nms" if idxs is None else "batched_nms"
    tensors = {"boxes": boxes, "scores": scores, "keep": keep, "count": count}
    if idxs is not None:
        tensors["idxs"] = idxs
    device = same_device(op, **tensors)
    n = boxes.size(0)
    capacity = n if max_output_boxes is None else max_output_boxes
    if keep.dtype not in _INDEX_DTYPES or keep.numel() < capacity or not keep.is_contiguous():
        raise ValueError(f"{op}: keep must be a contiguous int32/int64 tensor of >= {capacity} elements")
    if count.dtype != torch.int64 or count.numel() != 1:
        raise ValueError(f"{op}: count must be a one-element int64 tensor")
    boxes = boxes.contiguous()
    scores = scores.contiguous()
    idxs_c = idxs.contiguous() if idxs is not None else None
    class_code = dtype_code(idxs_c, op, "idxs") if idxs_c is not None else _native.DTYPE_CODES["int64"]
    box_code = dtype_code(boxes, op, "boxes")
    score_code = dtype_code(scores, op, "scores")
    index_code = dtype_code(keep, op, "keep")
    batched = 1 if idxs_c is not None else 0

    workspace: Optional[torch.Tensor] = None
    workspace_size = 0
    if device.type == "cuda" and n > 0:
        device_index = device.index if device.index is not None else torch.cuda.current_device()
        workspace_size = _cuda_workspace_size(device_index, n, batched, box_code, score_code, class_code, index_code)
        workspace = torch.empty(max(workspace_size, 1), dtype=torch.uint8, device=device)

    launch(
        device,
        _function("trtops_nms"),
        pointer(boxes),
        pointer(scores),
        pointer(idxs_c) if idxs_c is not None else None,
        pointer(keep),
        pointer(count),
        ctypes.c_int64(n),
        ctypes.c_double(float(iou_threshold)),
        ctypes.c_int32(0 if score_threshold is None else 1),
        ctypes.c_double(0.0 if score_threshold is None else float(score_threshold)),
        ctypes.c_int64(-1 if max_output_boxes is None else max_output_boxes),
        ctypes.c_int32(1 if padded else 0),
        ctypes.c_int32(batched),
        ctypes.c_int32(box_code),
        ctypes.c_int32(score_code),
        ctypes.c_int32(class_code),
        ctypes.c_int32(index_code),
        pointer(workspace) if workspace is not None else None,
        ctypes.c_uint64(workspace_size),
    )


class _Call(NamedTuple):
    """One nms / batched_nms call's arguments, in the order of the trtops_kernels::nms op."""

    boxes: torch.Tensor
    scores: torch.Tensor
    idxs: Optional[torch.Tensor]
    iou_threshold: float
    score_threshold: Optional[float]
    max_output_boxes: Optional[int]
    padded: bool
    index_dtype: torch.dtype

    @property
    def op(self) -> str:
        return "nms" if self.idxs is None else "batched_nms"


def _run(call: _Call) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    _check_call(call)
    if traced(call.boxes):
        if call.boxes.is_meta and not call.padded:
            raise ValueError(
                f"{call.op}: meta tensors have no values to size the kept indices by; use padded=True, or "
                "FakeTensors (torch.compile, torch.export), which give them a data-dependent length"
            )
        keep, count = torch.ops.trtops_kernels.nms(
            call.boxes.detach(), call.scores.detach(), detached(call.idxs), float(call.iou_threshold),
            None if call.score_threshold is None else float(call.score_threshold), call.max_output_boxes,
            bool(call.padded), call.index_dtype,
        )
    else:
        keep, count = _run_checked(call)
    return (keep, count) if call.padded else keep


def _check_call(call: _Call) -> None:
    if call.index_dtype not in _INDEX_DTYPES:
        raise TypeError(f"{call.op}: index_dtype must be torch.int32 or torch.int64, got {call.index_dtype}")
    _check_inputs(call.op, call.boxes, call.scores, call.idxs, call.iou_threshold, call.score_threshold,
                  call.max_output_boxes, call.padded)


def _run_checked(call: _Call) -> Tuple[torch.Tensor, torch.Tensor]:
    """(indices, count) of an eager call after _check_call: the padded indices, or, unpadded, the
    kept ones (reading the count back to size them, as torchvision does)."""
    boxes = call.boxes
    capacity = boxes.size(0) if call.max_output_boxes is None else call.max_output_boxes
    keep = torch.empty(capacity, dtype=call.index_dtype, device=boxes.device)
    count = torch.empty((), dtype=torch.int64, device=boxes.device)  # always written (no fill launch)
    _queue(keep, count, boxes, call.scores, call.idxs, call.iou_threshold, call.score_threshold,
           call.max_output_boxes, call.padded)
    if call.padded:
        return keep, count
    return keep[: int(count.item())], count


@quiet_under_jit_trace
def nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float,
    *,
    score_threshold: Optional[float] = None,
    max_output_boxes: Optional[int] = None,
    padded: bool = False,
    index_dtype: torch.dtype = torch.int64,
) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    """Non-maximum suppression, as ``torchvision.ops.nms``.

    Args:
        boxes: ``Tensor[N, 4]`` boxes ``(x1, y1, x2, y2)``, float32, float16 or float64.
        scores: ``Tensor[N]`` scores, float32, float16 or float64.
        iou_threshold: suppress boxes with IoU ``>`` this with a kept, higher-scoring box.
        score_threshold: only boxes with ``score >= score_threshold`` are candidates.
        max_output_boxes: keep at most this many boxes (the highest-scoring ones).
        padded: return ``(indices[max_output_boxes] padded with -1, count)`` without host sync.
        index_dtype: ``torch.int64`` (torchvision) or ``torch.int32``.

    Returns:
        ``Tensor[K]`` indices of the kept boxes by decreasing score, or the padded pair.
    """
    return _run(_Call(boxes, scores, None, iou_threshold, score_threshold, max_output_boxes, padded, index_dtype))


@quiet_under_jit_trace
def batched_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: torch.Tensor,
    iou_threshold: float,
    *,
    score_threshold: Optional[float] = None,
    max_output_boxes: Optional[int] = None,
    padded: bool = False,
    index_dtype: torch.dtype = torch.int64,
) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    """Class-aware NMS, as ``torchvision.ops.batched_nms``: boxes of different ``idxs`` never
    suppress each other. Same result as torchvision's per-class path, without the rounding of its
    coordinate-offset trick.

    Args:
        boxes: ``Tensor[N, 4]`` boxes ``(x1, y1, x2, y2)``, float32, float16 or float64.
        scores: ``Tensor[N]`` scores, float32, float16 or float64.
        idxs: ``Tensor[N]`` class index of each box, int64 or int32.
        iou_threshold, score_threshold, max_output_boxes, padded, index_dtype: as in :func:`nms`.

    Returns:
        ``Tensor[K]`` indices of the kept boxes by decreasing score, or the padded pair.
    """
    if not isinstance(idxs, torch.Tensor):
        raise TypeError("batched_nms: idxs must be a tensor")
    return _run(_Call(boxes, scores, idxs, iou_threshold, score_threshold, max_output_boxes, padded, index_dtype))


# ----- The trtops_kernels::nms custom op (torch.compile, torch.export; see _tensor.traced) -----
# One op for nms and batched_nms (idxs None or not) that always returns (indices, count): the
# indices are [max_output_boxes] when padded, else as many as were kept (a dynamic size).


@torch.library.custom_op(
    "trtops_kernels::nms",
    mutates_args=(),
    schema="(Tensor boxes, Tensor scores, Tensor? idxs, float iou_threshold, float? score_threshold, "
    "SymInt? max_output_boxes, bool padded, ScalarType index_dtype) -> (Tensor, Tensor)",
)
def _nms_op(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: Optional[torch.Tensor],
    iou_threshold: float,
    score_threshold: Optional[float],
    max_output_boxes: Optional[int],
    padded: bool,
    index_dtype: torch.dtype,
) -> Tuple[torch.Tensor, torch.Tensor]:
    call = _Call(boxes, scores, idxs, iou_threshold, score_threshold, max_output_boxes, padded, index_dtype)
    _check_call(call)
    return _run_checked(call)


@_nms_op.register_fake
def _nms_fake(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    idxs: Optional[torch.Tensor],
    iou_threshold: float,
    score_threshold: Optional[float],
    max_output_boxes: Optional[int],
    padded: bool,
    index_dtype: torch.dtype,
) -> Tuple[torch.Tensor, torch.Tensor]:
    _check_call(_Call(boxes, scores, idxs, iou_threshold, score_threshold, max_output_boxes, padded, index_dtype))
    length: Union[int, torch.SymInt]
    if padded:
        assert max_output_boxes is not None  # _check_call: padded needs it
        length = max_output_boxes
    else:
        length = torch.library.get_ctx().new_dynamic_size()
    return boxes.new_empty((length,), dtype=index_dtype), boxes.new_empty((), dtype=torch.int64)
