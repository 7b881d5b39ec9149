"""nms.cu queues its kernels as programmatic dependent launches on sm_90+ (launchChained): a kernel
may then be scheduled while the one before it still runs, and is only correct if it waits for
that kernel (beginChainedKernel) before it touches memory. A GPU run shows such a race only now and
then, so this tier-1 check reads the source: every kernel's body starts with the wait, and every
launch after the first goes through launchChained."""

from __future__ import annotations

import re
from pathlib import Path

NMS_CU = Path(__file__).resolve().parents[2] / "plugins" / "kernels" / "nms" / "nms.cu"
#: Kernels launched first in nmsForward (plainly: they follow a memset or the caller's work).
FIRST_KERNELS = {"scoreKeysKernel", "smallFrontKernel"}


def _kernels(source: str) -> dict:
    """Kernel name -> the text of its body after the opening brace."""
    kernels = {}
    for match in re.finditer(r"__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(", source):
        body = source.index("{", match.end())
        kernels[match.group(1)] = source[body + 1 : body + 400]
    return kernels


def test_every_nms_kernel_waits_for_the_kernel_before_it_first() -> None:
    kernels = _kernels(NMS_CU.read_text())
    assert len(kernels) >= 10, sorted(kernels)
    for name, body in kernels.items():
        first_statement = body.strip().split(";")[0]
        assert first_statement == "beginChainedKernel()", f"{name} starts with {first_statement!r}"


def test_every_nms_launch_after_the_first_is_chained() -> None:
    source = NMS_CU.read_text()
    kernels = set(_kernels(source))
    plain = set(re.findall(r"\b(\w+)(?:<[^<>;]*>)?\s*<<<", source)) - {"kernel"}  # `kernel`: inside launchChained
    # smallFront launches through a lambda whose parameter is also called `kernel`.
    assert plain <= FIRST_KERNELS | {"kernel"}, f"plain launches of {sorted(plain - FIRST_KERNELS)}"
    calls = re.findall(r"launchChained\((.*?)\);", re.sub(r'"[^"]*"', '""', source), re.S)
    chained = {name for call in calls for name in re.findall(r"\b(\w+Kernel)\b", call)}
    assert chained == kernels - FIRST_KERNELS, (sorted(chained), sorted(kernels - FIRST_KERNELS))
