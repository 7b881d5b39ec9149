"""Box utilities and non-maximum suppression with torchvision's semantics."""

from __future__ import annotations

import math
from typing import Callable, Iterator, Optional, Tuple

import torch
from torch import Tensor

from ._common import check_real, check_same_dtype, check_tensor

__all__ = [
    "nms",
    "batched_nms",
    "remove_small_boxes",
    "clip_boxes_to_image",
    "box_convert",
    "box_area",
    "box_iou",
    "generalized_box_iou",
]

_AXIS_ALIGNED_FORMATS = ("xyxy", "xywh", "cxcywh")
_ROTATED_FORMATS = ("xywhr", "cxcywhr", "xyxyxyxy")

# Dense path: sorted boxes are resolved in blocks of this many (the within-block "suppresses"
# matrix is _NMS_BLOCK^2 booleans), and earlier kept boxes are compared against a block in chunks
# of _NMS_ROWS.
_NMS_BLOCK = 1024
_NMS_ROWS = 4096
# Sparse path: candidate pairs are generated in chunks of this many; above _NMS_MAX_PAIRS
# candidates (e.g. tens of thousands of nearly identical boxes) the dense path is used instead.
_NMS_PAIR_CHUNK = 1 << 22
_NMS_MAX_PAIRS = 1 << 25
# Absolute slack on the IoU threshold for the (float64) pruning tests, far above the rounding
# error of an IoU evaluated in float32, so pruning never drops a pair the exact test would keep.
_NMS_PRUNE_SLACK = 1e-4


# --------------------------------------------------------------------------------------------
# NMS
# --------------------------------------------------------------------------------------------


def _check_nms_args(boxes: Tensor, scores: Tensor, iou_threshold: float) -> float:
    check_tensor("boxes", boxes, dim=2)
    if boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape [N, 4], got boxes.shape={tuple(boxes.shape)}")
    if not boxes.is_floating_point():
        raise TypeError(f"boxes must be a floating-point tensor, got boxes.dtype={boxes.dtype}")
    check_tensor("scores", scores, dim=1)
    if scores.shape[0] != boxes.shape[0]:
        raise ValueError(
            "scores must have one entry per box, got "
            f"scores.shape={tuple(scores.shape)} and boxes.shape={tuple(boxes.shape)}"
        )
    check_same_dtype("boxes", boxes, "scores", scores)
    return check_real("iou_threshold", iou_threshold)


def _nms_dtype(dtype: torch.dtype) -> torch.dtype:
    # float16/bfloat16 coordinates are exact in float32; torchvision's CPU NMS has no such
    # dtypes, so the IoU is evaluated in float32 (see module README).
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _suppresses(
    rows: Tensor,
    row_area: Tensor,
    cols: Tensor,
    col_area: Tensor,
    threshold: float,
    pairwise: bool = False,
) -> Tensor:
    """``IoU(rows[i], cols[j]) > threshold`` as torchvision's CPU NMS evaluates it, row ``i``
    being the higher-scored (kept) box: ``std::max``/``std::min`` corner selection (so NaN
    coordinates propagate exactly as there), widths ``max(0, .)``, IoU
    ``inter / (area_i + area_j - inter)`` in the boxes' dtype, compared in double."""
    if pairwise:
        r, c, area_r, area_c = rows, cols, row_area, col_area
    else:
        r, c = rows[:, None, :], cols[None, :, :]
        area_r, area_c = row_area[:, None], col_area[None, :]
    xx1 = torch.where(r[..., 0] < c[..., 0], c[..., 0], r[..., 0])
    yy1 = torch.where(r[..., 1] < c[..., 1], c[..., 1], r[..., 1])
    xx2 = torch.where(c[..., 2] < r[..., 2], c[..., 2], r[..., 2])
    yy2 = torch.where(c[..., 3] < r[..., 3], c[..., 3], r[..., 3])
    w = xx2 - xx1
    h = yy2 - yy1
    zero = torch.zeros((), dtype=w.dtype, device=w.device)
    w = torch.where(zero < w, w, zero)
    h = torch.where(zero < h, h, zero)
    inter = w * h
    iou = inter / (area_r + area_c - inter)
    return iou.to(torch.float64) > threshold


def _suppresses_pairwise(
    rows: Tensor, row_area: Tensor, cols: Tensor, col_area: Tensor, threshold: float
) -> Tensor:
    """:func:`_suppresses` for aligned pairs ``(rows[k], cols[k])`` instead of all pairs."""
    return _suppresses(rows, row_area, cols, col_area, threshold, pairwise=True)


def _greedy_keep_dense(boxes: Tensor, labels: Optional[Tensor], threshold: float) -> Tensor:
    """Exact greedy NMS over ``boxes`` already sorted by decreasing score (any threshold).

    Returns a bool mask of kept boxes. Box ``j`` is kept iff no kept box ``i < j`` (of the same
    label, when ``labels`` is given) has IoU > threshold with it. Boxes are processed in blocks
    of ``_NMS_BLOCK``: first every block box overlapped by an already kept box of an earlier
    block is dropped; the rest are resolved with the block's upper-triangular "suppresses"
    matrix in rounds. A round keeps every undecided box none of whose potential suppressors is
    kept or undecided, and drops every undecided box that a kept box suppresses; the first
    undecided box is always decided, so this terminates, and it reproduces the sequential
    greedy result exactly. Rounds per block = depth of the longest suppression chain (a handful
    for detector outputs).
    """
    n = boxes.shape[0]
    dev = boxes.device
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept = torch.zeros(n, dtype=torch.bool, device=dev)
    kept_idx = torch.zeros(0, dtype=torch.int64, device=dev)
    for start in range(0, n, _NMS_BLOCK):
        stop = min(n, start + _NMS_BLOCK)
        blk = torch.arange(start, stop, device=dev)
        alive = torch.ones(stop - start, dtype=torch.bool, device=dev)
        for r0 in range(0, kept_idx.numel(), _NMS_ROWS):
            rows = kept_idx[r0 : r0 + _NMS_ROWS]
            hit = _suppresses(boxes[rows], area[rows], boxes[blk], area[blk], threshold)
            if labels is not None:
                hit &= labels[rows][:, None] == labels[blk][None, :]
            alive &= ~hit.any(dim=0)
        cand = blk[alive]
        if cand.numel() == 0:
            continue
        m = _suppresses(boxes[cand], area[cand], boxes[cand], area[cand], threshold)
        if labels is not None:
            m &= labels[cand][:, None] == labels[cand][None, :]
        m = torch.triu(m, diagonal=1)
        keep_c = torch.zeros(cand.numel(), dtype=torch.bool, device=dev)
        undecided = torch.ones(cand.numel(), dtype=torch.bool, device=dev)
        while bool(undecided.any()):
            blocked = (m & (keep_c | undecided)[:, None]).any(dim=0)
            newly_kept = undecided & ~blocked
            keep_c |= newly_kept
            undecided &= ~newly_kept
            undecided &= ~(m & newly_kept[:, None]).any(dim=0)
        kept[cand[keep_c]] = True
        kept_idx = torch.cat([kept_idx, cand[keep_c]])
    return kept


def _candidate_pairs(
    boxes: Tensor, labels: Optional[Tensor], threshold: float
) -> Tuple[int, Callable[[], Iterator[Tuple[Tensor, Tensor]]]]:
    """Pairs of boxes (indices into the score-sorted ``boxes``) that *may* have IoU > threshold,
    for ``threshold >= 0``: the total count and a generator of ``(earlier, later)`` chunks.

    Only boxes with finite coordinates and positive width and height can reach IoU > t >= 0
    (otherwise the intersection is 0 or the union inf/NaN). For such a pair, IoU <= inter_w / w
    for either box's width w (likewise heights), so with ``x1_i <= x1_j``:
    ``x1_j < x1_i + (1 - t) * w_i``. A sweep over boxes sorted by (label, x1) turns that into
    one contiguous range of partners per box (``searchsorted``); pairs are then filtered with the
    same bound on both axes. All pruning runs in float64 with slack ``_NMS_PRUNE_SLACK`` on ``t``;
    survivors get the exact test of :func:`_suppresses`.
    """
    b = boxes.to(torch.float64)
    width = b[:, 2] - b[:, 0]
    height = b[:, 3] - b[:, 1]
    usable = torch.isfinite(b).all(dim=1) & (width > 0) & (height > 0)
    ids = torch.nonzero(usable).flatten()
    t = max(threshold - _NMS_PRUNE_SLACK, 0.0)
    if ids.numel() < 2:
        return 0, lambda: iter(())
    x1 = b[ids, 0]
    # Sort by x1, then (stably) by label: x1 increases within each label's run.
    order = torch.sort(x1, stable=True)[1]
    group = torch.zeros_like(ids)
    if labels is not None:
        group = torch.unique(labels[ids], return_inverse=True)[1]
        order = order[torch.sort(group[order], stable=True)[1]]
    ids, x1, group = ids[order], x1[order], group[order]
    w = width[ids]
    end_x = b[ids, 2] - t * w
    if t > 0:  # absorb float64 rounding of the product and difference
        end_x = end_x + 8 * torch.finfo(torch.float64).eps * (end_x.abs() + w)
    # Composite (label, rank of x1) keys keep the searchsorted within a label's run.
    xs = torch.sort(x1)[0]
    span = xs.numel() + 1
    keys = group * span + torch.searchsorted(xs, x1)
    query = group * span + torch.searchsorted(xs, end_x)
    stop = torch.searchsorted(keys, query)
    pos = torch.arange(ids.numel(), device=ids.device)
    counts = (stop - pos - 1).clamp(min=0)
    total = int(counts.sum())

    def chunks() -> Iterator[Tuple[Tensor, Tensor]]:
        ends = torch.cumsum(counts, 0)
        starts = ends - counts
        first = 0
        while first < ids.numel():
            limit = int(starts[first]) + _NMS_PAIR_CHUNK
            last = max(first + 1, int(torch.searchsorted(ends, limit, right=True)))
            c = counts[first:last]
            n_pairs = int(c.sum())
            if n_pairs:
                i = torch.repeat_interleave(pos[first:last], c)
                offset = torch.arange(n_pairs, device=ids.device) - torch.repeat_interleave(
                    starts[first:last] - starts[first], c
                )
                j = i + 1 + offset
                a, bb = ids[i], ids[j]
                inter_w = torch.minimum(b[a, 2], b[bb, 2]) - torch.maximum(b[a, 0], b[bb, 0])
                inter_h = torch.minimum(b[a, 3], b[bb, 3]) - torch.maximum(b[a, 1], b[bb, 1])
                ok = (inter_w > 0) & (inter_h > 0)
                ok &= inter_w > t * torch.maximum(width[a], width[bb])
                ok &= inter_h > t * torch.maximum(height[a], height[bb])
                a, bb = a[ok], bb[ok]
                yield torch.minimum(a, bb), torch.maximum(a, bb)
            first = last

    return total, chunks


def _greedy_keep_sparse(
    boxes: Tensor, pairs: Callable[[], Iterator[Tuple[Tensor, Tensor]]], threshold: float
) -> Tensor:
    """Exact greedy NMS from the list of suppressing pairs ``(i, j)``, ``i < j`` in score order.

    Rounds as in :func:`_greedy_keep_dense`, on the edge list: an undecided box with no edge
    from a kept or undecided box is kept; an undecided box with an edge from a kept box is
    suppressed; edges whose outcome is settled are dropped after each round.
    """
    n = boxes.shape[0]
    dev = boxes.device
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    src_parts, dst_parts = [], []
    for a, b in pairs():
        hit = _suppresses_pairwise(boxes[a], area[a], boxes[b], area[b], threshold)
        src_parts.append(a[hit])
        dst_parts.append(b[hit])
    empty = torch.zeros(0, dtype=torch.int64, device=dev)
    src = torch.cat(src_parts) if src_parts else empty
    dst = torch.cat(dst_parts) if dst_parts else empty
    kept = torch.zeros(n, dtype=torch.bool, device=dev)
    undecided = torch.ones(n, dtype=torch.bool, device=dev)
    while True:
        blocked = torch.zeros(n, dtype=torch.bool, device=dev)
        blocked[dst] = True  # every remaining edge starts at an undecided box
        newly_kept = undecided & ~blocked
        kept |= newly_kept
        undecided &= ~newly_kept
        suppressed = torch.zeros(n, dtype=torch.bool, device=dev)
        suppressed[dst[newly_kept[src]]] = True
        undecided &= ~suppressed
        live = undecided[src] & undecided[dst]
        src, dst = src[live], dst[live]
        if not bool(undecided.any()):
            return kept


def _greedy_keep(boxes: Tensor, labels: Optional[Tensor], threshold: float) -> Tensor:
    """Kept mask of greedy NMS over score-sorted ``boxes`` (same-label pairs only if
    ``labels``): the sparse sweep for ``threshold >= 0`` unless it would enumerate more than
    ``_NMS_MAX_PAIRS`` candidates, the dense block resolution otherwise."""
    if math.isnan(threshold):  # "IoU > NaN" is never true
        return torch.ones(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    if threshold >= 0:
        total, pairs = _candidate_pairs(boxes, labels, threshold)
        if total <= _NMS_MAX_PAIRS:  # the sweep only pairs boxes of one label
            return _greedy_keep_sparse(boxes, pairs, threshold)
    return _greedy_keep_dense(boxes, labels, threshold)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression, as ``torchvision.ops.nms``.

    Args:
        boxes: ``Tensor[N, 4]`` in ``(x1, y1, x2, y2)`` format.
        scores: ``Tensor[N]``, same dtype as ``boxes``.
        iou_threshold: boxes with IoU ``>`` this with a kept, higher-scored box are dropped.

    Returns:
        ``int64 Tensor[K]``: indices of kept boxes, by decreasing score.

    Boxes are visited in a stable descending sort of ``scores`` (NaN first, ties by increasing
    index) and the IoU test is evaluated as torchvision's CPU kernel does (see
    :func:`_suppresses`), so results equal torchvision's exactly when scores are distinct. The
    tie order is also what torchvision's CPU kernel produces in the tested build, but
    torchvision documents it as unspecified (CPU and CUDA differ), so with tied scores only the
    *set* of kept boxes is guaranteed. float16/bfloat16 boxes (which torchvision's CPU kernel
    rejects) are evaluated in float32 on the exactly upcast coordinates.

    The greedy pass is exact but vectorised: for ``iou_threshold >= 0`` a sweep over x
    (:func:`_candidate_pairs`) lists the few pairs that can overlap enough and suppression is
    resolved on that sparse graph in rounds; otherwise (or for inputs with more than
    ``_NMS_MAX_PAIRS`` candidate pairs) a dense block resolution is used.
    """
    threshold = _check_nms_args(boxes, scores, iou_threshold)
    if boxes.shape[0] == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, dim=0, descending=True, stable=True)[1]
    sorted_boxes = boxes[order].to(_nms_dtype(boxes.dtype))
    keep = _greedy_keep(sorted_boxes, None, threshold)
    return order[keep]


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """NMS applied independently per category, as torchvision's per-class ("vanilla") path.

    Args:
        boxes: ``Tensor[N, 4]`` in ``(x1, y1, x2, y2)`` format.
        scores: ``Tensor[N]``, same dtype as ``boxes``.
        idxs: ``Tensor[N]`` integer category of each box; boxes of different categories never
            suppress each other.
        iou_threshold: IoU threshold, as in :func:`nms`.

    Returns:
        ``int64 Tensor[K]``: indices of kept boxes, sorted by decreasing score.

    torchvision switches to a coordinate-offset trick for small CPU inputs (<= 1000 boxes); that
    trick shifts boxes by ``idx * (max_coordinate + 1)`` and so perturbs IoUs by float rounding.
    The reference always follows the per-class path: one greedy pass in which only same-class
    pairs can suppress, then kept indices (ascending) re-sorted by score with
    ``sort(descending=True)``. torchvision sorts each class separately, so with tied scores
    inside a class the kept set may differ; without ties the result is identical.
    """
    threshold = _check_nms_args(boxes, scores, iou_threshold)
    check_tensor("idxs", idxs, dim=1)
    if idxs.shape[0] != boxes.shape[0]:
        raise ValueError(
            "idxs must have one entry per box, got "
            f"idxs.shape={tuple(idxs.shape)} and boxes.shape={tuple(boxes.shape)}"
        )
    if idxs.is_floating_point() or idxs.is_complex():
        raise TypeError(f"idxs must be an integer tensor, got idxs.dtype={idxs.dtype}")
    if boxes.shape[0] == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, dim=0, descending=True, stable=True)[1]
    sorted_boxes = boxes[order].to(_nms_dtype(boxes.dtype))
    keep_sorted = _greedy_keep(sorted_boxes, idxs[order], threshold)
    keep_mask = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    keep_mask[order[keep_sorted]] = True
    kept = torch.nonzero(keep_mask).flatten()
    return kept[scores[kept].sort(descending=True)[1]]


# --------------------------------------------------------------------------------------------
# Box utilities
# --------------------------------------------------------------------------------------------


def _check_boxes(name: str, boxes: Tensor, width: int = 4) -> Tensor:
    check_tensor(name, boxes)
    if boxes.dim() < 1 or boxes.shape[-1] != width:
        raise ValueError(
            f"{name} must have shape [..., {width}], got {name}.shape={tuple(boxes.shape)}"
        )
    return boxes


def _widen(t: Tensor) -> Tensor:
    """Promote to a type whose products do not overflow: float16/bfloat16 -> float32,
    8/16-bit integers -> int32 (torchvision's ``_upcast``)."""
    if t.is_floating_point():
        return t if t.dtype in (torch.float32, torch.float64) else t.float()
    return t if t.dtype in (torch.int32, torch.int64) else t.int()


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """Indices of the boxes whose width and height are both ``>= min_size``, as
    ``torchvision.ops.remove_small_boxes``.

    Args:
        boxes: ``Tensor[N, 4]`` in ``(x1, y1, x2, y2)`` format (leading dimensions are allowed;
            as in torchvision the result then indexes the first dimension only).
        min_size: minimum side length.

    Returns:
        ``int64 Tensor[K]`` of increasing indices. Boxes with a NaN side are removed.
    """
    _check_boxes("boxes", boxes)
    min_size = check_real("min_size", min_size)
    width = boxes[..., 2] - boxes[..., 0]
    height = boxes[..., 3] - boxes[..., 1]
    keep = (width >= min_size) & (height >= min_size)
    return torch.where(keep)[0]


def clip_boxes_to_image(boxes: Tensor, size: Tuple[int, int]) -> Tensor:
    """Clamp x coordinates to ``[0, width]`` and y to ``[0, height]``, as
    ``torchvision.ops.clip_boxes_to_image``.

    Args:
        boxes: ``Tensor[..., 4]`` in ``(x1, y1, x2, y2)`` format.
        size: ``(height, width)`` of the image.

    Returns:
        ``Tensor[..., 4]`` of the same dtype (NaN stays NaN).
    """
    _check_boxes("boxes", boxes)
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"size must be (height, width), got size={size!r}")
    for i, v in enumerate(size):
        check_real(f"size[{i}]", v)
    height, width = size
    xs = boxes[..., 0::2].clamp(min=0, max=width)
    ys = boxes[..., 1::2].clamp(min=0, max=height)
    return torch.stack((xs, ys), dim=-1).reshape(boxes.shape)


def _check_format(name: str, fmt: object, allowed: Tuple[str, ...]) -> str:
    if not isinstance(fmt, str) or fmt not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {name}={fmt!r}")
    return fmt


def _to_xyxy(boxes: Tensor, fmt: str) -> Tensor:
    a, b, c, d = boxes.unbind(-1)
    if fmt == "xyxy":
        return boxes
    if fmt == "xywh":
        return torch.stack((a, b, a + c, b + d), dim=-1)
    # cxcywh
    return torch.stack((a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d), dim=-1)


def _from_xyxy(boxes: Tensor, fmt: str) -> Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    if fmt == "xyxy":
        return boxes
    if fmt == "xywh":
        return torch.stack((x1, y1, x2 - x1, y2 - y1), dim=-1)
    # cxcywh
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def _rotated_to_xywhr(boxes: Tensor, fmt: str) -> Tensor:
    """cxcywhr / xyxyxyxy -> xywhr (angles in degrees, counter-clockwise)."""
    if fmt == "xywhr":
        return boxes
    if fmt == "cxcywhr":
        cx, cy, w, h, angle = boxes.unbind(-1)
        rad = angle * math.pi / 180.0
        cos, sin = torch.cos(rad), torch.sin(rad)
        x1 = cx - w / 2 * cos - h / 2 * sin
        y1 = cy - h / 2 * cos + w / 2 * sin
        return torch.stack((x1, y1, w, h, angle), dim=-1)
    # xyxyxyxy: corners top-left, top-right, bottom-right, bottom-left
    x1, y1, x2, y2, x3, y3, _, _ = boxes.unbind(-1)
    angle = torch.atan2(y1 - y2, x2 - x1) * 180 / math.pi
    w = ((x2 - x1) ** 2 + (y1 - y2) ** 2).sqrt()
    h = ((x3 - x2) ** 2 + (y3 - y2) ** 2).sqrt()
    return torch.stack((x1, y1, w, h, angle), dim=-1)


def _rotated_from_xywhr(boxes: Tensor, fmt: str) -> Tensor:
    if fmt == "xywhr":
        return boxes
    x1, y1, w, h, angle = boxes.unbind(-1)
    rad = angle * math.pi / 180.0
    cos, sin = torch.cos(rad), torch.sin(rad)
    if fmt == "cxcywhr":
        cx = x1 + w / 2 * cos + h / 2 * sin
        cy = y1 - w / 2 * sin + h / 2 * cos
        return torch.stack((cx, cy, w, h, angle), dim=-1)
    # xyxyxyxy
    x2 = x1 + w * cos
    y2 = y1 - w * sin
    x3 = x2 + h * sin
    y3 = y2 + h * cos
    x4 = x1 + h * sin
    y4 = y1 + h * cos
    return torch.stack((x1, y1, x2, y2, x3, y3, x4, y4), dim=-1)


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between formats, as ``torchvision.ops.box_convert``.

    Axis-aligned formats (``[..., 4]``): ``'xyxy'`` corners, ``'xywh'`` top-left corner and size,
    ``'cxcywh'`` centre and size. Rotated formats: ``'xywhr'`` and ``'cxcywhr'``
    (``[..., 5]``, angle in degrees, counter-clockwise) and ``'xyxyxyxy'`` (``[..., 8]``, the
    four corners). Conversions stay within one family.

    Returns a new tensor (a copy when ``in_fmt == out_fmt``). Integer boxes follow torchvision:
    conversions that halve (to or from ``cxcywh``) return floating point; rotated conversions
    round and return the integer dtype.
    """
    allowed = _AXIS_ALIGNED_FORMATS + _ROTATED_FORMATS
    _check_format("in_fmt", in_fmt, allowed)
    _check_format("out_fmt", out_fmt, allowed)
    check_tensor("boxes", boxes)
    width = {"xywhr": 5, "cxcywhr": 5, "xyxyxyxy": 8}.get(in_fmt, 4)
    _check_boxes("boxes", boxes, width)
    if in_fmt == out_fmt:
        return boxes.clone()
    if (in_fmt in _AXIS_ALIGNED_FORMATS) != (out_fmt in _AXIS_ALIGNED_FORMATS):
        raise ValueError(
            "box_convert converts within the axis-aligned or within the rotated formats, got "
            f"in_fmt={in_fmt!r} and out_fmt={out_fmt!r}"
        )
    if in_fmt in _AXIS_ALIGNED_FORMATS:
        return _from_xyxy(_to_xyxy(boxes, in_fmt), out_fmt)
    integer = not boxes.is_floating_point()
    mid = _rotated_to_xywhr(boxes, in_fmt)
    if integer and in_fmt != "xywhr":
        mid = mid.round().to(boxes.dtype)
    out = _rotated_from_xywhr(mid, out_fmt)
    if integer and out_fmt != "xywhr":
        out = out.round().to(boxes.dtype)
    return out


def box_area(boxes: Tensor, fmt: str = "xyxy") -> Tensor:
    """Area of each box, as ``torchvision.ops.box_area``.

    Args:
        boxes: ``Tensor[..., 4]``.
        fmt: ``'xyxy'`` (default), ``'xywh'`` or ``'cxcywh'``.

    Returns:
        ``Tensor[...]``; float16/bfloat16 are widened to float32 and small integer types to
        int32 first, as torchvision does. Degenerate (inverted) boxes give negative areas.
    """
    _check_format("fmt", fmt, _AXIS_ALIGNED_FORMATS)
    _check_boxes("boxes", boxes)
    b = _widen(boxes)
    if fmt == "xyxy":
        return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return b[..., 2] * b[..., 3]


def _inter_union(boxes1: Tensor, boxes2: Tensor, fmt: str) -> Tuple[Tensor, Tensor]:
    area1 = box_area(boxes1, fmt)
    area2 = box_area(boxes2, fmt)
    a = boxes1[..., :, None, :]
    b = boxes2[..., None, :, :]
    if fmt == "xyxy":
        lo = torch.max(a[..., :2], b[..., :2])
        hi = torch.min(a[..., 2:], b[..., 2:])
    elif fmt == "xywh":
        lo = torch.max(a[..., :2], b[..., :2])
        hi = torch.min(a[..., :2] + a[..., 2:], b[..., :2] + b[..., 2:])
    else:
        lo = torch.max(a[..., :2] - a[..., 2:] / 2, b[..., :2] - b[..., 2:] / 2)
        hi = torch.min(a[..., :2] + a[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2)
    wh = _widen(hi - lo).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[..., :, None] + area2[..., None, :] - inter
    return inter, union


def _check_pair(boxes1: Tensor, boxes2: Tensor) -> None:
    for name, b in (("boxes1", boxes1), ("boxes2", boxes2)):
        _check_boxes(name, b)
        if b.dim() < 2:
            raise ValueError(
                f"{name} must have shape [..., N, 4], got {name}.shape={tuple(b.shape)}"
            )


def box_iou(boxes1: Tensor, boxes2: Tensor, fmt: str = "xyxy") -> Tensor:
    """Pairwise intersection-over-union, as ``torchvision.ops.box_iou``.

    Args:
        boxes1: ``Tensor[..., N, 4]``.
        boxes2: ``Tensor[..., M, 4]``.
        fmt: ``'xyxy'`` (default), ``'xywh'`` or ``'cxcywh'``. torchvision also accepts rotated
            formats (through its compiled ``box_iou_rotated``); the reference does not.

    Returns:
        ``Tensor[..., N, M]``, evaluated with torchvision's widening rules (so bit-identical):
        float16 corners are compared in float16 and the differences widened to float32.
    """
    if fmt in _ROTATED_FORMATS:
        raise ValueError(
            f"fmt={fmt!r} is a rotated format; trtops.reference.box_iou supports only "
            f"{_AXIS_ALIGNED_FORMATS}"
        )
    _check_format("fmt", fmt, _AXIS_ALIGNED_FORMATS)
    _check_pair(boxes1, boxes2)
    inter, union = _inter_union(boxes1, boxes2, fmt)
    return inter / union


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise generalized IoU of ``(x1, y1, x2, y2)`` boxes, as
    ``torchvision.ops.generalized_box_iou``: ``IoU - (C - U) / C`` with ``C`` the area of the
    smallest enclosing box and ``U`` the union.

    Args:
        boxes1: ``Tensor[..., N, 4]``.
        boxes2: ``Tensor[..., M, 4]``.

    Returns:
        ``Tensor[..., N, M]``. Degenerate boxes (zero-area enclosing box) give NaN, as in
        torchvision.
    """
    _check_pair(boxes1, boxes2)
    inter, union = _inter_union(boxes1, boxes2, "xyxy")
    iou = inter / union
    a = boxes1[..., :, None, :]
    b = boxes2[..., None, :, :]
    lo = torch.min(a[..., :2], b[..., :2])
    hi = torch.max(a[..., 2:], b[..., 2:])
    wh = _widen(hi - lo).clamp(min=0)
    enclosing = wh[..., 0] * wh[..., 1]
    return iou - (enclosing - union) / enclosing
