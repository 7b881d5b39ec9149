#!/usr/bin/env python3
"""Where the time goes: per-kernel CUDA time of one trtops call for the benchmark shapes that miss
their targets, from torch.profiler (no Nsight needed), and the host time each Python call takes to
queue its work next to torchvision's (it bounds short kernels). Prints one table per case.

    python benchmarks/profile_kernels.py [--reps 20]
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="calls profiled per case (times are per call)")
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    if not torch.cuda.is_available():
        print("profile_kernels: needs a CUDA GPU", file=sys.stderr)
        return 2
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from bench_nms import clustered

    from trtops.ops import batched_nms, deform_conv2d, nms, ps_roi_pool, roi_pool

    gen = torch.Generator().manual_seed(0)
    cases = []
    for n in (5000, 20000):
        boxes, scores = clustered(n, gen, torch)
        b, s = boxes.cuda(), scores.cuda()
        cases.append((f"nms n={n}", lambda b=b, s=s: nms(b, s, 0.5)))
    boxes, scores = clustered(20000, gen, torch)
    idxs = torch.randint(0, 80, (20000,), generator=gen).cuda()
    cases.append(("batched_nms n=20000 classes=80",
                  lambda b=boxes.cuda(), s=scores.cuda(): batched_nms(b, s, idxs, 0.5)))
    for dtype in (torch.float16, torch.float32):
        x = torch.randn(2, 256, 100, 152, generator=gen).to("cuda", dtype)
        off = (torch.randn(2, 18, 100, 152, generator=gen) * 2).to("cuda", dtype)
        mask = torch.rand(2, 9, 100, 152, generator=gen).to("cuda", dtype)
        wt = (torch.randn(256, 256, 3, 3, generator=gen) * 0.02).to("cuda", dtype)
        cases.append((f"deform_conv2d 2x256x100x152 {dtype}",
                      lambda x=x, off=off, wt=wt, mask=mask: deform_conv2d(x, off, wt, padding=1, mask=mask)))
        if dtype == torch.float32:
            cases.append(("deform_conv2d 2x256x100x152 torch.float32 allow_tf32",
                          lambda x=x, off=off, wt=wt, mask=mask: deform_conv2d(
                              x, off, wt, padding=1, mask=mask, allow_tf32=True)))
    x = torch.randn(1, 1029, 63, 38, generator=gen).cuda()
    rois = torch.tensor([[0, 10, 10, 400, 300]] * 300, dtype=torch.float32).cuda()
    cases.append(("ps_roi_pool 1x1029x63x38 K=300", lambda x=x, rois=rois: ps_roi_pool(x, rois, 7, 0.0625)))
    x = torch.randn(2, 512, 50, 68, generator=gen).cuda()
    rois = torch.tensor([[1, 30, 40, 500, 600]] * 2000, dtype=torch.float32).cuda()
    cases.append(("roi_pool 2x512x50x68 K=2000", lambda x=x, rois=rois: roi_pool(x, rois, 7, 0.0625)))

    print_host_overhead(torch, gen)
    for name, fn in cases:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(args.reps):
                fn()
            torch.cuda.synchronize()
        rows = {}
        for e in prof.key_averages():
            if e.self_device_time_total > 0:
                rows[e.key] = (e.self_device_time_total / args.reps / 1000.0, e.count / args.reps)
        total = sum(ms for ms, _ in rows.values())
        print(f"\n== {name}: {total:.4f} ms of kernels per call")
        for key, (ms, count) in sorted(rows.items(), key=lambda kv: -kv[1][0])[:12]:
            print(f"  {ms:9.4f} ms  x{count:4.1f}  {key[:110]}")
    return 0


def print_host_overhead(torch, gen) -> None:
    """Microseconds of host time per call to queue a small RoI op (nothing synchronizes inside the
    loop, so the GPU never holds the host back), trtops next to torchvision."""
    import time

    import torchvision.ops as tv

    from trtops.ops import ps_roi_align, ps_roi_pool, roi_align

    x = torch.randn(1, 1029, 63, 38, generator=gen).cuda()
    rois = torch.tensor([[0, 10, 10, 400, 300]] * 300, dtype=torch.float32).cuda()
    pairs = [
        ("ps_roi_pool", lambda: ps_roi_pool(x, rois, 7, 0.0625), lambda: tv.ps_roi_pool(x, rois, 7, 0.0625)),
        ("ps_roi_align", lambda: ps_roi_align(x, rois, 7, 0.0625, 2), lambda: tv.ps_roi_align(x, rois, 7, 0.0625, 2)),
        ("roi_align", lambda: roi_align(x, rois[:8], 7, 0.0625, 2), lambda: tv.roi_align(x, rois[:8], 7, 0.0625, 2)),
    ]
    print("\n== host time to queue one call (us): op, trtops, torchvision")
    for name, ours, theirs in pairs:
        times = []
        for fn in (ours, theirs):
            for _ in range(20):
                fn()
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(200):
                fn()
            times.append((time.perf_counter() - start) / 200 * 1e6)
            torch.cuda.synchronize()
        print(f"  {name:14s} {times[0]:8.1f} {times[1]:8.1f}")


if __name__ == "__main__":
    sys.exit(main())
