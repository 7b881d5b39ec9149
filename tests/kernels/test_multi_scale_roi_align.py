"""trtops.ops.MultiScaleRoIAlign / multi_scale_roi_align (one fused launch) against
torchvision.ops.MultiScaleRoIAlign (a Python loop over levels).

CPU tier: float32/float64 bit-identical to torchvision's module with a fixed sampling_ratio (equal
up to the order of additions with adaptive grids), float16/bfloat16 within the
tolerance table of a float64 evaluation; the functional form with `aligned`, canonical
constants, bad batch indices and degenerate boxes. GPU tier: the kernels against torchvision's
module on CUDA and against float64, both layouts, poisoned outputs.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
import torchvision.ops as tv
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops.poolers import LevelMapper

try:
    from tests.mmdet_extractor import boxes_at_level_boundaries, single_roi_extractor
    from tests.tolerances import host_vs_torchvision, tolerance
except ImportError:  # tests/ itself on sys.path
    from mmdet_extractor import boxes_at_level_boundaries, single_roi_extractor
    from tolerances import host_vs_torchvision, tolerance
from trtops.ops import _roi as trt

OP = "multi_scale_roi_align"
NAN = float("nan")
NAMES = ["p2", "p3", "p4", "p5", "p6"]


def make_pyramid(gen, batch, channels, image, levels, dtype=torch.float32, first_level=2):
    """FPN maps P_first .. for an image of size `image` (h, w): level l has stride 2**l."""
    feats = OrderedDict()
    for i in range(levels):
        stride = 2 ** (first_level + i)
        shape = (batch, channels, math.ceil(image[0] / stride), math.ceil(image[1] / stride))
        feats[NAMES[i]] = (torch.randn(shape, generator=gen, dtype=torch.float64) + 0.25).to(dtype)
    return feats


def make_boxes(gen, count, image):
    """Boxes of sizes spanning every FPN level (sqrt(area) from ~8 to ~900 pixels)."""
    h, w = image
    side = torch.exp(torch.empty(count, 2, dtype=torch.float64).uniform_(math.log(8), math.log(900), generator=gen))
    x1 = torch.rand(count, generator=gen, dtype=torch.float64) * w * 1.1 - 0.05 * w
    y1 = torch.rand(count, generator=gen, dtype=torch.float64) * h * 1.1 - 0.05 * h
    return torch.stack([x1, y1, x1 + side[:, 0], y1 + side[:, 1]], dim=1).float()


def poisoned_out(shape, dtype, device="cpu", channels_last=False):
    k, c, ph, pw = shape
    if channels_last:
        return torch.full((k, ph, pw, c), NAN, dtype=dtype, device=device).permute(0, 3, 1, 2)
    return torch.full(shape, NAN, dtype=dtype, device=device)


case = st.fixed_dictionaries(
    {
        "batch": st.integers(1, 2),
        "channels": st.integers(1, 4),
        "levels": st.integers(1, 4),
        "image": st.sampled_from([(64, 64), (96, 128), (100, 76)]),
        "per_image": st.integers(0, 8),
        "output": st.sampled_from([(7, 7), (2, 3), (1, 1)]),
        "sr": st.integers(-1, 2),
        "channels_last": st.booleans(),
        "seed": st.integers(0, 2**31 - 1),
    }
)


@pytest.mark.kernels
@settings(max_examples=80, deadline=None, derandomize=True)
@given(p=case)
def test_host_module_matches_torchvision(p):
    gen = torch.Generator().manual_seed(p["seed"])
    names = NAMES[: p["levels"]]
    for dtype in (torch.float64, torch.float32):
        feats = make_pyramid(gen, p["batch"], p["channels"], p["image"], p["levels"], dtype)
        boxes = [make_boxes(gen, p["per_image"], p["image"]).to(dtype) for _ in range(p["batch"])]
        shapes = [p["image"]] * p["batch"]
        expected = tv.MultiScaleRoIAlign(names, p["output"], p["sr"])(feats, boxes, shapes)
        if p["channels_last"]:
            feats = OrderedDict((k, v.to(memory_format=torch.channels_last)) for k, v in feats.items())
        actual = trt.MultiScaleRoIAlign(names, p["output"], p["sr"])(feats, boxes, shapes)
        torch.testing.assert_close(actual, expected, **host_vs_torchvision(OP, dtype, p["sr"]))


@pytest.mark.kernels
@settings(max_examples=20, deadline=None, derandomize=True)
@given(p=case, dtype=st.sampled_from([torch.float16, torch.bfloat16]))
def test_host_low_precision_within_tolerance(p, dtype):
    gen = torch.Generator().manual_seed(p["seed"])
    names = NAMES[: p["levels"]]
    feats = make_pyramid(gen, p["batch"], p["channels"], p["image"], p["levels"], dtype)
    boxes = [make_boxes(gen, p["per_image"], p["image"]) for _ in range(p["batch"])]
    shapes = [p["image"]] * p["batch"]
    feats64 = OrderedDict((k, v.double()) for k, v in feats.items())
    expected = tv.MultiScaleRoIAlign(names, p["output"], p["sr"])(feats64, [b.double() for b in boxes], shapes)
    if p["channels_last"]:
        feats = OrderedDict((k, v.to(memory_format=torch.channels_last)) for k, v in feats.items())
    actual = trt.MultiScaleRoIAlign(names, p["output"], p["sr"])(feats, boxes, shapes)
    assert actual.dtype == dtype
    torch.testing.assert_close(actual.double(), expected, **tolerance(OP, dtype))


def composed_reference(features, rois, output_size, scales, sr, aligned, canonical_scale, canonical_level):
    """torchvision's LevelMapper + roi_align per level, with zeros for rows no level takes."""
    k_min = int(-math.log2(scales[0]))
    k_max = int(-math.log2(scales[-1]))
    mapper = LevelMapper(k_min, k_max, canonical_scale, canonical_level)
    levels = mapper([rois[:, 1:]]) if len(features) > 1 else torch.zeros(len(rois), dtype=torch.int64)
    out = torch.zeros((len(rois), features[0].shape[1], *output_size), dtype=features[0].dtype)
    for level, (f, s) in enumerate(zip(features, scales)):
        idx = torch.where(levels == level)[0]
        if len(idx):
            out[idx] = tv.roi_align(f, rois[idx], output_size, s, sr, aligned)
    return out


@pytest.mark.kernels
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("canonical", [(224, 4), (112, 3)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_host_functional_aligned_and_canonical(aligned, canonical, channels_last):
    gen = torch.Generator().manual_seed(3)
    feats = list(make_pyramid(gen, 2, 3, (128, 160), 4).values())
    rois = torch.cat([torch.randint(0, 2, (40, 1), generator=gen).float(), make_boxes(gen, 40, (128, 160))], 1)
    scales = [0.25, 0.125, 0.0625, 0.03125]
    expected = composed_reference(feats, rois, (3, 4), scales, 2, aligned, *canonical)
    if channels_last:
        feats = [f.to(memory_format=torch.channels_last) for f in feats]
    out = poisoned_out(expected.shape, torch.float32, channels_last=channels_last)
    actual = trt.multi_scale_roi_align(feats, rois, (3, 4), scales, 2, aligned, *canonical, _out=out)
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)


@pytest.mark.kernels
@pytest.mark.parametrize("levels", [1, 3])
def test_host_bad_rows_and_degenerate_boxes(levels):
    gen = torch.Generator().manual_seed(4)
    feats = list(make_pyramid(gen, 2, 3, (64, 64), levels).values())
    scales = [0.25 / 2**i for i in range(levels)]
    rows = torch.tensor(
        [
            [0, 4.0, 4.0, 40.0, 50.0],  # fine
            [2, 4.0, 4.0, 40.0, 50.0],  # bad batch index -> zeros
            [-1, 4.0, 4.0, 40.0, 50.0],
            [NAN, 4.0, 4.0, 40.0, 50.0],
            [1, NAN, 4.0, 40.0, 50.0],  # NaN coordinate -> zeros
            [1, 30.0, 4.0, 10.0, 50.0],  # negative area: torchvision's mapper gives NaN -> zeros
            [1, 10.0, 10.0, 10.0, 10.0],  # zero area -> lowest level
            [0, -1e4, -1e4, 1e4, 1e4],  # huge -> highest level
        ]
    )
    actual = trt.multi_scale_roi_align(feats, rows, 2, scales, 2, _out=poisoned_out((8, 3, 2, 2), torch.float32))
    assert not torch.isnan(actual).any()
    for i in (1, 2, 3, 4):
        assert torch.equal(actual[i], torch.zeros_like(actual[i]))
    if levels > 1:
        assert torch.equal(actual[5], torch.zeros_like(actual[5]))
    ok = [0, 6, 7] if levels > 1 else [0, 5, 6, 7]
    expected = composed_reference(feats, rows[ok], (2, 2), scales, 2, False, 224, 4)
    torch.testing.assert_close(actual[ok], expected, atol=0, rtol=0)


@pytest.mark.kernels
@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"features": []}, ValueError, r"multi_scale_roi_align: between 1 and 8 feature levels"),
        ({"scales": [0.25]}, ValueError, r"multi_scale_roi_align: scales has 1 entries for 2 feature levels"),
        ({"features": [torch.ones((1, 3, 8, 8)), torch.ones((1, 4, 4, 4))]}, ValueError, r"features\[1\]"),
        ({"rois": torch.zeros((3, 4))}, ValueError, r"multi_scale_roi_align: rois must have shape \[K, 5\]"),
        ({"output_size": 0}, ValueError, r"multi_scale_roi_align: output_size must be positive"),
        ({"scales": [0.25, 0.0]}, ValueError, r"multi_scale_roi_align level 1: spatial_scale must be finite"),
        ({"canonical_scale": 0}, ValueError, r"multi_scale_roi_align: canonical_scale must be positive, got 0"),
    ],
)
def test_invalid_arguments(change, error, match):
    args = {
        "features": [torch.ones((1, 3, 8, 8)), torch.ones((1, 3, 4, 4))],
        "rois": torch.tensor([[0, 1.0, 1.0, 9.0, 9.0]]),
        "output_size": 2,
        "scales": [0.25, 0.125],
        "sampling_ratio": 2,
    }
    args.update(change)
    with pytest.raises(error, match=match):
        trt.multi_scale_roi_align(
            args["features"], args["rois"], args["output_size"], args["scales"], args["sampling_ratio"],
            canonical_scale=args.get("canonical_scale", 224),
        )


@pytest.mark.kernels
def test_module_repr():
    assert "MultiScaleRoIAlign(featmap_names=['p2'], output_size=(7, 7), sampling_ratio=2)" in repr(
        trt.MultiScaleRoIAlign(["p2"], 7, 2)
    )


@pytest.mark.kernels
@settings(max_examples=25, deadline=None, derandomize=True)
@given(p=case, dtype=st.sampled_from([torch.float64, torch.float32, torch.bfloat16]))
def test_host_matches_trtops_reference(p, dtype):
    # float16 is left out: the reference reproduces torchvision's float16 arithmetic (rounding
    # after each operation); the kernels accumulate in float32 and are checked against float64.
    reference = pytest.importorskip("trtops.reference")
    gen = torch.Generator().manual_seed(p["seed"])
    names = NAMES[: p["levels"]]
    feats = make_pyramid(gen, p["batch"], p["channels"], p["image"], p["levels"], dtype)
    boxes = [make_boxes(gen, p["per_image"], p["image"]).to(dtype) for _ in range(p["batch"])]
    shapes = [p["image"]] * p["batch"]
    expected = reference.MultiScaleRoIAlign(names, p["output"], p["sr"])(feats, boxes, shapes)
    actual = trt.MultiScaleRoIAlign(names, p["output"], p["sr"])(feats, boxes, shapes)
    torch.testing.assert_close(actual, expected, **tolerance(OP, dtype))


# ----- mmdet's level mapper ----------------------------------------------------------------------


def mmdet_pyramid(gen, batch, channels, image, strides, dtype=torch.float32):
    return [
        (torch.randn((batch, channels, math.ceil(image[0] / s), math.ceil(image[1] / s)), generator=gen,
                     dtype=torch.float64) + 0.25).to(dtype)
        for s in strides
    ]


def mmdet_rois(gen, count, batch, image):
    boxes = make_boxes(gen, count, image)
    return torch.cat([torch.randint(0, batch, (count, 1), generator=gen).float(), boxes], 1)


mmdet_case = st.fixed_dictionaries(
    {
        "batch": st.integers(1, 2),
        "channels": st.integers(1, 4),
        # mmdet's strides need not be powers of two, nor its levels be ordered
        "strides": st.sampled_from([(4, 8, 16, 32), (4, 8, 16, 32, 64), (6, 12, 24), (8,), (16, 8)]),
        "finest_scale": st.sampled_from([56, 32, 100]),
        "count": st.integers(0, 20),
        "output": st.sampled_from([(7, 7), (2, 3)]),
        "sr": st.integers(-1, 2),
        "aligned": st.booleans(),
        "channels_last": st.booleans(),
        "seed": st.integers(0, 2**31 - 1),
    }
)


@pytest.mark.kernels
@settings(max_examples=60, deadline=None, derandomize=True)
@given(p=mmdet_case)
def test_host_mmdet_mapper_matches_mmdet_extractor(p):
    gen = torch.Generator().manual_seed(p["seed"])
    image = (96, 128)
    scales = [1 / s for s in p["strides"]]
    for dtype in (torch.float64, torch.float32):
        feats = mmdet_pyramid(gen, p["batch"], p["channels"], image, p["strides"], dtype)
        rois = mmdet_rois(gen, p["count"], p["batch"], image).to(dtype)
        expected = single_roi_extractor(
            feats, rois, p["output"], p["strides"], p["sr"], p["aligned"], p["finest_scale"]
        )
        if p["channels_last"]:
            feats = [f.to(memory_format=torch.channels_last) for f in feats]
        out = poisoned_out(tuple(expected.shape), dtype, channels_last=p["channels_last"])
        actual = trt.multi_scale_roi_align(
            feats, rois, p["output"], scales, p["sr"], p["aligned"], level_mapper="mmdet",
            finest_scale=p["finest_scale"], _out=out,
        )
        torch.testing.assert_close(actual, expected, **host_vs_torchvision(OP, dtype, p["sr"]))


@pytest.mark.kernels
def test_host_mmdet_mapper_at_level_boundaries():
    reference = pytest.importorskip("trtops.reference")
    gen = torch.Generator().manual_seed(11)
    strides = (4, 8, 16, 32, 64)
    feats = mmdet_pyramid(gen, 1, 2, (640, 640), strides)
    rois = boxes_at_level_boundaries()
    mmdet_levels = reference.MmdetLevelMapper(len(strides))([rois[:, 1:]])
    torchvision_levels = reference.LevelMapper(2, 6)([rois[:, 1:]])
    differ = int((mmdet_levels != torchvision_levels).sum())
    # The boxes discriminate: some land on different levels under the two mappers.
    assert differ > 0
    expected = single_roi_extractor(feats, rois, (3, 3), strides, 2, True, 56)
    scales = [1 / s for s in strides]
    actual = trt.multi_scale_roi_align(feats, rois, 3, scales, 2, True, level_mapper="mmdet", finest_scale=56)
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)
    # ... and the torchvision mapper pools those boxes elsewhere.
    other = trt.multi_scale_roi_align(feats, rois, 3, scales, 2, True)
    moved = (other != actual).flatten(1).any(1)
    assert int(moved.sum()) == differ


@pytest.mark.kernels
def test_host_mmdet_mapper_bad_rows():
    gen = torch.Generator().manual_seed(5)
    strides = (4, 8, 16)
    feats = mmdet_pyramid(gen, 2, 3, (64, 64), strides)
    rows = torch.tensor(
        [
            [0, 4.0, 4.0, 40.0, 50.0],  # fine
            [2, 4.0, 4.0, 40.0, 50.0],  # bad batch index -> zeros
            [1, NAN, 4.0, 40.0, 50.0],  # NaN coordinate -> zeros
            [1, 30.0, 4.0, 10.0, 50.0],  # negative area: mmdet's level is NaN -> zeros
            [1, 10.0, 10.0, 10.0, 10.0],  # zero area -> level 0
            [0, -1e4, -1e4, 1e4, 1e4],  # huge -> last level
            [1, 50.0, 50.0, 10.0, 10.0],  # flipped corners: positive area, mapped as mmdet does
        ]
    )
    scales = [1 / s for s in strides]
    actual = trt.multi_scale_roi_align(
        feats, rows, 2, scales, 0, True, level_mapper="mmdet", _out=poisoned_out((7, 3, 2, 2), torch.float32)
    )
    for i in (1, 2, 3):
        assert torch.equal(actual[i], torch.zeros_like(actual[i]))
    ok = [0, 4, 5, 6]
    expected = single_roi_extractor(feats, rows[ok], (2, 2), strides, 0, True, 56)
    torch.testing.assert_close(actual[ok], expected, **host_vs_torchvision(OP, torch.float32, 0))


@pytest.mark.kernels
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_host_mmdet_mapper_low_precision(dtype):
    gen = torch.Generator().manual_seed(6)
    strides = (4, 8, 16, 32)
    feats = mmdet_pyramid(gen, 2, 4, (128, 160), strides, dtype)
    rois = mmdet_rois(gen, 60, 2, (128, 160))
    expected = single_roi_extractor([f.double() for f in feats], rois.double(), (7, 7), strides, 0, True, 56,
                                    level_rois=rois)
    actual = trt.multi_scale_roi_align(feats, rois, 7, [1 / s for s in strides], 0, True, level_mapper="mmdet")
    assert actual.dtype == dtype
    torch.testing.assert_close(actual.double(), expected, **tolerance(OP, dtype))


@pytest.mark.kernels
@pytest.mark.parametrize(
    "change, match",
    [
        ({"level_mapper": "detectron"}, r"multi_scale_roi_align: level_mapper must be one of \['mmdet', 'torchvision'\], got 'detectron'"),
        ({"finest_scale": 0}, r"multi_scale_roi_align: finest_scale must be positive, got 0"),
        ({"finest_scale": -56}, r"multi_scale_roi_align: finest_scale must be positive, got -56"),
    ],
)
def test_invalid_mmdet_mapper_arguments(change, match):
    args = {"level_mapper": "mmdet", "finest_scale": 56, **change}
    with pytest.raises(ValueError, match=match):
        trt.multi_scale_roi_align(
            [torch.ones((1, 3, 8, 8)), torch.ones((1, 3, 4, 4))], torch.tensor([[0, 1.0, 1.0, 9.0, 9.0]]), 2,
            [0.25, 0.125], 2, **args,
        )


@pytest.mark.kernels
@pytest.mark.parametrize("level_mapper", ["torchvision", "mmdet"])
def test_trtops_reference_level_mappers(level_mapper):
    """converters' evaluator (trtops.reference's mappers) agrees with the host kernel."""
    from trtops.converters import _semantics

    gen = torch.Generator().manual_seed(8)
    feats = mmdet_pyramid(gen, 2, 3, (128, 128), (4, 8, 16, 32), torch.float64)
    rois = torch.cat([mmdet_rois(gen, 50, 2, (128, 128)), boxes_at_level_boundaries()[:20]]).double()
    scales = [0.25, 0.125, 0.0625, 0.03125]
    expected = _semantics.multi_scale_roi_align(
        feats, rois, 2, 2, 2, scales, aligned=True, level_mapper=trt.LEVEL_MAPPERS[level_mapper], finest_scale=56
    )
    actual = trt.multi_scale_roi_align(feats, rois, 2, scales, 2, True, level_mapper=level_mapper)
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)


# ----- GPU tier ---------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("channels", [3, 64, 256])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("sr", [2, 0])
def test_cuda_matches_torchvision_module_and_float64(dtype, channels, channels_last, sr):
    gen = torch.Generator().manual_seed(channels + sr)
    image = (200, 304)
    names = NAMES[:4]
    feats = make_pyramid(gen, 2, channels, image, 4, dtype)
    boxes = [make_boxes(gen, 150, image) for _ in range(2)]
    shapes = [image, image]
    feats64 = OrderedDict((k, v.double()) for k, v in feats.items())
    expected64 = tv.MultiScaleRoIAlign(names, 7, sr)(feats64, [b.double() for b in boxes], shapes)
    feats_d = OrderedDict((k, v.cuda()) for k, v in feats.items())
    if channels_last:
        feats_d = OrderedDict((k, v.to(memory_format=torch.channels_last)) for k, v in feats_d.items())
    boxes_d = [b.cuda() for b in boxes]
    module = trt.MultiScaleRoIAlign(names, 7, sr)
    actual = module(feats_d, boxes_d, shapes)
    assert actual.is_cuda and actual.dtype == dtype
    torch.testing.assert_close(actual.cpu().double(), expected64, **tolerance(OP, dtype))
    if dtype in (torch.float32, torch.float64):
        expected_tv = tv.MultiScaleRoIAlign(names, 7, sr)(
            OrderedDict((k, v.cuda()) for k, v in feats.items()), [b.to(dtype) for b in boxes_d], shapes
        )
        torch.testing.assert_close(actual, expected_tv, **tolerance(OP, dtype))
    # Poisoned output through the functional form.
    rois = torch.cat([torch.cat([torch.full((150, 1), float(i)), b], 1) for i, b in enumerate(boxes)]).cuda()
    out = poisoned_out(tuple(actual.shape), dtype, "cuda", channels_last)
    again = trt.multi_scale_roi_align(list(feats_d.values()), rois, 7, module.scales, sr, _out=out)
    torch.testing.assert_close(again, actual, atol=0, rtol=0)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_mmdet_mapper_matches_host_and_mmdet_extractor(dtype, channels_last):
    gen = torch.Generator().manual_seed(21)
    strides = (4, 8, 16, 32)
    image = (200, 304)
    feats = mmdet_pyramid(gen, 2, 64, image, strides, dtype)
    rois = torch.cat([mmdet_rois(gen, 300, 2, image), boxes_at_level_boundaries()])
    scales = [1 / s for s in strides]
    expected64 = single_roi_extractor([f.double() for f in feats], rois.double(), (7, 7), strides, 0, True, 56,
                                      level_rois=rois)
    feats_d = [f.cuda() for f in feats]
    if channels_last:
        feats_d = [f.to(memory_format=torch.channels_last) for f in feats_d]
    out = poisoned_out(tuple(expected64.shape), dtype, "cuda", channels_last)
    actual = trt.multi_scale_roi_align(feats_d, rois.cuda(), 7, scales, 0, True, level_mapper="mmdet", _out=out)
    torch.testing.assert_close(actual.cpu().double(), expected64, **tolerance(OP, dtype))
    host = trt.multi_scale_roi_align(feats, rois, 7, scales, 0, True, level_mapper="mmdet")
    torch.testing.assert_close(actual.cpu(), host, **tolerance(OP, dtype))
