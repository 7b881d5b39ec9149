"""trtops.ops.ps_roi_align (host implementation and CUDA kernels) against torchvision.ops.ps_roi_align.

CPU tier: float32/float64 bit-identical to torchvision's CPU kernel with a fixed sampling_ratio
(equal up to the order of additions with adaptive grids), float16/bfloat16 within the tolerance
table of a float64 evaluation. GPU tier: kernels vs torchvision CUDA and float64, both
layouts, adversarial RoIs, poisoned outputs.
"""

from __future__ import annotations

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

OP = "ps_roi_align"
SCALES = (0.25, 0.5, 1.0, 2.0)
NAN = float("nan")


def make_features(gen, shape, dtype=torch.float32):
    return (torch.randn(shape, generator=gen, dtype=torch.float64) + 0.25).to(dtype)


def make_rois(gen, k, batch, height, width, scale):
    u = torch.rand((k, 4), generator=gen, dtype=torch.float64)
    x1 = (u[:, 0] * 1.4 - 0.2) * width
    y1 = (u[:, 1] * 1.4 - 0.2) * height
    # Positive sizes: torchvision's ps_roi_align divides by a zero sample count (NaN) for RoIs of
    # size <= 0 with adaptive sampling; that case has its own test.
    x2 = x1 + (u[:, 2] * 1.1 + 0.05) * width
    y2 = y1 + (u[:, 3] * 1.1 + 0.05) * height
    b = torch.randint(0, batch, (k,), generator=gen).to(torch.float64)
    return torch.stack([b, x1 / scale, y1 / scale, x2 / scale, y2 / scale], dim=1).to(torch.float32)


def valid_rows(rois, batch):
    r = rois.double()
    return (r[:, 0] > -1) & (r[:, 0] < batch) & torch.isfinite(r[:, 1:]).all(dim=1)


def poisoned_out(shape, dtype, device="cpu", channels_last=False):
    k, c, ph, pw = shape
    if channels_last:
        return torch.full((k, ph, pw, c), NAN, dtype=dtype, device=device).permute(0, 3, 1, 2)
    return torch.full(shape, NAN, dtype=dtype, device=device)


case = st.fixed_dictionaries(
    {
        "n": st.integers(1, 2),
        "groups": st.integers(1, 3),
        "h": st.integers(1, 11),
        "w": st.integers(1, 11),
        "k": st.integers(0, 6),
        "ph": st.integers(1, 3),
        "pw": st.integers(1, 3),
        "sr": st.integers(-1, 3),
        "scale": st.sampled_from(SCALES),
        "channels_last": st.booleans(),
        "seed": st.integers(0, 2**31 - 1),
    }
)


@pytest.mark.kernels
@settings(max_examples=120, deadline=None, derandomize=True)
@given(p=case)
def test_host_matches_torchvision(p):
    gen = torch.Generator().manual_seed(p["seed"])
    c = p["groups"] * p["ph"] * p["pw"]
    for dtype in (torch.float64, torch.float32):
        x = make_features(gen, (p["n"], c, p["h"], p["w"]), dtype)
        rois = make_rois(gen, p["k"], p["n"], p["h"], p["w"], p["scale"]).to(dtype)
        args = ((p["ph"], p["pw"]), p["scale"], p["sr"])
        expected = tv.ps_roi_align(x, rois, *args)
        if p["channels_last"]:
            x = x.to(memory_format=torch.channels_last)
        out = poisoned_out(expected.shape, dtype, channels_last=not x.is_contiguous())
        actual = trt.ps_roi_align(x, rois, *args, _out=out)
        torch.testing.assert_close(actual, expected, **host_vs_torchvision(OP, dtype, p["sr"]))


@pytest.mark.kernels
@settings(max_examples=25, deadline=None, derandomize=True)
@given(p=case, dtype=st.sampled_from([torch.float16, torch.bfloat16]), float32_rois=st.booleans())
def test_host_low_precision_within_tolerance(p, dtype, float32_rois):
    gen = torch.Generator().manual_seed(p["seed"])
    c = p["groups"] * p["ph"] * p["pw"]
    x = make_features(gen, (p["n"], c, p["h"], p["w"]), dtype)
    rois = make_rois(gen, p["k"], p["n"], p["h"], p["w"], p["scale"])
    rois = rois if float32_rois else rois.to(dtype)
    args = ((p["ph"], p["pw"]), p["scale"], p["sr"])
    actual = trt.ps_roi_align(x, rois, *args)
    expected = tv.ps_roi_align(x.double(), rois.double(), *args)
    torch.testing.assert_close(actual.double(), expected, **tolerance(OP, dtype))


EDGE_ROWS = {
    "inside": [0, 2.0, 2.0, 10.0, 8.0],
    "crossing": [1, -6.0, -5.0, 30.0, 20.0],
    "fully_outside": [1, 40.0, 30.0, 60.0, 50.0],
    "whole_map": [0, 0.0, 0.0, 16.0, 12.0],
    "huge": [1, -400.0, -300.0, 500.0, 400.0],
    "zero_area": [0, 6.0, 6.0, 6.0, 6.0],  # adaptive sampling: 0 / 0 = NaN, as torchvision
    "negative_size": [1, 10.0, 9.0, 2.0, 1.0],
    "fractional_batch": [1.7, 1.0, 2.0, 9.0, 7.0],
}


@pytest.mark.kernels
@pytest.mark.parametrize("name", sorted(EDGE_ROWS))
@pytest.mark.parametrize("sr", [-1, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_host_edge_rows_match_torchvision(name, sr, channels_last):
    gen = torch.Generator().manual_seed(7)
    x = make_features(gen, (2, 12, 6, 8))
    rois = torch.tensor([EDGE_ROWS[name]], dtype=torch.float32)
    expected = tv.ps_roi_align(x, rois, (3, 2), 0.5, sr)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    actual = trt.ps_roi_align(x, rois, (3, 2), 0.5, sr)
    torch.testing.assert_close(actual, expected, **host_vs_torchvision(OP, torch.float32, sr), equal_nan=True)


@pytest.mark.kernels
@pytest.mark.parametrize(
    "row",
    [
        [-1, 2.0, 2.0, 10.0, 8.0],
        [2, 2.0, 2.0, 10.0, 8.0],
        [NAN, 2.0, 2.0, 10.0, 8.0],
        [0, NAN, 2.0, 10.0, 8.0],
        [0, 2.0, 2.0, 10.0, float("inf")],
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_host_bad_rows_give_zeros(row, dtype):
    x = make_features(torch.Generator().manual_seed(8), (2, 8, 6, 8), dtype)
    rois = torch.tensor([row], dtype=torch.float32)
    actual = trt.ps_roi_align(x, rois, 2, 0.5, 2, _out=poisoned_out((1, 2, 2, 2), dtype))
    assert torch.equal(actual, torch.zeros_like(actual))


@pytest.mark.kernels
def test_host_module_and_list_boxes():
    gen = torch.Generator().manual_seed(9)
    x = make_features(gen, (2, 8, 9, 7))
    boxes = [make_rois(gen, 3, 1, 9, 7, 1.0)[:, 1:], make_rois(gen, 2, 1, 9, 7, 1.0)[:, 1:]]
    expected = tv.ps_roi_align(x, boxes, 2, 1.0, 2)
    module = trt.PSRoIAlign(2, 1.0, 2)
    torch.testing.assert_close(module(x, boxes), expected, atol=0, rtol=0)
    assert "PSRoIAlign(output_size=2" in repr(module)


@pytest.mark.kernels
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"input": torch.ones((1, 6, 5, 5))}, ValueError, r"ps_roi_align: input channels must be .* = 4, got 6"),
        ({"boxes": torch.zeros((2, 6))}, ValueError, r"ps_roi_align: rois must have shape \[K, 5\]"),
        ({"output_size": (0, 2)}, ValueError, r"ps_roi_align: output_size must be positive"),
        ({"spatial_scale": -1.0}, ValueError, r"ps_roi_align: spatial_scale must be finite and positive"),
        ({"sampling_ratio": 2048}, ValueError, r"ps_roi_align: sampling_ratio must be at most 1024"),
        ({"input": torch.ones((1, 4, 5, 5), dtype=torch.int64)}, TypeError, r"ps_roi_align: input has unsupported"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    args = {"input": torch.ones((1, 8, 5, 5)), "boxes": torch.tensor([[0, 1.0, 1.0, 3.0, 3.0]]), "output_size": 2,
            "spatial_scale": 1.0, "sampling_ratio": 2}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        trt.ps_roi_align(**args)


@pytest.mark.kernels
@settings(max_examples=25, deadline=None, derandomize=True)
@given(p=case, dtype=st.sampled_from([torch.float64, torch.float32, torch.bfloat16]))
def test_host_matches_trtops_reference(p, dtype):
    # float16 is left out: the reference reproduces torchvision's float16 arithmetic (rounding
    # after each operation); the kernels accumulate in float32 and are checked against float64.
    reference = pytest.importorskip("trtops.reference")
    gen = torch.Generator().manual_seed(p["seed"])
    x = make_features(gen, (p["n"], p["groups"] * p["ph"] * p["pw"], p["h"], p["w"]), dtype)
    rois = make_rois(gen, p["k"], p["n"], p["h"], p["w"], p["scale"]).to(dtype)
    args = ((p["ph"], p["pw"]), p["scale"], p["sr"])
    expected = reference.ps_roi_align(x, rois, *args)
    torch.testing.assert_close(trt.ps_roi_align(x, rois, *args), expected, **tolerance(OP, dtype))


# ----- GPU tier ---------------------------------------------------------------------------------


def adversarial_rois(gen, k, batch, height, width, scale):
    s = 1.0 / scale
    extra = torch.tensor(
        [
            [0, -50 * s, -50 * s, -40 * s, -40 * s],
            [batch - 1, -3 * width * s, -3 * height * s, 4 * width * s, 4 * height * s],
            [batch, 1.0, 1.0, 9.0, 9.0],
            [-1, 1.0, 1.0, 9.0, 9.0],
            [NAN, 1.0, 1.0, 9.0, 9.0],
            [0, NAN, 1.0, 9.0, 9.0],
        ]
    )
    return torch.cat([make_rois(gen, k, batch, height, width, scale), extra])


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("groups", [1, 3, 21])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("sr", [2, 0])
def test_cuda_matches_torchvision_and_float64(dtype, groups, channels_last, sr):
    gen = torch.Generator().manual_seed(groups * 7 + sr)
    n, h, w, scale, ph, pw = 1, 63, 38, 0.0625, 7, 7
    x = make_features(gen, (n, groups * ph * pw, h, w), dtype)
    rois = adversarial_rois(gen, 150, n, h, w, scale)
    ok = valid_rows(rois, n)
    expected64 = torch.zeros((rois.shape[0], groups, ph, pw), dtype=torch.float64)
    expected64[ok] = tv.ps_roi_align(x.double(), rois[ok].double(), (ph, pw), scale, sr)
    xd = x.cuda()
    if channels_last:
        xd = xd.to(memory_format=torch.channels_last)
    out = poisoned_out(expected64.shape, dtype, "cuda", not xd.is_contiguous())
    actual = trt.ps_roi_align(xd, rois.cuda(), (ph, pw), scale, sr, _out=out)
    torch.cuda.synchronize()
    assert not torch.isnan(actual).any()
    torch.testing.assert_close(actual.cpu().double(), expected64, **tolerance(OP, dtype))
    if dtype in (torch.float32, torch.float64):
        expected_tv = tv.ps_roi_align(x.cuda(), rois[ok].to(dtype).cuda(), (ph, pw), scale, sr)
        torch.testing.assert_close(actual[ok.cuda()], expected_tv, **tolerance(OP, dtype))


@pytest.mark.gpu
def test_cuda_many_rois_take_the_multi_channel_chunk_kernel():
    # Small launches run one channel per thread; this one (8000 RoIs x 49 bins x 21 channels) is
    # large enough for the kernel that shares each bin's geometry across several channels.
    gen = torch.Generator().manual_seed(8000)
    n, h, w, scale = 2, 63, 38, 0.0625
    x = make_features(gen, (n, 21 * 49, h, w), torch.float32).cuda()
    rois = make_rois(gen, 8000, n, h, w, scale).float().cuda()
    actual = trt.ps_roi_align(x, rois, 7, scale, 2)
    expected = tv.ps_roi_align(x, rois, 7, scale, 2)
    torch.testing.assert_close(actual, expected, **tolerance(OP, torch.float32))
