"""Tier 2: NMS and BatchedNMS plugins: data-dependent output through a size tensor, or padded."""

from __future__ import annotations

import re

import pytest

from trtops.testing import build_onnx, build_onnx_isolated
from trtops.testing.onnx_graphs import plugin_model

pytestmark = pytest.mark.trt_build


def nms_model(op="NMS", dtype="float32", idx_dtype="int64", index_type="int64", padded=False, max_boxes=-1, **attrs):
    inputs = [("boxes", dtype, ["N", 4]), ("scores", dtype, ["N"])]
    if op == "BatchedNMS":
        inputs.append(("idxs", idx_dtype, ["N"]))
    length = max_boxes if padded else "K"
    attributes = {"iou_threshold": 0.5, "max_output_boxes": max_boxes, "padded": int(padded), **attrs}
    if index_type == "int32":
        attributes["index_int32"] = 1
    return plugin_model(op, inputs, [("indices", index_type, [length]), ("count", "int64", [])], attributes)


def profile(op="NMS"):
    spec = {"boxes": ((1, 4), (5000, 4), (100000, 4)), "scores": ((1,), (5000,), (100000,))}
    if op == "BatchedNMS":
        spec["idxs"] = ((1,), (5000,), (100000,))
    return spec


@pytest.mark.parametrize("op", ["NMS", "BatchedNMS"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_data_dependent_output(op: str, dtype: str) -> None:
    result = build_onnx(nms_model(op, dtype), [profile(op)])
    assert result.ok, result.error_text()
    assert result.plugin_layers == 1
    assert result.outputs["indices"] == ("INT64", [-1])
    assert result.outputs["count"] == ("INT64", [])


@pytest.mark.parametrize("op", ["NMS", "BatchedNMS"])
def test_padded_output_is_static(op: str) -> None:
    result = build_onnx(nms_model(op, padded=True, max_boxes=100, score_threshold=0.05), [profile(op)])
    assert result.ok, result.error_text()
    assert result.outputs["indices"] == ("INT64", [100])


def test_int32_indices_and_classes() -> None:
    result = build_onnx(nms_model("BatchedNMS", idx_dtype="int32", index_type="int32", max_boxes=300), [profile("BatchedNMS")])
    assert result.ok, result.error_text()
    assert result.outputs["indices"][0] == "INT32"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"padded": True, "max_boxes": -1}, "'padded' needs 'max_output_boxes' >= 1"),
        ({"max_boxes": -7}, "'max_output_boxes' must be in \\[-1, "),
    ],
)
def test_bad_attributes(attributes: dict, message: str) -> None:
    result = build_onnx_isolated(nms_model(**attributes), [profile()])
    assert not result.ok and not result.crashed, result.error_text()
    assert any(re.search(message, e) for e in result.errors + result.log), result.log


def test_scores_must_match_boxes() -> None:
    model = plugin_model(
        "NMS",
        [("boxes", "float32", [100, 4]), ("scores", "float32", [99])],
        [("indices", "int64", ["K"]), ("count", "int64", [])],
        {"iou_threshold": 0.5},
    )
    result = build_onnx_isolated(model)
    assert not result.ok and not result.crashed, result.error_text()
    assert any("scores has 99 entries but boxes has 100" in e for e in result.errors + result.log), result.log
