"""trtops.reference.remove_small_boxes against torchvision.ops.remove_small_boxes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import remove_small_boxes

from ._helpers import ALL_DTYPES, BOX_KINDS, boxes_xyxy, hsettings


@hsettings(60)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(0, 40),
    kind=st.sampled_from(BOX_KINDS),
    min_size=st.sampled_from([0.0, 0.5, 1.0, 3.0, 1e-3, -1.0, 20]),
    dtype=st.sampled_from(ALL_DTYPES + [torch.int64]),
)
def test_matches_torchvision(seed, n, kind, min_size, dtype):
    b = boxes_xyxy(seed, n, 30.0, 40.0, kind)
    b = b.round().to(dtype) if not dtype.is_floating_point else b.to(dtype)
    actual = remove_small_boxes(b, min_size)
    assert actual.dtype == torch.int64
    assert torch.equal(actual, ops.remove_small_boxes(b, min_size))


def test_nan_boxes_removed():
    b = torch.tensor([[0.0, 0, 5, 5], [float("nan"), 0, 5, 5], [0, 0, 0.5, 5]])
    assert remove_small_boxes(b, 1.0).tolist() == [0]


def test_invalid_arguments():
    with pytest.raises(TypeError, match=r"min_size='1'"):
        remove_small_boxes(torch.rand(2, 4), "1")
    with pytest.raises(ValueError, match=r"boxes.shape=\(2, 2\)"):
        remove_small_boxes(torch.rand(2, 2), 1.0)
