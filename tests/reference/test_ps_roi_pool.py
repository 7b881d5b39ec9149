"""trtops.reference.ps_roi_pool / PSRoIPool against torchvision.ops.ps_roi_pool."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import PSRoIPool, ps_roi_pool

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


def _compare(x, r, output_size, scale, dtype):
    actual = ps_roi_pool(x, r, output_size, scale)
    expected = torchvision_result(lambda a, b: ops.ps_roi_pool(a, b, output_size, scale), dtype, x, r)
    assert_matches(actual, expected, "ps_roi_pool", dtype)
    return actual


@hsettings(250)
@given(case=roi_case(position_sensitive=True, max_channels=3), as_list=st.booleans())
def test_matches_torchvision(case, as_list):
    x, r, dtype = case["input"], case["rois"], case["dtype"]
    boxes = r
    if as_list:
        r = r[torch.argsort(r[:, 0].double(), stable=True)]
        boxes = [r[r[:, 0] == i, 1:] for i in range(x.shape[0])]
    out_size = (case["ph"], case["pw"])
    actual = ps_roi_pool(x, boxes, out_size, case["scale"])
    expected = torchvision_result(
        lambda a, b: ops.ps_roi_pool(a, b, out_size, case["scale"]), dtype, x, r
    )
    magnitude = float(case["input"].double().abs().max()) if case["input"].numel() else 1.0
    assert_matches(actual, expected, "ps_roi_pool", dtype, magnitude=max(1.0, magnitude))


_EDGES = [
    ("interior", [[0, 1.0, 1.0, 5.0, 4.0]], 2, 1.0),
    ("last row and column never pooled", [[0, 0.0, 0.0, 12.0, 10.0]], 2, 1.0),
    ("rounding halves away from zero", [[0, 0.5, 1.5, 2.5, 3.5]], 2, 1.0),
    ("partly outside", [[0, -3.0, -2.0, 4.0, 14.0]], 3, 1.0),
    ("wholly outside: empty bins are 0", [[0, -9.0, -9.0, -3.0, -2.5]], 2, 1.0),
    ("zero-area RoI", [[0, 4.0, 4.0, 4.0, 4.0]], 2, 1.0),
    ("inverted RoI", [[0, 6.0, 6.0, 2.0, 3.0]], 3, 1.0),
    ("non-square output", [[0, 0.0, 0.0, 11.0, 9.0]], (1, 3), 1.0),
    ("spatial scale", [[0, 4.0, 6.0, 40.0, 30.0]], 3, 0.25),
]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name,boxes,output_size,scale", _EDGES, ids=[e[0] for e in _EDGES])
def test_edge_cases(name, boxes, output_size, scale, dtype):
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    x = feature_map(3, (1, 2 * ph * pw, 10, 12), dtype)
    r = torch.tensor(boxes, dtype=torch.float64).to(dtype)
    _compare(x, r, output_size, scale, dtype)


@pytest.mark.parametrize("dtype", TV_DTYPES, ids=str)
def test_non_finite_values_stay_local(dtype):
    # NaN/inf only reach the bins that contain them (IEEE: NaN or +inf with -inf -> NaN).
    x = feature_map(4, (1, 4, 12, 12), dtype)
    x[0, 0, 1, 1] = float("nan")
    x[0, 1, 2, 8] = float("inf")
    x[0, 2, 8, 2] = float("-inf")
    x[0, 3, 8, 8] = float("inf")
    x[0, 3, 9, 9] = float("-inf")
    r = torch.tensor([[0, 0.0, 0.0, 12.0, 12.0], [0, 0.0, 0.0, 6.0, 6.0]], dtype=dtype)
    _compare(x, r, 2, 1.0, dtype)


@pytest.mark.parametrize("dtype", TV_DTYPES, ids=str)
def test_large_map(dtype):
    x = feature_map(7, (2, 18, 40, 60), dtype)
    r = rois(8, 40, 2, 160, 240, "mixed", dtype)
    _compare(x, r, 3, 0.25, dtype)


def test_empty_and_out_of_range_batch():
    x = feature_map(5, (2, 8, 8, 8), torch.float32)
    assert ps_roi_pool(x, torch.zeros((0, 5)), 2).shape == (0, 2, 2, 2)
    r = torch.tensor([[0, 1, 1, 6, 6], [-2, 1, 1, 6, 6], [1, 0, 0, 7, 5]], dtype=torch.float32)
    out = ps_roi_pool(x, r, 2, 1.0)
    valid = torch.tensor([0, 2])
    torch.testing.assert_close(out[valid], ops.ps_roi_pool(x, r[valid], 2, 1.0))
    assert bool((out[1] == 0).all())


def test_module_and_repr():
    x = feature_map(13, (1, 12, 9, 9), torch.float32)
    r = rois(14, 5, 1, 9, 9, "uniform", torch.float32)
    for args in [((2, 3), 1.0), (2, 0.5)]:
        ours, theirs = PSRoIPool(*args), ops.PSRoIPool(*args)
        assert repr(ours) == repr(theirs)
        assert_matches(ours(x, r), theirs(x, r), "ps_roi_pool", torch.float32)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda x, r: ps_roi_pool(x, r, 3), ValueError, r"input.shape\[1\]=8.*output_size=\(3, 3\)"),
        (lambda x, r: ps_roi_pool(x, r, -1), ValueError, r"output_size=-1"),
        (lambda x, r: ps_roi_pool(x, {"a": r}, 2), TypeError, r"boxes=dict"),
    ],
)
def test_invalid_arguments(call, exc, match):
    x = feature_map(15, (1, 8, 5, 5), torch.float32)
    r = rois(16, 3, 1, 5, 5, "uniform", torch.float32)
    with pytest.raises(exc, match=match):
        call(x, r)
