"""Tier 2: the MultiScaleRoIAlign plugin (P2-P5 of an FPN, one launch)."""

from __future__ import annotations

import pytest

from trtops.testing import build_onnx, build_onnx_isolated
from trtops.testing.onnx_graphs import plugin_model

pytestmark = pytest.mark.trt_build

SCALES = [0.25, 0.125, 0.0625, 0.03125]


def fpn_model(dtype: str = "float32", scales=SCALES, roi_dtype: str = None, **attributes):
    attributes = {"output_height": 7, "output_width": 7, "sampling_ratio": 2, "spatial_scales": list(scales), **attributes}
    levels = [(f"p{i + 2}", dtype, ["N", 16, f"H{i}", f"W{i}"]) for i in range(len(scales))]
    return plugin_model(
        "MultiScaleRoIAlign",
        inputs=[*levels, ("rois", roi_dtype or dtype, ["K", 5])],
        outputs=[("output", dtype, ["K", 16, attributes["output_height"], attributes["output_width"]])],
        attributes=attributes,
    )


def fpn_profile(levels: int = 4) -> dict:
    profile = {f"p{i + 2}": ((1, 16, 4, 4), (2, 16, 200 >> i, 304 >> i), (2, 16, 256 >> i, 320 >> i)) for i in range(levels)}
    profile["rois"] = ((1, 5), (1000, 5), (2000, 5))
    return profile


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_builds_for_every_dtype(dtype: str) -> None:
    result = build_onnx(fpn_model(dtype), [fpn_profile()])
    assert result.ok, result.error_text()
    assert result.plugin_layers == 1
    assert result.outputs["output"][1] == [-1, 16, 7, 7]


def test_float32_rois_single_level_and_options() -> None:
    model = fpn_model("float16", scales=[0.25], roi_dtype="float32", canonical_scale=112, canonical_level=3, aligned=1)
    result = build_onnx(model, [fpn_profile(levels=1)])
    assert result.ok, result.error_text()


def test_mmdet_level_mapper_takes_any_positive_scales() -> None:
    # mmdet's mapper uses the scales only to pool: strides 6, 12, 24 and 48 build
    scales = [1 / 6, 1 / 12, 1 / 24, 1 / 48]
    model = fpn_model("float16", scales=scales, roi_dtype="float32", level_mapper=1, finest_scale=32, aligned=1)
    result = build_onnx(model, [fpn_profile()])
    assert result.ok, result.error_text()
    assert result.plugin_layers == 1


@pytest.mark.parametrize(
    ("scales", "message"),
    [
        ([0.25, 0.2], "'spatial_scales'\\[1\\] must be a power of two, got 0.2"),
        ([0.125, 0.25], "must decrease from the finest level"),
        ([0.25, -0.125], "'spatial_scales'\\[1\\] must be positive and finite, got -0.125"),
    ],
)
def test_bad_scales_are_rejected(scales, message) -> None:
    import re

    result = build_onnx_isolated(fpn_model(scales=scales), [fpn_profile(levels=2)])
    assert not result.ok and not result.crashed, result.error_text()
    assert any(re.search(message, e) for e in result.errors + result.log), result.log


def test_level_count_must_match_scales() -> None:
    # Three feature inputs but four scales.
    model = plugin_model(
        "MultiScaleRoIAlign",
        inputs=[(f"p{i}", "float32", [1, 16, 32 >> i, 32 >> i]) for i in range(3)] + [("rois", "float32", [10, 5])],
        outputs=[("output", "float32", [10, 16, 7, 7])],
        attributes={"output_height": 7, "output_width": 7, "spatial_scales": SCALES},
    )
    result = build_onnx_isolated(model)
    assert not result.ok and not result.crashed, result.error_text()
    assert any("expected 4 feature levels" in e for e in result.errors + result.log), result.log
