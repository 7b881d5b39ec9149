"""trtops.reference.box_convert against torchvision.ops.box_convert."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import box_convert

from ._helpers import ALL_DTYPES, BOX_KINDS, assert_matches, boxes_xyxy, generator, hsettings

AXIS = ["xyxy", "xywh", "cxcywh"]
ROTATED = ["xywhr", "cxcywhr", "xyxyxyxy"]
_WIDTH = {"xywhr": 5, "cxcywhr": 5, "xyxyxyxy": 8}


def _boxes(seed, n, fmt, kind, dtype, lead):
    g = generator(seed)
    count = n
    for d in lead:
        count *= d
    if fmt in AXIS:
        b = boxes_xyxy(seed, count, 60.0, 80.0, kind)
    else:
        b = torch.randn(count, _WIDTH[fmt], generator=g, dtype=torch.float64) * 40
    b = b.reshape(*lead, n, b.shape[-1])
    if dtype in (torch.int32, torch.int64):
        return b.round().to(dtype)
    return b.to(dtype)


@hsettings(100)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(0, 20),
    pair=st.sampled_from(list(itertools.product(AXIS, AXIS)) + list(itertools.product(ROTATED, ROTATED))),
    kind=st.sampled_from(BOX_KINDS),
    dtype=st.sampled_from(ALL_DTYPES + [torch.int64, torch.int32]),
    lead=st.sampled_from([(), (2,), (2, 3)]),
)
def test_matches_torchvision(seed, n, pair, kind, dtype, lead):
    in_fmt, out_fmt = pair
    boxes = _boxes(seed, n, in_fmt, kind, dtype, lead)
    actual = box_convert(boxes, in_fmt, out_fmt)
    expected = ops.box_convert(boxes, in_fmt, out_fmt)
    if expected.is_floating_point() and dtype in ALL_DTYPES:
        assert_matches(actual, expected, "box_convert", dtype)
    else:
        assert actual.dtype == expected.dtype and torch.equal(actual, expected)


def test_same_format_returns_a_copy():
    b = torch.rand(3, 4)
    out = box_convert(b, "xyxy", "xyxy")
    assert torch.equal(out, b) and out.data_ptr() != b.data_ptr()


@pytest.mark.parametrize(
    "args,match",
    [
        (("xyxy", "xyzz"), r"out_fmt='xyzz'"),
        (("abcd", "xyxy"), r"in_fmt='abcd'"),
        (("xyxy", "cxcywhr"), r"in_fmt='xyxy' and out_fmt='cxcywhr'"),
    ],
)
def test_invalid_formats(args, match):
    with pytest.raises(ValueError, match=match):
        box_convert(torch.rand(2, 4), *args)


def test_invalid_shape():
    with pytest.raises(ValueError, match=r"boxes.shape=\(2, 5\)"):
        box_convert(torch.rand(2, 5), "xyxy", "xywh")
