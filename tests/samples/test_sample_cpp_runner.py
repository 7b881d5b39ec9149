"""samples/cpp_runner: builds against TensorRT-RTX's runtime library and registers the plugins
through IPluginRegistry::loadLibrary; runs the engine where a GPU is available."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from trtops import rtx
from trtops.plugins import plugin_library_path

pytestmark = pytest.mark.trt_build

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "cpp_runner"


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> Path:
    from trtops import _native

    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    headers = Path(_native.build_info().get("tensorrt_headers", ""))
    library = rtx.library_dir() / rtx.UNVERSIONED_NAME
    build = tmp_path_factory.mktemp("cpp_runner")
    configure = subprocess.run(
        ["cmake", "-S", str(SAMPLE), "-B", str(build), f"-DTENSORRT_ROOT={headers.parent}",
         f"-DTENSORRT_LIBRARY={library.resolve()}"],
        capture_output=True, text=True,
    )
    assert configure.returncode == 0, configure.stdout + configure.stderr
    compiled = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return build / "trtops_run"


def test_runner_loads_the_plugins_and_reaches_the_engine(runner: Path, tmp_path: Path) -> None:
    import torch

    from trtops.testing import build_onnx
    from trtops.testing.onnx_graphs import plugin_model

    model = plugin_model(
        "RoIAlign",
        inputs=[("input", "float32", [1, 8, 32, 32]), ("rois", "float32", [16, 5])],
        outputs=[("output", "float32", [16, 8, 7, 7])],
        attributes={"output_height": 7, "output_width": 7, "spatial_scale": 0.25},
    )
    result = build_onnx(model)
    assert result.ok, result.error_text()
    engine = tmp_path / "roi_align.engine"
    engine.write_bytes(result.engine)
    child = subprocess.run([str(runner), str(engine), str(plugin_library_path())],
                           env=rtx.environment(), capture_output=True, text=True, timeout=120)
    assert "loadLibrary" not in child.stderr, child.stderr  # the plugins registered
    if torch.cuda.is_available() and child.returncode == 0:
        assert "output output [16, 8, 7, 7]" in child.stdout
    else:
        # No GPU the runtime accepts (none at all, or Hopper for TensorRT-RTX): it stops at
        # deserialization, after the plugins registered.
        assert "deserializeCudaEngine" in child.stderr, child.stderr
