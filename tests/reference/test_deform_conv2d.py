"""trtops.reference.deform_conv2d / DeformConv2d against torchvision.ops.deform_conv2d."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import DeformConv2d, deform_conv2d

from ._helpers import ALL_DTYPES, assert_matches, feature_map, generator, hsettings, torchvision_result


def _case(seed, dtype, b, c_in, c_out, h, w, kh, kw, stride, pad, dil, groups, offset_groups,
          use_mask, use_bias, offset_scale=2.0):
    oh = (h + 2 * pad[0] - (dil[0] * (kh - 1) + 1)) // stride[0] + 1
    ow = (w + 2 * pad[1] - (dil[1] * (kw - 1) + 1)) // stride[1] + 1
    g = generator(seed)
    x = feature_map(seed, (b, c_in, h, w), dtype)
    fan_in = (c_in // groups) * kh * kw
    weight = (torch.randn(c_out, c_in // groups, kh, kw, generator=g, dtype=torch.float64)
              / fan_in**0.5).to(dtype)
    offset = (torch.randn(b, 2 * offset_groups * kh * kw, oh, ow, generator=g, dtype=torch.float64)
              * offset_scale).to(dtype)
    mask = (torch.rand(b, offset_groups * kh * kw, oh, ow, generator=g, dtype=torch.float64)
            .to(dtype) if use_mask else None)
    bias = torch.randn(c_out, generator=g, dtype=torch.float64).to(dtype) if use_bias else None
    return x, offset, weight, bias, mask


def _compare(x, offset, weight, bias, stride, pad, dil, mask, dtype):
    actual = deform_conv2d(x, offset, weight, bias, stride, pad, dil, mask)

    def tv(x_, off_, w_, *rest):
        b_ = rest[0] if bias is not None else None
        m_ = rest[-1] if mask is not None else None
        return ops.deform_conv2d(x_, off_, w_, b_, stride, pad, dil, m_)

    extras = [t for t in (bias, mask) if t is not None]
    expected = torchvision_result(tv, dtype, x, offset, weight, *extras)
    assert_matches(actual, expected, "deform_conv2d", dtype)
    return actual


@st.composite
def _conv_case(draw):
    dtype = draw(st.sampled_from(ALL_DTYPES))
    groups = draw(st.sampled_from([1, 2]))
    offset_groups = draw(st.sampled_from([1, 2, 4]))
    c_in = groups * offset_groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    h = draw(st.integers(max(1, dil[0] * (kh - 1) + 1 - 2 * pad[0]), 12))
    w = draw(st.integers(max(1, dil[1] * (kw - 1) + 1 - 2 * pad[1]), 12))
    return dict(
        seed=draw(st.integers(0, 2**31 - 1)), dtype=dtype, b=draw(st.integers(1, 2)), c_in=c_in,
        c_out=c_out, h=h, w=w, kh=kh, kw=kw, stride=stride, pad=pad, dil=dil, groups=groups,
        offset_groups=offset_groups, use_mask=draw(st.booleans()), use_bias=draw(st.booleans()),
        offset_scale=draw(st.sampled_from([0.0, 0.5, 2.0, 8.0])),
    )


@hsettings(200)
@given(case=_conv_case())
def test_matches_torchvision(case):
    x, offset, weight, bias, mask = _case(**case)
    _compare(x, offset, weight, bias, case["stride"], case["pad"], case["dil"], mask, case["dtype"])


def _offsets_to(target_y, target_x, oh, ow, kh, kw, pad, groups, dtype):
    """Offsets moving every tap's sample to (target_y, target_x) (stride 1, dilation 1)."""
    oy = torch.arange(oh, dtype=torch.float64)[:, None]
    ox = torch.arange(ow, dtype=torch.float64)[None, :]
    planes = []
    for i in range(kh):
        for j in range(kw):
            planes.append((target_y - (oy - pad + i)).expand(oh, ow))
            planes.append((target_x - (ox - pad + j)).expand(oh, ow))
    return torch.stack(planes * groups)[None].to(dtype)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize(
    "name,target",
    [
        ("zero offsets: plain convolution", None),
        ("samples at y = -1 are zero", (-1.0, 2.25)),
        ("samples just inside -1 interpolate row 0", (-1.0 + 2**-6, 2.25)),
        ("samples at y = H are zero", (6.0, 2.25)),
        ("samples at x = W are zero", (2.5, 7.0)),
        ("samples just inside W interpolate the last column", (2.5, 7.0 - 2**-6)),
        ("samples on the last pixel", (5.0, 6.0)),
        ("all samples far outside: only the bias", (100.0, -50.0)),
    ],
)
def test_edge_cases(name, target, dtype):
    x, offset, weight, bias, mask = _case(1, dtype, 1, 4, 3, 6, 7, 3, 3, (1, 1), (1, 1),
                                          (1, 1), 1, 2, True, True)
    if target is None:
        offset = torch.zeros_like(offset)
    else:
        offset = _offsets_to(target[0], target[1], 6, 7, 3, 3, 1, 2, dtype)
    out = _compare(x, offset, weight, bias, (1, 1), (1, 1), (1, 1), mask, dtype)
    if target == (100.0, -50.0):
        assert torch.equal(out, bias[None, :, None, None].expand_as(out))


def test_zero_offsets_equal_conv2d():
    x, offset, weight, bias, _ = _case(2, torch.float64, 2, 4, 6, 9, 8, 3, 3, (2, 1), (1, 2),
                                       (1, 1), 2, 1, False, True)
    offset = torch.zeros_like(offset)
    ours = deform_conv2d(x, offset, weight, bias, (2, 1), (1, 2), (1, 1))
    torch.testing.assert_close(ours, torch.nn.functional.conv2d(x, weight, bias, (2, 1), (1, 2), 1, 2))


def test_offset_layout_dy_dx():
    # A single tap, one offset group: offset channel 0 moves the sample down (y), channel 1 right (x).
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    w = torch.ones(1, 1, 1, 1)
    off = torch.zeros(1, 2, 5, 5)
    off[:, 0] = 1.0  # dy
    out = deform_conv2d(x, off, w)
    assert out[0, 0, 0, 0].item() == 5.0  # pixel (1, 0)
    off = torch.zeros(1, 2, 5, 5)
    off[:, 1] = 1.0  # dx
    assert deform_conv2d(x, off, w)[0, 0, 0, 0].item() == 1.0  # pixel (0, 1)


def test_module_and_repr():
    torch.manual_seed(0)
    theirs = ops.DeformConv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2, bias=False)
    torch.manual_seed(0)
    ours = DeformConv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2, bias=False)
    assert repr(ours) == repr(theirs)
    assert torch.equal(ours.weight, theirs.weight)  # same initialisation order
    for args in [(3, 5, 3), (2, 2, (1, 3), 1, 0, 2, 1, True)]:
        assert repr(DeformConv2d(*args)) == repr(ops.DeformConv2d(*args))
    x = feature_map(3, (1, 4, 8, 8), torch.float32)
    off = feature_map(4, (1, 2 * 9, 4, 4), torch.float32)
    with torch.no_grad():
        assert_matches(ours(x, off), theirs(x, off), "deform_conv2d", torch.float32)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(offset_channels=17), ValueError, r"offset.shape\[1\]=17"),
        (dict(offset_channels=36, c_in=3), ValueError, r"offset groups 2.*input.shape\[1\]=3"),
        (dict(weight_in=3), ValueError, r"weight.shape\[1\]=3"),
        (dict(out_hw=(3, 3)), ValueError, r"offset must have shape"),
        (dict(mask_channels=4), ValueError, r"mask.shape=\(1, 4, 4, 4\)"),
        (dict(stride=0), ValueError, r"stride=0"),
        (dict(padding=-1), ValueError, r"padding=-1"),
        (dict(dilation=(1, 0)), ValueError, r"dilation=\(1, 0\)"),
        (dict(offset_dtype=torch.float64), TypeError, r"offset.dtype=torch.float64"),
        (dict(kernel=7), ValueError, r"output size would be"),
    ],
)
def test_invalid_arguments(kwargs, exc, match):
    c_in = kwargs.get("c_in", 4)
    k = kwargs.get("kernel", 3)
    x = torch.randn(1, c_in, 6, 6)
    w = torch.randn(2, kwargs.get("weight_in", c_in), k, k)
    oh, ow = kwargs.get("out_hw", (4, 4))
    off = torch.randn(1, kwargs.get("offset_channels", 2 * k * k), oh, ow,
                      dtype=kwargs.get("offset_dtype", torch.float32))
    mask = torch.rand(1, kwargs["mask_channels"], 4, 4) if "mask_channels" in kwargs else None
    with pytest.raises(exc, match=match):
        deform_conv2d(x, off, w, None, kwargs.get("stride", 1), kwargs.get("padding", 0),
                      kwargs.get("dilation", 1), mask)


def test_module_invalid_arguments():
    with pytest.raises(ValueError, match=r"in_channels=5.*groups=2"):
        DeformConv2d(5, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"out_channels=3.*groups=2"):
        DeformConv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match=r"kernel_size=0"):
        DeformConv2d(4, 4, 0)
