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


def _env_with_tests_on_path() -> dict:
    env = dict(os.environ)
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [tests_dir, env.get("PYTHONPATH", "")]))
    return env


def test_export_and_check_a_module_function(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "roi_head.onnx"
    env = _env_with_tests_on_path()
    exported = subprocess.run([sys.executable, "-m", "trtops", "export", "cli_models:roi_head", "-o", str(onnx_path),
                               "--seed", "3"], env=env, capture_output=True, text=True, timeout=600)
    assert exported.returncode == 0, exported.stderr
    assert "RoIAlign x1" in exported.stdout
    # The model spec and seed come from the ONNX metadata: no --against needed.
    checked = subprocess.run([sys.executable, "-m", "trtops", "check", str(onnx_path)], env=env,
                             capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "result     PASS" in checked.stdout
    assert "evaluated on CPU" in checked.stdout
    report = __import__("json").loads((tmp_path / "roi_head.onnx.check.json").read_text())
    assert report["passed"] is True and report["tensors"][0]["max_abs"] < 1e-4


@pytest.mark.kernels
def test_export_and_check_a_model_written_with_trtops_ops(tmp_path) -> None:
    # PyTorch runs the model on the trtops kernels' host implementation; the graph holds the
    # same ops as trtops nodes (exported from their trtops_kernels:: custom ops).
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "head.onnx"
    env = _env_with_tests_on_path()
    exported = subprocess.run([sys.executable, "-m", "trtops", "export", "cli_models:trtops_ops_head", "-o",
                               str(onnx_path)], env=env, capture_output=True, text=True, timeout=600)
    assert exported.returncode == 0, exported.stderr
    for node in ("DeformConv2d x1", "NMS x1", "RoIAlign x1"):
        assert node in exported.stdout, exported.stdout
    checked = subprocess.run([sys.executable, "-m", "trtops", "check", str(onnx_path)], env=env,
                             capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "result     PASS" in checked.stdout


def test_check_fails_against_a_different_model(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "roi_head.onnx"
    env = _env_with_tests_on_path()
    subprocess.run([sys.executable, "-m", "trtops", "export", "cli_models:roi_head", "-o", str(onnx_path)],
                   env=env, capture_output=True, text=True, timeout=600, check=True)
    checked = subprocess.run([sys.executable, "-m", "trtops", "check", str(onnx_path), "--seed", "4"], env=env,
                             capture_output=True, text=True, timeout=600)
    assert checked.returncode == 1  # other seed, other weights: the report must catch it
    assert "result     FAIL" in checked.stdout


def test_export_rejects_unknown_models() -> None:
    child = run_cli("export", "resnet_nonexistent")
    assert child.returncode == 2
    assert "unknown model 'resnet_nonexistent'" in child.stderr


def test_detectors_refuse_dynamic_shapes() -> None:
    child = run_cli("export", "fasterrcnn_resnet50_fpn", "--dynamic-batch")
    assert child.returncode == 2
    assert "deploy mode" in child.stderr


@pytest.mark.gpu
@pytest.mark.trt_build
@pytest.mark.parametrize("model", ["roi_head", "nms_head"])  # nms_head: a data-dependent output
def test_check_runs_the_engine_on_a_gpu(tmp_path, model: str) -> None:
    import importlib.util

    import torch

    if importlib.util.find_spec("tensorrt") is None and torch.cuda.get_device_capability() == (9, 0):
        pytest.skip("only TensorRT-RTX is installed, and its runtime refuses compute capability 9.0")
    env = _env_with_tests_on_path()
    onnx_path, engine_path = tmp_path / f"{model}.onnx", tmp_path / f"{model}.engine"
    for command in (["export", f"cli_models:{model}", "-o", str(onnx_path)],
                    ["build", str(onnx_path), "-o", str(engine_path), "-q"]):
        child = subprocess.run([sys.executable, "-m", "trtops", *command], env=env, capture_output=True, text=True,
                               timeout=600)
        assert child.returncode == 0, child.stderr
    checked = subprocess.run([sys.executable, "-m", "trtops", "check", str(onnx_path), "--engine", str(engine_path)],
                             env=env, capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "executed   TensorRT engine" in checked.stdout


def test_check_tolerance_override_is_applied_and_validated(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "roi_head.onnx"
    env = _env_with_tests_on_path()
    subprocess.run([sys.executable, "-m", "trtops", "export", "cli_models:roi_head", "-o", str(onnx_path)],
                   env=env, capture_output=True, text=True, timeout=600, check=True)
    tight = subprocess.run([sys.executable, "-m", "trtops", "check", str(onnx_path), "--tolerance", "atol=0",
                            "--tolerance", "rtol=0"], env=env, capture_output=True, text=True, timeout=600)
    assert "atol=0," in tight.stdout  # the override is stated in the report
    bad = subprocess.run([sys.executable, "-m", "trtops", "check", str(onnx_path), "--tolerance", "nonsense=1"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "nonsense" in bad.stderr


def test_detectors_refuse_float16_export() -> None:
    child = run_cli("export", "fasterrcnn_resnet50_fpn", "--dtype", "float16")
    assert child.returncode == 2
    assert "float16" in child.stderr


@pytest.mark.slow
def test_export_and_check_keypoint_rcnn_with_a_score_threshold(tmp_path) -> None:
    """A detector with host-side post-processing (keypoints decoded from the graph's heatmaps) and a
    score threshold recorded at export: check rebuilds the same model from the ONNX metadata."""
    pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "keypoints.onnx"
    env = _env_with_tests_on_path()
    exported = subprocess.run([sys.executable, "-m", "trtops", "export", "keypointrcnn_resnet50_fpn", "-o",
                               str(onnx_path), "--image-size", "224x256", "--score-thresh", "0.02"],
                              env=env, capture_output=True, text=True, timeout=900)
    assert exported.returncode == 0, exported.stderr
    checked = subprocess.run([sys.executable, "-m", "trtops", "check", str(onnx_path)], env=env,
                             capture_output=True, text=True, timeout=900)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = __import__("json").loads((tmp_path / "keypoints.onnx.check.json").read_text())
    (image,) = report["detections"]
    assert report["passed"] is True and image["matched"] == image["reference"] > 10
    assert image["keypoint_far_fraction"] == 0.0 and image["keypoint_max_abs"] < report["tolerances"]["keypoint_atol"]
    assert {t["name"] for t in report["tensors"]} >= {"keypoint_heatmaps", "keypoint_boxes"}


def test_rewrite_replaces_mmcv_ops_and_reports_what_it_left(tmp_path) -> None:
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("MMCVRoiAlign", ["x", "rois"], ["avg"], domain="mmcv", output_height=2, output_width=2,
                         spatial_scale=1.0, sampling_ratio=2, mode="avg", aligned=1),
        helper.make_node("MMCVRoiAlign", ["x", "rois"], ["max"], domain="mmcv", name="max_pool", output_height=2,
                         output_width=2, spatial_scale=1.0, sampling_ratio=2, mode="max", aligned=1),
        helper.make_node("TRTBatchedNMS", ["x", "rois"], ["dets"], domain="mmdeploy", name="nms"),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8]),
         helper.make_tensor_value_info("rois", TensorProto.FLOAT, [3, 5])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [3, 4, 2, 2]) for n in ("avg", "max", "dets")])
    source = tmp_path / "mmdeploy.onnx"
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("mmcv", 1), helper.make_opsetid("mmdeploy", 1)]
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(source))
    child = run_cli("rewrite", str(source))
    assert child.returncode == 0, child.stderr
    assert "replaced     MMCVRoiAlign (unnamed) -> RoIAlign" in child.stdout
    assert "left alone   MMCVRoiAlign max_pool: mode='max'" in child.stdout
    assert "no rule      TRTBatchedNMS nms (domain mmdeploy)" in child.stdout
    assert "1 node(s) of custom ops trtops has no rule for remain" in child.stderr
    rewritten = onnx.load(str(tmp_path / "mmdeploy.trtops.onnx"))
    assert [n.op_type for n in rewritten.graph.node] == ["RoIAlign", "MMCVRoiAlign", "TRTBatchedNMS"]
    assert run_cli("rewrite", str(tmp_path / "missing.onnx")).returncode == 2
