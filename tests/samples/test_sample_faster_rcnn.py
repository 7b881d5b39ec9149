"""samples/faster_rcnn (the README's main job): export -> build -> check passes end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "faster_rcnn" / "run.sh"


@pytest.mark.slow
def test_faster_rcnn_sample(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    env["TRTOPS_IMAGE_SIZE"] = "224x288"
    child = subprocess.run([str(SAMPLE), str(tmp_path)], env=env, capture_output=True, text=True, timeout=1200)
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] is True
    assert report["detections"] and report["detections"][0]["matched"] == report["detections"][0]["reference"]
    from trtops.plugins import built_plugins

    if {"BatchedNMS", "MultiScaleRoIAlign"} <= set(built_plugins()):
        assert (tmp_path / "faster_rcnn.engine").stat().st_size > 0
