"""trtops.ops.roi_align (host implementation and CUDA kernels) against torchvision.ops.roi_align.

CPU tier: the host implementation shares the kernels' per-element math; float32/float64 must be
bit-identical to torchvision's CPU kernel (same formulas, same order of additions) with a fixed
sampling_ratio, and equal up to the order of additions with adaptive grids (summed by rows of
columns; tolerances.host_vs_torchvision); float16 and bfloat16 within the tolerance table of a
float64 evaluation of the same rounded inputs.
GPU tier: the CUDA kernels (NCHW chunk kernel, NHWC vector and scalar kernels) against torchvision
CUDA and the float64 evaluation, random and adversarial RoIs, poisoned outputs, graph capture.
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.ops as tv
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    from tests.tolerances import host_vs_torchvision, tolerance
except ImportError:  # tests/ itself on sys.path
    from tolerances import host_vs_torchvision, tolerance
from trtops.ops import _roi as trt

OP = "roi_align"
SCALES = (0.25, 0.5, 1.0, 2.0)  # dyadic: float32 and float64 scale products are exact
LOW_PRECISION = (torch.float16, torch.bfloat16)


def make_features(gen: torch.Generator, shape, dtype=torch.float32) -> torch.Tensor:
    """Random non-zero features (never all zeros), rounded to `dtype`."""
    return (torch.randn(shape, generator=gen, dtype=torch.float64) + 0.25).to(dtype)


def make_rois(gen: torch.Generator, k: int, batch: int, height: int, width: int, scale: float) -> torch.Tensor:
    """Rows (batch, x1, y1, x2, y2) in image coordinates: mostly inside the map, some crossing the
    borders, some degenerate (x2 <= x1)."""
    u = torch.rand((k, 4), generator=gen, dtype=torch.float64)
    x1 = (u[:, 0] * 1.4 - 0.2) * width
    y1 = (u[:, 1] * 1.4 - 0.2) * height
    x2 = x1 + (u[:, 2] * 1.2 - 0.1) * width
    y2 = y1 + (u[:, 3] * 1.2 - 0.1) * height
    b = torch.randint(0, batch, (k,), generator=gen).to(torch.float64)
    return torch.stack([b, x1 / scale, y1 / scale, x2 / scale, y2 / scale], dim=1).to(torch.float32)


def valid_rows(rois: torch.Tensor, batch: int) -> torch.Tensor:
    """Rows torchvision can evaluate: batch index (truncated) in [0, batch), finite coordinates."""
    r = rois.double()
    return (r[:, 0] > -1) & (r[:, 0] < batch) & torch.isfinite(r[:, 1:]).all(dim=1)


def oracle(x: torch.Tensor, rois: torch.Tensor, *args, dtype=None) -> torch.Tensor:
    """torchvision on the valid rows (at `dtype`, default the input's), zeros for invalid rows."""
    dtype = dtype or x.dtype
    ok = valid_rows(rois.cpu(), x.shape[0]).to(rois.device)
    out = torch.zeros((rois.shape[0], x.shape[1], *_pair(args[0])), dtype=dtype, device=x.device)
    if ok.any():
        out[ok] = tv.roi_align(x.to(dtype), rois[ok].to(dtype), *args)
    return out


def _pair(s):
    return (s, s) if isinstance(s, int) else tuple(s)


def poisoned_out(shape, dtype, device="cpu", channels_last=False) -> torch.Tensor:
    k, c, ph, pw = shape
    if channels_last:
        return torch.full((k, ph, pw, c), float("nan"), dtype=dtype, device=device).permute(0, 3, 1, 2)
    return torch.full(shape, float("nan"), dtype=dtype, device=device)


# ----- CPU tier ---------------------------------------------------------------------------------

case = st.fixed_dictionaries(
    {
        "n": st.integers(1, 2),
        "c": st.integers(1, 5),
        "h": st.integers(1, 11),
        "w": st.integers(1, 11),
        "k": st.integers(0, 6),
        "ph": st.integers(1, 4),
        "pw": st.integers(1, 4),
        "sr": st.integers(-1, 3),
        "aligned": st.booleans(),
        "scale": st.sampled_from(SCALES),
        "channels_last": st.booleans(),
        "seed": st.integers(0, 2**31 - 1),
    }
)


@pytest.mark.kernels
@settings(max_examples=150, deadline=None, derandomize=True)
@given(p=case)
def test_host_matches_torchvision(p):
    gen = torch.Generator().manual_seed(p["seed"])
    for dtype in (torch.float64, torch.float32):
        x = make_features(gen, (p["n"], p["c"], p["h"], p["w"]), dtype)
        rois = make_rois(gen, p["k"], p["n"], p["h"], p["w"], p["scale"]).to(dtype)
        args = ((p["ph"], p["pw"]), p["scale"], p["sr"], p["aligned"])
        expected = tv.roi_align(x, rois, *args)
        if p["channels_last"]:
            x = x.to(memory_format=torch.channels_last)
        out = poisoned_out(expected.shape, dtype, channels_last=not x.is_contiguous())
        actual = trt.roi_align(x, rois, *args, _out=out)
        torch.testing.assert_close(actual, expected, **host_vs_torchvision(OP, dtype, p["sr"]))


@pytest.mark.kernels
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_host_large_adaptive_grids_match_torchvision(dtype, aligned, channels_last):
    # The random cases above have maps of at most 11x11 cells, so their adaptive grids are a few
    # samples wide. Here bins hold up to ~40x40 samples, and RoIs cross every border, so each
    # merged row and column weight of the separable sum (first, last, clamped lines) is checked.
    gen = torch.Generator().manual_seed(11)
    x = make_features(gen, (2, 5, 61, 83), dtype)
    rois = torch.tensor(
        [
            [0, 0.0, 0.0, 166.0, 122.0],  # the whole map
            [1, -30.0, -20.0, 150.0, 90.0],  # crosses the top-left border
            [0, 40.0, 50.0, 200.0, 140.0],  # crosses the bottom-right border
            [1, 3.3, 7.9, 11.1, 8.3],  # thinner than a cell
            [0, 101.7, 13.2, 164.9, 121.5],
        ],
        dtype=dtype,
    )
    expected = tv.roi_align(x, rois, (3, 2), 0.5, 0, aligned)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    out = poisoned_out(expected.shape, dtype, channels_last=channels_last)
    actual = trt.roi_align(x, rois, (3, 2), 0.5, 0, aligned, _out=out)
    torch.testing.assert_close(actual, expected, **host_vs_torchvision(OP, dtype, 0))


@pytest.mark.kernels
@settings(max_examples=60, deadline=None, derandomize=True)
@given(p=case, dtype=st.sampled_from(LOW_PRECISION), float32_rois=st.booleans())
def test_host_low_precision_within_tolerance(p, dtype, float32_rois):
    gen = torch.Generator().manual_seed(p["seed"])
    x = make_features(gen, (p["n"], p["c"], p["h"], p["w"]), dtype)
    rois = make_rois(gen, p["k"], p["n"], p["h"], p["w"], p["scale"])
    rois = rois if float32_rois else rois.to(dtype)
    args = ((p["ph"], p["pw"]), p["scale"], p["sr"], p["aligned"])
    if p["channels_last"]:
        x = x.to(memory_format=torch.channels_last)
    actual = trt.roi_align(x, rois, *args)
    assert actual.dtype == dtype
    expected = tv.roi_align(x.double(), rois.double(), *args)
    torch.testing.assert_close(actual.double(), expected, **tolerance(OP, dtype))


# Hand-written edge cases on a 2x3x6x8 map, spatial_scale 0.5 (image coordinates = 2x map).
EDGE_ROWS = {
    "inside": [0, 2.0, 2.0, 10.0, 8.0],
    "crossing_left_top": [1, -6.0, -5.0, 4.0, 3.0],
    "crossing_right_bottom": [0, 10.0, 8.0, 30.0, 20.0],
    "fully_outside": [1, 40.0, 30.0, 60.0, 50.0],
    "on_minus_one_border": [0, -2.0, -2.0, -2.0, -2.0],
    "zero_area": [0, 6.0, 6.0, 6.0, 6.0],
    "negative_size": [1, 10.0, 9.0, 2.0, 1.0],
    "whole_map": [0, 0.0, 0.0, 16.0, 12.0],
    "huge": [1, -400.0, -300.0, 500.0, 400.0],
    "tiny": [0, 3.0, 3.0, 3.01, 3.02],
    "fractional_batch_truncates": [1.9, 1.0, 2.0, 9.0, 7.0],
    "negative_fraction_batch_is_zero": [-0.5, 1.0, 2.0, 9.0, 7.0],
}
ZERO_ROWS = {
    "batch_minus_one": [-1, 2.0, 2.0, 10.0, 8.0],
    "batch_equals_n": [2, 2.0, 2.0, 10.0, 8.0],
    "batch_huge": [1e10, 2.0, 2.0, 10.0, 8.0],
    "batch_nan": [float("nan"), 2.0, 2.0, 10.0, 8.0],
    "x1_nan": [0, float("nan"), 2.0, 10.0, 8.0],
    "y2_nan": [0, 2.0, 2.0, 10.0, float("nan")],
    "x2_inf": [0, 2.0, 2.0, float("inf"), 8.0],
    "y1_minus_inf": [1, 2.0, float("-inf"), 10.0, 8.0],
}


@pytest.mark.kernels
@pytest.mark.parametrize("name", sorted(EDGE_ROWS))
@pytest.mark.parametrize("sr", [-1, 2])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_host_edge_rows_match_torchvision(name, sr, aligned, channels_last):
    gen = torch.Generator().manual_seed(7)
    x = make_features(gen, (2, 3, 6, 8))
    rois = torch.tensor([EDGE_ROWS[name]], dtype=torch.float32)
    expected = tv.roi_align(x, rois, (3, 2), 0.5, sr, aligned)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    out = poisoned_out(expected.shape, torch.float32, channels_last=channels_last)
    actual = trt.roi_align(x, rois, (3, 2), 0.5, sr, aligned, _out=out)
    torch.testing.assert_close(actual, expected, **host_vs_torchvision(OP, torch.float32, sr))


@pytest.mark.kernels
@pytest.mark.parametrize("name", sorted(ZERO_ROWS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_host_bad_batch_index_or_non_finite_gives_zeros(name, dtype, channels_last):
    gen = torch.Generator().manual_seed(8)
    x = make_features(gen, (2, 3, 6, 8), dtype)
    good = torch.tensor([EDGE_ROWS["inside"]], dtype=torch.float32)
    rois = torch.cat([good, torch.tensor([ZERO_ROWS[name]]), good]).to(dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    out = poisoned_out((3, 3, 2, 2), dtype, channels_last=channels_last)
    for sr in (-1, 2):
        actual = trt.roi_align(x, rois, 2, 0.5, sr, False, _out=out)
        assert torch.equal(actual[1], torch.zeros_like(actual[1]))
        expected = tv.roi_align(x.double(), good.double(), 2, 0.5, sr, False)
        torch.testing.assert_close(actual[0::2].double(), expected.expand(2, -1, -1, -1), **tolerance(OP, dtype))


def check_nan_feature_reaches_only_bins_that_read_it(device: str, sr: int, channels_last: bool) -> None:
    # Samples off the map add exactly 0 (torchvision's CUDA kernel). torchvision's CPU kernel
    # differs here: it multiplies a zero weight by the channel's first pixel, so its bins with an
    # outside sample become NaN when pixel (0, 0) is NaN (documented in roi_align.h).
    x = torch.ones((1, 16, 8, 8), device=device)  # 16 channels: the vector kernels on CUDA
    x[0, 0, 0, 0] = float("nan")
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    rois = torch.tensor([[0, 2.0, 2.0, 6.0, 6.0], [0, 10.0, 10.0, 14.0, 14.0], [0, 0.0, 0.0, 3.0, 3.0]], device=device)
    out = trt.roi_align(x, rois, 2, 1.0, sr, False).cpu()
    assert torch.equal(out[0], torch.ones((16, 2, 2)))  # on the map, away from (0, 0)
    assert torch.equal(out[1], torch.zeros((16, 2, 2)))  # every sample off the map
    assert torch.isnan(out[2, 0, 0, 0]) and torch.equal(out[2, 1:, 0, 0], torch.ones(15))  # NaN in channel 0 only


@pytest.mark.kernels
@pytest.mark.parametrize("sr", [0, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_host_nan_feature_reaches_only_bins_that_read_it(sr, channels_last):
    check_nan_feature_reaches_only_bins_that_read_it("cpu", sr, channels_last)


@pytest.mark.kernels
def test_host_list_of_boxes_and_module():
    gen = torch.Generator().manual_seed(9)
    x = make_features(gen, (2, 4, 9, 7))
    boxes = [make_rois(gen, 3, 1, 9, 7, 1.0)[:, 1:], make_rois(gen, 2, 1, 9, 7, 1.0)[:, 1:]]
    expected = tv.roi_align(x, boxes, 3, 1.0, 2, True)
    torch.testing.assert_close(trt.roi_align(x, boxes, 3, 1.0, 2, True), expected, atol=0, rtol=0)
    module = trt.RoIAlign(3, 1.0, 2, True)
    torch.testing.assert_close(module(x, boxes), expected, atol=0, rtol=0)
    assert "RoIAlign(output_size=3" in repr(module)


@pytest.mark.kernels
def test_host_empty_inputs():
    x = make_features(torch.Generator().manual_seed(1), (1, 3, 5, 5))
    assert trt.roi_align(x, torch.zeros((0, 5)), 2).shape == (0, 3, 2, 2)
    rois = torch.tensor([[0, 1.0, 1.0, 3.0, 3.0]])
    assert trt.roi_align(x[:, :0], rois, 2).shape == (1, 0, 2, 2)
    # A map with no pixels: every sample is outside.
    out = trt.roi_align(torch.zeros((1, 3, 0, 4)), rois, 2)
    assert torch.equal(out, torch.zeros((1, 3, 2, 2)))


@pytest.mark.kernels
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"boxes": torch.zeros((2, 4))}, ValueError, r"roi_align: rois must have shape \[K, 5\]"),
        ({"output_size": 0}, ValueError, r"roi_align: output_size must be positive"),
        ({"output_size": (2, -1)}, ValueError, r"roi_align: output_size must be positive"),
        ({"output_size": 2.5}, TypeError, r"roi_align: output_size must be an int"),
        ({"spatial_scale": 0.0}, ValueError, r"roi_align: spatial_scale must be finite and positive, got 0"),
        ({"spatial_scale": math.nan}, ValueError, r"roi_align: spatial_scale must be finite and positive"),
        ({"sampling_ratio": 5000}, ValueError, r"roi_align: sampling_ratio must be at most 1024, got 5000"),
        ({"input": torch.zeros((3, 5, 5))}, ValueError, r"roi_align: input must have shape \[N, C, H, W\]"),
        ({"input": torch.zeros((1, 3, 5, 5), dtype=torch.int32)}, TypeError, r"roi_align: input has unsupported dtype"),
        ({"boxes": torch.zeros((1, 5), dtype=torch.float64)}, TypeError, r"roi_align: rois has dtype torch.float64"),
        ({"_out": torch.zeros((1, 3, 3, 3))}, ValueError, r"roi_align: _out must be a torch.float32 tensor of shape"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    args = {
        "input": torch.ones((1, 3, 5, 5)),
        "boxes": torch.tensor([[0, 1.0, 1.0, 3.0, 3.0]]),
        "output_size": 2,
        "spatial_scale": 1.0,
        "sampling_ratio": 2,
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        trt.roi_align(**args)


@pytest.mark.kernels
@settings(max_examples=25, deadline=None, derandomize=True)
@given(p=case, dtype=st.sampled_from([torch.float64, torch.float32, torch.bfloat16]))
def test_host_matches_trtops_reference(p, dtype):
    # float16 is left out: the reference reproduces torchvision's float16 arithmetic (rounding
    # after each operation); the kernels accumulate in float32 and are checked against float64.
    reference = pytest.importorskip("trtops.reference")
    gen = torch.Generator().manual_seed(p["seed"])
    x = make_features(gen, (p["n"], p["c"], p["h"], p["w"]), dtype)
    rois = make_rois(gen, p["k"], p["n"], p["h"], p["w"], p["scale"]).to(dtype)
    args = ((p["ph"], p["pw"]), p["scale"], p["sr"], p["aligned"])
    expected = reference.roi_align(x, rois, *args)
    torch.testing.assert_close(trt.roi_align(x, rois, *args), expected, **tolerance(OP, dtype))


# ----- GPU tier ---------------------------------------------------------------------------------

ALL_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def adversarial_rois(gen: torch.Generator, k: int, batch: int, height: int, width: int, scale: float) -> torch.Tensor:
    """Random RoIs plus every edge row, bad batch indices and non-finite coordinates."""
    rois = make_rois(gen, k, batch, height, width, scale)
    s = 1.0 / scale
    extra = torch.tensor(
        [
            [0, -50 * s, -50 * s, -40 * s, -40 * s],  # outside
            [1 % batch, 5 * s, 5 * s, 5 * s, 5 * s],  # zero area
            [0, 9 * s, 9 * s, 2 * s, 1 * s],  # negative size
            [batch - 1, -3 * width * s, -3 * height * s, 4 * width * s, 4 * height * s],  # huge
            [batch, 1.0, 1.0, 9.0, 9.0],  # bad batch
            [-1, 1.0, 1.0, 9.0, 9.0],
            [float("nan"), 1.0, 1.0, 9.0, 9.0],
            [0, float("nan"), 1.0, 9.0, 9.0],
            [0, 1.0, 1.0, float("inf"), 9.0],
        ],
        dtype=torch.float32,
    )
    return torch.cat([rois, extra])


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("channels", [1, 7, 8, 64, 256])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("sr, aligned", [(2, False), (0, False), (-1, True), (3, True)])
def test_cuda_matches_torchvision_and_float64(dtype, channels, channels_last, sr, aligned):
    gen = torch.Generator().manual_seed(channels * 31 + sr)
    n, h, w, scale = 2, 37, 45, 0.25
    x = make_features(gen, (n, channels, h, w), dtype)
    rois = adversarial_rois(gen, 200, n, h, w, scale)
    args = ((7, 5), scale, sr, aligned)
    expected64 = oracle(x, rois, *args, dtype=torch.float64)
    xd, rd = x.cuda(), rois.cuda()
    if channels_last:
        xd = xd.to(memory_format=torch.channels_last)
    out = poisoned_out(expected64.shape, dtype, "cuda", not xd.is_contiguous())
    actual = trt.roi_align(xd, rd, *args, _out=out)
    torch.cuda.synchronize()
    assert not torch.isnan(actual).any()
    torch.testing.assert_close(actual.cpu().double(), expected64, **tolerance(OP, dtype))
    if dtype in (torch.float32, torch.float64):
        ok = valid_rows(rois, n).cuda()
        expected_tv = tv.roi_align(x.cuda(), rd[ok].to(dtype), *args)
        torch.testing.assert_close(actual[ok], expected_tv, **tolerance(OP, dtype))
    # Host and CUDA kernels compute the same math on the same (float32) RoIs.
    host = trt.roi_align(x, rois, *args)
    torch.testing.assert_close(actual.cpu().double(), host.double(), **tolerance(OP, dtype))


@pytest.mark.gpu
@pytest.mark.parametrize("sr", [0, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_nan_feature_reaches_only_bins_that_read_it(sr, channels_last):
    check_nan_feature_reaches_only_bins_that_read_it("cuda", sr, channels_last)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_rois_in_feature_dtype(dtype):
    gen = torch.Generator().manual_seed(3)
    x = make_features(gen, (1, 16, 20, 20), dtype).cuda()
    rois = make_rois(gen, 50, 1, 20, 20, 1.0).to(dtype).cuda()
    actual = trt.roi_align(x, rois, 7, 1.0, 2, True)
    expected = tv.roi_align(x.double(), rois.double(), 7, 1.0, 2, True)
    torch.testing.assert_close(actual.double(), expected, **tolerance(OP, dtype))


@pytest.mark.gpu
def test_cuda_misaligned_channels_last_uses_scalar_path():
    # A channels-last view whose data pointer is not 16-byte aligned: the vector path must not run.
    gen = torch.Generator().manual_seed(4)
    base = make_features(gen, (1 * 9 * 11 * 8 + 1,), torch.float16).cuda()
    x = base[1:].view(1, 9, 11, 8).permute(0, 3, 1, 2)
    rois = make_rois(gen, 20, 1, 9, 11, 1.0).cuda()
    actual = trt.roi_align(x, rois, 3, 1.0, 2, False)
    expected = tv.roi_align(x.double(), rois.double(), 3, 1.0, 2, False)
    torch.testing.assert_close(actual.double(), expected, **tolerance(OP, torch.float16))


@pytest.mark.gpu
def test_cuda_empty_and_graph_capture():
    x = make_features(torch.Generator().manual_seed(5), (2, 32, 25, 25)).cuda()
    assert trt.roi_align(x, torch.zeros((0, 5), device="cuda"), 7).shape == (0, 32, 7, 7)
    rois = make_rois(torch.Generator().manual_seed(6), 64, 2, 25, 25, 1.0).cuda()
    out = torch.full((64, 32, 7, 7), float("nan"), device="cuda")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(stream):
        trt.roi_align(x, rois, 7, 1.0, 2, False, _out=out)  # warm-up outside capture
        with torch.cuda.graph(graph, stream=stream):
            trt.roi_align(x, rois, 7, 1.0, 2, False, _out=out)
    out.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(out, tv.roi_align(x, rois, 7, 1.0, 2, False), **tolerance(OP, torch.float32))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
@pytest.mark.parametrize("channels", [3, 64, 260])
def test_cuda_nchw_direct_and_channels_last_copy_paths(dtype, channels):
    # NCHW input takes one of two paths: few RoIs on a large map gather straight from NCHW; many
    # RoIs first copy the map to channels-last in the workspace. Both must equal float64 and each
    # other, and a null workspace (C ABI) must force the direct path.
    import ctypes

    from trtops import _native
    from trtops.ops import _tensor

    gen = torch.Generator().manual_seed(channels)
    n, h, w, scale = 2, 61, 83, 0.5
    x = make_features(gen, (n, channels, h, w), dtype)
    args = ((7, 7), scale, 2, True)
    for k in (3, 900):  # 3 * 49 * 16 gathers < 2 * 61 * 83 pixels < 900 * 49 * 16
        rois = adversarial_rois(gen, k, n, h, w, scale)
        expected64 = oracle(x, rois, *args, dtype=torch.float64)
        xd, rd = x.cuda(), rois.cuda()
        out = poisoned_out(expected64.shape, dtype, "cuda")
        actual = trt.roi_align(xd, rd, *args, _out=out)
        torch.testing.assert_close(actual.cpu().double(), expected64, **tolerance(OP, dtype))

        direct = poisoned_out(expected64.shape, dtype, "cuda")
        status = trt._function("trtops_roi_align")(
            _tensor.pointer(xd), _tensor.pointer(rd), _tensor.pointer(direct),
            _tensor.dtype_code(xd, OP, "input"), _tensor.dtype_code(rd, OP, "rois"), _native.LAYOUT_CODES["NCHW"],
            n, channels, h, w, rois.size(0), 7, 7, scale, 2, 1, ctypes.c_void_p(0), 1,
            ctypes.c_void_p(torch.cuda.current_stream().cuda_stream),
        )
        assert status == 0
        torch.testing.assert_close(direct.cpu().double(), expected64, **tolerance(OP, dtype))
        torch.testing.assert_close(direct, actual, **tolerance(OP, dtype))


@pytest.mark.kernels
def test_workspace_size_covers_the_channels_last_copy_only_when_it_pays():
    # The C ABI asks for one channels-last copy of an NCHW map when enough RoI samples land on it,
    # nothing for few RoIs or NHWC input, and never less for more RoIs (TensorRT sizes the
    # workspace at the largest RoI count).
    import ctypes

    from trtops import _native

    fn = trt._function("trtops_roi_align_workspace_size")
    fp16 = _native.DTYPE_CODES["float16"]

    def size(layout: str, num_rois: int, sampling_ratio: int = 2, dtype: int = fp16) -> int:
        out = ctypes.c_uint64(12345)
        assert fn(dtype, _native.LAYOUT_CODES[layout], 2, 256, 200, 304, num_rois, 7, 7, sampling_ratio,
                  ctypes.byref(out)) == 0
        return out.value

    copy_bytes = 2 * 256 * 200 * 304 * 2
    assert size("NCHW", 1000) == copy_bytes
    assert size("NCHW", 1000, sampling_ratio=0) == copy_bytes
    assert size("NCHW", 10) == 0
    assert size("NHWC", 1000) == 0
    sizes = [size("NCHW", k) for k in range(0, 200, 7)]
    assert sizes == sorted(sizes) and sizes[0] == 0 and sizes[-1] == copy_bytes
    bad = ctypes.c_uint64(0)
    status = fn(fp16, _native.LAYOUT_CODES["NCHW"], 2, 256, 200, 304, 10, 0, 7, 2, ctypes.byref(bad))
    with pytest.raises(ValueError, match="roi_align"):
        _native.check_status(status)


@pytest.mark.kernels
def test_torch_wrapper_workspace_helper_follows_the_c_abi():
    # roi_align's CUDA path allocates what this helper returns for (dtype, layout, N, C, H, W, K, ph, pw, sr).
    from trtops import _native

    fp16, nchw, nhwc = _native.DTYPE_CODES["float16"], _native.LAYOUT_CODES["NCHW"], _native.LAYOUT_CODES["NHWC"]

    def workspace_bytes(*dims: int) -> int:
        return trt._workspace_bytes("trtops_roi_align_workspace_size", *dims)

    assert workspace_bytes(fp16, nchw, 2, 16, 50, 60, 100, 7, 5, 2) == 2 * 16 * 50 * 60 * 2
    assert workspace_bytes(fp16, nchw, 2, 16, 50, 60, 2, 7, 5, 2) == 0  # few RoIs: direct gather
    assert workspace_bytes(fp16, nhwc, 2, 16, 50, 60, 100, 7, 5, 2) == 0
    assert workspace_bytes(fp16, nchw, 2, 16, 50, 60, 100, 0, 5, 2) == 0  # invalid: the op raises
