"""trtops.reference.ps_roi_align / PSRoIAlign against torchvision.ops.ps_roi_align."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import PSRoIAlign, ps_roi_align

from ._helpers import (
    ALL_DTYPES,
    TV_DTYPES,
    assert_matches,
    feature_map,
    hsettings,
    roi_case,
    rois,
    torchvision_result,
)


def _compare(x, r, output_size, scale, ratio, dtype):
    actual = ps_roi_align(x, r, output_size, scale, ratio)
    expected = torchvision_result(
        lambda a, b: ops.ps_roi_align(a, b, output_size, scale, ratio), dtype, x, r
    )
    assert_matches(actual, expected, "ps_roi_align", dtype)
    return actual


@hsettings(250)
@given(case=roi_case(position_sensitive=True, max_channels=3), as_list=st.booleans())
def test_matches_torchvision(case, as_list):
    x, r, dtype = case["input"], case["rois"], case["dtype"]
    boxes = r
    if as_list:
        r = r[torch.argsort(r[:, 0].double(), stable=True)]
        boxes = [r[r[:, 0] == i, 1:] for i in range(x.shape[0])]
    args = ((case["ph"], case["pw"]), case["scale"], case["sampling_ratio"])
    actual = ps_roi_align(x, boxes, *args)
    expected = torchvision_result(lambda a, b: ops.ps_roi_align(a, b, *args), dtype, x, r)
    assert_matches(actual, expected, "ps_roi_align", dtype)


_EDGES = [
    ("interior", [[0, 1.0, 1.0, 5.0, 4.0]], 2, 1.0, 2),
    ("adaptive grid", [[0, 0.3, 0.7, 11.2, 9.9]], (3, 2), 1.0, 0),
    ("partly outside", [[0, -3.0, -2.0, 4.0, 14.0]], 3, 1.0, 2),
    ("wholly outside", [[0, -9.0, -9.0, -3.0, -2.5]], 2, 1.0, 2),
    ("samples in [-1, 0] clamp to 0", [[0, -0.9, -0.7, 0.8, 0.7]], 2, 1.0, 2),
    ("beyond the last pixel", [[0, 11.0, 9.0, 13.5, 10.8]], 2, 1.0, 3),
    ("zero-area RoI, fixed grid", [[0, 4.0, 4.0, 4.0, 4.0]], 2, 1.0, 2),
    ("zero-area RoI, adaptive grid: 0/0", [[0, 4.0, 4.0, 4.0, 4.0]], 2, 1.0, 0),
    ("inverted RoI, adaptive grid", [[0, 6.0, 6.0, 2.0, 3.0]], 2, 1.0, 0),
    ("inverted along one axis, adaptive", [[0, 6.0, 1.0, 2.0, 8.0]], 2, 1.0, 0),
    ("non-square output", [[0, 0.0, 0.0, 11.0, 9.0]], (1, 3), 1.0, 2),
    ("spatial scale", [[0, 4.0, 6.0, 40.0, 30.0]], 3, 0.25, 2),
]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name,boxes,output_size,scale,ratio", _EDGES, ids=[e[0] for e in _EDGES])
def test_edge_cases(name, boxes, output_size, scale, ratio, dtype):
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    x = feature_map(3, (1, 2 * ph * pw, 10, 12), dtype)
    r = torch.tensor(boxes, dtype=torch.float64).to(dtype)
    _compare(x, r, output_size, scale, ratio, dtype)


def test_channel_mapping():
    # Output (c_out, ph, pw) reads input channel (c_out * PH + ph) * PW + pw: a map whose
    # channel c is the constant c makes the mapping visible.
    ph, pw, c_out = 2, 3, 2
    x = torch.arange(c_out * ph * pw, dtype=torch.float32).reshape(1, -1, 1, 1).expand(1, -1, 8, 8)
    out = ps_roi_align(x.contiguous(), torch.tensor([[0, 1.0, 1.0, 6.0, 6.0]]), (ph, pw), 1.0, 2)
    expected = torch.arange(c_out * ph * pw, dtype=torch.float32).reshape(1, c_out, ph, pw)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("dtype", TV_DTYPES, ids=str)
def test_float16_large_map_rounding(dtype):
    x = feature_map(7, (1, 8, 40, 320), dtype)
    r = rois(8, 30, 1, 40 * 4, 320 * 4, "mixed", dtype)
    small = rois(9, 30, 1, 40 * 4, 320 * 4, "clustered", dtype)  # adaptive grids stay small
    _compare(x, r, 2, 0.25, 2, dtype)
    _compare(x, small, (2, 4), 0.25, 0, dtype)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_empty_inputs(dtype):
    x = feature_map(5, (2, 12, 8, 8), dtype)
    for boxes in (torch.zeros((0, 5), dtype=dtype), [torch.zeros((0, 4), dtype=dtype)] * 2):
        out = ps_roi_align(x, boxes, (2, 3), 1.0, 2)
        assert out.shape == (0, 2, 2, 3) and out.dtype == dtype


def test_batch_index_out_of_range_gives_zero_rows():
    x = feature_map(9, (2, 8, 8, 8), torch.float32)
    r = torch.tensor([[0, 1, 1, 6, 6], [5, 1, 1, 6, 6], [1, 0, 0, 7, 5]], dtype=torch.float32)
    out = ps_roi_align(x, r, 2, 1.0, 2)
    valid = torch.tensor([0, 2])
    assert torch.equal(out[valid], ops.ps_roi_align(x, r[valid], 2, 1.0, 2))
    assert bool((out[1] == 0).all())


def test_module_and_repr():
    x = feature_map(13, (1, 12, 9, 9), torch.float32)
    r = rois(14, 5, 1, 9, 9, "uniform", torch.float32)
    for args in [((2, 3), 1.0, 2), (2, 0.5, -1)]:
        ours, theirs = PSRoIAlign(*args), ops.PSRoIAlign(*args)
        assert repr(ours) == repr(theirs)
        assert torch.equal(ours(x, r), theirs(x, r))


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda x, r: ps_roi_align(x, r, 3), ValueError, r"input.shape\[1\]=8.*output_size=\(3, 3\)"),
        (lambda x, r: ps_roi_align(x, r, 0), ValueError, r"output_size=0"),
        (lambda x, r: ps_roi_align(x, r[:, :4], 2), ValueError, r"boxes.shape=\(3, 4\)"),
        (lambda x, r: ps_roi_align(x, r.half(), 2), TypeError, r"boxes.dtype=torch.float16"),
        (lambda x, r: ps_roi_align(x, r, 2, 1.0, None), TypeError, r"sampling_ratio=None"),
    ],
)
def test_invalid_arguments(call, exc, match):
    x = feature_map(15, (1, 8, 5, 5), torch.float32)
    r = rois(16, 3, 1, 5, 5, "uniform", torch.float32)
    with pytest.raises(exc, match=match):
        call(x, r)
