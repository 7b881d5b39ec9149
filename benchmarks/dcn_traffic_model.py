"""CPU model of the L2 -> SM traffic of deform_conv2d's tensor-core kernel: how many bytes of
corners and weights a CTA pulls from L2 per K tile, for each pixel tiling and K order, and how
much L1 the corners that pixels and taps share need.

The kernel (plugins/kernels/deform_conv/deform_conv2d.cu) copies, per K tile (one tap, a 64-byte
run of channels), the 4 bilinear corners of every pixel of its tile from the channels-last input
(cp.async through L1), and a 64-byte run of every weight row (bypassing L1). The model draws the
benchmark's offsets (bench_deform_conv.py: standard normal x 2 per pixel and tap), walks a few
CTAs' K tiles in the kernel's order through an LRU L1 of 128-byte lines with 32-byte sectors, and
counts the sectors that miss. It needs no GPU. What it leaves out: other CTAs on the SM (the
256-row kernel runs one), the L1's real replacement policy, and every cost but the bytes.

    python benchmarks/dcn_traffic_model.py [--l1-kb 28 92 156] [--ctas 8]
"""

from __future__ import annotations

import argparse
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np

LINE = 128
SECTOR = 32
RUN = 64  # bytes of a K tile's channels in every row (16 float32 or 32 16-bit channels)


@dataclass(frozen=True)
class Tiling:
    name: str
    width: int  # 0: a strip of `pixels` consecutive output pixels; else a width x (pixels / width) block
    tap_minor: bool
    pixels: int = 128


TILINGS = [
    Tiling("strip, tap-major (default)", 0, False),
    Tiling("strip, tap-minor", 0, True),
    Tiling("32x4, tap-major", 32, False),
    Tiling("32x4, tap-minor", 32, True),
    Tiling("16x8, tap-minor", 16, True),
]


@dataclass(frozen=True)
class Layer:
    """A v2 3x3 layer (stride 1, padding 1) as the benchmark runs it."""

    batch: int
    channels: int
    height: int
    width: int
    element_bytes: int = 2

    @property
    def rows(self) -> int:  # output channels of a CTA: the 64/128/256-row kernel holding them
        return self.channels

    @property
    def runs(self) -> int:  # K tiles per tap
        return self.channels * self.element_bytes // RUN


def tile_pixels(layer: Layer, tiling: Tiling, tile: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, row, column) of the output pixels of pixel tile `tile` (pixels past the output
    dropped), numbered as the kernel's tilePixel does."""
    plane = layer.height * layer.width
    if tiling.width == 0:
        index = np.arange(tile * tiling.pixels, (tile + 1) * tiling.pixels)
        index = index[index < layer.batch * plane]
        return index // plane, index % plane // layer.width, index % layer.width
    block_h = tiling.pixels // tiling.width
    tiles_x = -(-layer.width // tiling.width)
    per_image = tiles_x * -(-layer.height // block_h)
    n, t = divmod(tile, per_image)
    local = np.arange(tiling.pixels)
    y = t // tiles_x * block_h + local // tiling.width
    x = t % tiles_x * tiling.width + local % tiling.width
    keep = (y < layer.height) & (x < layer.width)
    return np.full(int(keep.sum()), n), y[keep], x[keep]


def k_tiles(layer: Layer, tiling: Tiling) -> Iterator[Tuple[int, int]]:
    """(tap, run) of each K tile in the kernel's order."""
    if tiling.tap_minor:
        return ((tap, run) for run in range(layer.runs) for tap in range(9))
    return ((tap, run) for tap in range(9) for run in range(layer.runs))


class L1:
    """LRU over 128-byte lines, each holding the 32-byte sectors fetched so far."""

    def __init__(self, capacity_bytes: int) -> None:
        self.lines = max(1, capacity_bytes // LINE)
        self.held: "OrderedDict[int, int]" = OrderedDict()  # line -> mask of its sectors held
        self.missed_sectors = 0

    def read(self, address: int, size: int) -> None:
        line, offset = divmod(address, LINE)
        wanted = 0
        for sector in range(offset // SECTOR, (offset + size - 1) // SECTOR + 1):
            wanted |= 1 << sector
        held = self.held.pop(line, 0)
        self.missed_sectors += bin(wanted & ~held).count("1")
        self.held[line] = held | wanted
        if len(self.held) > self.lines:
            self.held.popitem(last=False)


def cta_traffic(layer: Layer, tiling: Tiling, tile: int, l1_bytes: int, offsets: np.ndarray) -> Dict[str, float]:
    """Bytes one CTA reads per K tile: corners requested, corners from L2, weights from L2."""
    n, oy, ox = tile_pixels(layer, tiling, tile)
    cache = L1(l1_bytes)
    pixel_bytes = layer.channels * layer.element_bytes
    requested = 0
    tiles = 0
    for tap, run in k_tiles(layer, tiling):
        tiles += 1
        y = oy - 1 + tap // 3 + offsets[n, tap, 0, oy, ox]
        x = ox - 1 + tap % 3 + offsets[n, tap, 1, oy, ox]
        sampled = (y > -1) & (y < layer.height) & (x > -1) & (x < layer.width)
        y0 = np.floor(y[sampled]).astype(np.int64)
        x0 = np.floor(x[sampled]).astype(np.int64)
        images = n[sampled]
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            yy, xx = y0 + dy, x0 + dx
            inside = (yy >= 0) & (yy < layer.height) & (xx >= 0) & (xx < layer.width)
            pixels = (images[inside] * layer.height + yy[inside]) * layer.width + xx[inside]
            for pixel in pixels.tolist():
                cache.read(pixel * pixel_bytes + run * RUN, RUN)
                requested += RUN
    return {
        "requested": requested / tiles,
        "corners_l2": cache.missed_sectors * SECTOR / tiles,
        "weights_l2": layer.rows * RUN,
    }


def model(
    layer: Layer, tilings: Sequence[Tiling], l1_kb: Sequence[int], ctas: int, seed: int
) -> List[Dict[str, object]]:
    """Per tiling and L1 size: the mean traffic of `ctas` sampled pixel tiles (cta_traffic)."""
    gen = np.random.default_rng(seed)
    offsets = gen.standard_normal((layer.batch, 9, 2, layer.height, layer.width)) * 2.0
    rows = []
    for tiling in tilings:
        plane = layer.height * layer.width
        if tiling.width == 0:
            count = -(-layer.batch * plane // tiling.pixels)
        else:
            block_h = tiling.pixels // tiling.width
            count = layer.batch * -(-layer.width // tiling.width) * -(-layer.height // block_h)
        sample = gen.choice(count, size=min(ctas, count), replace=False)
        for kb in l1_kb:
            totals = [cta_traffic(layer, tiling, int(t), kb * 1024, offsets) for t in sample]
            mean = {key: float(np.mean([t[key] for t in totals])) for key in totals[0]}
            rows.append({"tiling": tiling.name, "l1_kb": kb, **mean,
                         "hit_rate": 1.0 - mean["corners_l2"] / mean["requested"],
                         "l2_total": mean["corners_l2"] + mean["weights_l2"]})
    return rows


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--l1-kb", type=int, nargs="+", default=[28, 92, 156])
    parser.add_argument("--ctas", type=int, default=8, help="pixel tiles sampled per tiling")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for layer in (Layer(2, 256, 100, 152), Layer(8, 64, 128, 128)):
        shared = "" if layer.rows > 128 else " (two CTAs per SM share its L1: read the rows of half the L1)"
        print(f"\n{layer.batch}x{layer.channels}x{layer.height}x{layer.width} 16-bit, {layer.rows}-row tiles: "
              f"bytes per CTA and K tile (a 64-byte run of one tap){shared}")
        print(f"{'tiling':28s} {'L1 KB':>6s} {'corners':>8s} {'from L2':>8s} {'hit':>5s} {'weights':>8s} "
              f"{'L2 total':>9s} {'vs default':>10s}")
        rows = model(layer, TILINGS, args.l1_kb, args.ctas, args.seed)
        base = {r["l1_kb"]: r["l2_total"] for r in rows if r["tiling"] == TILINGS[0].name}
        for r in rows:
            print(f"{r['tiling']:28s} {r['l1_kb']:6d} {r['requested']:8.0f} {r['corners_l2']:8.0f} "
                  f"{r['hit_rate']:5.0%} {r['weights_l2']:8.0f} {r['l2_total']:9.0f} "
                  f"{base[r['l1_kb']] / r['l2_total']:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
