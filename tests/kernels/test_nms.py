"""trtops.ops._nms: host implementation vs torchvision (CPU tier) and CUDA kernels vs torchvision CUDA
and vs the host implementation (GPU tier).

NMS is exact: keep lists are compared with torch.equal. Where torchvision's own arithmetic is not
fully determined (its CUDA kernel may contract into FMAs and compares against float(threshold)),
GPU comparisons with torchvision use coordinates on a 1/4 grid (every product and sum exact) and
thresholds exactly representable in float; everything else is compared with the host
implementation, which the CPU tier proves equal to torchvision's CPU kernel.
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trtops.ops._nms import _nms_into, nms

try:
    from tests.tolerances import TOLERANCES
except ImportError:  # tests/ not a package on sys.path
    from tolerances import TOLERANCES

# Index outputs are exact: the table says so (atol = rtol = 0).
assert all(TOLERANCES[("nms", d)] == {"atol": 0.0, "rtol": 0.0} for d in ("float64", "float32", "float16"))

SETTINGS = settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------
def random_boxes(n: int, gen: torch.Generator, size: float = 100.0, extent: float = 1000.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * extent
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * size + 0.5
    return torch.cat([xy, xy + wh], dim=1)


def clustered_boxes(n: int, gen: torch.Generator, clusters: int = 20, extent: float = 1000.0) -> torch.Tensor:
    """Boxes jittered around a few cluster boxes: the heavy-overlap case detectors produce."""
    centers = torch.rand(clusters, 2, generator=gen, dtype=torch.float64) * extent
    sizes = torch.rand(clusters, 2, generator=gen, dtype=torch.float64) * 150 + 20
    which = torch.randint(0, clusters, (n,), generator=gen)
    c = centers[which] + torch.randn(n, 2, generator=gen, dtype=torch.float64) * 8
    s = sizes[which] * (1 + 0.15 * torch.randn(n, 2, generator=gen, dtype=torch.float64)).clamp(min=0.2)
    return torch.cat([c - s / 2, c + s / 2], dim=1)


def quantized(boxes: torch.Tensor) -> torch.Tensor:
    """Coordinates on a 1/4 grid below 512: differences, areas and sums are exact in float16/32."""
    return (boxes.clamp(0, 511) * 4).round() / 4


def tie_free_scores(n: int, gen: torch.Generator) -> torch.Tensor:
    return (torch.randperm(n, generator=gen).to(torch.float64) + 1) / (n + 1)


def make_case(kind: str, n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    if kind == "random":
        boxes = random_boxes(n, gen)
    elif kind == "clustered":
        boxes = clustered_boxes(n, gen)
    elif kind == "integer":
        boxes = torch.floor(random_boxes(n, gen, size=40, extent=100))
    elif kind == "identical":
        boxes = random_boxes(1, gen).repeat(n, 1)
    elif kind == "nested":
        base = random_boxes(1, gen)
        shrink = torch.rand(n, 1, generator=gen, dtype=torch.float64) * 20
        boxes = base + torch.cat([shrink, shrink, -shrink, -shrink], dim=1)
    elif kind == "degenerate":
        boxes = random_boxes(n, gen)
        flat = torch.rand(n, generator=gen) < 0.5
        boxes[flat, 2] = boxes[flat, 0]
    else:
        raise AssertionError(kind)
    scores = torch.rand(n, generator=gen, dtype=torch.float64)
    return boxes, scores


def tv_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    return torchvision.ops.nms(boxes, scores, threshold)


def extras_reference(boxes, scores, threshold, score_threshold=None, max_output_boxes=None):
    """Score threshold + cap composed from torchvision's nms."""
    candidates = torch.arange(boxes.size(0))
    if score_threshold is not None:
        candidates = torch.nonzero(scores >= score_threshold).flatten()
    keep = candidates[tv_nms(boxes[candidates], scores[candidates], threshold)]
    if max_output_boxes is not None:
        keep = keep[:max_output_boxes]
    return keep


def greedy_reference_fp16(boxes16: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """torchvision's CUDA float16 arithmetic, written with torch ops: coordinate differences rounded
    to float16, products and the division in float32, compared as (double)iou > threshold."""
    n = boxes16.size(0)
    order = torch.sort(scores.float(), descending=True, stable=True).indices
    b = boxes16[order]
    x1, y1, x2, y2 = b.unbind(1)
    area = (x2.float() - x1.float()) * (y2 - y1).float()
    left = torch.maximum(x1[:, None], x1[None, :])
    right = torch.minimum(x2[:, None], x2[None, :])
    top = torch.maximum(y1[:, None], y1[None, :])
    bottom = torch.minimum(y2[:, None], y2[None, :])
    w = (right - left).float().clamp(min=0)
    h = (bottom - top).float().clamp(min=0)
    inter = w * h
    iou = inter / ((area[:, None] + area[None, :]) - inter)
    over = iou.double() > threshold
    removed = torch.zeros(n, dtype=torch.bool)
    keep = []
    for i in range(n):
        if removed[i]:
            continue
        keep.append(int(order[i]))
        removed[i + 1 :] |= over[i, i + 1 :]
    return torch.tensor(keep, dtype=torch.int64)


# ----------------------------------------------------------------------------------------------
# CPU tier: host implementation
# ----------------------------------------------------------------------------------------------
@pytest.mark.kernels
@SETTINGS
@given(
    kind=st.sampled_from(["random", "clustered", "integer", "identical", "nested", "degenerate"]),
    n=st.integers(1, 300),
    seed=st.integers(0, 2**31 - 1),
    threshold=st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_host_matches_torchvision(kind, n, seed, threshold, dtype):
    boxes, scores = make_case(kind, n, seed)
    boxes, scores = boxes.to(dtype), scores.to(dtype)
    assert torch.equal(nms(boxes, scores, threshold), tv_nms(boxes, scores, threshold))


@pytest.mark.kernels
@SETTINGS
@given(n=st.integers(1, 200), seed=st.integers(0, 2**31 - 1), threshold=st.sampled_from([0.2, 0.5, 0.7]))
def test_host_float16_matches_torchvision_cuda_arithmetic(n, seed, threshold):
    boxes, scores = make_case("clustered", n, seed)
    boxes16 = boxes.clamp(-60000, 60000).half()
    scores16 = scores.half()
    assert torch.equal(nms(boxes16, scores16, threshold), greedy_reference_fp16(boxes16, scores16, threshold))


def _edge_cases():
    nan, inf = math.nan, math.inf
    base = [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0], [0.0, 0.0, 10.0, 10.0]]
    return {
        "empty": ([], [], 0.5),
        "single": ([[1.0, 2.0, 3.0, 4.0]], [0.3], 0.5),
        "identical_tied": ([[0.0, 0.0, 5.0, 5.0]] * 4, [0.5] * 4, 0.5),
        "tied_scores": (base, [0.7, 0.7, 0.7, 0.7], 0.5),
        "threshold_zero": (base, [0.9, 0.8, 0.7, 0.6], 0.0),
        "threshold_one": (base, [0.9, 0.8, 0.7, 0.6], 1.0),
        "threshold_negative": (base, [0.9, 0.8, 0.7, 0.6], -0.5),
        "zero_area": ([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 5], [0, 0, 4, 4]], [0.9, 0.8, 0.7, 0.6], 0.5),
        "zero_area_negative_threshold": ([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 4, 4]], [0.9, 0.8, 0.6], -1.0),
        "inverted": ([[10, 10, 0, 0], [0, 0, 10, 10], [9, 9, 1, 1]], [0.9, 0.8, 0.7], 0.3),
        "nested": ([[0, 0, 100, 100], [10, 10, 90, 90], [20, 20, 80, 80], [45, 45, 55, 55]], [0.4, 0.9, 0.6, 0.8], 0.3),
        "nan_scores": (base, [nan, 0.8, nan, 0.9], 0.5),
        "signed_zero_scores": (base, [-0.0, 0.0, -0.0, 0.0], 0.5),
        "inf_scores": (base, [-inf, inf, 0.5, inf], 0.5),
        "nan_coordinates": ([[0, 0, 10, 10], [nan, 0, 10, 10], [0, 0, 10, nan], [1, 1, 10, 10]], [0.5, 0.9, 0.8, 0.4], 0.5),
        "inf_coordinates": ([[0, 0, inf, 10], [0, 0, inf, 10], [-inf, 0, 5, 5], [0, 0, 5, 5]], [0.9, 0.8, 0.7, 0.6], 0.5),
        "huge_coordinates": ([[0, 0, 3e38, 3e38], [1e38, 1e38, 3e38, 3e38], [0, 0, 1, 1]], [0.9, 0.8, 0.7], 0.1),
    }


@pytest.mark.kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(_edge_cases()))
def test_host_edge_cases_match_torchvision(name, dtype):
    boxes, scores, threshold = _edge_cases()[name]
    boxes = torch.tensor(boxes, dtype=dtype).reshape(-1, 4)
    scores = torch.tensor(scores, dtype=dtype)
    assert torch.equal(nms(boxes, scores, threshold), tv_nms(boxes, scores, threshold))


@pytest.mark.kernels
def test_host_stable_ties_lower_index_first():
    boxes = torch.tensor([[0.0, 0, 1, 1], [10, 10, 11, 11], [20, 20, 21, 21], [30, 30, 31, 31]])
    scores = torch.tensor([0.5, 0.9, 0.5, 0.9])
    assert nms(boxes, scores, 0.5).tolist() == [1, 3, 0, 2]
    # NaN first (as torch.sort), then by score, ties by index.
    scores = torch.tensor([0.5, math.nan, 0.7, math.nan])
    assert nms(boxes, scores, 0.5).tolist() == [1, 3, 2, 0]


@pytest.mark.kernels
@SETTINGS
@given(
    n=st.integers(0, 250),
    seed=st.integers(0, 2**31 - 1),
    score_threshold=st.one_of(st.none(), st.floats(0.0, 1.0)),
    max_output_boxes=st.one_of(st.none(), st.integers(0, 300)),
    index_dtype=st.sampled_from([torch.int64, torch.int32]),
)
def test_host_optional_fields(n, seed, score_threshold, max_output_boxes, index_dtype):
    boxes, scores = make_case("clustered", n, seed)
    boxes, scores = boxes.float(), scores.float()
    expected = extras_reference(boxes, scores, 0.5, score_threshold, max_output_boxes)
    got = nms(boxes, scores, 0.5, score_threshold=score_threshold, max_output_boxes=max_output_boxes,
              index_dtype=index_dtype)
    assert got.dtype == index_dtype
    assert torch.equal(got.long(), expected)
    if max_output_boxes is not None:
        padded, count = nms(boxes, scores, 0.5, score_threshold=score_threshold, max_output_boxes=max_output_boxes,
                            padded=True, index_dtype=index_dtype)
        assert padded.shape == (max_output_boxes,) and int(count) == expected.numel()
        assert torch.equal(padded[: expected.numel()].long(), expected)
        assert bool((padded[expected.numel():] == -1).all())


@pytest.mark.kernels
@pytest.mark.parametrize("padded", [False, True])
def test_host_poisoned_outputs(padded):
    boxes, scores = make_case("clustered", 200, 7)
    boxes, scores = boxes.float(), scores.float()
    cap = 150
    expected = extras_reference(boxes, scores, 0.5, None, cap)
    keep = torch.full((cap + 5,), 123456, dtype=torch.int64)
    count = torch.full((1,), -77, dtype=torch.int64)
    _nms_into(keep, count, boxes, scores, None, 0.5, max_output_boxes=cap, padded=padded)
    k = expected.numel()
    assert int(count) == k
    assert torch.equal(keep[:k], expected)
    if padded:
        assert bool((keep[k:cap] == -1).all())
    else:
        assert bool((keep[k:] == 123456).all())
    assert bool((keep[cap:] == 123456).all())  # never past the capacity


@pytest.mark.kernels
def test_host_mixed_dtypes_and_noncontiguous():
    boxes, scores = make_case("clustered", 300, 3)
    expected = tv_nms(boxes.float(), scores.float(), 0.5)
    wide = torch.zeros(300, 8)
    wide[:, ::2] = boxes.float()
    assert torch.equal(nms(wide[:, ::2], scores.float(), 0.5), expected)
    # float64 scores order float32 boxes (scores distinct in both precisions here)
    assert torch.equal(nms(boxes.float(), scores, 0.5), expected)


@pytest.mark.kernels
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda b, s: nms(b[:, :3], s, 0.5), ValueError, r"nms: boxes must have shape \[N, 4\]"),
        (lambda b, s: nms(b, s[:-1], 0.5), ValueError, r"nms: scores must have shape \[N\]"),
        (lambda b, s: nms(b.int(), s, 0.5), TypeError, r"nms: boxes has unsupported dtype torch.int32"),
        (lambda b, s: nms(b, s.bfloat16(), 0.5), TypeError, r"nms: scores has unsupported dtype torch.bfloat16"),
        (lambda b, s: nms(b, s, math.nan), ValueError, r"nms: iou_threshold must not be NaN"),
        (lambda b, s: nms(b, s, "0.5"), TypeError, r"nms: iou_threshold must be a float"),
        (lambda b, s: nms(b, s, 0.5, score_threshold=math.nan), ValueError, r"score_threshold must not be NaN"),
        (lambda b, s: nms(b, s, 0.5, max_output_boxes=-1), ValueError, r"max_output_boxes must be >= 0, got -1"),
        (lambda b, s: nms(b, s, 0.5, padded=True), ValueError, r"padded=True needs max_output_boxes"),
        (lambda b, s: nms(b, s, 0.5, index_dtype=torch.int16), TypeError, r"index_dtype must be"),
    ],
)
def test_invalid_arguments(call, error, match):
    boxes, scores = make_case("random", 10, 0)
    with pytest.raises(error, match=match):
        call(boxes.float(), scores.float())


@pytest.mark.kernels
def test_c_abi_rejects_bad_fields():
    """The library's own validation (not just the Python checks) names the op and the field."""
    import ctypes

    from trtops import _native
    from trtops.ops._nms import _function

    workspace_size = _function("trtops_nms_workspace_size")
    last_error = _native.kernels_library().trtops_last_error_message
    size = ctypes.c_uint64(0)

    code = workspace_size(10, 0, 4, 0, 5, 5, ctypes.byref(size))
    assert code == 2 and b"nms: boxes has dtype int32" in last_error()
    code = workspace_size(-1, 1, 0, 0, 5, 5, ctypes.byref(size))
    assert code == 1 and b"batched_nms: numBoxes must be in" in last_error()
    with pytest.raises(ValueError, match="padded output needs max_output_boxes >= 0"):
        _native.check_status(
            _function("trtops_nms")(
                None, None, None, None, None, 0, 0.5, 0, 0.0, -1, 1, 0, 0, 0, 5, 5, None, 0, 0, None
            )
        )


# ----------------------------------------------------------------------------------------------
# GPU tier: CUDA kernels
# ----------------------------------------------------------------------------------------------
def _host_and_device(boxes, scores, threshold, **kwargs):
    host = nms(boxes, scores, threshold, **kwargs)
    device = nms(boxes.cuda(), scores.cuda(), threshold, **kwargs)
    return host, device


@pytest.mark.gpu
@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000, 4095, 4096, 4097, 8192 + 100, 20000])
@pytest.mark.parametrize("kind", ["random", "clustered", "integer", "identical", "degenerate"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_gpu_matches_host(n, kind, dtype):
    boxes, scores = make_case(kind, n, n + len(kind))
    boxes, scores = boxes.to(dtype), scores.to(dtype)
    # Threshold 1.0 keeps every box, which makes the O(n * kept) host path quadratic: it runs at the
    # smaller sizes only.
    thresholds = (0.0, 0.5, 0.7, 1.0) if n <= 8192 + 100 else (0.0, 0.5, 0.7)
    for threshold in thresholds:
        host, device = _host_and_device(boxes, scores, threshold)
        assert device.is_cuda and device.dtype == torch.int64
        assert torch.equal(device.cpu(), host), (kind, n, threshold)


@pytest.mark.gpu
@pytest.mark.parametrize("seed", range(40))
def test_gpu_matches_torchvision_cuda_random_sizes(seed):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 30000, (1,), generator=gen))
    boxes = quantized(clustered_boxes(n, gen, clusters=int(torch.randint(1, 200, (1,), generator=gen))))
    scores = tie_free_scores(n, gen)
    for dtype in (torch.float32, torch.float16):
        b, s = boxes.to(dtype).cuda(), scores.float().cuda()
        for threshold in (0.25, 0.5, 0.75):
            assert torch.equal(nms(b, s, threshold), torchvision.ops.nms(b, s, threshold)), (n, dtype, threshold)


@pytest.mark.gpu
@pytest.mark.parametrize("n", [50000, 100000])
def test_gpu_large_matches_torchvision_cuda(n):
    gen = torch.Generator().manual_seed(n)
    boxes = quantized(clustered_boxes(n, gen, clusters=500)).float().cuda()
    scores = tie_free_scores(n, gen).float().cuda()
    assert torch.equal(nms(boxes, scores, 0.5), torchvision.ops.nms(boxes, scores, 0.5))


@pytest.mark.gpu
def test_gpu_million_boxes_bounded_workspace():
    from trtops.ops._nms import _function
    import ctypes

    n = 1_000_000
    size = ctypes.c_uint64(0)
    assert _function("trtops_nms_workspace_size")(n, 0, 0, 0, 5, 5, ctypes.byref(size)) == 0
    assert size.value < 256 << 20
    gen = torch.Generator().manual_seed(1)
    boxes = clustered_boxes(n, gen, clusters=2000).float()
    scores = torch.rand(n, generator=gen)
    # The host path costs O(n * kept): a small max_output_boxes keeps the comparison fast.
    device = nms(boxes.cuda(), scores.cuda(), 0.5, max_output_boxes=500)
    host = nms(boxes, scores, 0.5, max_output_boxes=500)
    assert torch.equal(device.cpu(), host)


@pytest.mark.gpu
def test_gpu_tied_scores_as_sets_vs_torchvision():
    gen = torch.Generator().manual_seed(5)
    boxes = quantized(clustered_boxes(3000, gen)).float()
    scores = (torch.randint(0, 4, (3000,), generator=gen).float() / 4)
    boxes_c, scores_c = boxes.cuda(), scores.cuda()
    ours = nms(boxes_c, scores_c, 0.5)
    assert torch.equal(ours.cpu(), nms(boxes, scores, 0.5))
    # torchvision's CUDA sort is not stable, so with ties only disjoint-tie cases match as sets.
    disjoint = quantized(random_boxes(3000, gen, size=1.0)).float().cuda()
    assert set(nms(disjoint, scores_c, 0.5).tolist()) == set(torchvision.ops.nms(disjoint, scores_c, 0.5).tolist())


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(_edge_cases()))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_gpu_edge_cases_match_host(name, dtype):
    boxes, scores, threshold = _edge_cases()[name]
    boxes = torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4).clamp(-60000, 60000).to(dtype)
    scores = torch.tensor(scores, dtype=dtype)
    host, device = _host_and_device(boxes, scores, threshold)
    assert torch.equal(device.cpu(), host)


@pytest.mark.gpu
@pytest.mark.parametrize("n", [0, 10, 5000, 13000])
@pytest.mark.parametrize("index_dtype", [torch.int64, torch.int32])
def test_gpu_optional_fields_and_poison(n, index_dtype):
    boxes, scores = make_case("clustered", n, 11)
    boxes, scores = boxes.float(), scores.float()
    for score_threshold in (None, 0.3):
        for cap in (None, 0, 1, 100, n + 7):
            for padded in ((False, True) if cap is not None else (False,)):
                capacity = n if cap is None else cap
                expected = extras_reference(boxes, scores, 0.5, score_threshold, cap)
                keep = torch.full((capacity + 3,), 987654, dtype=index_dtype, device="cuda")
                count = torch.full((1,), -5, dtype=torch.int64, device="cuda")
                _nms_into(keep, count, boxes.cuda(), scores.cuda(), None, 0.5, score_threshold, cap, padded)
                k = expected.numel()
                assert int(count) == k
                keep = keep.cpu().long()
                assert torch.equal(keep[:k], expected)
                tail = keep[k:capacity]
                assert bool((tail == (-1 if padded else 987654)).all())
                assert bool((keep[capacity:] == 987654).all())


@pytest.mark.gpu
def test_gpu_graph_capture_padded():
    boxes, scores = make_case("clustered", 6000, 2)
    boxes, scores = boxes.float().cuda(), scores.float().cuda()
    keep = torch.empty(500, dtype=torch.int64, device="cuda")
    count = torch.empty(1, dtype=torch.int64, device="cuda")
    _nms_into(keep, count, boxes, scores, None, 0.5, max_output_boxes=500, padded=True)  # warm-up
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        with torch.cuda.graph(graph, stream=stream):
            _nms_into(keep, count, boxes, scores, None, 0.5, max_output_boxes=500, padded=True)
    keep.fill_(7)
    graph.replay()
    torch.cuda.synchronize()
    expected = extras_reference(boxes.cpu(), scores.cpu(), 0.5, None, 500)
    assert int(count) == expected.numel()
    assert torch.equal(keep[: expected.numel()].cpu(), expected)
