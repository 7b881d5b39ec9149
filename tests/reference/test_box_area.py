"""trtops.reference.box_area against torchvision.ops.box_area."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import box_area

from ._helpers import ALL_DTYPES, BOX_KINDS, assert_matches, boxes_xyxy, hsettings


@hsettings(60)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(0, 30),
    kind=st.sampled_from(BOX_KINDS),
    fmt=st.sampled_from(["xyxy", "xywh", "cxcywh"]),
    dtype=st.sampled_from(ALL_DTYPES + [torch.int64, torch.int16, torch.uint8]),
    lead=st.sampled_from([(), (3,)]),
)
def test_matches_torchvision(seed, n, kind, fmt, dtype, lead):
    count = n * (lead[0] if lead else 1)
    b = boxes_xyxy(seed, count, 50.0, 70.0, kind).reshape(*lead, n, 4)
    b = b.abs().round().to(dtype) if not dtype.is_floating_point else b.to(dtype)
    actual = box_area(b, fmt)
    expected = ops.box_area(b, fmt)
    if expected.is_floating_point():
        assert_matches(actual, expected, "box_area", dtype)
    else:
        assert actual.dtype == expected.dtype and torch.equal(actual, expected)


def test_invalid_arguments():
    with pytest.raises(ValueError, match=r"fmt='xywhr'"):
        box_area(torch.rand(3, 4), "xywhr")
    with pytest.raises(ValueError, match=r"boxes.shape=\(3, 3\)"):
        box_area(torch.rand(3, 3))
    with pytest.raises(TypeError, match=r"boxes=list"):
        box_area([[0, 0, 1, 1]])
