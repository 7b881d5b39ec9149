"""trtops.reference.FeaturePyramidNetwork against torchvision.ops.FeaturePyramidNetwork."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops
from torchvision.ops import feature_pyramid_network as tv_fpn

from trtops.reference import FeaturePyramidNetwork, LastLevelMaxPool, LastLevelP6P7

from ._helpers import assert_matches, feature_map, hsettings


def _extra(kind, in_last, out_channels, ours):
    if kind is None:
        return None
    if kind == "maxpool":
        return LastLevelMaxPool() if ours else tv_fpn.LastLevelMaxPool()
    cls = LastLevelP6P7 if ours else tv_fpn.LastLevelP6P7
    return cls(in_last, out_channels)


@hsettings(25)
@given(
    seed=st.integers(0, 2**31 - 1),
    in_channels=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    out_channels=st.integers(1, 5),
    extra=st.sampled_from([None, "maxpool", "p6p7"]),
    norm=st.booleans(),
    size=st.tuples(st.integers(8, 33), st.integers(8, 33)),
    dtype=st.sampled_from([torch.float64, torch.float32]),
)
def test_matches_torchvision(seed, in_channels, out_channels, extra, norm, size, dtype):
    norm_layer = torch.nn.BatchNorm2d if norm else None
    torch.manual_seed(seed)
    theirs = ops.FeaturePyramidNetwork(in_channels, out_channels,
                                       _extra(extra, in_channels[-1], out_channels, False), norm_layer)
    torch.manual_seed(seed)
    ours = FeaturePyramidNetwork(in_channels, out_channels,
                                 _extra(extra, in_channels[-1], out_channels, True), norm_layer)
    # Same parameter names and, thanks to the same construction order, the same initial values.
    assert repr(ours) == repr(theirs)
    theirs_state, ours_state = theirs.state_dict(), ours.state_dict()
    assert list(theirs_state) == list(ours_state)
    for key in theirs_state:
        assert torch.equal(theirs_state[key], ours_state[key]), key
    theirs.eval().to(dtype)
    ours.eval().to(dtype)
    x = OrderedDict()
    h, w = size
    for i, c in enumerate(in_channels):
        x[f"feat{i}"] = feature_map(seed + i, (2, c, max(1, h >> i), max(1, w >> i)), dtype)
    with torch.no_grad():
        expected = theirs(x)
        actual = ours(x)
    assert list(actual) == list(expected)
    for key in expected:
        assert_matches(actual[key], expected[key], "feature_pyramid_network", dtype)


def test_loads_torchvision_state_dict_including_v1_layout():
    theirs = ops.FeaturePyramidNetwork([3, 5], 4)
    ours = FeaturePyramidNetwork([3, 5], 4)
    ours.load_state_dict(theirs.state_dict())
    x = OrderedDict(a=torch.randn(1, 3, 16, 16), b=torch.randn(1, 5, 8, 8))
    with torch.no_grad():
        assert all(torch.equal(ours(x)[k], theirs(x)[k]) for k in x)
    # v1 checkpoints named the convs "<block>.<i>.weight"
    old = OrderedDict((k.replace(".0.", "."), v) for k, v in theirs.state_dict().items())
    old._metadata = OrderedDict({"": {"version": 1}})
    fresh = FeaturePyramidNetwork([3, 5], 4)
    fresh.load_state_dict(old)
    with torch.no_grad():
        assert all(torch.equal(fresh(x)[k], theirs(x)[k]) for k in x)


def test_invalid_arguments():
    with pytest.raises(ValueError, match=r"in_channels_list=\[3, 0\]"):
        FeaturePyramidNetwork([3, 0], 4)
    with pytest.raises(TypeError, match=r"extra_blocks=str"):
        FeaturePyramidNetwork([3], 4, extra_blocks="pool")
    fpn = FeaturePyramidNetwork([3, 5], 4)
    with pytest.raises(ValueError, match=r"must hold 2 feature maps"):
        fpn(OrderedDict(a=torch.randn(1, 3, 8, 8)))
