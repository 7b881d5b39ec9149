"""Time every trtops.reference operator on detector-sized inputs.

    PYTHONPATH=. python benchmarks/bench_reference.py [--json out.json] [--repeat 3]
        [--only roi_align,nms] [--device cpu] [--torchvision]

Shapes follow DESIGN.md's baseline: RoI operators pool 1000 RoIs from a 2x256x200x304 map
(stride 4 of a 2x800x1216 batch), deform_conv2d is DCNv2 3x3 on 2x256x100x152, NMS runs on 20k
boxes (batched: 80 classes), MultiScaleRoIAlign pools P2-P5 of a 2x(800x1216) batch. Prints
``op | shape | ms`` (median wall-clock of ``--repeat`` runs after one warm-up) with the process
CPU time, and with ``--json`` writes the same rows as JSON. ``--torchvision`` also times
``torchvision.ops`` on the same inputs for context (the reference is a correctness oracle, not a
fast path).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch

import trtops.reference as R

IMAGE_H, IMAGE_W = 800, 1216


def _boxes(g: torch.Generator, n: int, height: float, width: float) -> torch.Tensor:
    """Detector-like boxes: log-uniform sizes from 16 px to the image size, centres anywhere."""
    log_size = torch.empty(n, 2).uniform_(math.log(16.0), math.log(min(height, width)), generator=g)
    size = torch.exp(log_size)
    centre = torch.rand(n, 2, generator=g) * torch.tensor([width, height])
    return torch.cat([centre - size / 2, centre + size / 2], dim=1)


def _rois(g: torch.Generator, n: int, batch: int) -> torch.Tensor:
    index = torch.randint(0, batch, (n, 1), generator=g).float()
    return torch.cat([index, _boxes(g, n, IMAGE_H, IMAGE_W)], dim=1)


class Case:
    def __init__(self, op: str, shape: str, ours: Callable[[], object],
                 theirs: Optional[Callable[[], object]] = None) -> None:
        self.op, self.shape, self.ours, self.theirs = op, shape, ours, theirs


def build_cases(device: torch.device, tv: Optional[object]) -> List[Case]:
    g = torch.Generator().manual_seed(0)
    dev = device
    feat = torch.randn(2, 256, 200, 304, generator=g).to(dev)
    ps_feat = torch.randn(2, 245, 200, 304, generator=g).to(dev)  # 5 * 7 * 7 channels
    feat16 = torch.randn(2, 256, 50, 76, generator=g).to(dev)
    rois = _rois(g, 1000, 2).to(dev)
    cases = [
        Case("roi_align", "2x256x200x304, 1000 RoIs, 7x7, sr=2, scale 1/4",
             lambda: R.roi_align(feat, rois, 7, 0.25, 2, False),
             tv and (lambda: tv.roi_align(feat, rois, 7, 0.25, 2, False))),
        Case("roi_align (aligned)", "2x256x200x304, 1000 RoIs, 7x7, sr=2, scale 1/4",
             lambda: R.roi_align(feat, rois, 7, 0.25, 2, True),
             tv and (lambda: tv.roi_align(feat, rois, 7, 0.25, 2, True))),
        # Adaptive grids: on a stride-16 map (C4 heads, Detectron2's sampling_ratio=0) RoIs span
        # a few samples per bin; on the stride-4 map large RoIs take up to ~30x30 per bin.
        Case("roi_align (adaptive)", "2x256x50x76, 1000 RoIs, 7x7, sr=0, scale 1/16",
             lambda: R.roi_align(feat16, rois, 7, 1 / 16, 0, True),
             tv and (lambda: tv.roi_align(feat16, rois, 7, 1 / 16, 0, True))),
        Case("roi_align (adaptive, big)", "2x256x200x304, 1000 RoIs, 7x7, sr=0, scale 1/4",
             lambda: R.roi_align(feat, rois, 7, 0.25, 0, False),
             tv and (lambda: tv.roi_align(feat, rois, 7, 0.25, 0, False))),
        Case("ps_roi_align", "2x245x200x304, 1000 RoIs, 7x7, sr=2, scale 1/4",
             lambda: R.ps_roi_align(ps_feat, rois, 7, 0.25, 2),
             tv and (lambda: tv.ps_roi_align(ps_feat, rois, 7, 0.25, 2))),
        Case("roi_pool", "2x256x200x304, 1000 RoIs, 7x7, scale 1/4",
             lambda: R.roi_pool(feat, rois, 7, 0.25),
             tv and (lambda: tv.roi_pool(feat, rois, 7, 0.25))),
        Case("ps_roi_pool", "2x245x200x304, 1000 RoIs, 7x7, scale 1/4",
             lambda: R.ps_roi_pool(ps_feat, rois, 7, 0.25),
             tv and (lambda: tv.ps_roi_pool(ps_feat, rois, 7, 0.25))),
    ]

    # DCNv2 3x3, 256 -> 256, stride 1, padding 1, one offset group.
    x = torch.randn(2, 256, 100, 152, generator=g).to(dev)
    w = (torch.randn(256, 256, 3, 3, generator=g) / math.sqrt(256 * 9)).to(dev)
    b = torch.randn(256, generator=g).to(dev)
    off = (torch.randn(2, 18, 100, 152, generator=g) * 2).to(dev)
    mask = torch.rand(2, 9, 100, 152, generator=g).to(dev)
    cases.append(Case("deform_conv2d (v2)", "2x256x100x152, 3x3, 256 out, pad 1, mask",
                      lambda: R.deform_conv2d(x, off, w, b, 1, 1, 1, mask),
                      tv and (lambda: tv.deform_conv2d(x, off, w, b, 1, 1, 1, mask))))

    boxes = _boxes(g, 20000, IMAGE_H, IMAGE_W).to(dev)
    scores = torch.rand(20000, generator=g).to(dev)
    labels = torch.randint(0, 80, (20000,), generator=g).to(dev)
    cases += [
        Case("nms", "20000 boxes, IoU 0.7", lambda: R.nms(boxes, scores, 0.7),
             tv and (lambda: tv.nms(boxes, scores, 0.7))),
        Case("batched_nms", "20000 boxes, 80 classes, IoU 0.5",
             lambda: R.batched_nms(boxes, scores, labels, 0.5),
             tv and (lambda: tv.batched_nms(boxes, scores, labels, 0.5))),
        Case("remove_small_boxes", "20000 boxes", lambda: R.remove_small_boxes(boxes, 32.0),
             tv and (lambda: tv.remove_small_boxes(boxes, 32.0))),
        Case("clip_boxes_to_image", "20000 boxes",
             lambda: R.clip_boxes_to_image(boxes, (IMAGE_H, IMAGE_W)),
             tv and (lambda: tv.clip_boxes_to_image(boxes, (IMAGE_H, IMAGE_W)))),
        Case("box_convert", "20000 boxes, xyxy -> cxcywh",
             lambda: R.box_convert(boxes, "xyxy", "cxcywh"),
             tv and (lambda: tv.box_convert(boxes, "xyxy", "cxcywh"))),
        Case("box_area", "20000 boxes", lambda: R.box_area(boxes),
             tv and (lambda: tv.box_area(boxes))),
        Case("box_iou", "1000 x 20000 boxes", lambda: R.box_iou(boxes[:1000], boxes),
             tv and (lambda: tv.box_iou(boxes[:1000], boxes))),
        Case("generalized_box_iou", "1000 x 20000 boxes",
             lambda: R.generalized_box_iou(boxes[:1000], boxes),
             tv and (lambda: tv.generalized_box_iou(boxes[:1000], boxes))),
    ]

    logits = torch.randn(2 * 120000, 80, generator=g).to(dev)  # RetinaNet anchors x classes
    targets = (torch.rand(2 * 120000, 80, generator=g) < 0.01).float().to(dev)
    cases.append(Case("sigmoid_focal_loss", "240000x80, sum",
                      lambda: R.sigmoid_focal_loss(logits, targets, reduction="sum"),
                      tv and (lambda: tv.sigmoid_focal_loss(logits, targets, reduction="sum"))))

    # P2-P5 of a 2x(800x1216) batch.
    pyramid = OrderedDict(
        (str(i), torch.randn(2, 256, IMAGE_H // s, IMAGE_W // s, generator=g).to(dev))
        for i, s in enumerate((4, 8, 16, 32))
    )
    per_image = [_boxes(g, 500, IMAGE_H, IMAGE_W).to(dev) for _ in range(2)]
    shapes = [(IMAGE_H, IMAGE_W)] * 2
    ours_msra = R.MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    theirs_msra = tv.MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2) if tv else None
    cases.append(Case("MultiScaleRoIAlign", "P2-P5 of 2x(800x1216), 256 ch, 1000 RoIs, 7x7, sr=2",
                      lambda: ours_msra(pyramid, per_image, shapes),
                      theirs_msra and (lambda: theirs_msra(pyramid, per_image, shapes))))

    # ResNet-50 C2-C5 of one 800x1216 image -> 256-channel FPN.
    torch.manual_seed(0)
    fpn = R.FeaturePyramidNetwork([256, 512, 1024, 2048], 256).to(dev).eval()
    theirs_fpn = None
    if tv:
        theirs_fpn = tv.FeaturePyramidNetwork([256, 512, 1024, 2048], 256).to(dev).eval()
        theirs_fpn.load_state_dict(fpn.state_dict())
    c_maps = OrderedDict(
        (str(i), torch.randn(1, c, IMAGE_H // s, IMAGE_W // s, generator=g).to(dev))
        for i, (c, s) in enumerate(((256, 4), (512, 8), (1024, 16), (2048, 32)))
    )

    def run_fpn(module: torch.nn.Module) -> object:
        with torch.no_grad():
            return module(c_maps)

    cases.append(Case("FeaturePyramidNetwork", "C2-C5 of 1x(800x1216) -> 256 ch",
                      lambda: run_fpn(fpn), theirs_fpn and (lambda: run_fpn(theirs_fpn))))
    return cases


def _time(
    fn: Callable[[], object], repeat: int, device: torch.device
) -> Tuple[List[float], List[float]]:
    """Wall-clock and process CPU milliseconds of ``repeat`` runs after one warm-up (CPU time
    is the steadier number on a machine shared with other jobs)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    fn()  # warm-up
    sync()
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return wall, cpu


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results as JSON to this path")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per op (median)")
    parser.add_argument("--only", help="comma-separated op names (prefix match)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch.set_num_threads (0: torch's default); 1 gives steadier numbers "
                        "on a machine shared with other jobs")
    parser.add_argument("--torchvision", action="store_true",
                        help="also time torchvision.ops on the same inputs")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    tv = None
    if args.torchvision:
        import torchvision.ops as tv  # noqa: F811 (optional dependency, benchmark only)

    cases = build_cases(device, tv)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        cases = [c for c in cases if any(c.op.startswith(w) for w in wanted)]

    rows: List[Dict[str, object]] = []
    header = f"{'op':<26} | {'shape':<52} | {'ms':>8} | {'cpu ms':>8}"
    if tv:
        header += f" | {'tv ms':>8} | {'tv cpu ms':>9}"
    print(header)
    print("-" * len(header))
    for case in cases:
        wall, cpu = _time(case.ours, args.repeat, device)
        row: Dict[str, object] = {
            "op": case.op,
            "shape": case.shape,
            "ms": round(statistics.median(wall), 3),
            "ms_min": round(min(wall), 3),
            "cpu_ms": round(statistics.median(cpu), 3),
            "repeat": args.repeat,
        }
        line = f"{case.op:<26} | {case.shape:<52} | {row['ms']:>8.1f} | {row['cpu_ms']:>8.1f}"
        if tv and case.theirs is not None:
            tv_wall, tv_cpu = _time(case.theirs, args.repeat, device)
            row["torchvision_ms"] = round(statistics.median(tv_wall), 3)
            row["torchvision_cpu_ms"] = round(statistics.median(tv_cpu), 3)
            line += f" | {row['torchvision_ms']:>8.1f} | {row['torchvision_cpu_ms']:>9.1f}"
        print(line, flush=True)
        rows.append(row)

    if args.json:
        payload = {
            "device": str(device),
            "device_name": (
                torch.cuda.get_device_name(device)
                if device.type == "cuda"
                else platform.processor() or platform.machine()
            ),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "results": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
