"""trtops.ops.batched_nms: host implementation vs torchvision's per-class path (CPU tier) and CUDA
kernels vs the host implementation and torchvision CUDA (GPU tier). Exact keep lists.

torchvision.ops.batched_nms uses a coordinate-offset trick for small inputs: it adds
idxs * (max_coordinate + 1) to every box, which rounds coordinates (and can change IoUs) when the
offsets are large relative to the boxes' precision. trtops implements the per-class semantics
(torchvision's `_batched_nms_vanilla`) exactly; comparisons with the public batched_nms use inputs
where the offsets are exact (coordinates on a 1/4 grid, few classes).
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchvision.ops.boxes import _batched_nms_vanilla

from trtops.ops._nms import _nms_into, batched_nms

SETTINGS = settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def clustered_boxes(n: int, gen: torch.Generator, clusters: int = 20, extent: float = 500.0) -> torch.Tensor:
    centers = torch.rand(clusters, 2, generator=gen, dtype=torch.float64) * extent
    sizes = torch.rand(clusters, 2, generator=gen, dtype=torch.float64) * 100 + 10
    which = torch.randint(0, clusters, (n,), generator=gen)
    c = centers[which] + torch.randn(n, 2, generator=gen, dtype=torch.float64) * 6
    s = sizes[which] * (1 + 0.15 * torch.randn(n, 2, generator=gen, dtype=torch.float64)).clamp(min=0.2)
    return torch.cat([c - s / 2, c + s / 2], dim=1)


def quantized(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes.clamp(0, 511) * 4).round() / 4


def make_case(n: int, classes: int, seed: int, class_values: str = "small"):
    gen = torch.Generator().manual_seed(seed)
    boxes = clustered_boxes(n, gen)
    scores = torch.rand(n, generator=gen, dtype=torch.float64)
    idxs = torch.randint(0, max(classes, 1), (n,), generator=gen)
    if class_values == "wide":
        # negative and huge class ids (only equality matters)
        table = torch.tensor([-(2**62), -7, 0, 3, 2**40, 2**63 - 1])
        idxs = table[idxs % table.numel()]
    return boxes, scores, idxs


def reference(boxes, scores, idxs, threshold, score_threshold=None, max_output_boxes=None):
    candidates = torch.arange(boxes.size(0))
    if score_threshold is not None:
        candidates = torch.nonzero(scores >= score_threshold).flatten()
    if candidates.numel() == 0:
        keep = candidates
    else:
        keep = candidates[_batched_nms_vanilla(boxes[candidates], scores[candidates], idxs[candidates], threshold)]
    if max_output_boxes is not None:
        keep = keep[:max_output_boxes]
    return keep


# ----------------------------------------------------------------------------------------------
# CPU tier
# ----------------------------------------------------------------------------------------------
@pytest.mark.kernels
@SETTINGS
@given(
    n=st.integers(1, 400),
    classes=st.integers(1, 90),
    seed=st.integers(0, 2**31 - 1),
    threshold=st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    class_dtype=st.sampled_from([torch.int64, torch.int32]),
    class_values=st.sampled_from(["small", "wide"]),
)
def test_host_matches_torchvision_per_class(n, classes, seed, threshold, dtype, class_dtype, class_values):
    boxes, scores, idxs = make_case(n, classes, seed, class_values)
    if class_dtype == torch.int32:
        idxs = idxs.clamp(-(2**31), 2**31 - 1)
    boxes, scores = boxes.to(dtype), scores.to(dtype)
    got = batched_nms(boxes, scores, idxs.to(class_dtype), threshold)
    assert torch.equal(got, _batched_nms_vanilla(boxes, scores, idxs, threshold))


@pytest.mark.kernels
@SETTINGS
@given(n=st.integers(1, 300), classes=st.integers(1, 10), seed=st.integers(0, 2**31 - 1))
def test_host_matches_public_batched_nms_when_offsets_exact(n, classes, seed):
    boxes, scores, idxs = make_case(n, classes, seed)
    boxes = quantized(boxes).float()
    scores = scores.float()
    assert torch.equal(batched_nms(boxes, scores, idxs, 0.5), torchvision.ops.batched_nms(boxes, scores, idxs, 0.5))


@pytest.mark.kernels
def test_host_classes_never_suppress_each_other():
    boxes = torch.tensor([[0.0, 0, 10, 10]] * 4)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    idxs = torch.tensor([1, 2, 1, 3])
    assert batched_nms(boxes, scores, idxs, 0.5).tolist() == [0, 1, 3]


@pytest.mark.kernels
def test_host_edge_cases():
    nan = math.nan
    boxes = torch.tensor([[0.0, 0, 10, 10], [nan, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 0, 0]])
    scores = torch.tensor([0.5, 0.9, nan, 0.5, 0.1])
    idxs = torch.tensor([0, 0, 0, 1, 1])
    for threshold in (0.0, 0.5, 1.0, -1.0):
        assert torch.equal(
            batched_nms(boxes, scores, idxs, threshold), _batched_nms_vanilla(boxes, scores, idxs, threshold)
        )
    empty = batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)
    assert empty.shape == (0,) and empty.dtype == torch.int64


@pytest.mark.kernels
@SETTINGS
@given(
    n=st.integers(0, 300),
    classes=st.integers(1, 30),
    seed=st.integers(0, 2**31 - 1),
    score_threshold=st.one_of(st.none(), st.floats(0.0, 1.0)),
    max_output_boxes=st.one_of(st.none(), st.integers(0, 320)),
    index_dtype=st.sampled_from([torch.int64, torch.int32]),
)
def test_host_optional_fields(n, classes, seed, score_threshold, max_output_boxes, index_dtype):
    boxes, scores, idxs = make_case(n, classes, seed)
    boxes, scores = boxes.float(), scores.float()
    expected = reference(boxes, scores, idxs, 0.5, score_threshold, max_output_boxes)
    got = batched_nms(boxes, scores, idxs, 0.5, score_threshold=score_threshold,
                      max_output_boxes=max_output_boxes, index_dtype=index_dtype)
    assert got.dtype == index_dtype and torch.equal(got.long(), expected)
    if max_output_boxes is not None:
        keep, count = batched_nms(boxes, scores, idxs, 0.5, score_threshold=score_threshold,
                                  max_output_boxes=max_output_boxes, padded=True)
        k = expected.numel()
        assert int(count) == k and torch.equal(keep[:k], expected) and bool((keep[k:] == -1).all())


@pytest.mark.kernels
def test_host_poisoned_outputs():
    boxes, scores, idxs = make_case(300, 12, 4)
    boxes, scores = boxes.float(), scores.float()
    expected = reference(boxes, scores, idxs, 0.5)
    keep = torch.full((310,), -123, dtype=torch.int32)
    count = torch.full((1,), 99, dtype=torch.int64)
    _nms_into(keep, count, boxes, scores, idxs, 0.5)
    k = expected.numel()
    assert int(count) == k and torch.equal(keep[:k].long(), expected) and bool((keep[k:] == -123).all())


@pytest.mark.kernels
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda b, s, i: batched_nms(b, s, i[:-1], 0.5), ValueError, r"batched_nms: idxs must have shape \[N\]"),
        (lambda b, s, i: batched_nms(b, s, i.float(), 0.5), TypeError, r"batched_nms: idxs has unsupported dtype"),
        (lambda b, s, i: batched_nms(b, s, [0] * 10, 0.5), TypeError, r"batched_nms: idxs must be a tensor"),
        (lambda b, s, i: batched_nms(b, s, i, math.nan), ValueError, r"batched_nms: iou_threshold must not be NaN"),
        (lambda b, s, i: batched_nms(b[:, :2], s, i, 0.5), ValueError, r"batched_nms: boxes must have shape"),
    ],
)
def test_invalid_arguments(call, error, match):
    boxes, scores, idxs = make_case(10, 3, 0)
    with pytest.raises(error, match=match):
        call(boxes.float(), scores.float(), idxs)


# ----------------------------------------------------------------------------------------------
# GPU tier
# ----------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("n", [1, 100, 4096, 4097, 20000, 70000])
@pytest.mark.parametrize("classes", [1, 3, 80, 5000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_gpu_matches_host(n, classes, dtype):
    boxes, scores, idxs = make_case(n, classes, n * 7 + classes)
    boxes, scores = boxes.to(dtype), scores.to(dtype)
    # Threshold 1.0 keeps every box, which makes the O(n * kept) host path quadratic: it runs at the
    # smaller sizes only, where it costs seconds rather than minutes.
    thresholds = (0.0, 0.5, 1.0) if n <= 4097 else (0.0, 0.5)
    for class_dtype in (torch.int64, torch.int32):
        for threshold in thresholds:
            host = batched_nms(boxes, scores, idxs.to(class_dtype), threshold)
            device = batched_nms(boxes.cuda(), scores.cuda(), idxs.to(class_dtype).cuda(), threshold)
            assert torch.equal(device.cpu(), host), (n, classes, dtype, class_dtype, threshold)


@pytest.mark.gpu
@pytest.mark.parametrize("seed", range(20))
def test_gpu_matches_torchvision_cuda_per_class(seed):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 25000, (1,), generator=gen))
    classes = int(torch.randint(1, 100, (1,), generator=gen))
    boxes = quantized(clustered_boxes(n, gen)).float().cuda()
    scores = ((torch.randperm(n, generator=gen).float() + 1) / (n + 1)).cuda()
    idxs = torch.randint(0, classes, (n,), generator=gen).cuda()
    expected = _batched_nms_vanilla(boxes, scores, idxs, 0.5)
    assert torch.equal(batched_nms(boxes, scores, idxs, 0.5), expected)


@pytest.mark.gpu
def test_gpu_optional_fields_and_poison():
    boxes, scores, idxs = make_case(9000, 40, 3)
    boxes, scores = boxes.float(), scores.float()
    for score_threshold in (None, 0.4):
        for cap in (None, 0, 5, 800, 9100):
            for padded in ((False, True) if cap is not None else (False,)):
                capacity = 9000 if cap is None else cap
                expected = reference(boxes, scores, idxs, 0.5, score_threshold, cap)
                keep = torch.full((capacity + 2,), 555, dtype=torch.int64, device="cuda")
                count = torch.full((1,), -1, dtype=torch.int64, device="cuda")
                _nms_into(keep, count, boxes.cuda(), scores.cuda(), idxs.cuda(), 0.5, score_threshold, cap, padded)
                k = expected.numel()
                keep = keep.cpu()
                assert int(count) == k and torch.equal(keep[:k], expected)
                assert bool((keep[k:capacity] == (-1 if padded else 555)).all())
                assert bool((keep[capacity:] == 555).all())
