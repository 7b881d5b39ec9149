"""Tier 2: the DeformConv2d plugin (v1 and v2) in TensorRT-RTX's builder."""

from __future__ import annotations

import re

import numpy as np
import pytest
from onnx import helper, numpy_helper

from trtops.testing import build_onnx, build_onnx_isolated

pytestmark = pytest.mark.trt_build

ONNX_TYPE = {"float32": 1, "float16": 10, "bfloat16": 16}


def dcn_model(dtype="float32", c_in=16, c_out=32, k=3, stride=1, pad=1, dil=1, groups=1, offset_groups=1,
              bias=True, mask=True, offset_groups_attr=0, allow_tf32=0):
    """input/offset/mask are graph inputs (dynamic N, H, W); weight and bias are initializers."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((c_out, c_in // groups, k, k)).astype(np.float32)
    initializers = [numpy_helper.from_array(weight, "weight")]
    if bias:
        initializers.append(numpy_helper.from_array(rng.standard_normal(c_out).astype(np.float32), "bias"))
    if dtype != "float32":
        for init in initializers:  # cast initializers through a Cast node-free path: store as dtype
            array = numpy_helper.to_array(init)
            init.CopyFrom(helper.make_tensor(init.name, ONNX_TYPE[dtype], array.shape, array.flatten().tolist()))
    taps = k * k
    inputs = [
        helper.make_tensor_value_info("input", ONNX_TYPE[dtype], ["N", c_in, "H", "W"]),
        helper.make_tensor_value_info("offset", ONNX_TYPE[dtype], ["N", 2 * offset_groups * taps, "Ho", "Wo"]),
    ]
    node_inputs = ["input", "offset", "weight"] + (["bias"] if bias else [])
    if mask:
        inputs.append(helper.make_tensor_value_info("mask", ONNX_TYPE[dtype], ["N", offset_groups * taps, "Ho", "Wo"]))
        node_inputs.append("mask")
    node = helper.make_node(
        "DeformConv2d", node_inputs, ["output"], domain="trtops", plugin_namespace="trtops", plugin_version="1",
        stride=[stride, stride], padding=[pad, pad], dilation=[dil, dil], groups=groups,
        offset_groups=offset_groups_attr, has_bias=int(bias), has_mask=int(mask), allow_tf32=allow_tf32,
    )
    graph = helper.make_graph(
        [node], "dcn", inputs, [helper.make_tensor_value_info("output", ONNX_TYPE[dtype], ["N", c_out, "Ho", "Wo"])],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("trtops", 1)])


def out_size(size, k, stride, pad, dil):
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def profile(c_in=16, k=3, stride=1, pad=1, dil=1, offset_groups=1, mask=True):
    shapes = {"input": [], "offset": [], "mask": []}
    for n, h, w in ((1, 16, 16), (2, 64, 96), (4, 128, 128)):
        ho, wo = out_size(h, k, stride, pad, dil), out_size(w, k, stride, pad, dil)
        shapes["input"].append((n, c_in, h, w))
        shapes["offset"].append((n, 2 * offset_groups * k * k, ho, wo))
        shapes["mask"].append((n, offset_groups * k * k, ho, wo))
    if not mask:
        del shapes["mask"]
    return {name: tuple(v) for name, v in shapes.items()}


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_v2_builds_for_every_dtype(dtype: str) -> None:
    result = build_onnx(dcn_model(dtype), [profile()])
    assert result.ok, result.error_text()
    assert result.plugin_layers == 1
    assert result.outputs["output"][1] == [-1, 32, -1, -1]


@pytest.mark.parametrize(
    "geometry",
    [
        dict(k=3, stride=2, pad=1, dil=1),
        dict(k=3, stride=1, pad=2, dil=2),
        dict(k=1, stride=1, pad=0, dil=1),
        dict(k=5, stride=1, pad=2, dil=1),
    ],
)
def test_v1_geometries(geometry: dict) -> None:
    result = build_onnx(dcn_model(mask=False, bias=False, **geometry), [profile(mask=False, **geometry)])
    assert result.ok, result.error_text()


def test_groups_and_offset_groups() -> None:
    model = dcn_model(groups=2, offset_groups=4, offset_groups_attr=4)
    result = build_onnx(model, [profile(offset_groups=4)])
    assert result.ok, result.error_text()


def test_offset_groups_field_must_match_offset_channels() -> None:
    model = dcn_model(offset_groups=1, offset_groups_attr=2)
    result = build_onnx_isolated(model, [profile()])
    assert not result.ok and not result.crashed, result.error_text()
    assert any(re.search("'offset_groups' is 2 but the offset has 18 channels", e) for e in result.errors + result.log)


def test_has_mask_must_match_the_inputs() -> None:
    model = dcn_model(mask=True)
    for attribute in model.graph.node[0].attribute:
        if attribute.name == "has_mask":
            attribute.i = 0
    result = build_onnx_isolated(model, [profile()])
    assert not result.ok and not result.crashed, result.error_text()
    assert any("check the has_bias / has_mask fields" in e for e in result.errors + result.log), result.log


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_allow_tf32_builds(dtype: str) -> None:
    # float32 may then multiply on TF32 tensor cores at run time; other dtypes ignore the field.
    result = build_onnx(dcn_model(dtype, allow_tf32=1), [profile()])
    assert result.ok, result.error_text()
    assert result.plugin_layers == 1


def test_allow_tf32_must_be_0_or_1() -> None:
    result = build_onnx_isolated(dcn_model(allow_tf32=2), [profile()])
    assert not result.ok and not result.crashed, result.error_text()
    assert any("field 'allow_tf32' must be in [0, 1], got 2" in e for e in result.errors + result.log), result.log
