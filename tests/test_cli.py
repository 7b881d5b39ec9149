"""The trtops command line: argument parsing (tier 1) and `trtops build` (tier 2)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trtops.cli import parse_shapes


def test_parse_shapes_uses_trtexec_syntax() -> None:
    assert parse_shapes("input:1x3x800x1216,rois:1000x5") == {"input": (1, 3, 800, 1216), "rois": (1000, 5)}
    assert parse_shapes("") == {}
    with pytest.raises(ValueError, match="not NAME:DxDx"):
        parse_shapes("1x3x224x224")
    with pytest.raises(ValueError, match="integers separated by 'x'"):
        parse_shapes("input:1xNx3")


def run_cli(*args: str, env_without_rtx_path: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if env_without_rtx_path:
        env.pop("LD_LIBRARY_PATH", None)  # the CLI must find TensorRT-RTX's library itself
    return subprocess.run([sys.executable, "-m", "trtops", *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.trt_build
def test_build_writes_an_engine(tmp_path) -> None:
    from trtops.testing.onnx_graphs import plugin_model

    model = plugin_model(
        "RoIAlign",
        inputs=[("input", "float16", ["N", 8, "H", "W"]), ("rois", "float32", ["K", 5])],
        outputs=[("output", "float16", ["K", 8, 7, 7])],
        attributes={"output_height": 7, "output_width": 7, "spatial_scale": 0.25, "sampling_ratio": 2, "aligned": 1},
    )
    onnx_path = tmp_path / "roi_align.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    cache = tmp_path / "timing.cache"
    child = run_cli("build", str(onnx_path), "--min-shapes", "input:1x8x16x16,rois:1x5",
                    "--opt-shapes", "input:1x8x32x32,rois:100x5", "--max-shapes", "input:2x8x64x64,rois:1000x5",
                    "--timing-cache", str(cache))
    assert child.returncode == 0, child.stderr
    engine = tmp_path / "roi_align.engine"
    assert engine.stat().st_size > 0
    assert "1 trtops plugin layer(s)" in child.stdout
    assert "Building engine" in child.stderr  # the progress bar
    assert cache.stat().st_size > 0


@pytest.mark.trt_build
def test_build_reports_unsupported_nodes(tmp_path) -> None:
    from onnx import helper

    node = helper.make_node("NoSuchOp", ["x"], ["y"], domain="trtops")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, [4])],
                              [helper.make_tensor_value_info("y", 1, [4])])
    path = tmp_path / "bad.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    child = run_cli("build", str(path), "-q")
    assert child.returncode == 1
    assert "NoSuchOp" in child.stderr


def test_build_rejects_incomplete_profiles(tmp_path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"")
    child = run_cli("build", str(path), "--min-shapes", "input:1x8x16x16")
    assert child.returncode == 2
    assert "--min-shapes and --max-shapes must both name input" in child.stderr
