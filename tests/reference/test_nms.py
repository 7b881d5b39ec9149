"""trtops.reference.nms against torchvision.ops.nms."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import nms

from ._helpers import BOX_KINDS, assert_same_set, boxes_xyxy, hsettings, sorted_scores

_THRESHOLDS = [0.0, 0.1, 0.3, 0.5, 0.7, 0.95, 1.0]


def _expected(boxes, scores, threshold):
    if boxes.dtype in (torch.float16, torch.bfloat16):  # torchvision's CPU NMS rejects these
        return ops.nms(boxes.float(), scores.float(), threshold)
    return ops.nms(boxes, scores, threshold)


@hsettings(300)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(0, 300),
    kind=st.sampled_from(BOX_KINDS),
    threshold=st.sampled_from(_THRESHOLDS),
    dtype=st.sampled_from([torch.float64, torch.float32, torch.float16, torch.bfloat16]),
    ties=st.booleans(),
)
def test_matches_torchvision(seed, n, kind, threshold, dtype, ties):
    boxes = boxes_xyxy(seed, n, 100.0, 150.0, kind).to(dtype)
    scores = sorted_scores(seed + 1, n, ties).to(dtype)
    ties = ties or scores.unique().numel() < n  # rounding to float16 may create ties
    actual = nms(boxes, scores, threshold)
    expected = _expected(boxes, scores, threshold)
    if ties:
        assert_same_set(actual, expected, scores)
    else:
        assert torch.equal(actual, expected)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_many_boxes_exact(threshold):
    # Several blocks of the blocked greedy resolution, tie-free.
    boxes = boxes_xyxy(3, 2500, 400.0, 600.0, "mixed").float()
    scores = sorted_scores(4, 2500, False).float()
    assert torch.equal(nms(boxes, scores, threshold), ops.nms(boxes, scores, threshold))


def test_suppression_chain():
    # Each box overlaps only its neighbours: the greedy result alternates (kept, suppressed, ...),
    # which a non-sequential shortcut would get wrong.
    x = torch.arange(300, dtype=torch.float32) * 5
    boxes = torch.stack([x, torch.zeros_like(x), x + 10, torch.full_like(x, 10)], dim=1)
    scores = torch.linspace(1, 0.1, 300)
    ours = nms(boxes, scores, 0.3)
    assert torch.equal(ours, ops.nms(boxes, scores, 0.3))
    assert torch.equal(ours, torch.arange(0, 300, 2))


@pytest.mark.parametrize(
    "name,boxes,scores",
    [
        ("identical boxes, tied scores", [[0, 0, 10, 10]] * 4, [0.5, 0.5, 0.5, 0.5]),
        ("NaN score sorts first", [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]],
         [0.9, float("nan"), 0.1]),
        ("NaN coordinates never suppress", [[0, 0, 10, 10], [float("nan"), 0, 10, 10], [0, 0, 10, 10]],
         [0.9, 0.8, 0.7]),
        ("zero-area boxes", [[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10]], [0.9, 0.8, 0.7]),
        ("inverted boxes", [[10, 10, 0, 0], [9, 9, 1, 1], [0, 0, 10, 10]], [0.9, 0.8, 0.7]),
        ("IoU exactly at the threshold is kept", [[0, 0, 10, 10], [0, 0, 10, 5]], [0.9, 0.8]),
        ("single box", [[1, 2, 3, 4]], [0.3]),
        ("negative scores", [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], [-0.1, -0.2, -0.3]),
        ("infinite coordinates", [[0, 0, float("inf"), 10], [0, 0, 10, 10]], [0.9, 0.8]),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_edge_cases(name, boxes, scores, dtype):
    b = torch.tensor(boxes, dtype=dtype)
    s = torch.tensor(scores, dtype=dtype)
    actual = nms(b, s, 0.5)
    expected = ops.nms(b, s, 0.5)
    if s.unique().numel() < s.numel():
        assert_same_set(actual, expected, s)
    else:
        assert torch.equal(actual, expected)


def test_empty():
    out = nms(torch.zeros((0, 4)), torch.zeros(0), 0.5)
    assert out.dtype == torch.int64 and out.shape == (0,)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda b, s: nms(b[:, :3], s, 0.5), ValueError, r"boxes.shape=\(5, 3\)"),
        (lambda b, s: nms(b, s[:4], 0.5), ValueError, r"scores.shape=\(4,\)"),
        (lambda b, s: nms(b, s.double(), 0.5), TypeError, r"scores.dtype=torch.float64"),
        (lambda b, s: nms(b, s, "0.5"), TypeError, r"iou_threshold='0.5'"),
        (lambda b, s: nms(b.long(), s, 0.5), TypeError, r"boxes.dtype=torch.int64"),
        (lambda b, s: nms(b.tolist(), s, 0.5), TypeError, r"boxes=list"),
    ],
)
def test_invalid_arguments(call, exc, match):
    b = boxes_xyxy(0, 5, 10.0, 10.0, "uniform").float()
    s = torch.rand(5)
    with pytest.raises(exc, match=match):
        call(b, s)


@pytest.mark.parametrize("threshold", [-0.1, -1.0])
def test_negative_threshold_dense_path(threshold):
    # IoU 0 > negative threshold: every finite pair suppresses (the sparse sweep needs t >= 0).
    boxes = boxes_xyxy(8, 200, 50.0, 50.0, "mixed").float()
    boxes[::17, 0] = float("nan")
    scores = sorted_scores(9, 200, False).float()
    assert torch.equal(nms(boxes, scores, threshold), ops.nms(boxes, scores, threshold))


def test_nan_threshold_keeps_everything():
    boxes = boxes_xyxy(10, 50, 20.0, 20.0, "clustered").float()
    scores = sorted_scores(11, 50, False).float()
    assert torch.equal(nms(boxes, scores, float("nan")), ops.nms(boxes, scores, float("nan")))


@pytest.mark.parametrize("kind", ["clustered", "mixed"])
def test_dense_fallback_matches(monkeypatch, kind):
    # Inputs with too many candidate pairs take the dense block resolution; force it here.
    from trtops.reference import boxes as boxes_module

    monkeypatch.setattr(boxes_module, "_NMS_MAX_PAIRS", 0)
    monkeypatch.setattr(boxes_module, "_NMS_BLOCK", 64)
    b = boxes_xyxy(12, 700, 80.0, 80.0, kind).double()
    s = sorted_scores(13, 700, False).double()
    for threshold in (0.0, 0.4, 0.8):
        assert torch.equal(nms(b, s, threshold), ops.nms(b, s, threshold))
