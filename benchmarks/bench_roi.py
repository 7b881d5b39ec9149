#!/usr/bin/env python3
"""Speed of the trtops RoI kernels against torchvision's CUDA ops, measured in the same run.

Shapes are the issue's (see ../shared/baseline/): RoIAlign 2x256x200x304, 1000 RoIs, 7x7, sr=2
and sr=0; Mask head 2x256x50x76, 1000 RoIs, 14x14; RoIPool 2x512x50x68, 2000 RoIs; PS ops
1x1029x63x38, 300 RoIs, 7x7; MultiScaleRoIAlign over P2-P5 of two 800x1216 images, 1000 RoIs,
7x7, sr=2 (torchvision's module, which loops over levels, against the fused trtops kernel); and
mmdet's SingleRoIExtractor over the same levels (aligned RoIAlign layers, sampling_ratio 0: its
configs' defaults), run as mmdet runs it on torchvision's roi_align (level mapping, then one call
per level), against the fused kernel with level_mapper="mmdet".

Each row: CUDA-event time of one call, median over --reps calls after --warmup calls, with the
RoI sets rotated between calls and random non-zero features; then the GPU time per call from
torch.profiler ("GPU" columns: device time without the Python/launch overhead that dominates
the short PS-op kernels in eager mode). torchvision has no bfloat16
roi_align/ps/pool CUDA kernels: bf16 rows time torchvision on float16 inputs of the same size.
The channels-last rows feed trtops an NHWC input and torchvision the same values in NCHW (its
only layout; handing it a channels-last tensor would add a copy).
"diff tv32" is the largest absolute difference between trtops' output for the first RoI set and
torchvision's CUDA kernel in float32 on the same (exactly upcast) inputs: 0 for the pooling ops,
float32 summation order for the RoIAlign family, one rounding of the output for fp16/bf16.

    python benchmarks/bench_roi.py [--json results.json] [--reps 100] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import OrderedDict
from typing import Callable, Sequence

import torch
from row_filter import add_only_argument, parse_patterns, selected

IMAGE = (800, 1216)


def mmdet_extractor(roi_align: Callable, levels: Sequence[torch.Tensor], rois: torch.Tensor,
                    strides: Sequence[int], finest_scale: int = 56) -> torch.Tensor:
    """mmdet's SingleRoIExtractor.forward with 7x7 RoIAlign layers (aligned, sampling_ratio 0),
    its loop as it runs in PyTorch: map_roi_levels (trtops.reference.MmdetLevelMapper, the same
    tensor operations), then roi_align per level on that level's rows."""
    from trtops.reference import MmdetLevelMapper

    target = MmdetLevelMapper(len(levels), finest_scale)([rois[:, 1:]])
    out = levels[0].new_zeros((rois.shape[0], levels[0].shape[1], 7, 7))
    for i, (level, stride) in enumerate(zip(levels, strides)):
        inds = (target == i).nonzero(as_tuple=False).squeeze(1)
        if inds.numel() > 0:
            out[inds] = roi_align(level, rois[inds], 7, 1 / stride, 0, True)
    return out


def fail(message: str) -> None:
    print(f"bench_roi: {message}", file=sys.stderr)
    sys.exit(2)


def time_calls(fns: Sequence[Callable[[], object]], warmup: int, reps: int) -> float:
    """Median milliseconds of one call, cycling through `fns` (one per rotated input set)."""
    for i in range(warmup):
        fns[i % len(fns)]()
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for i in range(reps):
        starts[i].record()
        fns[i % len(fns)]()
        ends[i].record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def gpu_time(fns: Sequence[Callable[[], object]], reps: int) -> float:
    """Milliseconds of GPU activity (kernels, memsets, copies) per call, from torch.profiler: the
    device's share of a call without the Python and launch overhead that bounds short kernels in
    eager mode (an engine's plugin call has no Python either). CUDA graphs would show the same,
    but torchvision's PS ops cannot be captured."""
    from torch.profiler import ProfilerActivity, profile

    for i in range(3):
        fns[i % len(fns)]()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for i in range(reps):
            fns[i % len(fns)]()
        torch.cuda.synchronize()
    total_us = sum(e.self_device_time_total for e in prof.key_averages() if e.self_device_time_total > 0)
    return total_us / reps / 1000.0


def random_rois(gen: torch.Generator, count: int, batch: int, image=IMAGE, min_side=16.0, max_side=600.0):
    """Detector-like proposals in image coordinates: log-uniform sides, inside the image."""
    h, w = image
    side = torch.exp(torch.empty(count, 2).uniform_(float(torch.tensor(min_side).log()),
                                                    float(torch.tensor(max_side).log()), generator=gen))
    x1 = torch.rand(count, generator=gen) * (w - side[:, 0]).clamp(min=1)
    y1 = torch.rand(count, generator=gen) * (h - side[:, 1]).clamp(min=1)
    b = torch.randint(0, batch, (count,), generator=gen).float()
    return torch.stack([b, x1, y1, x1 + side[:, 0], y1 + side[:, 1]], dim=1)


def features(gen: torch.Generator, shape, dtype) -> torch.Tensor:
    return (torch.randn(shape, generator=gen) + 0.25).to(device="cuda", dtype=dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the table as JSON to this path")
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rotate", type=int, default=4, help="RoI sets cycled between calls")
    parser.add_argument("--quick", action="store_true", help="float32 and float16 only, fewer reps")
    add_only_argument(parser)
    args = parser.parse_args()
    patterns = parse_patterns(args.only)

    if not torch.cuda.is_available():
        fail("no CUDA GPU visible to torch; this benchmark times CUDA kernels and needs a GPU")
    try:
        import torchvision.ops as tv
        from torchvision.ops import MultiScaleRoIAlign as TvMultiScale
    except ImportError as exc:
        fail(f"torchvision is required as the baseline: {exc}")
    from trtops import TrtopsError
    from trtops.ops import _roi as trt

    try:
        trt._native.kernels_library()
    except TrtopsError as exc:
        fail(str(exc))

    reps = 30 if args.quick else args.reps
    dtypes = [torch.float32, torch.float16] if args.quick else [torch.float32, torch.float16, torch.bfloat16]
    gen = torch.Generator().manual_seed(0)
    rows = []

    def add(op: str, shape: str, dtype: torch.dtype, layout: str, tv_fns, trt_fns, reference) -> None:
        """Times both sides and records how far trtops' result for the first RoI set is from
        `reference()`, torchvision's CUDA kernel in float32 on the same inputs (upcast exactly), so
        that a fast wrong result cannot pass as a speedup. float32 is the precision both compute
        the bin geometry in (a float64 geometry can pick other RoIPool cells)."""
        if not selected(patterns, op, shape, str(dtype).replace("torch.", ""), layout):
            return
        tv_ms = time_calls(tv_fns, args.warmup, reps)
        trt_ms = time_calls(trt_fns, args.warmup, reps)
        row = {"op": op, "shape": shape, "dtype": str(dtype).replace("torch.", ""), "layout": layout,
               "torchvision_ms": tv_ms, "trtops_ms": trt_ms, "ratio": tv_ms / trt_ms,
               "gpu_torchvision_ms": gpu_time(tv_fns, 20), "gpu_trtops_ms": gpu_time(trt_fns, 20),
               "max_abs_diff_vs_tv_fp32": (trt_fns[0]().float() - reference()).abs().max().item()}
        row["gpu_ratio"] = row["gpu_torchvision_ms"] / row["gpu_trtops_ms"]
        gpu_text = f"{row['gpu_torchvision_ms']:10.4f} {row['gpu_trtops_ms']:10.4f} {row['gpu_ratio']:7.2f}x"
        rows.append(row)
        print(f"{op:22s} {shape:44s} {row['dtype']:9s} {layout:5s} {tv_ms:10.4f} {trt_ms:10.4f} {row['ratio']:7.2f}x"
              f" {gpu_text} {row['max_abs_diff_vs_tv_fp32']:9.2e}", flush=True)

    def tv_dtype(dtype):
        return torch.float16 if dtype == torch.bfloat16 else dtype

    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    print(f"{'op':22s} {'shape':44s} {'dtype':9s} {'layout':5s} {'tv ms':>10s} {'trtops ms':>10s} {'ratio':>8s}"
          f" {'GPU tv':>10s} {'GPU trt':>10s} {'ratio':>8s} {'diff tv32':>9s}")

    # RoIAlign, box head and mask head.
    for name, (n, c, h, w), k, out, scale, srs in [
        ("roi_align", (2, 256, 200, 304), 1000, 7, 0.25, (2, 0)),
        ("roi_align mask head", (2, 256, 50, 76), 1000, 14, 0.0625, (2,)),
    ]:
        roi_sets = [random_rois(gen, k, n).cuda() for _ in range(args.rotate)]
        for dtype in dtypes:
            x = features(gen, (n, c, h, w), dtype)
            x_tv = x.to(tv_dtype(dtype))
            x_nhwc = x.to(memory_format=torch.channels_last)
            rois_tv = [r.to(tv_dtype(dtype)) for r in roi_sets]
            for sr in srs:
                shape = f"{n}x{c}x{h}x{w} K={k} {out}x{out} sr={sr}"
                tv_fns = [lambda r=r: tv.roi_align(x_tv, r, out, scale, sr, False) for r in rois_tv]
                reference = lambda: tv.roi_align(x.float(), roi_sets[0], out, scale, sr, False)  # noqa: E731
                for layout, xin in (("NCHW", x), ("NHWC", x_nhwc)):
                    trt_fns = [lambda r=r, xin=xin: trt.roi_align(xin, r, out, scale, sr, False) for r in roi_sets]
                    add(name, shape, dtype, layout, tv_fns, trt_fns, reference)

    # RoIPool.
    n, c, h, w, k = 2, 512, 50, 68, 2000
    roi_sets = [random_rois(gen, k, n).cuda() for _ in range(args.rotate)]
    for dtype in dtypes:
        x = features(gen, (n, c, h, w), dtype)
        x_tv = x.to(tv_dtype(dtype))
        rois_tv = [r.to(tv_dtype(dtype)) for r in roi_sets]
        tv_fns = [lambda r=r: tv.roi_pool(x_tv, r, 7, 0.0625) for r in rois_tv]
        trt_fns = [lambda r=r: trt.roi_pool(x, r, 7, 0.0625) for r in roi_sets]
        add("roi_pool", f"{n}x{c}x{h}x{w} K={k} 7x7", dtype, "NCHW", tv_fns, trt_fns,
            lambda: tv.roi_pool(x.float(), roi_sets[0], 7, 0.0625))

    # Position-sensitive ops (R-FCN).
    n, c, h, w, k = 1, 1029, 63, 38, 300
    roi_sets = [random_rois(gen, k, n, image=(1008, 608)).cuda() for _ in range(args.rotate)]
    for dtype in dtypes:
        x = features(gen, (n, c, h, w), dtype)
        x_tv = x.to(tv_dtype(dtype))
        rois_tv = [r.to(tv_dtype(dtype)) for r in roi_sets]
        tv_fns = [lambda r=r: tv.ps_roi_align(x_tv, r, 7, 0.0625, 2) for r in rois_tv]
        trt_fns = [lambda r=r: trt.ps_roi_align(x, r, 7, 0.0625, 2) for r in roi_sets]
        add("ps_roi_align", f"{n}x{c}x{h}x{w} K={k} 7x7 sr=2", dtype, "NCHW", tv_fns, trt_fns,
            lambda: tv.ps_roi_align(x.float(), roi_sets[0], 7, 0.0625, 2))
        tv_fns = [lambda r=r: tv.ps_roi_pool(x_tv, r, 7, 0.0625) for r in rois_tv]
        trt_fns = [lambda r=r: trt.ps_roi_pool(x, r, 7, 0.0625) for r in roi_sets]
        add("ps_roi_pool", f"{n}x{c}x{h}x{w} K={k} 7x7", dtype, "NCHW", tv_fns, trt_fns,
            lambda: tv.ps_roi_pool(x.float(), roi_sets[0], 7, 0.0625))

    # MultiScaleRoIAlign over P2-P5.
    names = ["p2", "p3", "p4", "p5"]
    box_sets = [[random_rois(gen, 500, 1)[:, 1:].cuda() for _ in range(2)] for _ in range(args.rotate)]
    shapes = [IMAGE, IMAGE]
    for dtype in dtypes:
        feats = OrderedDict(
            (nm, features(gen, (2, 256, IMAGE[0] // 2 ** (i + 2), IMAGE[1] // 2 ** (i + 2)), dtype))
            for i, nm in enumerate(names)
        )
        feats_tv = OrderedDict((nm, v.to(tv_dtype(dtype))) for nm, v in feats.items())
        feats_nhwc = OrderedDict((nm, v.to(memory_format=torch.channels_last)) for nm, v in feats.items())
        tv_module = TvMultiScale(names, 7, 2)
        tv_boxes = [[x.to(tv_dtype(dtype)) for x in b] for b in box_sets]
        tv_fns = [lambda b=b: tv_module(feats_tv, b, shapes) for b in tv_boxes]
        feats32 = OrderedDict((nm, v.float()) for nm, v in feats.items())
        reference = lambda: tv_module(feats32, box_sets[0], shapes)  # noqa: E731
        for layout, fs in (("NCHW", feats), ("NHWC", feats_nhwc)):
            module = trt.MultiScaleRoIAlign(names, 7, 2)
            trt_fns = [lambda b=b, fs=fs, m=module: m(fs, b, shapes) for b in box_sets]
            add("multi_scale_roi_align", "P2-P5 of 2x256x800x1216 K=1000 7x7 sr=2", dtype, layout, tv_fns, trt_fns,
                reference)
        # mmdet's extractor: the baseline column is its PyTorch loop over torchvision's roi_align.
        strides = (4, 8, 16, 32)
        roi_rows = [torch.cat([torch.cat([torch.full((len(b), 1), float(i), device="cuda"), b], 1)
                               for i, b in enumerate(boxes)]) for boxes in box_sets]  # float32
        levels_tv = list(feats_tv.values())
        tv_fns = [lambda r=r.to(tv_dtype(dtype)): mmdet_extractor(tv.roi_align, levels_tv, r, strides) for r in roi_rows]
        levels32 = list(feats32.values())
        reference = lambda: mmdet_extractor(tv.roi_align, levels32, roi_rows[0], strides)  # noqa: E731
        scales = [1 / s for s in strides]
        for layout, fs in (("NCHW", feats), ("NHWC", feats_nhwc)):
            levels = list(fs.values())
            trt_fns = [lambda r=r, lv=levels: trt.multi_scale_roi_align(lv, r, 7, scales, 0, True, level_mapper="mmdet")
                       for r in roi_rows]
            add("mmdet_roi_extractor", "P2-P5 of 2x256x800x1216 K=1000 7x7 sr=0 aligned", dtype, layout, tv_fns,
                trt_fns, reference)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "torchvision": __import__("torchvision").__version__, "reps": reps, "rows": rows}, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
