"""trtops.reference.sigmoid_focal_loss against torchvision.ops.sigmoid_focal_loss."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import ops

from trtops.reference import sigmoid_focal_loss

from ._helpers import ALL_DTYPES, assert_matches, feature_map, generator, hsettings


@hsettings(60)
@given(
    seed=st.integers(0, 2**31 - 1),
    shape=st.sampled_from([(0,), (7,), (3, 5), (2, 3, 4)]),
    alpha=st.sampled_from([0.25, 0.0, 1.0, 0.5, -1]),
    gamma=st.sampled_from([2, 0, 1.5, 3.0]),
    reduction=st.sampled_from(["none", "mean", "sum"]),
    dtype=st.sampled_from(ALL_DTYPES),
    soft=st.booleans(),
    logit_scale=st.sampled_from([1.0, 10.0, 100.0]),
)
def test_matches_torchvision(seed, shape, alpha, gamma, reduction, dtype, soft, logit_scale):
    inputs = feature_map(seed, shape, dtype, scale=logit_scale)
    g = generator(seed + 1)
    targets = torch.rand(shape, generator=g, dtype=torch.float64)
    targets = (targets if soft else (targets > 0.7).double()).to(dtype)
    actual = sigmoid_focal_loss(inputs, targets, alpha, gamma, reduction)
    expected = ops.sigmoid_focal_loss(inputs, targets, alpha, gamma, reduction)
    assert_matches(actual, expected, "sigmoid_focal_loss", dtype)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(alpha=1.5), ValueError, r"alpha=1.5"),
        (dict(reduction="max"), ValueError, r"reduction='max'"),
        (dict(gamma="2"), TypeError, r"gamma='2'"),
    ],
)
def test_invalid_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sigmoid_focal_loss(torch.randn(4), torch.ones(4), **kwargs)


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"targets.shape=\(3,\)"):
        sigmoid_focal_loss(torch.randn(4), torch.ones(3))
