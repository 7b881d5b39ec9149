"""samples/mask_rcnn: export -> build -> check passes end to end, masks included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "mask_rcnn" / "run.sh"


@pytest.mark.slow
def test_mask_rcnn_sample(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    env["TRTOPS_IMAGE_SIZE"] = "224x288"
    child = subprocess.run([str(SAMPLE), str(tmp_path)], env=env, capture_output=True, text=True, timeout=1200)
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] is True
    tensors = {t["name"]: t for t in report["tensors"]}
    assert tensors["masks"]["passed"] and tensors["masks"]["shape"][2:] == [1, 28, 28]
    (image,) = report["detections"]
    assert image["matched"] == image["reference"] > 0
    # the pasted masks were compared too, and some were not empty
    assert image["mask_max_abs"] is not None and image["mask_max_abs"] <= report["tolerances"]["mask_atol"]
    assert image["mask_nonempty_pairs"] > 0
    from trtops.plugins import built_plugins

    if {"BatchedNMS", "MultiScaleRoIAlign"} <= set(built_plugins()):
        assert (tmp_path / "mask_rcnn.engine").stat().st_size > 0
