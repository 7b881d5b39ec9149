"""Benchmark: trtops deform_conv2d CUDA kernels vs torchvision.ops.deform_conv2d (CUDA), same run.

For each shape and dtype it times, with CUDA events on one stream:
  * torchvision.ops.deform_conv2d (v2: with mask), the baseline;
  * trtops.ops.deform_conv2d;
  * torch.nn.functional.conv2d of the same shape (cuDNN, TF32 off), the floor a deformable
    convolution cannot beat.
The "float32+tf32" rows run all three with TF32 allowed (trtops allow_tf32=True; torch's
cuda.matmul.allow_tf32 and cudnn.allow_tf32, which torchvision's im2col GEMM and cuDNN follow), so
they compare like with like; the "float32" rows keep every side at float32 accuracy (trtops on
sm_80+: split-TF32 tensor-core products, each within 3 * 2^-22 of the float product; the "max
err vs fp64" column shows the result).
Inputs are random and non-zero, and rotate over several sets so that no call hits a cache warmed
by the previous one. Each timing is the median over batches of back-to-back calls (the queue stays
full, so Python launch overhead is not measured). torchvision has no bfloat16 CUDA kernel: bf16
rows compare against torchvision float16 on the same shape (marked in the "tv dtype" column).

Usage: python benchmarks/bench_deform_conv.py [--json results.json] [--reps 20] [--batches 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Callable

import torch
from row_filter import add_only_argument, parse_patterns, selected

SHAPES = [
    # (batch, channels in = out, height, width), 3x3, stride 1, padding 1, v2
    (2, 256, 100, 152),
    (8, 64, 128, 128),
]
#: row name -> (storage dtype, TF32 allowed on every side)
DTYPES = {
    "float32": (torch.float32, False),
    "float32+tf32": (torch.float32, True),
    "float16": (torch.float16, False),
    "bfloat16": (torch.bfloat16, False),
}
ROTATE = 4


def time_ms(fn: Callable[[int], object], reps: int, batches: int, warmup: int = 5) -> float:
    """Median over `batches` of the mean time of `reps` back-to-back calls fn(i)."""
    for i in range(warmup):
        fn(i)
    torch.cuda.synchronize()
    samples = []
    call = 0
    for _ in range(batches):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn(call)
            call += 1
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / reps)
    return statistics.median(samples)


def make_sets(shape, dtype: torch.dtype, seed: int) -> list[dict]:
    n, c, h, w = shape
    g = torch.Generator(device="cuda").manual_seed(seed)
    sets = []
    for _ in range(ROTATE):
        sets.append(
            {
                "input": torch.randn(n, c, h, w, device="cuda", generator=g).to(dtype),
                "offset": (torch.randn(n, 18, h, w, device="cuda", generator=g) * 2.0).to(dtype),
                "mask": torch.rand(n, 9, h, w, device="cuda", generator=g).to(dtype) + 0.05,
                "weight": (torch.randn(c, c, 3, 3, device="cuda", generator=g) / (9 * c) ** 0.5).to(dtype),
                "bias": torch.randn(c, device="cuda", generator=g).to(dtype),
            }
        )
    return sets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the rows as JSON to this path")
    parser.add_argument("--reps", type=int, default=20, help="back-to-back calls per timed batch")
    parser.add_argument("--batches", type=int, default=15, help="timed batches (the median is reported)")
    add_only_argument(parser)
    args = parser.parse_args()
    patterns = parse_patterns(args.only)

    if not torch.cuda.is_available():
        print("error: bench_deform_conv needs a CUDA GPU (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    import torchvision.ops
    import torch.nn.functional as F

    from trtops.ops import deform_conv2d as trt_deform_conv2d

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True

    rows = []
    device_name = torch.cuda.get_device_name()
    for shape_index, shape in enumerate(SHAPES):
        for dtype_index, (dtype_name, (dtype, tf32)) in enumerate(DTYPES.items()):
            if not selected(patterns, "deform_conv2d_v2_3x3", "x".join(map(str, shape)), dtype_name, "NCHW"):
                continue
            sets = make_sets(shape, dtype, seed=100 * shape_index + dtype_index)
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32

            def run_trtops(i: int, sets=sets, tf32=tf32) -> object:
                s = sets[i % ROTATE]
                return trt_deform_conv2d(
                    s["input"], s["offset"], s["weight"], s["bias"], padding=1, mask=s["mask"], allow_tf32=tf32
                )

            def run_dense(i: int, sets=sets) -> object:
                s = sets[i % ROTATE]
                return F.conv2d(s["input"], s["weight"], s["bias"], padding=1)

            tv_dtype = dtype
            tv_sets = sets
            try:
                s0 = sets[0]
                torchvision.ops.deform_conv2d(s0["input"], s0["offset"], s0["weight"], s0["bias"], padding=1, mask=s0["mask"])
            except RuntimeError:
                tv_dtype = torch.float16
                tv_sets = [{k: v.to(torch.float16) for k, v in s.items()} for s in sets]

            def run_tv(i: int, sets=tv_sets) -> object:
                s = sets[i % ROTATE]
                return torchvision.ops.deform_conv2d(
                    s["input"], s["offset"], s["weight"], s["bias"], padding=1, mask=s["mask"]
                )

            # Correctness guard: a fast wrong kernel is not a result.
            with torch.no_grad():
                s = sets[0]
                ours = run_trtops(0).double()
                d = {k: v.double() for k, v in s.items()}
                ref = torchvision.ops.deform_conv2d(d["input"], d["offset"], d["weight"], d["bias"], padding=1, mask=d["mask"])
                max_err = (ours - ref).abs().max().item()

            with torch.no_grad():
                tv_ms = time_ms(run_tv, args.reps, args.batches)
                trt_ms = time_ms(run_trtops, args.reps, args.batches)
                dense_ms = time_ms(run_dense, args.reps, args.batches)
            row = {
                "op": "deform_conv2d_v2_3x3",
                "shape": "x".join(map(str, shape)),
                "dtype": dtype_name,
                "layout": "NCHW",
                "tv_dtype": str(tv_dtype).replace("torch.", "") + ("+tf32" if tf32 else ""),
                "torchvision_ms": tv_ms,
                "trtops_ms": trt_ms,
                "speedup_vs_torchvision": tv_ms / trt_ms,
                "dense_conv2d_ms": dense_ms,
                "trtops_over_dense": trt_ms / dense_ms,
                "max_abs_err_vs_fp64": max_err,
                "device": device_name,
            }
            rows.append(row)
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            del sets, tv_sets
            torch.cuda.empty_cache()

    header = (
        f"{'op':<22} {'shape':<14} {'dtype':<12} {'layout':<6} {'tv dtype':<12} {'torchvision ms':>14} "
        f"{'trtops ms':>10} {'ratio':>7} {'dense ms':>9} {'vs dense':>9} {'max err':>9}"
    )
    print(f"# {device_name}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['op']:<22} {r['shape']:<14} {r['dtype']:<12} {r['layout']:<6} {r['tv_dtype']:<12} "
            f"{r['torchvision_ms']:>14.3f} {r['trtops_ms']:>10.3f} {r['speedup_vs_torchvision']:>6.2f}x "
            f"{r['dense_conv2d_ms']:>9.3f} {r['trtops_over_dense']:>8.2f}x {r['max_abs_err_vs_fp64']:>9.2e}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device_name, "rows": rows}, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
