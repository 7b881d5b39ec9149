"""Benchmark: trtops nms / batched_nms CUDA kernels vs torchvision CUDA, in the same run.

Clustered boxes (detector-like heavy overlap), random non-zero data, several input sets rotated
across repetitions, warm-up, CUDA-event timing, median of many repetitions. Both sides are timed
end to end as a user calls them (torchvision's nms copies its mask to the host and resolves it
there; trtops stays on the device and reads the count once to size the result). A second trtops
column times padded mode, which reads nothing back: what the TensorRT plugin pays in an engine.

    python benchmarks/bench_nms.py [--reps 50] [--json out.json]

Targets (issue 5, H100): nms >= 5x at 5k boxes, >= 10x at 20k, 100k in <= 1/10 of torchvision's
time; batched_nms 20k boxes / 80 classes >= 10x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Callable, List

from row_filter import add_only_argument, parse_patterns, selected


def clustered(n: int, gen, torch, clusters: int | None = None, extent: float = 1000.0):
    clusters = clusters or max(n // 50, 1)
    centers = torch.rand(clusters, 2, generator=gen) * extent
    sizes = torch.rand(clusters, 2, generator=gen) * 150 + 20
    which = torch.randint(0, clusters, (n,), generator=gen)
    c = centers[which] + torch.randn(n, 2, generator=gen) * 8
    s = sizes[which] * (1 + 0.15 * torch.randn(n, 2, generator=gen)).clamp(min=0.2)
    boxes = torch.cat([c - s / 2, c + s / 2], dim=1)
    scores = torch.rand(n, generator=gen) * 0.99 + 0.01
    return boxes, scores


def time_ms(torch, fn: Callable[[int], object], reps: int, rotate: int) -> float:
    for i in range(3):
        fn(i % rotate)
    torch.cuda.synchronize()
    times: List[float] = []
    for i in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn(i % rotate)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--rotate", type=int, default=4, help="distinct input sets cycled through")
    parser.add_argument("--json", type=str, default=None, help="write the results as JSON here")
    add_only_argument(parser)
    args = parser.parse_args()
    patterns = parse_patterns(args.only)

    import torch

    if not torch.cuda.is_available():
        print("bench_nms: no CUDA GPU visible to torch; this benchmark needs a GPU.", file=sys.stderr)
        return 2
    import torchvision

    from trtops.ops._nms import batched_nms, nms

    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    gen = torch.Generator().manual_seed(0)
    cases = [("nms", n, None, 0.5) for n in (1000, 5000, 20000, 100000)]
    cases += [("batched_nms", n, 80, 0.5) for n in (5000, 20000)]
    rows = []
    for op, n, classes, threshold in cases:
        shape = f"n={n}" + (f" classes={classes}" if classes else "")
        if not selected(patterns, op, shape, "float32", "-"):
            continue
        inputs = []
        for _ in range(args.rotate):
            boxes, scores = clustered(n, gen, torch)
            idxs = torch.randint(0, classes or 1, (n,), generator=gen)
            inputs.append((boxes.to(device), scores.to(device), idxs.to(device)))
        reps = args.reps if n <= 20000 else max(args.reps // 5, 5)
        if op == "nms":
            tv = lambda i: torchvision.ops.nms(inputs[i][0], inputs[i][1], threshold)  # noqa: E731
            ours = lambda i: nms(inputs[i][0], inputs[i][1], threshold)  # noqa: E731
            ours_padded = lambda i: nms(inputs[i][0], inputs[i][1], threshold, max_output_boxes=n, padded=True)  # noqa: E731
        else:
            tv = lambda i: torchvision.ops.batched_nms(*inputs[i], threshold)  # noqa: E731
            ours = lambda i: batched_nms(*inputs[i], threshold)  # noqa: E731
            ours_padded = lambda i: batched_nms(*inputs[i], threshold, max_output_boxes=n, padded=True)  # noqa: E731
        # Same answer before timing: "exact", or "ties" when the kept sets are equal and only boxes
        # of equal score come in another order (torchvision's CUDA sort is not stable; trtops puts
        # the lower index first), else "DIFF" (quantization-free data may differ from torchvision
        # only at IoUs within one ulp of the threshold; report rather than fail).
        same = "exact"
        for i in range(args.rotate):
            a, b = tv(i), ours(i)
            if torch.equal(a, b):
                continue
            scores = inputs[i][1]
            if torch.equal(a.sort().values, b.sort().values) and torch.equal(scores[a], scores[b]):
                same = "ties"
            else:
                same = "DIFF"
                break
        tv_ms = time_ms(torch, tv, reps, args.rotate)
        ours_ms = time_ms(torch, ours, reps, args.rotate)
        # Padded mode reads nothing back: what a TensorRT engine (the plugin) pays.
        padded_ms = time_ms(torch, ours_padded, reps, args.rotate)
        kept = int(ours(0).numel())
        rows.append(
            {
                "op": op,
                "shape": shape,
                "dtype": "float32",
                "layout": "-",
                "iou_threshold": threshold,
                "kept": kept,
                "torchvision_ms": round(tv_ms, 4),
                "trtops_ms": round(ours_ms, 4),
                "speedup": round(tv_ms / ours_ms, 2),
                "trtops_padded_ms": round(padded_ms, 4),
                "padded_speedup": round(tv_ms / padded_ms, 2),
                "same_result": same,
            }
        )

    header = (f"{'op':<12} {'shape':<22} {'dtype':<8} {'layout':<6} {'kept':>6} {'torchvision ms':>15} "
              f"{'trtops ms':>10} {'ratio':>7} {'padded ms':>10} {'ratio':>7} same")
    print(f"device: {name}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['op']:<12} {r['shape']:<22} {r['dtype']:<8} {r['layout']:<6} {r['kept']:>6} "
            f"{r['torchvision_ms']:>15.4f} {r['trtops_ms']:>10.4f} {r['speedup']:>6.2f}x "
            f"{r['trtops_padded_ms']:>10.4f} {r['padded_speedup']:>6.2f}x {r['same_result']}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "torchvision": torchvision.__version__, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
