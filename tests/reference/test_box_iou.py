"""trtops.reference.box_iou against torchvision.ops.box_iou."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import box_convert, box_iou

from ._helpers import ALL_DTYPES, BOX_KINDS, assert_matches, boxes_xyxy, hsettings


@hsettings(80)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(0, 20),
    m=st.integers(0, 20),
    kinds=st.tuples(st.sampled_from(BOX_KINDS), st.sampled_from(BOX_KINDS)),
    fmt=st.sampled_from(["xyxy", "xywh", "cxcywh"]),
    dtype=st.sampled_from(ALL_DTYPES + [torch.int64]),
    lead=st.sampled_from([(), (2,)]),
)
def test_matches_torchvision(seed, n, m, kinds, fmt, dtype, lead):
    a = boxes_xyxy(seed, n * (2 if lead else 1), 50.0, 70.0, kinds[0]).reshape(*lead, n, 4)
    b = boxes_xyxy(seed + 1, m * (2 if lead else 1), 50.0, 70.0, kinds[1]).reshape(*lead, m, 4)
    a, b = box_convert(a, "xyxy", fmt), box_convert(b, "xyxy", fmt)
    a = a.round().to(dtype) if not dtype.is_floating_point else a.to(dtype)
    b = b.round().to(dtype) if not dtype.is_floating_point else b.to(dtype)
    actual = box_iou(a, b, fmt)
    expected = ops.box_iou(a, b, fmt)
    assert_matches(actual, expected, "box_iou", dtype if dtype.is_floating_point else torch.float32)


def test_identical_and_disjoint():
    a = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    out = box_iou(a, a)
    assert torch.equal(out, torch.eye(2))


def test_rotated_formats_rejected():
    with pytest.raises(ValueError, match=r"fmt='cxcywhr' is a rotated format"):
        box_iou(torch.rand(2, 5), torch.rand(3, 5), "cxcywhr")
    with pytest.raises(ValueError, match=r"fmt='xy'"):
        box_iou(torch.rand(2, 4), torch.rand(3, 4), "xy")
    with pytest.raises(ValueError, match=r"boxes2.shape=\(4,\)"):
        box_iou(torch.rand(2, 4), torch.rand(4))
