"""deform_conv2d kernels: the host implementation (CPU tier) and the CUDA kernels (GPU tier)
against torchvision.ops.deform_conv2d and a float64 oracle."""

from __future__ import annotations

import ctypes
import dataclasses
from typing import Optional

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    from tests.tolerances import tolerance
except ImportError:  # tests/ itself on sys.path (pytest rootdir insertion)
    from tolerances import tolerance

torchvision_ops = pytest.importorskip("torchvision.ops")

OP = "deform_conv2d"


@dataclasses.dataclass(frozen=True)
class Case:
    batch: int = 2
    in_channels: int = 4
    height: int = 7
    width: int = 9
    out_channels: int = 5
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    offset_groups: int = 1
    mask: bool = True
    bias: bool = True
    offset_scale: float = 2.0
    integer_offsets: bool = False

    def out_size(self) -> tuple[int, int]:
        oh = (self.height + 2 * self.padding[0] - self.dilation[0] * (self.kernel[0] - 1) - 1) // self.stride[0] + 1
        ow = (self.width + 2 * self.padding[1] - self.dilation[1] * (self.kernel[1] - 1) - 1) // self.stride[1] + 1
        return oh, ow


def make_inputs(case: Case, dtype: torch.dtype, device: str = "cpu", seed: int = 0) -> dict:
    """Random non-zero tensors (float64 drawn, then rounded to dtype) for one case."""
    g = torch.Generator().manual_seed(seed)
    kh, kw = case.kernel
    oh, ow = case.out_size()
    taps = kh * kw
    fan_in = case.in_channels // case.groups * taps
    x = torch.randn(case.batch, case.in_channels, case.height, case.width, generator=g, dtype=torch.float64)
    offset = torch.randn(case.batch, 2 * case.offset_groups * taps, oh, ow, generator=g, dtype=torch.float64)
    offset = offset * case.offset_scale
    if case.integer_offsets:
        offset = offset.round()
    weight = torch.randn(
        case.out_channels, case.in_channels // case.groups, kh, kw, generator=g, dtype=torch.float64
    ) / fan_in**0.5
    tensors = {
        "input": x,
        "offset": offset,
        "weight": weight,
        "mask": torch.rand(case.batch, case.offset_groups * taps, oh, ow, generator=g, dtype=torch.float64) + 0.1
        if case.mask
        else None,
        "bias": torch.randn(case.out_channels, generator=g, dtype=torch.float64) if case.bias else None,
    }
    return {k: (v.to(dtype).to(device) if v is not None else None) for k, v in tensors.items()}


def conv_kwargs(case: Case) -> dict:
    return {"stride": case.stride, "padding": case.padding, "dilation": case.dilation}


def oracle(case: Case, t: dict) -> torch.Tensor:
    """torchvision on CPU in float64, from the (rounded) inputs."""
    d = {k: (v.detach().cpu().double() if v is not None else None) for k, v in t.items()}
    return torchvision_ops.deform_conv2d(
        d["input"], d["offset"], d["weight"], d["bias"], mask=d["mask"], **conv_kwargs(case)
    )


def run_trtops(case: Case, t: dict, poison: bool = True, **extra) -> torch.Tensor:
    from trtops.ops._deform_conv import _deform_conv2d

    oh, ow = case.out_size()
    out = None
    if poison:
        out = torch.full(
            (case.batch, case.out_channels, oh, ow), float("nan"), dtype=t["input"].dtype, device=t["input"].device
        )
    return _deform_conv2d(
        t["input"], t["offset"], t["weight"], t["bias"], mask=t["mask"], out=out, **conv_kwargs(case), **extra
    )


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, scale: float = 1.0) -> None:
    tol = tolerance(OP, dtype)
    assert not torch.isnan(actual).any(), "unwritten (NaN-poisoned) output elements"
    torch.testing.assert_close(
        actual.detach().cpu().double(), expected.double(), atol=tol["atol"] * scale, rtol=tol["rtol"] * scale
    )


# Hand-written edge cases: every one is checked on CPU and on GPU.
EDGE_CASES = {
    "k1x1": Case(kernel=(1, 1), padding=(0, 0)),
    "k3x3": Case(),
    "k5x5_pad2": Case(kernel=(5, 5), padding=(2, 2), height=8, width=6),
    "k1x3_asymmetric": Case(kernel=(1, 3), padding=(0, 1), stride=(1, 2)),
    "stride2_dilation2": Case(stride=(2, 2), dilation=(2, 2), padding=(2, 2), height=11, width=10),
    "no_padding_odd": Case(padding=(0, 0), height=5, width=13),
    "groups2": Case(in_channels=6, out_channels=4, groups=2),
    "groups_depthwise": Case(in_channels=4, out_channels=8, groups=4),
    "offset_groups2": Case(in_channels=6, offset_groups=2),
    "offset_groups3_groups3": Case(in_channels=6, out_channels=6, groups=3, offset_groups=3),
    "v1_no_mask": Case(mask=False),
    "no_bias": Case(bias=False),
    "v1_no_mask_no_bias": Case(mask=False, bias=False),
    "large_offsets_outside": Case(offset_scale=25.0),
    "integer_offsets_corner_hits": Case(integer_offsets=True, offset_scale=3.0),
    "batch1_single_pixel_out": Case(batch=1, height=3, width=3, padding=(0, 0)),
    "tiny_map_1x1": Case(height=1, width=1, padding=(1, 1)),
    "batch0": Case(batch=0),
}


def border_offsets(case: Case) -> torch.Tensor:
    """Offsets that put taps exactly on and just beyond torchvision's sampling band edges."""
    kh, kw = case.kernel
    oh, ow = case.out_size()
    values = torch.tensor([-1.0, -0.999, -0.5, 0.0, 0.5, 0.999, 1.0, 1.001, -1.001, 2.0, -2.0, 0.25])
    n = case.batch * 2 * case.offset_groups * kh * kw * oh * ow
    idx = torch.arange(n) % values.numel()
    return values[idx].reshape(case.batch, 2 * case.offset_groups * kh * kw, oh, ow).double()


# ------------------------------------------------------------------------------------------------
# CPU tier: host implementation
# ------------------------------------------------------------------------------------------------


@pytest.mark.kernels
@pytest.mark.parametrize("name", sorted(EDGE_CASES))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_host_edge_cases(name: str, dtype: torch.dtype) -> None:
    case = EDGE_CASES[name]
    t = make_inputs(case, dtype)
    actual = run_trtops(case, t, poison=case.batch > 0)
    assert actual.dtype == dtype
    assert_matches(actual, oracle(case, t), dtype)


@pytest.mark.kernels
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_host_matches_torchvision_same_dtype(dtype: torch.dtype) -> None:
    # float64 is bit-exact (same sampling math, same summation order); float32 only differs by
    # torchvision's GEMM summation order.
    case = Case(in_channels=6, out_channels=4, groups=2, offset_groups=3, stride=(2, 1), height=9, width=8)
    t = make_inputs(case, dtype, seed=3)
    expected = torchvision_ops.deform_conv2d(
        t["input"], t["offset"], t["weight"], t["bias"], mask=t["mask"], **conv_kwargs(case)
    )
    actual = run_trtops(case, t)
    if dtype == torch.float64:
        torch.testing.assert_close(actual, expected, atol=1e-12, rtol=1e-12)
    else:
        assert_matches(actual, expected, dtype)


@pytest.mark.kernels
def test_host_float16_vs_torchvision_float16() -> None:
    # torchvision evaluates the bilinear weights in half precision; allow twice our tolerance.
    case = Case(in_channels=8, out_channels=6, offset_groups=2)
    t = make_inputs(case, torch.float16, seed=5)
    expected = torchvision_ops.deform_conv2d(
        t["input"], t["offset"], t["weight"], t["bias"], mask=t["mask"], **conv_kwargs(case)
    )
    assert_matches(run_trtops(case, t), expected.double(), torch.float16, scale=2.0)


@pytest.mark.kernels
def test_host_ignores_allow_tf32() -> None:
    # TF32 is a permission for CUDA kernels; the host implementation always computes in float32,
    # also when torch's matmul TF32 switch (which allow_tf32=None follows on CUDA) is on.
    from trtops.ops import DeformConv2d, deform_conv2d

    case = Case(in_channels=8, out_channels=6)
    t = make_inputs(case, torch.float32, seed=4)
    args = (t["input"], t["offset"], t["weight"], t["bias"])
    exact = deform_conv2d(*args, mask=t["mask"], **conv_kwargs(case))
    assert torch.equal(deform_conv2d(*args, mask=t["mask"], allow_tf32=True, **conv_kwargs(case)), exact)
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        assert torch.equal(deform_conv2d(*args, mask=t["mask"], **conv_kwargs(case)), exact)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    module = DeformConv2d(8, 6, 3, padding=1, allow_tf32=True)
    assert module.allow_tf32 and "allow_tf32=True" in repr(module)
    with torch.no_grad():
        module.weight.copy_(t["weight"])
        module.bias.copy_(t["bias"])
    assert torch.equal(module(t["input"], t["offset"], t["mask"]), exact)


@pytest.mark.kernels
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_host_border_band(dtype: torch.dtype) -> None:
    case = Case(height=4, width=5, padding=(0, 0), kernel=(2, 2), offset_groups=2)
    t = make_inputs(case, dtype, seed=11)
    t["offset"] = border_offsets(case).to(dtype)
    assert_matches(run_trtops(case, t), oracle(case, t), dtype)


@pytest.mark.kernels
def test_host_non_contiguous_inputs() -> None:
    case = Case(in_channels=4, out_channels=3)
    t = make_inputs(case, torch.float32, seed=2)
    t2 = dict(t)
    t2["input"] = t["input"].transpose(2, 3).contiguous().transpose(2, 3)
    t2["offset"] = t["offset"].to(memory_format=torch.channels_last)
    assert not t2["input"].is_contiguous()
    assert_matches(run_trtops(case, t2), oracle(case, t), torch.float32)


@pytest.mark.kernels
def test_host_module_matches_torchvision_module() -> None:
    from trtops.ops import DeformConv2d

    torch.manual_seed(0)
    ref = torchvision_ops.DeformConv2d(6, 4, kernel_size=3, stride=2, padding=1, dilation=1, groups=2)
    ours = DeformConv2d(6, 4, kernel_size=3, stride=2, padding=1, dilation=1, groups=2)
    ours.load_state_dict(ref.state_dict())
    assert repr(ours) == repr(ref)
    x = torch.randn(2, 6, 9, 9)
    offset = torch.randn(2, 18, 5, 5) * 2
    mask = torch.rand(2, 9, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, offset, mask), ref(x, offset, mask), atol=2e-5, rtol=2e-5)
        torch.testing.assert_close(ours(x, offset), ref(x, offset), atol=2e-5, rtol=2e-5)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    kh = draw(st.integers(1, 4))
    kw = draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    groups = draw(st.sampled_from([1, 2, 3]))
    offset_groups = draw(st.sampled_from([1, 2, 3]))
    per = draw(st.integers(1, 2))
    in_channels = groups * offset_groups * per
    out_channels = groups * draw(st.integers(1, 3))
    min_h = dilation[0] * (kh - 1) + 1 - 2 * padding[0]
    min_w = dilation[1] * (kw - 1) + 1 - 2 * padding[1]
    height = draw(st.integers(max(1, min_h), max(1, min_h) + 6))
    width = draw(st.integers(max(1, min_w), max(1, min_w) + 6))
    return Case(
        batch=draw(st.integers(1, 2)),
        in_channels=in_channels,
        height=height,
        width=width,
        out_channels=out_channels,
        kernel=(kh, kw),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        offset_groups=offset_groups,
        mask=draw(st.booleans()),
        bias=draw(st.booleans()),
        offset_scale=draw(st.sampled_from([0.5, 2.0, 8.0])),
        integer_offsets=draw(st.booleans()),
    )


@pytest.mark.kernels
@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), dtype=st.sampled_from([torch.float64, torch.float32, torch.float16, torch.bfloat16]))
def test_host_hypothesis(case: Case, dtype: torch.dtype) -> None:
    t = make_inputs(case, dtype, seed=hash(case) % 1000)
    assert_matches(run_trtops(case, t), oracle(case, t), dtype)


@pytest.mark.kernels
def test_host_against_trtops_reference_if_present() -> None:
    reference = pytest.importorskip("trtops.reference")
    fn = getattr(reference, "deform_conv2d", None)
    if fn is None:
        pytest.skip("trtops.reference has no deform_conv2d yet")
    case = Case(in_channels=6, out_channels=4, groups=2, offset_groups=3)
    t = make_inputs(case, torch.float64, seed=9)
    expected = fn(t["input"], t["offset"], t["weight"], t["bias"], mask=t["mask"], **conv_kwargs(case))
    torch.testing.assert_close(run_trtops(case, t), expected, atol=1e-10, rtol=1e-10)


# Invalid arguments: (description, mutation of the valid inputs/kwargs, exception, message regex)
def _bad(name: str):
    case = Case(in_channels=4, out_channels=4)
    t = make_inputs(case, torch.float32)
    kw = conv_kwargs(case)
    if name == "offset_channels":
        t["offset"] = t["offset"][:, :17]
        return t, kw, ValueError, r"offset\.shape\[1\]=17"
    if name == "offset_spatial":
        t["offset"] = t["offset"][:, :, :-1]
        return t, kw, ValueError, r"offset must have shape"
    if name == "mask_shape":
        t["mask"] = t["mask"][:, :5]
        return t, kw, ValueError, r"mask must have shape"
    if name == "bias_shape":
        t["bias"] = torch.zeros(3)
        return t, kw, ValueError, r"bias must have shape \(4,\)"
    if name == "dtype_mismatch":
        t["weight"] = t["weight"].double()
        return t, kw, TypeError, r"weight has dtype torch\.float64"
    if name == "int_dtype":
        t = {k: (v.to(torch.int32) if v is not None else None) for k, v in t.items()}
        return t, kw, TypeError, r"input has unsupported dtype torch\.int32"
    if name == "groups_not_dividing":
        t["weight"] = torch.randn(4, 3, 3, 3)
        return t, kw, ValueError, r"weight\.shape\[1\]=3 must divide input channels 4"
    if name == "out_channels_vs_groups":
        t["weight"] = torch.randn(3, 2, 3, 3)
        t["bias"] = torch.zeros(3)
        return t, kw, ValueError, r"weight\.shape\[0\]=3 must be divisible by groups=2"
    if name == "stride_zero":
        kw["stride"] = (0, 1)
        return t, kw, ValueError, r"stride must be positive"
    if name == "negative_padding":
        kw["padding"] = -1
        return t, kw, ValueError, r"padding must be non-negative"
    if name == "dilation_zero":
        kw["dilation"] = (1, 0)
        return t, kw, ValueError, r"dilation must be positive"
    if name == "stride_type":
        kw["stride"] = (1.5, 1)
        return t, kw, TypeError, r"stride must be an int or a pair of ints"
    if name == "input_3d":
        t["input"] = t["input"][0]
        return t, kw, ValueError, r"input must have 4 dimensions"
    if name == "output_too_small":
        kw["padding"] = 0
        kw["dilation"] = 5
        return t, kw, ValueError, r"output size too small"
    raise AssertionError(name)


BAD_CASES = [
    "offset_channels",
    "offset_spatial",
    "mask_shape",
    "bias_shape",
    "dtype_mismatch",
    "int_dtype",
    "groups_not_dividing",
    "out_channels_vs_groups",
    "stride_zero",
    "negative_padding",
    "dilation_zero",
    "stride_type",
    "input_3d",
    "output_too_small",
]


@pytest.mark.kernels
@pytest.mark.parametrize("name", BAD_CASES)
def test_invalid_arguments(name: str) -> None:
    from trtops.ops import deform_conv2d

    t, kw, exc, match = _bad(name)
    with pytest.raises(exc, match=match):
        deform_conv2d(t["input"], t["offset"], t["weight"], t["bias"], mask=t["mask"], **kw)


def _c_call(shape, fields, dtype_code=0) -> None:
    from trtops import _native
    from trtops.ops._deform_conv import _function

    buf = torch.zeros(1 << 12)
    p = ctypes.c_void_p(buf.data_ptr())
    code = _function("trtops_deform_conv2d")(
        p, p, None, p, None, p,
        (ctypes.c_int64 * 7)(*shape), (ctypes.c_int32 * 10)(*fields),
        dtype_code, 0, None, 0, 0, None,
    )
    _native.check_status(code)


@pytest.mark.kernels
@pytest.mark.parametrize(
    "shape,fields,dtype_code,match",
    [
        ((1, 4, 5, 5, 4, 3, 3), (3, 3, 1, 1, 0, 0, 1, 1, 0, 1), 0, r"deform_conv2d: groups must be positive.*got groups=0"),
        ((1, 4, 5, 5, 4, 3, 3), (3, 3, 1, 1, 0, 0, 1, 1, 1, 3), 0, r"offsetGroups .*got offsetGroups=3"),
        ((1, 4, 5, 5, 4, 3, 4), (3, 3, 1, 1, 0, 0, 1, 1, 1, 1), 0, r"outHeight/outWidth must be \(3, 3\), got \(3, 4\)"),
        ((1, 4, 5, 5, 4, 3, 3), (0, 3, 1, 1, 0, 0, 1, 1, 1, 1), 0, r"kernelHeight=0"),
        ((1, 4, 5, 5, 4, 3, 3), (3, 3, 1, -1, 0, 0, 1, 1, 1, 1), 0, r"strideW=-1"),
        ((1, 0, 5, 5, 4, 3, 3), (3, 3, 1, 1, 0, 0, 1, 1, 1, 1), 0, r"inChannels must be > 0, got 0"),
    ],
)
def test_c_api_validation_messages(shape, fields, dtype_code, match) -> None:
    with pytest.raises(ValueError, match=match):
        _c_call(shape, fields, dtype_code)


@pytest.mark.kernels
def test_c_api_rejects_integer_dtype() -> None:
    from trtops import TrtopsError

    with pytest.raises(TrtopsError, match=r"dataType int32 is not supported"):
        _c_call((1, 4, 5, 5, 4, 3, 3), (3, 3, 1, 1, 0, 0, 1, 1, 1, 1), 4)


# ------------------------------------------------------------------------------------------------
# GPU tier: CUDA kernels
# ------------------------------------------------------------------------------------------------

ALL_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]

# Shapes that exercise the tiling: every output-channel tile (64, 128, 256 rows; several 256-row
# tiles for out channels > 256 per group), pixel tiles crossing image boundaries, channels per
# group not a multiple of 32 or of a 16-byte vector, offset groups narrower than a sampler run or
# changing inside a K tile, grouped convolutions, and a last partial tile.
GPU_CASES = {
    **EDGE_CASES,
    "tiles_cout300": Case(batch=3, in_channels=40, out_channels=300, height=13, width=17),
    "tiles_cin64_cout64": Case(batch=2, in_channels=64, out_channels=64, height=20, width=19),
    "tiles_cin96_og8": Case(batch=2, in_channels=96, out_channels=72, offset_groups=8, height=11, width=12),
    "tiles_og_narrow": Case(batch=1, in_channels=48, out_channels=40, offset_groups=12, height=9, width=30),
    "tiles_groups4": Case(batch=2, in_channels=128, out_channels=256, groups=4, offset_groups=2, height=10, width=14),
    "tiles_stride2_5x5": Case(batch=2, in_channels=33, out_channels=130, kernel=(5, 5), padding=(2, 2), stride=(2, 2), height=23, width=21),
    "tiles_v1_large_offsets": Case(batch=2, in_channels=32, out_channels=64, mask=False, offset_scale=30.0, height=16, width=16),
    "tiles_cin20_cout140": Case(batch=2, in_channels=20, out_channels=140, height=7, width=9),
    "tiles_cout200_og_inside_ktile": Case(batch=2, in_channels=96, out_channels=200, offset_groups=2, height=9, width=15),
}


def _gpu_tol_scale(case: Case) -> float:
    # Reduced-precision errors grow with the square root of the reduction length.
    k = case.in_channels // case.groups * case.kernel[0] * case.kernel[1]
    return max(1.0, (k / 64) ** 0.5)


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(GPU_CASES))
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_gpu_vs_float64_oracle(name: str, dtype: torch.dtype) -> None:
    case = GPU_CASES[name]
    t = make_inputs(case, dtype, device="cuda", seed=1)
    actual = run_trtops(case, t, poison=case.batch > 0)
    torch.cuda.synchronize()
    assert actual.dtype == dtype and actual.is_cuda
    assert_matches(actual, oracle(case, t), dtype, scale=1.0 if dtype in (torch.float64, torch.float32) else _gpu_tol_scale(case))


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(GPU_CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64], ids=str)
def test_gpu_vs_torchvision_cuda(name: str, dtype: torch.dtype) -> None:
    case = GPU_CASES[name]
    if case.batch == 0:
        pytest.skip("torchvision CUDA on an empty batch is not the point here")
    t = make_inputs(case, dtype, device="cuda", seed=4)
    expected = torchvision_ops.deform_conv2d(
        t["input"], t["offset"], t["weight"], t["bias"], mask=t["mask"], **conv_kwargs(case)
    )
    actual = run_trtops(case, t)
    # torchvision evaluates float16 sampling positions and bilinear weights in half precision
    # (positions near 30 are off by up to 2^-6): a loose bound here; the float64 oracle test above
    # is the precise one.
    scale = 8.0 * _gpu_tol_scale(case) if dtype == torch.float16 else 1.0
    assert_matches(actual, expected.double().cpu(), dtype, scale=scale)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_gpu_matches_host(dtype: torch.dtype) -> None:
    case = Case(batch=2, in_channels=48, out_channels=80, offset_groups=3, height=15, width=14, stride=(2, 1))
    t = make_inputs(case, dtype, seed=8)
    host = run_trtops(case, t)
    tg = {k: (v.cuda() if v is not None else None) for k, v in t.items()}
    device = run_trtops(case, tg)
    assert_matches(device, host.double(), dtype, scale=_gpu_tol_scale(case))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_gpu_adversarial_border_offsets(dtype: torch.dtype) -> None:
    case = Case(batch=2, in_channels=40, out_channels=70, height=6, width=7, padding=(0, 0), kernel=(2, 3), offset_groups=2)
    t = make_inputs(case, dtype, seed=13)
    t["offset"] = border_offsets(case).to(dtype)
    tg = {k: (v.cuda() if v is not None else None) for k, v in t.items()}
    assert_matches(run_trtops(case, tg), oracle(case, t), dtype, scale=_gpu_tol_scale(case))


@pytest.mark.gpu
def test_gpu_infinite_input_outside_band_does_not_leak() -> None:
    # A corner outside the map must contribute exactly zero, even when the pixel read instead
    # would be inf: the output stays finite.
    case = Case(batch=1, in_channels=32, out_channels=16, height=5, width=5, padding=(0, 0), mask=False)
    t = make_inputs(case, torch.float16, device="cuda", seed=1)
    t["offset"] = torch.full_like(t["offset"], -50.0)  # every tap samples far outside
    t["input"][:, :, 0, 0] = float("inf")
    out = run_trtops(case, t)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, t["bias"].view(1, -1, 1, 1).expand_as(out))


@pytest.mark.gpu
def test_gpu_non_contiguous_and_second_device_stream() -> None:
    case = Case(batch=2, in_channels=64, out_channels=64, height=12, width=12)
    t = make_inputs(case, torch.float16, device="cuda", seed=6)
    expected = oracle(case, t)
    t2 = dict(t)
    t2["input"] = t["input"].to(memory_format=torch.channels_last)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        out = run_trtops(case, t2)
    stream.synchronize()
    assert_matches(out, expected, torch.float16, scale=_gpu_tol_scale(case))


@pytest.mark.gpu
def test_gpu_cuda_graph_capture() -> None:
    case = Case(batch=2, in_channels=64, out_channels=128, height=10, width=10)
    t = make_inputs(case, torch.float16, device="cuda", seed=7)
    from trtops.ops._deform_conv import _deform_conv2d

    out = torch.full((2, 128, 10, 10), float("nan"), dtype=torch.float16, device="cuda")
    kwargs = dict(mask=t["mask"], out=out, **conv_kwargs(case))
    _deform_conv2d(t["input"], t["offset"], t["weight"], t["bias"], **kwargs)  # warm-up
    torch.cuda.synchronize()
    out.fill_(float("nan"))
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        with torch.cuda.graph(graph, stream=stream):
            _deform_conv2d(t["input"], t["offset"], t["weight"], t["bias"], **kwargs)
    graph.replay()
    torch.cuda.synchronize()
    assert_matches(out, oracle(case, t), torch.float16, scale=_gpu_tol_scale(case))


def _gpu_has_tf32() -> bool:
    return torch.cuda.get_device_capability()[0] >= 8


def tf32_exact_inputs(case: Case, seed: int) -> dict:
    """float32 inputs on grids that make every TF32 operand of the kernel exact: input in 1/8 within
    +-2, offsets and mask in 1/4 (mask <= 1, so bilinear weights are in 1/16), weights in 1/64 within
    +-0.5. A sampled column is then a multiple of 1/512 below 2 (11 significant bits) and every
    product is exact in float32, so TF32 results differ from float32 ones only in the order of the
    sums: the float32 tolerance applies."""
    t = make_inputs(case, torch.float32, device="cuda", seed=seed)
    t["input"] = (t["input"] * 8).round().clamp(-16, 16) / 8
    t["offset"] = (t["offset"] * 4).round() / 4
    t["weight"] = (t["weight"] * 64).round().clamp(-32, 32) / 64
    if t["mask"] is not None:
        t["mask"] = (t["mask"] * 4).round().clamp(0, 4) / 4
    return t


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(GPU_CASES))
def test_gpu_tf32_on_exact_data_vs_float64_oracle(name: str) -> None:
    # Every tiling case through the TF32 kernel (sm_80+; the FFMA kernel before), held to the
    # float32 tolerance: any fragment, K-offset or rounding mistake shows at full size here. (The
    # default float32 path, split TF32 on sm_80+, runs every case in test_gpu_vs_float64_oracle.)
    case = GPU_CASES[name]
    t = tf32_exact_inputs(case, seed=5)
    actual = run_trtops(case, t, poison=case.batch > 0, allow_tf32=True)
    assert_matches(actual, oracle(case, t), torch.float32)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["tiles_cout300", "tiles_groups4", "tiles_stride2_5x5", "tiles_og_narrow"])
def test_gpu_tf32_vs_float64_oracle(name: str) -> None:
    # Random data: the TF32 rounding of both operands (10-bit mantissa, like float16 without the
    # final rounding of the output) within the float16-class tolerance.
    case = GPU_CASES[name]
    t = make_inputs(case, torch.float32, device="cuda", seed=6)
    actual = run_trtops(case, t, allow_tf32=True)
    assert_matches(actual, oracle(case, t), torch.float16, scale=_gpu_tol_scale(case))


@pytest.mark.gpu
def test_gpu_allow_tf32_selects_tensor_cores_only_where_they_exist() -> None:
    # The opt-in is honoured, not ignored: on sm_80+ the TF32 result differs from the default
    # float32 one (split TF32 operands there, FFMA before; random data is not exact in TF32);
    # before sm_80 the flag leaves float32 on FFMA, bit for bit. Without the flag nothing changes,
    # and the default keeps float32 accuracy while TF32 has a 10-bit mantissa.
    case = Case(batch=2, in_channels=64, out_channels=64, height=9, width=9)
    t = make_inputs(case, torch.float32, device="cuda", seed=3)
    default = run_trtops(case, t, allow_tf32=False)
    tf32 = run_trtops(case, t, allow_tf32=True)
    assert torch.equal(run_trtops(case, t, allow_tf32=False), default)
    # allow_tf32=None follows torch's matmul TF32 switch, as torchvision's im2col GEMM does.
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        assert torch.equal(run_trtops(case, t), default)
        torch.backends.cuda.matmul.allow_tf32 = True
        assert torch.equal(run_trtops(case, t), tf32)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    if _gpu_has_tf32():
        assert not torch.equal(tf32, default), "allow_tf32=True gave the default float32 result on an sm_80+ GPU"
    else:
        assert torch.equal(tf32, default)
    expected = oracle(case, t)
    assert_matches(default, expected, torch.float32)
    assert_matches(tf32, expected, torch.float16, scale=_gpu_tol_scale(case))


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, "tf32"], ids=str)
def test_gpu_benchmark_shape_sanity(dtype: torch.dtype | str) -> None:
    # The benchmark's first shape (reduced batch): the fast path at full size, vs float64 oracle
    # on the GPU (torchvision CUDA in float64). "tf32": float32 with allow_tf32, held to the
    # float16-class tolerance.
    tf32 = dtype == "tf32"
    storage = torch.float32 if tf32 else dtype
    case = Case(batch=1, in_channels=256, out_channels=256, height=50, width=76, offset_scale=2.0)
    t = make_inputs(case, storage, device="cuda", seed=21)
    d = {k: (v.double() if v is not None else None) for k, v in t.items()}
    expected = torchvision_ops.deform_conv2d(
        d["input"], d["offset"], d["weight"], d["bias"], mask=d["mask"], **conv_kwargs(case)
    )
    actual = run_trtops(case, t, allow_tf32=tf32)
    assert_matches(actual, expected.cpu(), torch.float16 if tf32 else storage, scale=_gpu_tol_scale(case))
