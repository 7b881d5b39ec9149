"""trtops.reference.batched_nms against torchvision's per-class ("vanilla") batched NMS."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops
from torchvision.ops.boxes import _batched_nms_vanilla

from trtops.reference import batched_nms

from ._helpers import BOX_KINDS, assert_same_set, boxes_xyxy, generator, hsettings, sorted_scores


@hsettings(200)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(0, 300),
    classes=st.integers(1, 6),
    kind=st.sampled_from(BOX_KINDS),
    threshold=st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]),
    dtype=st.sampled_from([torch.float64, torch.float32, torch.float16]),
    ties=st.booleans(),
    idx_dtype=st.sampled_from([torch.int64, torch.int32, torch.uint8]),
)
def test_matches_torchvision(seed, n, classes, kind, threshold, dtype, ties, idx_dtype):
    boxes = boxes_xyxy(seed, n, 100.0, 150.0, kind).to(dtype)
    scores = sorted_scores(seed + 1, n, ties).to(dtype)
    idxs = torch.randint(0, classes, (n,), generator=generator(seed + 2)).to(idx_dtype)
    ties = ties or scores.unique().numel() < n
    actual = batched_nms(boxes, scores, idxs, threshold)
    if dtype == torch.float16:
        boxes, scores = boxes.float(), scores.float()
    expected = _batched_nms_vanilla(boxes, scores, idxs, threshold)
    if ties:
        assert_same_set(actual, expected, scores)
    else:
        assert torch.equal(actual, expected)


def test_large_input_uses_public_entry_point():
    # > 1000 boxes: torchvision.ops.batched_nms itself takes the per-class path on CPU.
    n = 3000
    boxes = boxes_xyxy(5, n, 300.0, 400.0, "mixed").float()
    scores = sorted_scores(6, n, False).float()
    idxs = torch.randint(0, 20, (n,), generator=generator(7))
    assert torch.equal(batched_nms(boxes, scores, idxs, 0.5), ops.batched_nms(boxes, scores, idxs, 0.5))


def test_classes_do_not_interact():
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    idxs = torch.tensor([0, 1, 0, 1])
    assert batched_nms(boxes, scores, idxs, 0.5).tolist() == [0, 1]


def test_no_coordinate_offset_trick():
    # Huge coordinates: the offset trick (boxes + idx * (max + 1)) loses float32 precision and
    # can change IoUs; the per-class path cannot.
    boxes = torch.tensor([[1e7, 1e7, 1e7 + 8, 1e7 + 8], [1e7 + 1, 1e7, 1e7 + 9, 1e7 + 8]])
    scores = torch.tensor([0.9, 0.8])
    idxs = torch.tensor([3, 3])
    assert torch.equal(batched_nms(boxes, scores, idxs, 0.7), _batched_nms_vanilla(boxes, scores, idxs, 0.7))


def test_empty():
    out = batched_nms(torch.zeros((0, 4)), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)
    assert out.dtype == torch.int64 and out.shape == (0,)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda b, s, i: batched_nms(b, s, i[:3], 0.5), ValueError, r"idxs.shape=\(3,\)"),
        (lambda b, s, i: batched_nms(b, s, i.float(), 0.5), TypeError, r"idxs.dtype=torch.float32"),
        (lambda b, s, i: batched_nms(b, s, i[:, None], 0.5), ValueError, r"idxs must be a 1-D"),
        (lambda b, s, i: batched_nms(b, s, i, None), TypeError, r"iou_threshold=None"),
    ],
)
def test_invalid_arguments(call, exc, match):
    b = boxes_xyxy(0, 5, 10.0, 10.0, "uniform").float()
    s = torch.rand(5)
    i = torch.tensor([0, 1, 0, 1, 2])
    with pytest.raises(exc, match=match):
        call(b, s, i)


def test_dense_fallback_matches(monkeypatch):
    from trtops.reference import boxes as boxes_module

    monkeypatch.setattr(boxes_module, "_NMS_MAX_PAIRS", 0)
    monkeypatch.setattr(boxes_module, "_NMS_BLOCK", 64)
    n = 600
    boxes = boxes_xyxy(14, n, 80.0, 80.0, "clustered").double()
    scores = sorted_scores(15, n, False).double()
    idxs = torch.randint(0, 4, (n,), generator=generator(16))
    for threshold in (-0.5, 0.3, 0.7):
        assert torch.equal(batched_nms(boxes, scores, idxs, threshold),
                           _batched_nms_vanilla(boxes, scores, idxs, threshold))
