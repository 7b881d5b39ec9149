"""The RoI operators' host implementations (the kernels' per-element code) never read outside the
feature map: guarded_roi_reads.py places maps against inaccessible pages and runs every operator,
dtype, layout and border-crossing RoI; an out-of-bounds read kills that subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("guarded_roi_reads.py")


@pytest.mark.kernels
def test_roi_reads_stay_inside_the_map():
    if not sys.platform.startswith("linux"):
        pytest.skip("needs mmap/mprotect guard pages (Linux)")
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"exit {done.returncode} (a negative code is the signal, -11: a read outside the map)\n"
        f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    assert done.stdout.startswith("OK "), done.stdout
    assert int(done.stdout.split()[1]) == 288
