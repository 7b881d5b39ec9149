"""Tier 2: every way of loading libtrtops_plugins.so registers each plugin exactly once.

Each scenario runs in a fresh interpreter: registration is process state.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pathlib import Path

from trtops import rtx
from trtops.plugins import built_plugins, plugin_library_path

pytestmark = pytest.mark.trt_build

SCENARIO = r"""
import ctypes, json, sys
steps = sys.argv[2].split(",")
library = sys.argv[1]
trt = None
log = []
def names():
    registry = trt.get_plugin_registry()
    return sorted(c.name for c in registry.all_creators if c.plugin_namespace == "trtops")
for step in steps:
    if step == "import":
        import tensorrt_rtx as trt
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
    elif step == "dlopen":
        ctypes.CDLL(library)
    elif step == "load_library":
        assert trt.get_plugin_registry().load_library(library) is not None
    elif step == "load_plugins":
        import trtops
        trtops.load_plugins(trt)
    log.append(names() if trt is not None else None)
print(json.dumps(log))
"""


def run_scenario(*steps: str) -> list:
    child = subprocess.run(
        [sys.executable, "-c", SCENARIO, str(plugin_library_path()), ",".join(steps)],
        env=rtx.environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert "already registered" not in child.stderr, child.stderr
    assert "[E]" not in child.stderr, child.stderr
    return json.loads(child.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def expected() -> list[str]:
    return built_plugins()


@pytest.mark.parametrize(
    "steps",
    [
        ("import", "load_library"),  # IPluginRegistry::loadLibrary / trtexec --dynamicPlugins
        ("import", "load_plugins"),  # trtops.load_plugins
        ("import", "dlopen"),  # ctypes.CDLL / trtexec --staticPlugins: runtime already loaded
        ("dlopen", "import"),  # polygraphy --plugins: the library is loaded before TensorRT
        ("import", "dlopen", "load_library"),  # both paths: the creators are handed over, not doubled
        ("dlopen", "import", "load_plugins", "load_plugins"),
    ],
    ids=lambda steps: "+".join(steps),
)
def test_loading_path_registers_each_plugin_once(steps: tuple[str, ...], expected: list[str]) -> None:
    log = run_scenario(*steps)
    assert log[-1] == expected


def test_polygraphy_builds_an_engine_with_the_plugins(tmp_path) -> None:
    from trtops.testing.onnx_graphs import plugin_model

    model = plugin_model(
        "RoIAlign",
        inputs=[("input", "float32", ["N", 8, "H", "W"]), ("rois", "float32", ["K", 5])],
        outputs=[("output", "float32", ["K", 8, 7, 7])],
        attributes={"output_height": 7, "output_width": 7, "spatial_scale": 0.25, "sampling_ratio": 2},
    )
    onnx_path = tmp_path / "roi_align.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    engine_path = tmp_path / "roi_align.engine"
    env = rtx.environment()
    env["POLYGRAPHY_USE_TENSORRT_RTX"] = "1"
    polygraphy = [str(Path(sys.executable).parent / "polygraphy")]
    child = subprocess.run(
        [*polygraphy, "convert", str(onnx_path), "-o", str(engine_path), "--plugins", str(plugin_library_path()),
         "--trt-min-shapes", "input:[1,8,16,16]", "rois:[1,5]",
         "--trt-opt-shapes", "input:[2,8,32,32]", "rois:[10,5]",
         "--trt-max-shapes", "input:[4,8,64,64]", "rois:[100,5]"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
    assert engine_path.stat().st_size > 0
