#!/usr/bin/env python3
"""The benchmark cases that miss their targets, one call each inside a profiler range, for
Nsight Compute's hardware counters (``gpu_session.sh`` phase ``ncu``):

    ncu --clock-control none --profile-from-start off --section ... python3 benchmarks/ncu_cases.py

Every case runs three warm-up calls, then one call between ``cudaProfilerStart`` and
``cudaProfilerStop``, so ncu profiles exactly the kernels of that call (the shapes are the
benchmarks'). The PS ops also profile torchvision's kernel, whose speed is the target. Without
ncu the script just runs the cases (a check that they run) and prints one line per case.

    python benchmarks/ncu_cases.py [--only nms,deform]
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, List, Tuple


def cases(torch, gen, device: str = "cuda", small: bool = False) -> List[Tuple[str, Callable[[], object]]]:
    """(name, one call) for every profiled case, inputs made up front. ``small`` shrinks every
    shape (boxes, channels, maps, RoIs) for a quick run of the same calls on CPU (``--smoke``)."""
    import torchvision

    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from bench_nms import clustered
    from bench_roi import random_rois

    from trtops.ops import deform_conv2d, nms, ps_roi_align, ps_roi_pool, roi_align

    result: List[Tuple[str, Callable[[], object]]] = []
    shrink = 8 if small else 1
    for n in (5000, 20000):
        boxes, scores = clustered(n // shrink, gen, torch)
        b, s = boxes.to(device), scores.to(device)
        result.append((f"nms trtops n={n}", lambda b=b, s=s: nms(b, s, 0.5)))
    for dtype in (torch.float16, torch.float32):
        c, h, w = 256 // shrink, 100 // shrink, 152 // shrink
        x = torch.randn(2, c, h, w, generator=gen).to(device, dtype)
        off = (torch.randn(2, 18, h, w, generator=gen) * 2).to(device, dtype)
        mask = torch.rand(2, 9, h, w, generator=gen).to(device, dtype)
        weight = (torch.randn(c, c, 3, 3, generator=gen) * 0.02).to(device, dtype)
        result.append((
            f"deform trtops 2x256x100x152 {dtype}",
            lambda x=x, off=off, weight=weight, mask=mask: deform_conv2d(x, off, weight, padding=1, mask=mask),
        ))
    # As bench_roi.py: features ~N(0.25, 1), aligned=False, trtops takes float32 RoIs and
    # torchvision RoIs in the feature dtype.
    features = (torch.randn(2, 256 // shrink, 200, 304, generator=gen) + 0.25).to(device)
    features = features.to(memory_format=torch.channels_last)
    rois = random_rois(gen, 1000 // shrink, 2).to(device)
    result.append((
        "roi_align trtops 2x256x200x304 K=1000 sr=0 float32 NHWC",
        lambda: roi_align(features, rois, 7, 0.25, 0, False),
    ))
    ps_features = (torch.randn(1, 1029 // (21 if small else 1), 63, 38, generator=gen) + 0.25).to(device).half()
    ps_rois = random_rois(gen, 300 // shrink, 1, image=(1008, 608)).to(device)
    ps_rois_tv = ps_rois.half()
    result.append(("ps_roi_pool trtops float16", lambda: ps_roi_pool(ps_features, ps_rois, 7, 0.0625)))
    result.append((
        "ps_roi_pool torchvision float16",
        lambda: torchvision.ops.ps_roi_pool(ps_features, ps_rois_tv, 7, 0.0625),
    ))
    result.append(("ps_roi_align trtops float16", lambda: ps_roi_align(ps_features, ps_rois, 7, 0.0625, 2)))
    result.append((
        "ps_roi_align torchvision float16",
        lambda: torchvision.ops.ps_roi_align(ps_features, ps_rois_tv, 7, 0.0625, 2),
    ))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated substrings of case names to run")
    parser.add_argument("--smoke", action="store_true", help="small shapes on CPU, no profiler (a test)")
    args = parser.parse_args()

    import torch

    if not args.smoke and not torch.cuda.is_available():
        print("ncu_cases: needs a CUDA GPU (or --smoke)", file=sys.stderr)
        return 2
    gen = torch.Generator().manual_seed(0)
    wanted = [w for w in args.only.split(",") if w]
    if args.smoke:
        for name, call in cases(torch, gen, device="cpu", small=True):
            if not wanted or any(w in name for w in wanted):
                call()
                print(f"ran {name}")
        return 0
    cudart = torch.cuda.cudart()
    for name, call in cases(torch, gen):
        if wanted and not any(w in name for w in wanted):
            continue
        for _ in range(3):
            call()
        torch.cuda.synchronize()
        # ncu prints its reports when the process ends: each kernel's report names its case
        # through the NVTX range (ncu --nvtx).
        print(f"=== ncu case: {name}", flush=True)
        torch.cuda.nvtx.range_push(name)
        cudart.cudaProfilerStart()
        call()
        torch.cuda.synchronize()
        cudart.cudaProfilerStop()
        torch.cuda.nvtx.range_pop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
