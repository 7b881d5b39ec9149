"""The operators' host implementations (the kernels' per-element code) never read outside their
inputs: guarded_reads.py places every input against inaccessible pages and runs the RoI family,
deform_conv2d and NMS over every dtype, layout and border case; an out-of-bounds read kills that
subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("guarded_reads.py")


@pytest.mark.kernels
def test_reads_stay_inside_the_inputs():
    if not sys.platform.startswith("linux"):
        pytest.skip("needs mmap/mprotect guard pages (Linux)")
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"exit {done.returncode} (-11: a read outside an input; 1: not every case ran)\n"
        f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    assert done.stdout.startswith("OK "), done.stdout
