"""CPU model of the CUDA NMS's serial work: how many 64-box blocks its chunk resolve walks.

The resolve (plugins/kernels/nms/nms.cu) takes one CTA-wide step per live 64-box block of a
chunk, one chunk after another, and that serial walk is most of nms's time at 5k-20k boxes. This
script runs the greedy NMS on boxes from bench_nms.py's clustered distribution (its
`clustered`, seed 0 for each size) and counts, for a chunk schedule, the boxes still live when each chunk starts, the
blocks they occupy in place and the blocks they fill once compacted, i.e. the serial steps with
and without compactChunkKernel. It needs no GPU; it is how the first-chunk length
(TRTOPS_NMS_FIRST_CHUNK) was chosen.

    python benchmarks/nms_chunk_model.py [--boxes 5000 20000] [--first 512 1024 2048 4096]
"""

from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Sequence

import numpy as np

CHUNK = 4096
BLOCK = 64


def greedy_keep(boxes: np.ndarray, threshold: float) -> np.ndarray:
    """Kept flags of boxes already in score order (IoU > threshold suppresses), in float64."""
    n = len(boxes)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    removed = np.zeros(n, bool)
    kept = np.zeros(n, bool)
    for i in range(n):
        if removed[i]:
            continue
        kept[i] = True
        rest = slice(i + 1, n)
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        removed[rest] |= inter / (area[i] + area[rest] - inter) > threshold
    return kept


def chunk_bounds(n: int, first: int) -> List[int]:
    """Chunk boundaries as nms.cu draws them: a first chunk of `first` boxes when n > CHUNK."""
    bounds = [0, min(n, first if n > CHUNK else CHUNK)]
    while bounds[-1] < n:
        bounds.append(min(n, bounds[-1] + CHUNK))
    return bounds


def model(boxes: np.ndarray, kept: np.ndarray, first: int, threshold: float) -> Dict[str, object]:
    """Per chunk: live boxes at its start, live blocks in place, blocks compacted."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    bounds = chunk_bounds(len(boxes), first)
    rows = []
    for c, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        live = np.ones(end - start, bool)
        earlier = np.where(kept[:start])[0]
        for k in range(0, len(earlier), 512):
            a = boxes[earlier[k : k + 512]]
            b = boxes[start:end]
            w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
            h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
            inter = w * h
            union = area[earlier[k : k + 512], None] + area[None, start:end] - inter
            live &= ~(inter / union > threshold).any(axis=0)
        in_place = sum(bool(live[i : i + BLOCK].any()) for i in range(0, end - start, BLOCK))
        compacted = (int(live.sum()) + BLOCK - 1) // BLOCK
        # The first chunk is never compacted (nothing is suppressed before it).
        rows.append({"chunk": c, "boxes": end - start, "live": int(live.sum()), "blocks_in_place": in_place,
                     "blocks": in_place if c == 0 else compacted})
    return {"chunks": rows, "serial_blocks": sum(r["blocks"] for r in rows),
            "serial_blocks_in_place": sum(r["blocks_in_place"] for r in rows)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--first", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)

    import torch

    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from bench_nms import clustered

    for n in args.boxes:
        # The benchmark's distribution (bench_nms.clustered), each size drawn from seed 0.
        boxes, scores = clustered(n, torch.Generator().manual_seed(0), torch)
        order = torch.argsort(scores, descending=True, stable=True)
        sorted_boxes = boxes[order].double().numpy()
        kept = greedy_keep(sorted_boxes, args.threshold)
        print(f"n={n}: {int(kept.sum())} kept")
        for first in args.first:
            m = model(sorted_boxes, kept, first, args.threshold)
            live = [r["live"] for r in m["chunks"][1:]]
            print(f"  first chunk {first}: {len(m['chunks'])} chunks, live at later chunks' start {live}, "
                  f"serial blocks {m['serial_blocks']} compacted, {m['serial_blocks_in_place']} in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
