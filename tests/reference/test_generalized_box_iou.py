"""trtops.reference.generalized_box_iou against torchvision.ops.generalized_box_iou."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import generalized_box_iou

from ._helpers import ALL_DTYPES, BOX_KINDS, assert_matches, boxes_xyxy, hsettings


@hsettings(60)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(0, 20),
    m=st.integers(0, 20),
    kinds=st.tuples(st.sampled_from(BOX_KINDS), st.sampled_from(BOX_KINDS)),
    dtype=st.sampled_from(ALL_DTYPES),
)
def test_matches_torchvision(seed, n, m, kinds, dtype):
    a = boxes_xyxy(seed, n, 50.0, 70.0, kinds[0]).to(dtype)
    b = boxes_xyxy(seed + 1, m, 50.0, 70.0, kinds[1]).to(dtype)
    assert_matches(generalized_box_iou(a, b), ops.generalized_box_iou(a, b),
                   "generalized_box_iou", dtype)


def test_batched_and_values():
    a = torch.tensor([[[0.0, 0, 10, 10]], [[0.0, 0, 2, 2]]])
    b = torch.tensor([[[20.0, 0, 30, 10]], [[0.0, 0, 2, 2]]])
    out = generalized_box_iou(a, b)
    assert torch.equal(out, ops.generalized_box_iou(a, b))
    assert out[0, 0, 0].item() == pytest.approx(-1 / 3) and out[1, 0, 0].item() == 1.0


def test_invalid_arguments():
    with pytest.raises(ValueError, match=r"boxes1.shape=\(2, 5\)"):
        generalized_box_iou(torch.rand(2, 5), torch.rand(2, 4))
