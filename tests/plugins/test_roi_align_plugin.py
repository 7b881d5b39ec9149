"""Tier 2: the RoIAlign plugin's build-phase contract inside TensorRT-RTX's own builder."""

from __future__ import annotations

import re

import pytest

from trtops.testing import build_onnx, build_onnx_isolated
from trtops.testing.onnx_graphs import plugin_model

pytestmark = pytest.mark.trt_build

DYNAMIC_PROFILE = {
    "input": ((1, 8, 16, 16), (2, 8, 32, 48), (4, 8, 64, 64)),
    "rois": ((1, 5), (100, 5), (1000, 5)),
}


def roi_align_model(dtype: str = "float32", roi_dtype: str = None, rois_columns: int = 5, **attributes):
    attributes = {"output_height": 7, "output_width": 7, **attributes}
    roi_dtype = roi_dtype or dtype
    return plugin_model(
        "RoIAlign",
        inputs=[("input", dtype, ["N", 8, "H", "W"]), ("rois", roi_dtype, ["K", rois_columns])],
        outputs=[("output", dtype, ["K", 8, attributes["output_height"], attributes["output_width"]])],
        attributes=attributes,
    )


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_builds_with_dynamic_shapes_for_every_dtype(dtype: str) -> None:
    result = build_onnx(roi_align_model(dtype), [DYNAMIC_PROFILE])
    assert result.ok, result.error_text()
    assert result.plugin_layers == 1
    assert result.outputs["output"] == (
        {"float32": "FLOAT", "float16": "HALF", "bfloat16": "BF16"}[dtype],
        [-1, 8, 7, 7],
    )


def test_float32_rois_with_half_features() -> None:
    result = build_onnx(roi_align_model("float16", roi_dtype="float32"), [DYNAMIC_PROFILE])
    assert result.ok, result.error_text()


@pytest.mark.parametrize(
    "attributes",
    [
        {"output_height": 14, "output_width": 14, "sampling_ratio": 0, "aligned": 1},
        {"output_height": 3, "output_width": 5, "spatial_scale": 0.25, "sampling_ratio": 2},
        {"output_height": 1, "output_width": 1, "spatial_scale": 0.0625, "sampling_ratio": -1, "aligned": 0},
    ],
)
def test_attribute_sets(attributes: dict) -> None:
    result = build_onnx(roi_align_model(**attributes), [DYNAMIC_PROFILE])
    assert result.ok, result.error_text()
    assert result.outputs["output"][1] == [-1, 8, attributes["output_height"], attributes["output_width"]]


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"output_height": 0}, "'output_height' must be in \\[1, 4096\\], got 0"),
        ({"spatial_scale": -1.0}, "'spatial_scale' must be > 0, got -1"),
        ({"aligned": 2}, "'aligned' must be in \\[0, 1\\], got 2"),
    ],
)
def test_bad_attributes_fail_with_a_specific_message(attributes: dict, message: str) -> None:
    result = build_onnx_isolated(roi_align_model(**attributes), [DYNAMIC_PROFILE])
    assert not result.ok
    assert not result.crashed, result.error_text()
    assert any(re.search(message, e) for e in result.errors + result.log), result.log


def test_creator_rejects_unknown_fields() -> None:
    # TensorRT's ONNX parser only forwards the fields a creator declares, so a misspelt ONNX
    # attribute never reaches the plugin; a direct creator call with one must fail, not fall back
    # to a default silently.
    import numpy as np
    import tensorrt_rtx as trt

    import trtops

    trtops.load_plugins(trt)
    creator = trt.get_plugin_registry().get_creator("RoIAlign", "1", "trtops")

    def fields(**values: int) -> "trt.PluginFieldCollection":
        return trt.PluginFieldCollection(
            [trt.PluginField(k, np.array([v], np.int32), trt.PluginFieldType.INT32) for k, v in values.items()]
        )

    assert creator.create_plugin("ok", fields(output_height=7, output_width=5), trt.TensorRTPhase.BUILD) is not None
    assert creator.create_plugin("typo", fields(output_height=7, output_width=5, pooled_w=5), trt.TensorRTPhase.BUILD) is None


def test_missing_required_field() -> None:
    model = plugin_model(
        "RoIAlign",
        inputs=[("input", "float32", [1, 8, 16, 16]), ("rois", "float32", [4, 5])],
        outputs=[("output", "float32", [4, 8, 7, 7])],
        attributes={"output_width": 7},
    )
    result = build_onnx_isolated(model)
    assert not result.ok and not result.crashed
    assert any("required field 'output_height' is missing" in e for e in result.errors + result.log)


def test_rois_with_four_columns_are_rejected() -> None:
    model = roi_align_model(rois_columns=4)
    result = build_onnx_isolated(model, [{**DYNAMIC_PROFILE, "rois": ((1, 4), (100, 4), (1000, 4))}])
    assert not result.ok and not result.crashed
    assert any("rois must have 5 columns" in e for e in result.errors + result.log), result.log


def test_three_dimensional_input_is_rejected() -> None:
    model = plugin_model(
        "RoIAlign",
        inputs=[("input", "float32", [8, 16, 16]), ("rois", "float32", [4, 5])],
        outputs=[("output", "float32", [4, 8, 7, 7])],
        attributes={"output_height": 7, "output_width": 7},
    )
    result = build_onnx_isolated(model)
    assert not result.ok and not result.crashed
    assert any("input must be 4-D" in e for e in result.errors + result.log), result.log
