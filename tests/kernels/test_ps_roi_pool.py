"""trtops.ops.ps_roi_pool (host implementation and CUDA kernels) against torchvision.ops.ps_roi_pool.

torchvision's rules are kept, including its clipping of bins to [0, H - 1] x [0, W - 1] (the last
row and column are never pooled). float32/float64 are bit-identical to torchvision's CPU kernel;
float16/bfloat16 are compared with torchvision in float32 on the upcast inputs (same cell ranges
as the kernels' float32 arithmetic) within the tolerance table.
"""

from __future__ import annotations

import pytest
import torch
import torchvision.ops as tv
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    from tests.tolerances import tolerance
except ImportError:  # tests/ itself on sys.path
    from tolerances import tolerance
from trtops.ops import _roi as trt

OP = "ps_roi_pool"
SCALES = (0.25, 0.5, 1.0, 2.0)
NAN = float("nan")


def make_features(gen, shape, dtype=torch.float32):
    return (torch.randn(shape, generator=gen, dtype=torch.float64) + 0.25).to(dtype)


def make_rois(gen, k, batch, height, width, scale):
    u = torch.rand((k, 4), generator=gen, dtype=torch.float64)
    x1 = (u[:, 0] * 1.4 - 0.2) * width
    y1 = (u[:, 1] * 1.4 - 0.2) * height
    x2 = x1 + (u[:, 2] * 1.2 - 0.1) * width
    y2 = y1 + (u[:, 3] * 1.2 - 0.1) * height
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
        "scale": st.sampled_from(SCALES),
        "channels_last": st.booleans(),
        "seed": st.integers(0, 2**31 - 1),
    }
)


@pytest.mark.kernels
@settings(max_examples=120, deadline=None, derandomize=True)
@given(p=case)
def test_host_matches_torchvision_bit_exact(p):
    gen = torch.Generator().manual_seed(p["seed"])
    c = p["groups"] * p["ph"] * p["pw"]
    for dtype in (torch.float64, torch.float32):
        x = make_features(gen, (p["n"], c, p["h"], p["w"]), dtype)
        rois = make_rois(gen, p["k"], p["n"], p["h"], p["w"], p["scale"]).to(dtype)
        args = ((p["ph"], p["pw"]), p["scale"])
        expected = tv.ps_roi_pool(x, rois, *args)
        if p["channels_last"]:
            x = x.to(memory_format=torch.channels_last)
        out = poisoned_out(expected.shape, dtype, channels_last=not x.is_contiguous())
        torch.testing.assert_close(trt.ps_roi_pool(x, rois, *args, _out=out), expected, atol=0, rtol=0)


@pytest.mark.kernels
@settings(max_examples=25, deadline=None, derandomize=True)
@given(p=case, dtype=st.sampled_from([torch.float16, torch.bfloat16]))
def test_host_low_precision_within_tolerance(p, dtype):
    gen = torch.Generator().manual_seed(p["seed"])
    c = p["groups"] * p["ph"] * p["pw"]
    x = make_features(gen, (p["n"], c, p["h"], p["w"]), dtype)
    rois = make_rois(gen, p["k"], p["n"], p["h"], p["w"], p["scale"])
    args = ((p["ph"], p["pw"]), p["scale"])
    actual = trt.ps_roi_pool(x, rois, *args)
    expected = tv.ps_roi_pool(x.float(), rois, *args)
    torch.testing.assert_close(actual.double(), expected.double(), **tolerance(OP, dtype))


EDGE_ROWS = {
    "inside": [0, 2.0, 2.0, 10.0, 8.0],
    "crossing": [1, -6.0, -5.0, 30.0, 20.0],
    "fully_outside": [1, 40.0, 30.0, 60.0, 50.0],
    "last_row_and_column": [0, 12.0, 8.0, 16.0, 12.0],  # clipped to H - 1 / W - 1: empty bins
    "negative_size": [1, 10.0, 9.0, 2.0, 1.0],
    "zero_area": [0, 6.0, 6.0, 6.0, 6.0],
    "huge": [1, -1e6, -1e6, 1e6, 1e6],
    "rounding_halves": [0, 2.5, 3.5, 9.5, 10.5],
}


@pytest.mark.kernels
@pytest.mark.parametrize("name", sorted(EDGE_ROWS))
@pytest.mark.parametrize("channels_last", [False, True])
def test_host_edge_rows(name, channels_last):
    x = make_features(torch.Generator().manual_seed(7), (2, 12, 6, 8))
    rois = torch.tensor([EDGE_ROWS[name]])
    expected = tv.ps_roi_pool(x, rois, (3, 2), 0.5)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    torch.testing.assert_close(trt.ps_roi_pool(x, rois, (3, 2), 0.5), expected, atol=0, rtol=0)


@pytest.mark.kernels
@pytest.mark.parametrize(
    "row", [[-1, 2.0, 2.0, 10.0, 8.0], [2, 2.0, 2.0, 10.0, 8.0], [NAN, 2.0, 2.0, 10.0, 8.0], [0, 2.0, 2.0, 10.0, NAN]]
)
def test_host_bad_rows_give_zeros(row):
    x = make_features(torch.Generator().manual_seed(8), (2, 8, 6, 8))
    actual = trt.ps_roi_pool(x, torch.tensor([row]), 2, 0.5, _out=poisoned_out((1, 2, 2, 2), torch.float32))
    assert torch.equal(actual, torch.zeros_like(actual))


@pytest.mark.kernels
def test_host_module():
    x = make_features(torch.Generator().manual_seed(9), (1, 18, 9, 9))
    rois = torch.tensor([[0, 1.0, 1.0, 7.0, 8.0]])
    module = trt.PSRoIPool(3, 1.0)
    torch.testing.assert_close(module(x, rois), tv.ps_roi_pool(x, rois, 3, 1.0), atol=0, rtol=0)
    assert "PSRoIPool(output_size=3" in repr(module)


@pytest.mark.kernels
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"input": torch.ones((1, 5, 5, 5))}, ValueError, r"ps_roi_pool: input channels must be .* = 4, got 5"),
        ({"boxes": torch.zeros((2,))}, ValueError, r"ps_roi_pool: rois must have shape \[K, 5\]"),
        ({"output_size": (2, 0)}, ValueError, r"ps_roi_pool: output_size must be positive"),
        ({"spatial_scale": 0.0}, ValueError, r"ps_roi_pool: spatial_scale must be finite and positive"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    args = {"input": torch.ones((1, 8, 5, 5)), "boxes": torch.tensor([[0, 1.0, 1.0, 3.0, 3.0]]), "output_size": 2,
            "spatial_scale": 1.0}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        trt.ps_roi_pool(**args)


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
    args = ((p["ph"], p["pw"]), p["scale"])
    expected = reference.ps_roi_pool(x, rois, *args)
    torch.testing.assert_close(trt.ps_roi_pool(x, rois, *args), expected, **tolerance(OP, dtype))


# ----- GPU tier ---------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("groups", [1, 2, 21])
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_matches_torchvision(dtype, groups, channels_last):
    gen = torch.Generator().manual_seed(groups)
    n, h, w, scale, ph, pw = 1, 63, 38, 0.0625, 7, 7
    x = make_features(gen, (n, groups * ph * pw, h, w), dtype)
    s = 1 / scale
    extra = torch.tensor([[0, -50 * s, -50 * s, -40 * s, -40 * s], [0, -3e3, -3e3, 4e3, 4e3], [1, 1.0, 1.0, 9.0, 9.0],
                          [-1, 1.0, 1.0, 9.0, 9.0], [NAN, 1.0, 1.0, 9.0, 9.0], [0, 1.0, NAN, 9.0, 9.0]])
    rois = torch.cat([make_rois(gen, 300, n, h, w, scale), extra])
    ok = valid_rows(rois, n)
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    expected = torch.zeros((rois.shape[0], groups, ph, pw), dtype=acc)
    expected[ok] = tv.ps_roi_pool(x.to(acc), rois[ok].to(acc), (ph, pw), scale)
    xd = x.cuda()
    if channels_last:
        xd = xd.to(memory_format=torch.channels_last)
    out = poisoned_out(expected.shape, dtype, "cuda", not xd.is_contiguous())
    actual = trt.ps_roi_pool(xd, rois.to(acc).cuda(), (ph, pw), scale, _out=out)
    torch.testing.assert_close(actual.cpu().double(), expected.double(), **tolerance(OP, dtype))
    if dtype in (torch.float32, torch.float64):
        expected_tv = tv.ps_roi_pool(x.cuda(), rois[ok].to(dtype).cuda(), (ph, pw), scale)
        torch.testing.assert_close(actual[ok.cuda()], expected_tv, **tolerance(OP, dtype))


@pytest.mark.gpu
def test_cuda_many_rois_take_the_multi_channel_chunk_kernel():
    # Small launches run one channel per thread; this one (8000 RoIs x 49 bins x 21 channels) is
    # large enough for the kernel that shares each bin's geometry across several channels.
    gen = torch.Generator().manual_seed(8000)
    n, h, w, scale = 2, 63, 38, 0.0625
    x = make_features(gen, (n, 21 * 49, h, w), torch.float32).cuda()
    rois = make_rois(gen, 8000, n, h, w, scale).float().cuda()
    actual = trt.ps_roi_pool(x, rois, 7, scale)
    expected = tv.ps_roi_pool(x, rois, 7, scale)
    torch.testing.assert_close(actual, expected, **tolerance(OP, torch.float32))
