"""Runs every RoI operator's host implementation on feature maps that sit right next to an
inaccessible memory page, so that reading an element before the first or after the last one of
the map crashes this process instead of silently reading a neighbour's memory.

The host implementations run the kernels' per-element code (the same functions the CUDA kernels
call), so this checks the kernels' index arithmetic at every border on a machine without a GPU.
(An aligned 16-byte vector read never crosses a page; PlaneCells keeps those inside the channel
plane by its own check.) Run by test_roi_reads_stay_inside_the_map in a subprocess, so that a crash
fails that test only; prints "OK <cases>" when every case ran.

    python tests/kernels/guarded_roi_reads.py
"""

from __future__ import annotations

import ctypes
import mmap
import sys

import torch

from trtops.ops import _roi as trt

PROT_NONE = 0


def guarded_buffer(nbytes: int, at_end: bool) -> tuple[mmap.mmap, int]:
    """A mapping with `nbytes` usable bytes placed against an inaccessible page: directly after a
    guard page (at_end False) or directly before one (at_end True). Returns (mapping, offset)."""
    page = mmap.PAGESIZE
    data_pages = -(-nbytes // page)
    total = (data_pages + 2) * page
    mapping = mmap.mmap(-1, total, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(mapping))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for guard in (address, address + total - page):
        if libc.mprotect(guard, page, PROT_NONE) != 0:
            raise OSError(ctypes.get_errno(), "mprotect failed")
    offset = total - page - nbytes if at_end else page
    return mapping, offset


def guarded_features(shape: tuple[int, int, int, int], dtype: torch.dtype, channels_last: bool, at_end: bool):
    """Random features in guarded memory (kept alive through the returned mapping)."""
    n, c, h, w = shape
    numel = n * c * h * w
    itemsize = torch.empty((), dtype=dtype).element_size()
    mapping, offset = guarded_buffer(numel * itemsize, at_end)
    flat = torch.frombuffer(mapping, dtype=dtype, count=numel, offset=offset)
    values = torch.randn(numel, dtype=torch.float64).to(dtype)
    flat.copy_(values)
    if channels_last:
        x = flat.view(n, h, w, c).permute(0, 3, 1, 2)
        assert x.is_contiguous(memory_format=torch.channels_last)
    else:
        x = flat.view(n, c, h, w)
    return mapping, x


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


def main() -> int:
    torch.manual_seed(0)
    cases = 0
    # Odd widths put rows at every 16-byte phase; 3x7 bins of a 7x3 output.
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        for at_end in (False, True):
            for height, width in ((7, 9), (5, 13), (1, 1)):
                rois = rois_touching_every_border(height, width)
                for channels_last in (False, True):
                    channels = 21 * 8  # divisible by 7 * 3 (PS ops) and a multiple of 8 (vectors)
                    keep, x = guarded_features((2, channels, height, width), dtype, channels_last, at_end)
                    for sr in (2, 0):
                        trt.roi_align(x, rois, (7, 3), 1.0, sr, True)
                        trt.ps_roi_align(x, rois, (7, 3), 1.0, sr)
                    trt.roi_pool(x, rois, (7, 3), 1.0)
                    trt.ps_roi_pool(x, rois, (7, 3), 1.0)
                    cases += 6
                    del x, keep
    print(f"OK {cases}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
