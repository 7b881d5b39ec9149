"""trtops.reference.clip_boxes_to_image against torchvision.ops.clip_boxes_to_image."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import clip_boxes_to_image

from ._helpers import ALL_DTYPES, BOX_KINDS, assert_matches, boxes_xyxy, hsettings


@hsettings(60)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(0, 40),
    kind=st.sampled_from(BOX_KINDS),
    size=st.tuples(st.integers(1, 80), st.integers(1, 80)),
    dtype=st.sampled_from(ALL_DTYPES + [torch.int64]),
    lead=st.sampled_from([(), (2,)]),
)
def test_matches_torchvision(seed, n, kind, size, dtype, lead):
    b = boxes_xyxy(seed, n * (2 if lead else 1), 50.0, 60.0, kind).reshape(*lead, n, 4)
    b = b.round().to(dtype) if not dtype.is_floating_point else b.to(dtype)
    actual = clip_boxes_to_image(b, size)
    expected = ops.clip_boxes_to_image(b, size)
    if dtype.is_floating_point:
        assert_matches(actual, expected, "clip_boxes_to_image", dtype)
    else:
        assert torch.equal(actual, expected)


def test_invalid_arguments():
    with pytest.raises(ValueError, match=r"size=\(10,\)"):
        clip_boxes_to_image(torch.rand(2, 4), (10,))
    with pytest.raises(TypeError, match=r"size\[1\]='5'"):
        clip_boxes_to_image(torch.rand(2, 4), (10, "5"))
