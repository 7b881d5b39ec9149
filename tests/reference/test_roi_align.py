"""trtops.reference.roi_align / RoIAlign against torchvision.ops.roi_align."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import RoIAlign, roi_align

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


def _torchvision(x, r, output_size, scale, ratio, aligned):
    """torchvision's roi_align; rows it cannot run are zero.

    With ``aligned=True`` and an adaptive grid, a RoI inverted along exactly one axis gives
    a negative sample count, and torchvision's CPU kernel fails to allocate its sample table
    ("cannot create std::vector larger than max_size()") for the whole call. Its CUDA kernel
    and the reference have empty sample loops there and return 0 for that RoI, so such rows
    are expected to be zero.
    """
    try:
        return ops.roi_align(x, r, output_size, scale, ratio, aligned)
    except (RuntimeError, ValueError) as exc:
        if "max_size" not in str(exc):
            raise
    rows = []
    for i in range(r.shape[0]):
        try:
            rows.append(ops.roi_align(x, r[i : i + 1], output_size, scale, ratio, aligned))
        except (RuntimeError, ValueError):
            ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
            rows.append(x.new_zeros((1, x.shape[1], ph, pw)))
    return torch.cat(rows)


def _compare(x, r, output_size, scale, ratio, aligned, dtype):
    actual = roi_align(x, r, output_size, scale, ratio, aligned)
    expected = torchvision_result(
        lambda a, b: _torchvision(a, b, output_size, scale, ratio, aligned), dtype, x, r
    )
    assert_matches(actual, expected, "roi_align", dtype)
    return actual


@hsettings(400)
@given(case=roi_case(), as_list=st.booleans())
def test_matches_torchvision(case, as_list):
    x, r, dtype = case["input"], case["rois"], case["dtype"]
    boxes = r
    if as_list:  # List[Tensor[L, 4]] form: group rows by batch index
        order = torch.argsort(r[:, 0].double(), stable=True)
        r = r[order]
        boxes = [r[r[:, 0] == i, 1:] for i in range(x.shape[0])]
    args = ((case["ph"], case["pw"]), case["scale"], case["sampling_ratio"], case["aligned"])
    actual = roi_align(x, boxes, *args)
    expected = torchvision_result(lambda a, b: _torchvision(a, b, *args), dtype, x, r)
    assert_matches(actual, expected, "roi_align", dtype)


# Hand-written edge cases: (name, rois on a 1x3x10x12 map, output_size, scale, ratio, aligned)
_EDGES = [
    ("aligned half-pixel shift", [[0, 1.0, 1.0, 5.0, 4.0]], 2, 1.0, 2, True),
    ("unaligned same box", [[0, 1.0, 1.0, 5.0, 4.0]], 2, 1.0, 2, False),
    ("adaptive grid", [[0, 0.3, 0.7, 11.2, 9.9]], (3, 2), 1.0, 0, False),
    ("adaptive grid, negative ratio", [[0, 0.3, 0.7, 11.2, 9.9]], (2, 3), 1.0, -4, True),
    ("partly outside", [[0, -3.0, -2.0, 4.0, 14.0]], 3, 1.0, 2, False),
    ("wholly outside, below -1", [[0, -9.0, -9.0, -3.0, -2.5]], 2, 1.0, 2, True),
    ("samples in [-1, 0] clamp to 0", [[0, -1.4, -1.2, 0.3, 0.2]], 2, 1.0, 2, False),
    ("beyond the last pixel", [[0, 11.0, 9.0, 13.5, 10.8]], 2, 1.0, 3, False),
    ("wholly outside, beyond", [[0, 30.0, 30.0, 40.0, 40.0]], 2, 1.0, 2, False),
    ("zero-area RoI, unaligned (forced 1x1)", [[0, 4.0, 4.0, 4.0, 4.0]], 2, 1.0, 0, False),
    ("zero-area RoI, aligned (empty adaptive grid)", [[0, 4.0, 4.0, 4.0, 4.0]], 2, 1.0, 0, True),
    ("inverted RoI, aligned", [[0, 6.0, 6.0, 2.0, 3.0]], 2, 1.0, 0, True),
    ("inverted RoI, unaligned", [[0, 6.0, 6.0, 2.0, 3.0]], 2, 1.0, 2, False),
    ("non-square output", [[0, 0.0, 0.0, 11.0, 9.0]], (1, 5), 1.0, 2, False),
    ("tall output", [[0, 0.0, 0.0, 11.0, 9.0]], (6, 1), 0.5, 1, True),
    ("spatial scale", [[0, 4.0, 6.0, 40.0, 30.0]], 3, 0.25, 2, True),
    ("fractional batch index truncates", [[0.7, 1.0, 1.0, 5.0, 4.0]], 2, 1.0, 2, False),
    ("negative fraction truncates to 0", [[-0.5, 1.0, 1.0, 5.0, 4.0]], 2, 1.0, 2, False),
]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name,boxes,output_size,scale,ratio,aligned", _EDGES, ids=[e[0] for e in _EDGES])
def test_edge_cases(name, boxes, output_size, scale, ratio, aligned, dtype):
    x = feature_map(3, (1, 3, 10, 12), dtype)
    r = torch.tensor(boxes, dtype=torch.float64).to(dtype)
    _compare(x, r, output_size, scale, ratio, aligned, dtype)


@pytest.mark.parametrize("dtype", TV_DTYPES, ids=str)
def test_empty_sample_poisoned_by_pixel_zero(dtype):
    # torchvision's pre-computed empty sample multiplies weight 0 with pixel (0, 0): an inf
    # there turns a RoI outside the map into NaN. The reference keeps that quirk.
    x = feature_map(4, (1, 2, 6, 6), dtype)
    x[0, 0, 0, 0] = float("inf")
    r = torch.tensor([[0, -20.0, -20.0, -10.0, -10.0], [0, 1.0, 1.0, 4.0, 4.0]], dtype=dtype)
    out = _compare(x, r, 2, 1.0, 2, False, dtype)
    assert torch.isnan(out[0, 0]).all() and torch.isfinite(out[0, 1]).all()


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_empty_inputs(dtype):
    x = feature_map(5, (2, 3, 8, 8), dtype)
    for boxes in (torch.zeros((0, 5), dtype=dtype), [torch.zeros((0, 4), dtype=dtype)] * 2):
        out = roi_align(x, boxes, (2, 3), 1.0, 2)
        assert out.shape == (0, 3, 2, 3) and out.dtype == dtype
    r = rois(6, 4, 2, 8, 8, "uniform", dtype)
    out = roi_align(x[:, :0], r, 2, 1.0, 2)
    assert out.shape == (4, 0, 2, 2)


@pytest.mark.parametrize("dtype", TV_DTYPES, ids=str)
def test_float16_large_map_rounding(dtype):
    # Coordinates near 300 have a float16 ulp of 0.25: only per-operation rounding as in
    # torchvision gives identical sample positions.
    x = feature_map(7, (1, 4, 40, 320), dtype)
    r = rois(8, 30, 1, 40 * 4, 320 * 4, "mixed", dtype)
    small = rois(9, 30, 1, 40 * 4, 320 * 4, "clustered", dtype)  # adaptive grids stay small
    for aligned in (False, True):
        _compare(x, r, (3, 4), 0.25, 2, aligned, dtype)
        _compare(x, small, (3, 4), 0.25, 0, aligned, dtype)


def test_batch_index_out_of_range_gives_zero_rows():
    # torchvision reads outside the input for such rows (undefined behaviour); the reference
    # returns zeros and leaves the other rows untouched.
    x = feature_map(9, (2, 3, 8, 8), torch.float32)
    r = torch.tensor(
        [[0, 1, 1, 6, 6], [2, 1, 1, 6, 6], [-1, 1, 1, 6, 6], [1, 0, 0, 7, 5], [float("nan"), 1, 1, 2, 2]],
        dtype=torch.float32,
    )
    out = roi_align(x, r, 2, 1.0, 2)
    valid = torch.tensor([0, 3])
    assert torch.equal(out[valid], ops.roi_align(x, r[valid], 2, 1.0, 2))
    assert bool((out[torch.tensor([1, 2, 4])] == 0).all())


def test_nan_roi_coordinates_are_empty_samples():
    # torchvision 0.29 converts NaN sample coordinates to int (it crashes); newer torchvision
    # and the reference treat them as empty samples.
    x = feature_map(10, (1, 2, 6, 6), torch.float32)
    r = torch.tensor([[0, float("nan"), 1.0, 4.0, 4.0]])
    assert bool((roi_align(x, r, 2, 1.0, 2) == 0).all())


def test_detector_sized_subset_matches():
    # One realistic configuration (Mask R-CNN box head) on a smaller map, float32.
    x = feature_map(11, (2, 16, 50, 76), torch.float32)
    r = rois(12, 64, 2, 200, 304, "mixed", torch.float32)
    _compare(x, r, 7, 0.25, 2, False, torch.float32)
    _compare(x, r, 14, 0.25, 2, True, torch.float32)


def test_module_and_repr():
    x = feature_map(13, (1, 3, 9, 9), torch.float32)
    r = rois(14, 5, 1, 9, 9, "uniform", torch.float32)
    for args in [((2, 3), 1.0, 2, False), (4, 0.5, -1, True)]:
        ours, theirs = RoIAlign(*args), ops.RoIAlign(*args)
        assert repr(ours) == repr(theirs)
        assert torch.equal(ours(x, r), theirs(x, r))
    assert "output_size" in (RoIAlign.__doc__ or "") or "Shapes" in (RoIAlign.__doc__ or "")


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda x, r: roi_align(x[0], r, 2), ValueError, r"input must be a 4-D tensor.*input.shape"),
        (lambda x, r: roi_align(x, r[:, 1:], 2), ValueError, r"boxes.*\[K, 5\].*boxes.shape=\(3, 4\)"),
        (lambda x, r: roi_align(x, [r], 2), ValueError, r"boxes\[0\].*\[L, 4\]"),
        (lambda x, r: roi_align(x, "boxes", 2), TypeError, r"boxes.*got boxes=str"),
        (lambda x, r: roi_align(x, [], 2), ValueError, r"boxes=\[\]"),
        (lambda x, r: roi_align(x, r, 0), ValueError, r"output_size=0"),
        (lambda x, r: roi_align(x, r, (2, 3, 4)), ValueError, r"output_size=\(2, 3, 4\)"),
        (lambda x, r: roi_align(x, r, 2.5), TypeError, r"output_size=2.5"),
        (lambda x, r: roi_align(x, r, 2, "1"), TypeError, r"spatial_scale='1'"),
        (lambda x, r: roi_align(x, r, 2, 1.0, 1.5), TypeError, r"sampling_ratio=1.5"),
        (lambda x, r: roi_align(x, r, 2, 1.0, 2, 1), TypeError, r"aligned=1"),
        (lambda x, r: roi_align(x, r.double(), 2), TypeError, r"boxes.dtype=torch.float64"),
        (lambda x, r: roi_align(x.int(), r, 2), TypeError, r"input.dtype=torch.int32"),
        (lambda x, r: RoIAlign(0, 1.0, 2), ValueError, r"output_size=0"),
    ],
)
def test_invalid_arguments(call, exc, match):
    x = feature_map(15, (1, 2, 5, 5), torch.float32)
    r = rois(16, 3, 1, 5, 5, "uniform", torch.float32)
    with pytest.raises(exc, match=match):
        call(x, r)
