"""Shared tolerance table of the kernel tests: one row per (op, dtype name).

Each row holds ``atol`` and ``rtol`` for ``torch.testing.assert_close(actual, expected, ...)``,
where ``expected`` is a float64 reference computed from the same (already rounded) inputs,
unless the row's comment says otherwise. Add rows with small edits; keep the comments saying
why a number is what it is.
"""

from __future__ import annotations

import torch

TOLERANCES: dict[tuple[str, str], dict[str, float]] = {
    # deform_conv2d: weights scaled by 1/sqrt(fan_in) so outputs are O(1). float32: sums of up to
    # a few thousand products accumulated in a different order than torchvision's GEMM; on sm_80+
    # each product is three TF32 products of split operands (within 3 * 2^-22 of the float
    # product) accumulated on tensor cores.
    ("deform_conv2d", "float64"): {"atol": 1e-10, "rtol": 1e-10},
    ("deform_conv2d", "float32"): {"atol": 2e-5, "rtol": 2e-5},
    # float16/bfloat16: samples are rounded to the storage type before the product (as in
    # torchvision's column buffer), products accumulate in float32, the output is rounded once.
    ("deform_conv2d", "float16"): {"atol": 6e-3, "rtol": 6e-3},
    ("deform_conv2d", "bfloat16"): {"atol": 5e-2, "rtol": 3e-2},
    # RoI family (roi_align, ps_roi_align, multi_scale_roi_align, ps_roi_pool): features ~N(0.25, 1),
    # RoIs up to ~60 map pixels. float64: the CUDA kernels contract a*b+c into FMAs (the host
    # implementation is bit-exact to torchvision's CPU kernel, tested with atol=rtol=0). float32:
    # sample positions rounded to float32 move the bilinear weights by ~1e-6 of the coordinate.
    # float16/bfloat16: one rounding of the float32 result to the storage type (half an ulp,
    # relative 2^-11 / 2^-8) plus the float32 position error.
    ("roi_align", "float64"): {"atol": 1e-12, "rtol": 1e-12},
    ("roi_align", "float32"): {"atol": 5e-5, "rtol": 1e-5},
    ("roi_align", "float16"): {"atol": 1e-3, "rtol": 1e-3},
    ("roi_align", "bfloat16"): {"atol": 8e-3, "rtol": 8e-3},
    ("ps_roi_align", "float64"): {"atol": 1e-12, "rtol": 1e-12},
    ("ps_roi_align", "float32"): {"atol": 5e-5, "rtol": 1e-5},
    ("ps_roi_align", "float16"): {"atol": 1e-3, "rtol": 1e-3},
    ("ps_roi_align", "bfloat16"): {"atol": 8e-3, "rtol": 8e-3},
    ("multi_scale_roi_align", "float64"): {"atol": 1e-12, "rtol": 1e-12},
    ("multi_scale_roi_align", "float32"): {"atol": 5e-5, "rtol": 1e-5},
    ("multi_scale_roi_align", "float16"): {"atol": 1e-3, "rtol": 1e-3},
    ("multi_scale_roi_align", "bfloat16"): {"atol": 8e-3, "rtol": 8e-3},
    # Host implementation vs torchvision's CPU kernel in the same dtype, adaptive sampling grids
    # (sampling_ratio <= 0) only: the same samples and weights, but a bin is summed by map rows
    # of columns (sumBinSeparable: each touched pixel read once) instead of sample by sample, so
    # only the order of additions differs (measured: 3e-7 abs in float32 on features ~N(0.25, 1),
    # 7e-16 in float64). With a fixed sampling_ratio the host is bit-exact (atol = rtol = 0).
    ("roi_align.adaptive", "float64"): {"atol": 1e-12, "rtol": 1e-12},
    ("roi_align.adaptive", "float32"): {"atol": 2e-6, "rtol": 1e-5},
    ("ps_roi_align.adaptive", "float64"): {"atol": 1e-12, "rtol": 1e-12},
    ("ps_roi_align.adaptive", "float32"): {"atol": 2e-6, "rtol": 1e-5},
    ("multi_scale_roi_align.adaptive", "float64"): {"atol": 1e-12, "rtol": 1e-12},
    ("multi_scale_roi_align.adaptive", "float32"): {"atol": 2e-6, "rtol": 1e-5},
    # ps_roi_pool: a mean of stored values over integer cells; only the summation order and the
    # final rounding differ from float64.
    ("ps_roi_pool", "float64"): {"atol": 1e-12, "rtol": 1e-12},
    ("ps_roi_pool", "float32"): {"atol": 1e-5, "rtol": 1e-5},
    ("ps_roi_pool", "float16"): {"atol": 1e-3, "rtol": 1e-3},
    ("ps_roi_pool", "bfloat16"): {"atol": 8e-3, "rtol": 8e-3},
    # roi_pool: a maximum of stored values is exact. Expected = torchvision in float32 (float64
    # for float64) on the upcast inputs with float32 RoIs, so the cell ranges are computed in the
    # same precision as the kernels' float32 accumulator type.
    ("roi_pool", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("roi_pool", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("roi_pool", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("roi_pool", "bfloat16"): {"atol": 0.0, "rtol": 0.0},
    # nms / batched_nms: outputs are indices, compared exactly (torch.equal) - the IoU arithmetic
    # is torchvision's, operation for operation, with no FMA contraction on the device. Tests vs
    # torchvision CUDA use 1/4-grid coordinates (its kernel may contract FMAs and compares with
    # float(threshold)); tied scores are compared as sets there (its CUDA sort is not stable).
    ("nms", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("nms", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("nms", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("batched_nms", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("batched_nms", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("batched_nms", "float16"): {"atol": 0.0, "rtol": 0.0},
    # ---------------------------------------------------------------------------------------
    # trtops.reference vs torchvision.ops on CPU (tests/reference). Here ``expected`` is
    # torchvision itself on the same inputs; for bfloat16, which torchvision's CPU kernels
    # reject, it is torchvision in float32 on the (exact) upcast inputs, rounded to bfloat16.
    # atol = rtol = 0 means bit-identical (NaN where torchvision gives NaN).
    #
    # RoIAlign family: the same operations in the same order and dtype as torchvision's CPU
    # kernels, float16 per-operation rounding included; bfloat16 is float32 rounded once.
    ("reference.roi_align", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.roi_align", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("reference.roi_align", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.roi_align", "bfloat16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.ps_roi_align", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.ps_roi_align", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("reference.ps_roi_align", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.ps_roi_align", "bfloat16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.multi_scale_roi_align", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.multi_scale_roi_align", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("reference.multi_scale_roi_align", "float16"): {"atol": 0.0, "rtol": 0.0},
    # RoIPool: a maximum is exact and the bin geometry is evaluated in the dtype as torchvision.
    ("reference.roi_pool", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.roi_pool", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("reference.roi_pool", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.roi_pool", "bfloat16"): {"atol": 0.0, "rtol": 0.0},
    # PSRoIPool: bin sums from float64 integral images vs torchvision's sequential sum in the
    # dtype. float32: a few ulps. float16: torchvision's fp16 running sum rounds at every step
    # (~sqrt(area) * 2^-12 relative to the bin's magnitude; test bins are <= ~30x30 cells of
    # N(0, 1) values). bfloat16: one bf16 ulp where the float32 and float64 sums round apart.
    ("reference.ps_roi_pool", "float64"): {"atol": 1e-12, "rtol": 1e-12},
    ("reference.ps_roi_pool", "float32"): {"atol": 1e-6, "rtol": 1e-5},
    ("reference.ps_roi_pool", "float16"): {"atol": 1e-2, "rtol": 1e-2},
    ("reference.ps_roi_pool", "bfloat16"): {"atol": 1e-5, "rtol": 8e-3},
    # DeformConv2d: the sampled columns are bit-exact (float16 included); the channel
    # contraction is a matmul whose summation order differs from torchvision's GEMM (tests use
    # <= 16 * 3 * 3 products of O(1) values). float16: float32 accumulation rounded once on both
    # sides, so one fp16 ulp apart at most; bfloat16: one bf16 ulp.
    ("reference.deform_conv2d", "float64"): {"atol": 1e-10, "rtol": 1e-10},
    ("reference.deform_conv2d", "float32"): {"atol": 1e-5, "rtol": 1e-5},
    ("reference.deform_conv2d", "float16"): {"atol": 2e-3, "rtol": 2e-3},
    ("reference.deform_conv2d", "bfloat16"): {"atol": 1e-5, "rtol": 8e-3},
    # Box utilities, focal loss, FPN: the same PyTorch operations in the same order.
    ("reference.box_area", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_area", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_area", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_area", "bfloat16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_iou", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_iou", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_iou", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_iou", "bfloat16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.generalized_box_iou", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.generalized_box_iou", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("reference.generalized_box_iou", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.generalized_box_iou", "bfloat16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_convert", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_convert", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_convert", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.box_convert", "bfloat16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.clip_boxes_to_image", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.clip_boxes_to_image", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("reference.clip_boxes_to_image", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.clip_boxes_to_image", "bfloat16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.sigmoid_focal_loss", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.sigmoid_focal_loss", "float32"): {"atol": 0.0, "rtol": 0.0},
    ("reference.sigmoid_focal_loss", "float16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.sigmoid_focal_loss", "bfloat16"): {"atol": 0.0, "rtol": 0.0},
    ("reference.feature_pyramid_network", "float64"): {"atol": 0.0, "rtol": 0.0},
    ("reference.feature_pyramid_network", "float32"): {"atol": 0.0, "rtol": 0.0},
    # converters.*: trtops.converters.evaluate() of an exported graph (ONNX Runtime for standard
    # ops, trtops.reference for trtops nodes) against the PyTorch model; expected = PyTorch in
    # the same dtype (not float64). RoI ops and NMS indices are bit-exact (reference ==
    # torchvision CPU); deform_conv2d sums in another order than torchvision's im2col GEMM.
    ("converters.deform_conv2d", "float32"): {"atol": 2e-5, "rtol": 2e-5},
    # Whole detectors (random weights, ~224 px images): ONNX Runtime's convolutions/GEMMs differ
    # from PyTorch's by float32 rounding, amplified through the box decoder's exp(); boxes are in
    # pixels of a ~240 px image, scores are softmax probabilities, masks sigmoid probabilities.
    ("converters.detector_boxes", "float32"): {"atol": 2e-2, "rtol": 1e-4},
    ("converters.detector_scores", "float32"): {"atol": 1e-4, "rtol": 1e-3},
    ("converters.detector_masks", "float32"): {"atol": 1e-3, "rtol": 1e-3},
    # DCN bottleneck block: three convolutions + a deform_conv2d (batch norm folded by ORT).
    ("converters.dcn_block", "float32"): {"atol": 1e-4, "rtol": 1e-4},
}


def tolerance(op: str, dtype: torch.dtype) -> dict[str, float]:
    """Keyword arguments (atol, rtol) for assert_close of `op` at `dtype`."""
    name = str(dtype).replace("torch.", "")
    return dict(TOLERANCES[(op, name)])


def host_vs_torchvision(op: str, dtype: torch.dtype, sampling_ratio: int) -> dict[str, float]:
    """Keyword arguments (atol, rtol) for the RoIAlign family's host implementation against
    torchvision's CPU kernel in the same dtype (float32/float64): bit-exact for a fixed
    sampling_ratio, the ``<op>.adaptive`` row for adaptive grids (sampling_ratio <= 0)."""
    if sampling_ratio > 0:
        return {"atol": 0.0, "rtol": 0.0}
    return tolerance(f"{op}.adaptive", dtype)
