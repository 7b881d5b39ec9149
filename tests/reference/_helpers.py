"""Shared hypothesis strategies, input generators and assertions for tests/reference.

Random tensors come from a drawn integer seed through ``torch.Generator`` (hypothesis draws the
seed and the shape/distribution parameters, not every element), which keeps examples cheap
and reproducible; ``derandomize=True`` makes every run draw the same examples.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

try:
    from tests.tolerances import tolerance
except ImportError:  # pytest put tests/ itself on sys.path
    from tolerances import tolerance

#: dtypes torchvision's CPU RoI kernels accept; bfloat16 is compared through float32.
TV_DTYPES = [torch.float64, torch.float32, torch.float16]
ALL_DTYPES = TV_DTYPES + [torch.bfloat16]

BOX_KINDS = ("uniform", "clustered", "tiny", "huge", "out_of_range", "degenerate", "mixed")


def hsettings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def feature_map(
    seed: int,
    shape: Sequence[int],
    dtype: torch.dtype,
    *,
    scale: float = 1.0,
    specials: bool = False,
) -> torch.Tensor:
    """N(0.25, 1) * scale values rounded to ``dtype``; ``specials`` sprinkles NaN/+-inf."""
    g = generator(seed)
    x = (torch.randn(*shape, generator=g, dtype=torch.float64) + 0.25) * scale
    if specials and x.numel() > 0:
        pick = torch.rand(*shape, generator=g, dtype=torch.float64)
        x = torch.where(pick < 0.01, torch.full_like(x, float("nan")), x)
        x = torch.where((pick >= 0.01) & (pick < 0.02), torch.full_like(x, float("inf")), x)
        x = torch.where((pick >= 0.02) & (pick < 0.03), torch.full_like(x, float("-inf")), x)
    return x.to(dtype)


def boxes_xyxy(seed: int, k: int, height: float, width: float, kind: str) -> torch.Tensor:
    """``[k, 4]`` float64 boxes of a given distribution over an image of ``height x width``."""
    g = generator(seed)

    def u(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    if kind == "mixed":
        kinds = [k_ for k_ in BOX_KINDS if k_ != "mixed"]
        parts = [boxes_xyxy(seed + 1 + i, k, height, width, kd) for i, kd in enumerate(kinds)]
        which = torch.randint(0, len(kinds), (k,), generator=g)
        return torch.stack(parts)[which, torch.arange(k)]
    size = torch.tensor([width, height], dtype=torch.float64)
    if kind == "uniform":
        lo = u(k, 2) * size
        wh = u(k, 2) * size * 0.6
    elif kind == "clustered":
        centers = u(3, 2) * size
        c = centers[torch.randint(0, 3, (k,), generator=g)]
        wh = (0.2 + 0.1 * u(1, 2)) * size * (1 + 0.1 * (u(k, 2) - 0.5))
        lo = c - wh / 2 + (u(k, 2) - 0.5) * size * 0.03
    elif kind == "tiny":
        lo = u(k, 2) * size
        wh = u(k, 2) * 1.5
    elif kind == "huge":
        lo = (u(k, 2) - 0.7) * size
        wh = (1.0 + 1.5 * u(k, 2)) * size
    elif kind == "out_of_range":
        lo = (u(k, 2) * 2.0 - 0.8) * size
        wh = u(k, 2) * size * 0.5
    elif kind == "degenerate":
        lo = u(k, 2) * size
        wh = (u(k, 2) - 0.5) * size * 0.3
        wh[torch.arange(k) % 3 == 0] = 0.0  # zero width and height
    else:
        raise ValueError(kind)
    return torch.cat([lo, lo + wh], dim=1)


def rois(
    seed: int, k: int, batch: int, height: float, width: float, kind: str, dtype: torch.dtype
) -> torch.Tensor:
    """``[k, 5]`` RoIs with batch indices in ``[0, batch)``, rounded to ``dtype``."""
    g = generator(seed + 7919)
    b = torch.randint(0, max(batch, 1), (k, 1), generator=g).to(torch.float64)
    return torch.cat([b, boxes_xyxy(seed, k, height, width, kind)], dim=1).to(dtype)


@st.composite
def roi_case(
    draw: Callable,
    *,
    dtypes: Sequence[torch.dtype] = ALL_DTYPES,
    position_sensitive: bool = False,
    max_channels: int = 6,
    max_k: int = 40,
) -> Dict[str, object]:
    """A random RoI-operator problem: map, RoIs, output size, scale, sampling ratio."""
    dtype = draw(st.sampled_from(list(dtypes)))
    ph = draw(st.sampled_from([1, 2, 3, 4, 7]))
    pw = draw(st.sampled_from([1, 2, 3, 5, 7]))
    n = draw(st.integers(1, 3))
    c = draw(st.sampled_from(list(range(1, max_channels + 1))))
    if position_sensitive:
        c = c * ph * pw  # PS ops need C divisible by PH * PW
    ratio = draw(st.sampled_from([-1, 0, 1, 2, 3]))
    # Adaptive grids grow with the RoI: keep maps small there so examples stay fast.
    # Sizes come from short menus rather than st.integers, which mostly yields tiny values.
    sides = [1, 2, 3, 5, 8, 13, 20, 31] if ratio > 0 else [1, 2, 3, 5, 8, 10]
    h = draw(st.sampled_from(sides))
    w = draw(st.sampled_from(sides))
    k = draw(st.sampled_from([0, 1, 2, 5, 9, 16, max_k]))
    scale = draw(st.sampled_from([1.0, 0.5, 0.25, 0.125, 1.0 / 3.0, 0.7, 2.0]))
    kind = draw(st.sampled_from(BOX_KINDS))
    seed = draw(st.integers(0, 2**31 - 1))
    value_scale = draw(st.sampled_from([1.0, 1e-3, 100.0]))
    return {
        "dtype": dtype,
        "ph": ph,
        "pw": pw,
        "input": feature_map(seed, (n, c, h, w), dtype, scale=value_scale),
        "rois": rois(seed + 1, k, n, h / scale, w / scale, kind, dtype),
        "scale": scale,
        "sampling_ratio": ratio,
        "aligned": draw(st.booleans()),
        "kind": kind,
    }


def torchvision_result(fn: Callable[..., torch.Tensor], dtype: torch.dtype, *args: object):
    """torchvision's answer; bfloat16 (which it rejects) is computed in float32 and rounded."""
    if dtype != torch.bfloat16:
        return fn(*args)
    up = [a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
    out = fn(*up)
    return out.to(torch.bfloat16) if isinstance(out, torch.Tensor) else out


def assert_matches(
    actual: torch.Tensor,
    expected: torch.Tensor,
    op: str,
    dtype: torch.dtype,
    *,
    magnitude: float = 1.0,
) -> None:
    """Compare with the ``(reference.<op>, dtype)`` row of tests/tolerances.py. The rows assume
    O(1) values; ``magnitude`` scales ``atol`` for inputs drawn at another scale."""
    tol = dict(tolerance(f"reference.{op}", dtype))
    tol["atol"] *= magnitude
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (tuple(actual.shape), tuple(expected.shape))
    if tol["atol"] == 0.0 and tol["rtol"] == 0.0:
        same = (actual == expected) | (torch.isnan(actual) & torch.isnan(expected))
        if not bool(same.all()):
            bad = (~same).nonzero()[0].tolist()
            diff = (actual.double() - expected.double()).abs()
            raise AssertionError(
                f"{op} {dtype}: {int((~same).sum())} of {same.numel()} elements differ "
                f"(first at {bad}: {actual[tuple(bad)].item()} vs {expected[tuple(bad)].item()}; "
                f"max |diff| {diff[~same].nan_to_num(float('inf')).max().item()})"
            )
    else:
        torch.testing.assert_close(actual, expected, equal_nan=True, **tol)


def sorted_scores(seed: int, n: int, ties: bool) -> torch.Tensor:
    """Distinct scores (a random permutation) or heavily tied ones (5 levels)."""
    g = generator(seed)
    if ties:
        return torch.randint(0, 5, (n,), generator=g).to(torch.float64) / 5
    return torch.randperm(n, generator=g).to(torch.float64) / max(n, 1) + 0.001


def assert_same_set(actual: torch.Tensor, expected: torch.Tensor, scores: torch.Tensor) -> None:
    """Kept sets equal and the result ordered by non-increasing score."""
    assert actual.dtype == torch.int64
    assert sorted(actual.tolist()) == sorted(expected.tolist())
    s = scores[actual].double().nan_to_num(float("inf"))
    assert bool((s[:-1] >= s[1:]).all())


__all__ = [
    "ALL_DTYPES",
    "BOX_KINDS",
    "TV_DTYPES",
    "assert_matches",
    "assert_same_set",
    "boxes_xyxy",
    "feature_map",
    "generator",
    "hsettings",
    "roi_case",
    "rois",
    "sorted_scores",
    "torchvision_result",
]
