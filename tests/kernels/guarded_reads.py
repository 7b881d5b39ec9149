"""Runs every operator's host implementation on inputs that sit right next to an inaccessible
memory page, so that reading an element before the first or after the last one of an input
crashes this process instead of silently reading a neighbour's memory.

The RoI and deform_conv2d host implementations run the kernels' per-element code (the same
functions the CUDA kernels call), and NMS's host shares the kernels' box math, so this checks the
index arithmetic at every border on a machine without a GPU:
RoI operators with RoIs over and past every border of the map, deform_conv2d with offsets that
sample far outside the input, NMS with boxes and scores at both ends of their buffers. (An
aligned 16-byte vector read never crosses a page; PlaneCells keeps those inside the channel plane
by its own check.) Run by test_reads_stay_inside_the_inputs in a subprocess, so that a crash
fails that test only; prints "OK <cases>" when every case ran.

    python tests/kernels/guarded_reads.py
"""

from __future__ import annotations

import ctypes
import mmap
import sys

import torch

from trtops.ops import _deform_conv as dcn
from trtops.ops import _nms as nms
from trtops.ops import _roi as roi

PROT_NONE = 0
EXPECTED_CASES = 404


class Guarded:
    """Tensors whose memory lies directly after (at_end False) or directly before (at_end True)
    an inaccessible page; keeps the mappings alive while the tensors are used."""

    def __init__(self, at_end: bool) -> None:
        self.at_end = at_end
        self.mappings: list[mmap.mmap] = []

    def copy(self, values: torch.Tensor) -> torch.Tensor:
        """A contiguous copy of `values` in guarded memory."""
        numel = values.numel()
        page = mmap.PAGESIZE
        nbytes = max(numel, 1) * values.element_size()
        total = (-(-nbytes // page) + 2) * page
        mapping = mmap.mmap(-1, total, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        address = ctypes.addressof(ctypes.c_char.from_buffer(mapping))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        for guard in (address, address + total - page):
            if libc.mprotect(guard, page, PROT_NONE) != 0:
                raise OSError(ctypes.get_errno(), "mprotect failed")
        self.mappings.append(mapping)
        offset = total - page - numel * values.element_size() if self.at_end else page
        flat = torch.frombuffer(mapping, dtype=values.dtype, count=numel, offset=offset)
        flat.copy_(values.reshape(-1))
        return flat.view(values.shape)

    def features(self, shape: tuple[int, int, int, int], dtype: torch.dtype, channels_last: bool) -> torch.Tensor:
        """Random features [N, C, H, W], contiguous or channels-last (NHWC in memory)."""
        n, c, h, w = shape
        if channels_last:
            x = self.copy(torch.randn((n, h, w, c), dtype=torch.float64).to(dtype)).permute(0, 3, 1, 2)
            assert x.is_contiguous(memory_format=torch.channels_last)
            return x
        return self.copy(torch.randn(shape, dtype=torch.float64).to(dtype))


def rois_touching_every_border(height: int, width: int) -> torch.Tensor:
    """RoIs (in map coordinates) over the whole map, past each border, and on the last pixel."""
    h, w = float(height), float(width)
    return torch.tensor(
        [
            [0, 0.0, 0.0, w, h],
            [1, -3.0, -2.0, w + 4.0, h + 3.0],
            [1, w - 1.5, h - 1.5, w + 0.5, h + 0.5],
            [0, -1.0, -1.0, 1.0, 1.0],
            [1, 0.3, h - 1.0, w - 0.2, h],
        ]
    )


def roi_cases(dtype: torch.dtype, at_end: bool) -> int:
    cases = 0
    # Odd widths put rows at every 16-byte phase; 3x7 bins of a 7x3 output.
    for height, width in ((7, 9), (5, 13), (1, 1)):
        for channels_last in (False, True):
            g = Guarded(at_end)
            x = g.features((2, 21 * 8, height, width), dtype, channels_last)  # PS: 21 * 8 = 8 x (7 * 3)
            rois = g.copy(rois_touching_every_border(height, width))
            for sr in (2, 0):
                roi.roi_align(x, rois, (7, 3), 1.0, sr, True)
                roi.ps_roi_align(x, rois, (7, 3), 1.0, sr)
            roi.roi_pool(x, rois, (7, 3), 1.0)
            roi.ps_roi_pool(x, rois, (7, 3), 1.0)
            # Two levels (the second half the size); the RoIs map to both.
            fine = x
            coarse = g.features((2, 21 * 8, max(height // 2, 1), max(width // 2, 1)), dtype, channels_last)
            levels = g.copy(rois_touching_every_border(2 * height, 2 * width) * torch.tensor([1, 56, 56, 56, 56.0]))
            roi.multi_scale_roi_align([fine, coarse], levels, (3, 2), [1 / 64, 1 / 128], 0, False, 224, 4)
            cases += 7
    return cases


def deform_cases(dtype: torch.dtype, at_end: bool) -> int:
    cases = 0
    for groups, offset_groups, mask in ((1, 1, True), (2, 4, False)):
        g = Guarded(at_end)
        n, cin, h, w, cout, k = 2, 8, 5, 7, 4, 3
        x = g.features((n, cin, h, w), dtype, False)
        weight = g.copy(torch.randn((cout, cin // groups, k, k), dtype=torch.float64).to(dtype))
        bias = g.copy(torch.randn(cout, dtype=torch.float64).to(dtype))
        # Offsets up to 3x the map: most samples land outside, some on each border pixel.
        offset = (torch.rand((n, 2 * offset_groups * k * k, h, w), dtype=torch.float64) * 6 - 3) * max(h, w)
        m = torch.rand((n, offset_groups * k * k, h, w), dtype=torch.float64) if mask else None
        # Stride 1 (output 5x7) and stride 2 (output 3x4: every other offset row and column).
        for stride, step in ((1, 1), (2, 2)):
            o = g.copy(offset[:, :, ::step, ::step].to(dtype))
            mk = None if m is None else g.copy(m[:, :, ::step, ::step].to(dtype))
            dcn.deform_conv2d(x, o, weight, bias, (stride, stride), (1, 1), (1, 1), mk)
        cases += 2
    return cases


def nms_cases(dtype: torch.dtype, at_end: bool) -> int:
    cases = 0
    for count in (1, 7, 130):
        g = Guarded(at_end)
        xy = torch.rand((count, 2), dtype=torch.float64) * 50
        boxes = g.copy(torch.cat([xy, xy + torch.rand((count, 2), dtype=torch.float64) * 20], 1).to(dtype))
        scores = g.copy(torch.rand(count, dtype=torch.float64).to(dtype))
        classes = g.copy(torch.randint(0, 3, (count,)))
        nms.nms(boxes, scores, 0.5)
        nms.batched_nms(boxes, scores, classes, 0.5)
        cases += 2
    return cases


def main() -> int:
    torch.manual_seed(0)
    cases = 0
    for at_end in (False, True):
        for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
            cases += roi_cases(dtype, at_end)
            cases += deform_cases(dtype, at_end)
            if dtype != torch.bfloat16:  # nms: float32, float16, float64 boxes
                cases += nms_cases(dtype, at_end)
    print(f"OK {cases}")
    return 0 if cases == EXPECTED_CASES else 1


if __name__ == "__main__":
    sys.exit(main())
