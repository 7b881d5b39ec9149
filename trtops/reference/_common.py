"""Argument checking and small numeric helpers shared by the reference operators.

Nothing here imports torchvision. Error messages name the offending argument and its value so a
user can find the bad call without reading this package.
"""

from __future__ import annotations

import numbers
from typing import Iterator, List, Sequence, Tuple, Union

import torch
from torch import Tensor

#: Boxes as torchvision's RoI operators accept them: ``Tensor[K, 5]`` (batch index first) or one
#: ``Tensor[L, 4]`` per batch element.
BoxesArg = Union[Tensor, Sequence[Tensor]]

#: Upper bound on the elements of one temporary tensor inside chunked loops. 4 Mi elements is
#: 16 MB at fp32: small enough for a laptop, large enough that per-chunk Python overhead is noise.
CHUNK_ELEMENTS = 1 << 22

#: Largest finite float32, the "-FLT_MAX" torchvision's max pooling starts from.
FLT_MAX = 3.4028234663852886e38


def check_tensor(name: str, value: object, *, dim: int = -1) -> Tensor:
    """Return ``value`` if it is a tensor (of ``dim`` dimensions when ``dim >= 0``)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {name}={type(value).__name__}")
    if dim >= 0 and value.dim() != dim:
        raise ValueError(
            f"{name} must be a {dim}-D tensor, got {name}.shape={tuple(value.shape)}"
        )
    return value


def check_floating(name: str, value: Tensor) -> Tensor:
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {name}.dtype={value.dtype}")
    return value


def check_same_dtype(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.dtype != b.dtype:
        raise TypeError(
            f"{name_b} must have the dtype of {name_a}, got {name_a}.dtype={a.dtype} and "
            f"{name_b}.dtype={b.dtype}"
        )
    if a.device != b.device:
        raise ValueError(
            f"{name_b} must be on the device of {name_a}, got {name_a}.device={a.device} and "
            f"{name_b}.device={b.device}"
        )


def check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {name}={value!r}")
    return int(value)


def check_real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {name}={value!r}")
    return float(value)


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {name}={value!r}")
    return value


def int_pair(name: str, value: object, *, minimum: int) -> Tuple[int, int]:
    """``value`` as ``(a, b)``: an int is repeated (torch's ``_pair``), a 1- or 2-sequence is used
    as is; both entries must be ``>= minimum``."""
    if isinstance(value, (list, tuple)):
        items = list(value)
        if len(items) == 1:
            items = items * 2
        if len(items) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {name}={value!r}")
    else:
        items = [value, value]
    pair = tuple(check_int(name, item) for item in items)
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum} in every entry, got {name}={value!r}")
    return pair[0], pair[1]


def compute_dtype(name: str, dtype: torch.dtype) -> torch.dtype:
    """The dtype in which a feature-map operator evaluates its arithmetic.

    float64, float32 and float16 are evaluated in their own precision, operation by operation in
    the order torchvision's CPU kernels use, so rounding matches theirs. bfloat16 (which
    torchvision's CPU kernels reject) is evaluated in float32 and rounded once at the end.
    """
    if dtype in (torch.float64, torch.float32, torch.float16):
        return dtype
    if dtype == torch.bfloat16:
        return torch.float32
    raise TypeError(
        f"{name} must be float64, float32, float16 or bfloat16, got {name}.dtype={dtype}"
    )


def scalar(value: float, like: Tensor) -> Tensor:
    """A 0-d tensor holding ``value`` rounded to ``like``'s dtype, the way C++ converts a double
    argument to ``T`` before using it (a bare Python float would stay in float32 "opmath" and so
    not round for float16)."""
    return torch.tensor(value, dtype=torch.float64, device=like.device).to(like.dtype)


def convert_boxes_to_rois(boxes: BoxesArg, name: str = "boxes") -> Tensor:
    """``Tensor[K, 5]`` (returned as is) or ``List[Tensor[L, 4]]`` -> ``Tensor[K, 5]`` whose first
    column is the list position as a float of the boxes' dtype."""
    if isinstance(boxes, Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(
                f"{name} given as a tensor must have shape [K, 5], got "
                f"{name}.shape={tuple(boxes.shape)}"
            )
        return boxes
    if not isinstance(boxes, (list, tuple)):
        raise TypeError(
            f"{name} must be a Tensor[K, 5] or a list of Tensor[L, 4], got "
            f"{name}={type(boxes).__name__}"
        )
    if len(boxes) == 0:
        raise ValueError(f"{name} must hold one Tensor[L, 4] per batch element, got {name}=[]")
    parts: List[Tensor] = []
    for i, b in enumerate(boxes):
        check_tensor(f"{name}[{i}]", b)
        if b.dim() != 2 or b.shape[1] != 4:
            raise ValueError(
                f"{name}[{i}] must have shape [L, 4], got {name}[{i}].shape={tuple(b.shape)}"
            )
        if b.dtype != boxes[0].dtype or b.device != boxes[0].device:
            raise TypeError(
                f"{name}[{i}] must match {name}[0] in dtype and device, got "
                f"{b.dtype}/{b.device} and {boxes[0].dtype}/{boxes[0].device}"
            )
        index = torch.full((b.shape[0], 1), i, dtype=b.dtype, device=b.device)
        parts.append(torch.cat([index, b], dim=1))
    return torch.cat(parts, dim=0)


def batch_indices(column: Tensor, batch_size: int) -> Tuple[Tensor, Tensor]:
    """RoI batch indices as torchvision reads them (``int roi_batch_ind = rois[k][0]``, i.e.
    truncation toward zero), plus a mask of the rows whose index lies in ``[0, batch_size)``.

    torchvision reads outside the input for the other rows (undefined behaviour); the reference
    operators return zeros for them. Invalid rows get index 0 here so gathers stay in bounds.
    """
    c = column.to(torch.float64)
    valid = (c > -1) & (c < batch_size)
    index = torch.where(valid, c, torch.zeros_like(c)).to(torch.int64)
    return index, valid


def round_half_away(t: Tensor) -> Tensor:
    """C's ``round``: halves go away from zero (``torch.round`` rounds them to even). Exact: the
    fractional part ``t - trunc(t)`` is representable, so no ``+ 0.5`` double rounding."""
    whole = torch.trunc(t)
    frac = t - whole
    step = torch.where(frac.abs() >= 0.5, torch.sign(t), torch.zeros_like(t))
    return whole + step


def float_to_int(t: Tensor) -> Tensor:
    """``(int)`` of finite values within int32 range, 0 for the rest (where C++ has undefined
    behaviour)."""
    ok = torch.isfinite(t) & (t.abs() < 2.0**31)
    return torch.where(ok, t, torch.zeros_like(t)).to(torch.int64)


def chunk_ranges(total: int, per_item: int, budget: int = CHUNK_ELEMENTS) -> Iterator[slice]:
    """Slices over ``range(total)`` so that ``len(slice) * per_item <= budget`` (at least one
    item per slice)."""
    step = max(1, budget // max(1, per_item))
    for start in range(0, total, step):
        yield slice(start, min(total, start + step))
