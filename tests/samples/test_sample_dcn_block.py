"""samples/dcn_block: a DCNv2 bottleneck exported as an fp16 graph -> build -> check (float64
reference, fp16 tolerance) passes end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "dcn_block" / "run.sh"


def test_dcn_block_sample(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    child = subprocess.run([str(SAMPLE), str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] is True
    assert [t["name"] for t in report["tensors"]] == ["y"]
    assert report["tolerances"]["atol"] == 1e-2 and any("float64" in n for n in report["notes"])

    graph = onnx.load(str(tmp_path / "dcn_block.onnx"))
    (deform,) = [n for n in graph.graph.node if n.domain == "trtops"]
    assert deform.op_type == "DeformConv2d"
    assert {a.name: a.i for a in deform.attribute}["has_mask"] == 1
    half = onnx.TensorProto.FLOAT16
    assert graph.graph.input[0].type.tensor_type.elem_type == half
    assert graph.graph.output[0].type.tensor_type.elem_type == half
    assert not [t.name for t in graph.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]  # fp16 weights
    from trtops.plugins import built_plugins

    if "DeformConv2d" in set(built_plugins()):
        assert (tmp_path / "dcn_block.engine").stat().st_size > 0
