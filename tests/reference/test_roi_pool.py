"""trtops.reference.roi_pool / RoIPool against torchvision.ops.roi_pool."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import RoIPool, roi_pool

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
    actual = roi_pool(x, r, output_size, scale)
    expected = torchvision_result(lambda a, b: ops.roi_pool(a, b, output_size, scale), dtype, x, r)
    assert_matches(actual, expected, "roi_pool", dtype)
    return actual


@hsettings(250)
@given(case=roi_case(), as_list=st.booleans(), specials=st.booleans())
def test_matches_torchvision(case, as_list, specials):
    x, r, dtype = case["input"], case["rois"], case["dtype"]
    if specials:  # NaN is never selected, -inf loses to the -FLT_MAX start, +inf wins
        x = x.clone()
        flat = x.view(-1)
        flat[:: 7] = float("nan")
        flat[3:: 11] = float("inf")
        flat[5:: 13] = float("-inf")
    boxes = r
    if as_list:
        r = r[torch.argsort(r[:, 0].double(), stable=True)]
        boxes = [r[r[:, 0] == i, 1:] for i in range(x.shape[0])]
    out_size = (case["ph"], case["pw"])
    actual = roi_pool(x, boxes, out_size, case["scale"])
    expected = torchvision_result(lambda a, b: ops.roi_pool(a, b, out_size, case["scale"]), dtype, x, r)
    assert_matches(actual, expected, "roi_pool", dtype)


_EDGES = [
    ("interior", [[0, 1.0, 1.0, 5.0, 4.0]], 2, 1.0),
    ("rounding halves away from zero", [[0, 0.5, 1.5, 2.5, 3.5]], 2, 1.0),
    ("negative halves", [[0, -0.5, -1.5, 2.5, 3.5]], 2, 1.0),
    ("partly outside", [[0, -3.0, -2.0, 4.0, 14.0]], 3, 1.0),
    ("wholly outside: empty bins are 0", [[0, -9.0, -9.0, -3.0, -2.5]], 2, 1.0),
    ("beyond the map", [[0, 30.0, 30.0, 40.0, 40.0]], 2, 1.0),
    ("zero-area RoI", [[0, 4.0, 4.0, 4.0, 4.0]], 2, 1.0),
    ("inverted RoI", [[0, 6.0, 6.0, 2.0, 3.0]], 3, 1.0),
    ("more bins than pixels", [[0, 2.0, 2.0, 4.0, 3.0]], (5, 7), 1.0),
    ("whole map, large bins", [[0, 0.0, 0.0, 11.0, 9.0]], (1, 2), 1.0),
    ("spatial scale", [[0, 4.0, 6.0, 40.0, 30.0]], 3, 0.25),
    ("scale rounding", [[0, 3.0, 5.0, 21.0, 17.0]], (2, 3), 1.0 / 3.0),
]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name,boxes,output_size,scale", _EDGES, ids=[e[0] for e in _EDGES])
def test_edge_cases(name, boxes, output_size, scale, dtype):
    x = feature_map(3, (1, 3, 10, 12), dtype)
    r = torch.tensor(boxes, dtype=torch.float64).to(dtype)
    _compare(x, r, output_size, scale, dtype)


@pytest.mark.parametrize("dtype", TV_DTYPES, ids=str)
def test_all_minus_inf_bin_gives_start_value(dtype):
    # torchvision starts the max at -FLT_MAX in the dtype (-inf in float16) and compares with
    # ">", so a bin of only -inf/NaN keeps the start value.
    x = torch.full((1, 1, 4, 4), float("-inf"), dtype=dtype)
    x[0, 0, 0, 0] = float("nan")
    out = _compare(x, torch.tensor([[0, 0.0, 0.0, 3.0, 3.0]], dtype=dtype), 1, 1.0, dtype)
    assert out.item() == torch.tensor(-3.4028234663852886e38, dtype=torch.float64).to(dtype).item()


@pytest.mark.parametrize("dtype", TV_DTYPES, ids=str)
def test_large_map(dtype):
    x = feature_map(7, (2, 4, 60, 90), dtype)
    r = rois(8, 40, 2, 240, 360, "mixed", dtype)
    _compare(x, r, 7, 0.25, dtype)


def test_empty_and_out_of_range_batch():
    x = feature_map(5, (2, 3, 8, 8), torch.float32)
    assert roi_pool(x, torch.zeros((0, 5)), 2).shape == (0, 3, 2, 2)
    r = torch.tensor([[0, 1, 1, 6, 6], [2, 1, 1, 6, 6], [1, 0, 0, 7, 5]], dtype=torch.float32)
    out = roi_pool(x, r, 2, 1.0)
    valid = torch.tensor([0, 2])
    assert torch.equal(out[valid], ops.roi_pool(x, r[valid], 2, 1.0))
    assert bool((out[1] == 0).all())


def test_module_and_repr():
    x = feature_map(13, (1, 3, 9, 9), torch.float32)
    r = rois(14, 5, 1, 9, 9, "uniform", torch.float32)
    for args in [((2, 3), 1.0), (4, 0.5)]:
        ours, theirs = RoIPool(*args), ops.RoIPool(*args)
        assert repr(ours) == repr(theirs)
        assert torch.equal(ours(x, r), theirs(x, r))


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda x, r: roi_pool(x, r, (0, 2)), ValueError, r"output_size=\(0, 2\)"),
        (lambda x, r: roi_pool(x[None], r, 2), ValueError, r"input.shape=\(1, 1, 2, 5, 5\)"),
        (lambda x, r: roi_pool(x, r, 2, None), TypeError, r"spatial_scale=None"),
        (lambda x, r: roi_pool(x, r.double(), 2), TypeError, r"boxes.dtype=torch.float64"),
    ],
)
def test_invalid_arguments(call, exc, match):
    x = feature_map(15, (1, 2, 5, 5), torch.float32)
    r = rois(16, 3, 1, 5, 5, "uniform", torch.float32)
    with pytest.raises(exc, match=match):
        call(x, r)
