"""Tier 2: PSRoIAlign, RoIPool and PSRoIPool plugins (the RoI plugin template's other faces)."""

from __future__ import annotations

import pytest

from trtops.testing import build_onnx, build_onnx_isolated
from trtops.testing.onnx_graphs import plugin_model

pytestmark = pytest.mark.trt_build

PROFILE = {
    "input": ((1, 98, 16, 16), (1, 98, 40, 40), (2, 98, 64, 64)),
    "rois": ((1, 5), (300, 5), (1000, 5)),
}
TRT_TYPE = {"float32": "FLOAT", "float16": "HALF", "bfloat16": "BF16"}


def model(op: str, dtype: str, channels: int = 98, **attributes):
    attributes = {"output_height": 7, "output_width": 7, **attributes}
    bins = attributes["output_height"] * attributes["output_width"]
    out_channels = channels // bins if op.startswith("PS") else channels
    return plugin_model(
        op,
        inputs=[("input", dtype, ["N", channels, "H", "W"]), ("rois", dtype, ["K", 5])],
        outputs=[("output", dtype, ["K", out_channels, attributes["output_height"], attributes["output_width"]])],
        attributes=attributes,
    )


@pytest.mark.parametrize("op", ["PSRoIAlign", "RoIPool", "PSRoIPool"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_builds_with_dynamic_shapes(op: str, dtype: str) -> None:
    attributes = {"spatial_scale": 0.0625}
    if op == "PSRoIAlign":
        attributes["sampling_ratio"] = 2
    result = build_onnx(model(op, dtype, **attributes), [PROFILE])
    assert result.ok, result.error_text()
    expected_channels = 2 if op.startswith("PS") else 98
    assert result.outputs["output"] == (TRT_TYPE[dtype], [-1, expected_channels, 7, 7])


def test_ps_output_channels_for_non_square_bins() -> None:
    result = build_onnx(
        model("PSRoIAlign", "float32", channels=90, output_height=3, output_width=5),
        [{"input": ((1, 90, 8, 8), (1, 90, 32, 32), (2, 90, 64, 64)), "rois": ((1, 5), (10, 5), (100, 5))}],
    )
    assert result.ok, result.error_text()
    assert result.outputs["output"][1] == [-1, 6, 3, 5]


@pytest.mark.parametrize("op", ["PSRoIAlign", "PSRoIPool"])
def test_channels_not_divisible_by_bins_are_rejected(op: str) -> None:
    bad = plugin_model(
        op,
        inputs=[("input", "float32", [1, 50, 16, 16]), ("rois", "float32", [4, 5])],
        outputs=[("output", "float32", [4, 1, 7, 7])],
        attributes={"output_height": 7, "output_width": 7},
    )
    result = build_onnx_isolated(bad)
    assert not result.ok and not result.crashed, result.error_text()
    assert any("must be a multiple of output_height * output_width (49)" in e for e in result.errors + result.log)


def test_roi_pool_has_no_sampling_ratio_field() -> None:
    import tensorrt_rtx as trt

    import trtops

    trtops.load_plugins(trt)
    creator = trt.get_plugin_registry().get_creator("RoIPool", "1", "trtops")
    assert [f.name for f in creator.field_names] == ["output_height", "output_width", "spatial_scale"]
