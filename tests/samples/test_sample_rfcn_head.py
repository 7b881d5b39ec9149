"""samples/rfcn_head: an R-FCN-style head with PS-RoIAlign -> build -> check passes end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "rfcn_head" / "run.sh"


def test_rfcn_head_sample(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    child = subprocess.run([str(SAMPLE), str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] is True
    assert {t["name"]: t["shape"] for t in report["tensors"]} == {"scores": [96, 9], "deltas": [96, 4]}

    graph = onnx.load(str(tmp_path / "rfcn_head.onnx"))
    assert [n.op_type for n in graph.graph.node if n.domain == "trtops"] == ["PSRoIAlign", "PSRoIAlign"]
    assert [i.name for i in graph.graph.input] == ["features", "rois"]
    from trtops.plugins import built_plugins

    if "PSRoIAlign" in set(built_plugins()):
        assert (tmp_path / "rfcn_head.engine").stat().st_size > 0
