"""trtops.reference.MultiScaleRoIAlign against torchvision.ops.MultiScaleRoIAlign."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops
from torchvision.ops import poolers as tv_poolers

from trtops.reference import LevelMapper, MultiScaleRoIAlign

from ._helpers import BOX_KINDS, assert_matches, boxes_xyxy, feature_map, hsettings


def _pyramid(seed, image_shapes, strides, channels, dtype, names):
    """FPN-like maps of a batch padded to a multiple of 32, as a detector produces them."""
    pad_h = int(math.ceil(max(h for h, _ in image_shapes) / 32) * 32)
    pad_w = int(math.ceil(max(w for _, w in image_shapes) / 32) * 32)
    x = OrderedDict()
    for i, (name, stride) in enumerate(zip(names, strides)):
        shape = (len(image_shapes), channels, pad_h // stride, pad_w // stride)
        x[name] = feature_map(seed + i, shape, dtype)
    return x


@hsettings(100)
@given(
    seed=st.integers(0, 2**31 - 1),
    image_shapes=st.lists(st.tuples(st.integers(40, 200), st.integers(40, 200)), min_size=1, max_size=3),
    counts=st.lists(st.integers(0, 12), min_size=3, max_size=3),
    kind=st.sampled_from(BOX_KINDS),
    levels=st.sampled_from([("p2", "p3", "p4", "p5"), ("p3", "p4", "p5"), ("p4",), ("p2", "p4")]),
    output_size=st.sampled_from([7, (7, 7), (3, 5), [2, 2]]),
    sampling_ratio=st.sampled_from([2, 0, -1, 1]),
    canonical=st.sampled_from([(224, 4), (112, 3), (56, 5)]),
    dtype=st.sampled_from([torch.float64, torch.float32, torch.float16]),
)
def test_matches_torchvision(seed, image_shapes, counts, kind, levels, output_size, sampling_ratio,
                             canonical, dtype):
    names = ["p2", "p3", "p4", "p5"]
    x = _pyramid(seed, image_shapes, [4, 8, 16, 32], 3, dtype, names)
    boxes = [
        boxes_xyxy(seed + 10 + i, counts[i], h, w, kind).to(dtype)
        for i, (h, w) in enumerate(image_shapes)
    ]
    kwargs = dict(canonical_scale=canonical[0], canonical_level=canonical[1])
    ours = MultiScaleRoIAlign(list(levels), output_size, sampling_ratio, **kwargs)
    theirs = ops.MultiScaleRoIAlign(list(levels), output_size, sampling_ratio, **kwargs)
    actual = ours(x, boxes, image_shapes)
    expected = theirs(x, boxes, image_shapes)
    assert ours.scales == theirs.scales
    assert_matches(actual, expected, "multi_scale_roi_align", dtype)


def test_detector_shapes():
    # Faster R-CNN: P2-P5 of an 800x1216 batch of two, boxes of all sizes.
    image_shapes = [(800, 1199), (781, 1216)]
    x = _pyramid(1, image_shapes, [4, 8, 16, 32], 4, torch.float32, ["0", "1", "2", "3"])
    x["pool"] = feature_map(9, (2, 4, 13, 19), torch.float32)  # not pooled from
    boxes = [boxes_xyxy(2, 150, 800, 1199, "mixed").float(), boxes_xyxy(3, 90, 781, 1216, "huge").float()]
    ours = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    theirs = ops.MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    assert_matches(ours(x, boxes, image_shapes), theirs(x, boxes, image_shapes),
                   "multi_scale_roi_align", torch.float32)
    assert ours.scales == theirs.scales == [0.25, 0.125, 0.0625, 0.03125]


def test_scales_are_cached_like_torchvision():
    x = _pyramid(4, [(128, 128)], [4, 8], 2, torch.float32, ["a", "b"])
    boxes = [boxes_xyxy(5, 10, 128, 128, "uniform").float()]
    ours, theirs = MultiScaleRoIAlign(["a", "b"], 2, 2), ops.MultiScaleRoIAlign(["a", "b"], 2, 2)
    ours(x, boxes, [(128, 128)])
    theirs(x, boxes, [(128, 128)])
    # A second call with another image size reuses the first call's scales in both.
    assert torch.equal(ours(x, boxes, [(512, 512)]), theirs(x, boxes, [(512, 512)]))
    assert ours.scales == theirs.scales == [0.25, 0.125]


def test_feature_order_follows_x_not_featmap_names():
    x = _pyramid(6, [(96, 96)], [4, 8, 16], 2, torch.float32, ["c", "b", "a"])
    boxes = [boxes_xyxy(7, 12, 96, 96, "mixed").float()]
    names = ["a", "b", "c"]
    assert torch.equal(MultiScaleRoIAlign(names, 3, 2)(x, boxes, [(96, 96)]),
                       ops.MultiScaleRoIAlign(names, 3, 2)(x, boxes, [(96, 96)]))


def test_one_element_output_size_is_repeated():
    # int_pair's rule for every trtops op; torchvision's module keeps (3,) and then fails.
    x = _pyramid(7, [(96, 96)], [4, 8], 2, torch.float32, ["a", "b"])
    boxes = [boxes_xyxy(7, 12, 96, 96, "mixed").float()]
    pooler = MultiScaleRoIAlign(["a", "b"], [3], 2)
    assert pooler.output_size == (3, 3)
    assert torch.equal(pooler(x, boxes, [(96, 96)]), MultiScaleRoIAlign(["a", "b"], 3, 2)(x, boxes, [(96, 96)]))


def test_empty_boxes():
    x = _pyramid(8, [(64, 64), (64, 64)], [4, 8], 2, torch.float32, ["a", "b"])
    boxes = [torch.zeros((0, 4)), torch.zeros((0, 4))]
    out = MultiScaleRoIAlign(["a", "b"], (2, 3), 2)(x, boxes, [(64, 64)] * 2)
    assert out.shape == (0, 2, 2, 3)


@pytest.mark.parametrize("canonical", [(224, 4), (100, 2)])
def test_level_mapper(canonical):
    sizes = torch.tensor([1.0, 10, 111.9, 112, 223.99, 224, 224.01, 447, 448, 449, 2000])
    boxes = [torch.stack([torch.zeros_like(sizes), torch.zeros_like(sizes), sizes, sizes], 1)]
    ours = LevelMapper(2, 5, *canonical)
    theirs = tv_poolers.LevelMapper(2, 5, *canonical)
    assert torch.equal(ours(boxes), theirs(boxes))


def test_eps_is_configurable():
    # sqrt(area) = 224 * 2**-1 sits exactly on a level boundary: eps decides.
    boxes = [torch.tensor([[0.0, 0.0, 112.0, 112.0]])]
    assert LevelMapper(2, 5)(boxes).tolist() == [1]
    assert LevelMapper(2, 5, eps=-1e-6)(boxes).tolist() == [0]


def test_repr():
    for args in [(["0", "1"], 7, 2), (["feat"], (3, 5), -1)]:
        assert repr(MultiScaleRoIAlign(*args)) == repr(ops.MultiScaleRoIAlign(*args))


def test_invalid_arguments():
    x = _pyramid(9, [(64, 64)], [4], 2, torch.float32, ["a"])
    boxes = [boxes_xyxy(1, 3, 64, 64, "uniform").float()]
    with pytest.raises(ValueError, match=r"image_shapes=\[\]"):
        MultiScaleRoIAlign(["a"], 2, 2)(x, boxes, [])
    with pytest.raises(ValueError, match=r"featmap_names=\['z'\]"):
        MultiScaleRoIAlign(["z"], 2, 2)(x, boxes, [(64, 64)])
    with pytest.raises(TypeError, match=r"featmap_names="):
        MultiScaleRoIAlign("a", 2, 2)
    with pytest.raises(ValueError, match=r"output_size=\(0, 2\)"):
        MultiScaleRoIAlign(["a"], (0, 2), 2)
    with pytest.raises(TypeError, match=r"boxes must be a list"):
        MultiScaleRoIAlign(["a"], 2, 2)(x, boxes[0], [(64, 64)])
