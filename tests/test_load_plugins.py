"""Tier 2: libtrtops_plugins.so registers with TensorRT-RTX (CPU-only machines included)."""

from __future__ import annotations

import pytest

import trtops
from trtops import _native
from trtops.plugins import PLUGINS_BY_FAMILY, built_plugins, plugin_fields

pytestmark = pytest.mark.trt_build

def test_load_plugins_registers_every_plugin() -> None:
    families = _native.build_info()["kernel_families"]
    assert trtops.load_plugins("tensorrt_rtx") == built_plugins()
    if set(families) == set(PLUGINS_BY_FAMILY):
        assert len(built_plugins()) == 8


def test_load_plugins_is_idempotent() -> None:
    import tensorrt_rtx as trt

    first = trtops.load_plugins(trt)
    second = trtops.load_plugins(trt)
    assert first == second
    creators = [c for c in trt.get_plugin_registry().all_creators if c.plugin_namespace == "trtops"]
    assert sorted(c.name for c in creators) == sorted(set(c.name for c in creators)), "a creator registered twice"


def test_auto_detected_runtime() -> None:
    # No `tensorrt` on CPU-only machines: auto-detection falls through to tensorrt_rtx.
    assert "RoIAlign" in trtops.load_plugins()


def test_creators_report_their_fields() -> None:
    trtops.load_plugins("tensorrt_rtx")
    fields = plugin_fields("tensorrt_rtx")
    names = [f["name"] for f in fields["RoIAlign"]]
    assert names == ["output_height", "output_width", "spatial_scale", "sampling_ratio", "aligned"]


def test_rtx_builder_fixture_has_the_plugins(rtx_builder) -> None:
    trt, builder, _ = rtx_builder
    assert builder is not None
    registry = trt.get_plugin_registry()
    for name in built_plugins():
        assert registry.get_creator(name, "1", "trtops") is not None, name


def test_build_onnx_fixture_returns_the_build_result(build_onnx) -> None:
    from trtops.testing.onnx_graphs import plugin_model

    model = plugin_model(
        "RoIPool",
        inputs=[("input", "float32", [1, 4, 8, 8]), ("rois", "float32", [3, 5])],
        outputs=[("output", "float32", [3, 4, 2, 2])],
        attributes={"output_height": 2, "output_width": 2},
    )
    result = build_onnx(model)
    assert result.ok and result.engine_size > 0 and result.plugin_layers == 1, result.error_text()
