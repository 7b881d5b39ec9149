"""samples/single_stage: export -> build -> check passes end to end for FCOS (tests/converters/
test_detectors.py covers the deploy form of RetinaNet and SSD too)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "single_stage" / "run.sh"


@pytest.mark.slow
def test_fcos_sample(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    env["TRTOPS_MODEL"] = "fcos_resnet50_fpn"
    child = subprocess.run([str(SAMPLE), str(tmp_path)], env=env, capture_output=True, text=True, timeout=1200)
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] is True
    (image,) = report["detections"]
    # the sample's score threshold keeps dozens of detections of the random-weight model
    assert image["matched"] == image["reference"] == image["candidate"] >= 20
    import onnx

    props = {p.key: p.value for p in onnx.load(str(tmp_path / "fcos_resnet50_fpn.onnx")).metadata_props}
    assert props["trtops.model"] == "fcos_resnet50_fpn" and float(props["trtops.score_thresh"]) == 0.12
    from trtops.plugins import built_plugins

    if "BatchedNMS" in built_plugins():
        assert (tmp_path / "fcos_resnet50_fpn.engine").stat().st_size > 0
