"""trtops.ops.roi_pool (host implementation and CUDA kernels) against torchvision.ops.roi_pool.

Max pooling is exact: every dtype must equal torchvision evaluated in float32 (float64 for
float64) on the upcast inputs with float32 RoIs, where the cell ranges are computed in the same
precision as the kernels' accumulator type. torchvision has no float16/bfloat16 CPU roi_pool.
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

OP = "roi_pool"
SCALES = (0.25, 0.5, 1.0, 2.0)
NAN = float("nan")
ALL_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


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


def expected_of(x, rois, *args):
    """torchvision at the kernels' accumulator precision on valid rows, zeros elsewhere."""
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    ok = valid_rows(rois.cpu(), x.shape[0]).to(rois.device)
    ph, pw = (args[0], args[0]) if isinstance(args[0], int) else args[0]
    out = torch.zeros((rois.shape[0], x.shape[1], ph, pw), dtype=acc, device=x.device)
    if ok.any():
        out[ok] = tv.roi_pool(x.to(acc), rois[ok].to(acc), *args)
    return out.to(x.dtype)


def poisoned_out(shape, dtype, device="cpu", channels_last=False):
    k, c, ph, pw = shape
    if channels_last:
        return torch.full((k, ph, pw, c), NAN, dtype=dtype, device=device).permute(0, 3, 1, 2)
    return torch.full(shape, NAN, dtype=dtype, device=device)


case = st.fixed_dictionaries(
    {
        "n": st.integers(1, 2),
        "c": st.integers(1, 5),
        "h": st.integers(1, 11),
        "w": st.integers(1, 11),
        "k": st.integers(0, 6),
        "ph": st.integers(1, 4),
        "pw": st.integers(1, 4),
        "scale": st.sampled_from(SCALES),
        "channels_last": st.booleans(),
        "seed": st.integers(0, 2**31 - 1),
    }
)


@pytest.mark.kernels
@settings(max_examples=150, deadline=None, derandomize=True)
@given(p=case, dtype=st.sampled_from(ALL_DTYPES))
def test_host_matches_torchvision_exactly(p, dtype):
    gen = torch.Generator().manual_seed(p["seed"])
    x = make_features(gen, (p["n"], p["c"], p["h"], p["w"]), dtype)
    rois = make_rois(gen, p["k"], p["n"], p["h"], p["w"], p["scale"])
    if dtype == torch.float64:
        rois = rois.double()
    args = ((p["ph"], p["pw"]), p["scale"])
    expected = expected_of(x, rois, *args)
    if p["channels_last"]:
        x = x.to(memory_format=torch.channels_last)
    out = poisoned_out(expected.shape, dtype, channels_last=not x.is_contiguous())
    actual = trt.roi_pool(x, rois, *args, _out=out)
    torch.testing.assert_close(actual, expected, **tolerance(OP, dtype))


EDGE_ROWS = {
    "inside": [0, 2.0, 2.0, 10.0, 8.0],
    "crossing": [1, -6.0, -5.0, 30.0, 20.0],
    "fully_outside": [1, 40.0, 30.0, 60.0, 50.0],  # every bin empty -> 0
    "negative_size": [1, 10.0, 9.0, 2.0, 1.0],
    "zero_area": [0, 6.0, 6.0, 6.0, 6.0],
    "huge": [1, -1e6, -1e6, 1e6, 1e6],
    "rounding_halves": [0, 2.5, 3.5, 9.5, 10.5],
    "fractional_batch": [1.99, 1.0, 2.0, 9.0, 7.0],
}


@pytest.mark.kernels
@pytest.mark.parametrize("name", sorted(EDGE_ROWS))
@pytest.mark.parametrize("channels_last", [False, True])
def test_host_edge_rows(name, channels_last):
    x = make_features(torch.Generator().manual_seed(7), (2, 3, 6, 8))
    rois = torch.tensor([EDGE_ROWS[name]])
    expected = tv.roi_pool(x, rois, (3, 2), 0.5)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    torch.testing.assert_close(trt.roi_pool(x, rois, (3, 2), 0.5), expected, atol=0, rtol=0)


@pytest.mark.kernels
def test_host_all_values_below_minus_flt_max_in_float64():
    # torchvision starts the maximum at -FLT_MAX even in float64; so do the kernels.
    x = torch.full((1, 1, 4, 4), -1e300, dtype=torch.float64)
    rois = torch.tensor([[0, 0.0, 0.0, 3.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(trt.roi_pool(x, rois, 2), tv.roi_pool(x, rois, 2), atol=0, rtol=0)


@pytest.mark.kernels
@pytest.mark.parametrize(
    "row", [[-1, 2.0, 2.0, 10.0, 8.0], [2, 2.0, 2.0, 10.0, 8.0], [NAN, 2.0, 2.0, 10.0, 8.0], [0, 2.0, NAN, 10.0, 8.0]]
)
def test_host_bad_rows_give_zeros(row):
    x = make_features(torch.Generator().manual_seed(8), (2, 3, 6, 8))
    actual = trt.roi_pool(x, torch.tensor([row]), 2, 0.5, _out=poisoned_out((1, 3, 2, 2), torch.float32))
    assert torch.equal(actual, torch.zeros_like(actual))


@pytest.mark.kernels
def test_host_module():
    x = make_features(torch.Generator().manual_seed(9), (1, 3, 9, 9))
    rois = torch.tensor([[0, 1.0, 1.0, 7.0, 8.0]])
    module = trt.RoIPool(3, 1.0)
    torch.testing.assert_close(module(x, rois), tv.roi_pool(x, rois, 3, 1.0), atol=0, rtol=0)
    assert "RoIPool(output_size=3" in repr(module)


@pytest.mark.kernels
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"boxes": torch.zeros((2, 4))}, ValueError, r"roi_pool: rois must have shape \[K, 5\]"),
        ({"output_size": 0}, ValueError, r"roi_pool: output_size must be positive"),
        ({"spatial_scale": float("inf")}, ValueError, r"roi_pool: spatial_scale must be finite and positive"),
        ({"boxes": torch.zeros((1, 5), dtype=torch.float16)}, TypeError, r"roi_pool: rois has dtype torch.float16"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    args = {"input": torch.ones((1, 3, 5, 5)), "boxes": torch.tensor([[0, 1.0, 1.0, 3.0, 3.0]]), "output_size": 2,
            "spatial_scale": 1.0}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        trt.roi_pool(**args)


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
    args = ((p["ph"], p["pw"]), p["scale"])
    expected = reference.roi_pool(x, rois, *args)
    torch.testing.assert_close(trt.roi_pool(x, rois, *args), expected, **tolerance(OP, dtype))


# ----- GPU tier ---------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("channels", [1, 5, 64, 512])
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_matches_torchvision(dtype, channels, channels_last):
    gen = torch.Generator().manual_seed(channels)
    n, h, w, scale = 2, 50, 68, 0.0625
    x = make_features(gen, (n, channels, h, w), dtype)
    s = 1 / scale
    extra = torch.tensor([[0, -50 * s, -50 * s, -40 * s, -40 * s], [1, -3e3, -3e3, 4e3, 4e3], [2, 1.0, 1.0, 9.0, 9.0],
                          [-1, 1.0, 1.0, 9.0, 9.0], [NAN, 1.0, 1.0, 9.0, 9.0], [0, 1.0, NAN, 9.0, 9.0]])
    rois = torch.cat([make_rois(gen, 300, n, h, w, scale), extra])
    if dtype == torch.float64:
        rois = rois.double()
    expected = expected_of(x, rois, 7, scale)
    xd = x.cuda()
    if channels_last:
        xd = xd.to(memory_format=torch.channels_last)
    out = poisoned_out(expected.shape, dtype, "cuda", not xd.is_contiguous())
    actual = trt.roi_pool(xd, rois.cuda(), 7, scale, _out=out)
    torch.testing.assert_close(actual.cpu(), expected, **tolerance(OP, dtype))
    if dtype in (torch.float32, torch.float64):
        ok = valid_rows(rois, n)
        expected_tv = tv.roi_pool(x.cuda(), rois[ok].cuda(), 7, scale)
        torch.testing.assert_close(actual[ok.cuda()], expected_tv, **tolerance(OP, dtype))


@pytest.mark.kernels
def test_workspace_size_covers_the_channels_last_copy_only_when_it_pays():
    # One channels-last copy of an NCHW map when enough bins land on it; nothing for few RoIs or
    # NHWC input; never less for more RoIs (TensorRT sizes the workspace at the largest count).
    import ctypes

    from trtops import _native

    fn = trt._function("trtops_roi_pool_workspace_size")
    fp32 = _native.DTYPE_CODES["float32"]

    def size(layout: str, num_rois: int) -> int:
        out = ctypes.c_uint64(12345)
        assert fn(fp32, _native.LAYOUT_CODES[layout], 2, 512, 50, 68, num_rois, 7, 7, ctypes.byref(out)) == 0
        return out.value

    copy_bytes = 2 * 512 * 50 * 68 * 4
    assert size("NCHW", 2000) == copy_bytes
    assert size("NCHW", 10) == 0  # 10 * 49 * 4 cells < 2 * 50 * 68 pixels
    assert size("NHWC", 2000) == 0
    sizes = [size("NCHW", k) for k in range(0, 100, 3)]
    assert sizes == sorted(sizes) and sizes[0] == 0 and sizes[-1] == copy_bytes
    assert trt._workspace_bytes("trtops_roi_pool_workspace_size", fp32, 0, 2, 512, 50, 68, 2000, 7, 7) == copy_bytes
    bad = ctypes.c_uint64(0)
    status = fn(fp32, _native.LAYOUT_CODES["NCHW"], 2, 512, 50, 68, 10, 0, 7, ctypes.byref(bad))
    with pytest.raises(ValueError, match="roi_pool"):
        _native.check_status(status)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("channels", [3, 64, 260])
def test_cuda_nchw_direct_and_channels_last_copy_paths(dtype, channels):
    # NCHW input: few RoIs gather straight from NCHW, many RoIs pool a channels-last copy made in
    # the workspace. Both must be exact, and a null workspace (C ABI) must force the direct path.
    import ctypes

    from trtops import _native
    from trtops.ops import _tensor

    gen = torch.Generator().manual_seed(channels)
    n, h, w, scale = 2, 41, 57, 0.5
    x = make_features(gen, (n, channels, h, w), dtype)
    for k in (3, 500):  # 3 * 49 * 4 < 2 * 41 * 57 pixels < 500 * 49 * 4
        rois = make_rois(gen, k, n, h, w, scale)
        if dtype == torch.float64:
            rois = rois.double()
        expected = expected_of(x, rois, (7, 6), scale)
        xd, rd = x.cuda(), rois.cuda()
        actual = trt.roi_pool(xd, rd, (7, 6), scale, _out=poisoned_out(expected.shape, dtype, "cuda"))
        torch.testing.assert_close(actual.cpu(), expected, **tolerance(OP, dtype))

        direct = poisoned_out(expected.shape, dtype, "cuda")
        status = trt._function("trtops_roi_pool")(
            _tensor.pointer(xd), _tensor.pointer(rd), _tensor.pointer(direct),
            _tensor.dtype_code(xd, OP, "input"), _tensor.dtype_code(rd, OP, "rois"), _native.LAYOUT_CODES["NCHW"],
            n, channels, h, w, k, 7, 6, scale, None, 1, torch.cuda.current_stream().cuda_stream,
        )
        assert status == 0
        torch.testing.assert_close(direct, actual, rtol=0, atol=0)
