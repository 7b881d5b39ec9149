"""set_node_attributes: changing plugin fields of trtops nodes in an exported ONNX model (main
graph and subgraphs), checked like make_node; and the CLI's ``export --allow-tf32``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402

from trtops.converters import make_node, set_node_attributes  # noqa: E402
from trtops.converters._nodes import read_attributes  # noqa: E402


def _dcn(name: str, suffix: str) -> "onnx.NodeProto":
    return make_node("DeformConv2d", ["x", "offset", "w"], [f"y{suffix}"], name=name, padding=[1, 1], groups=1)


def _model() -> "onnx.ModelProto":
    """Two DeformConv2d nodes (one inside an If branch) and a RoIAlign node."""
    branch = helper.make_graph([_dcn("inner", "_inner")], "then", [],
                               [helper.make_tensor_value_info("y_inner", TensorProto.FLOAT, None)])
    nodes = [
        _dcn("outer", ""),
        make_node("RoIAlign", ["y", "rois"], ["pooled"], name="roi", output_height=2, output_width=2,
                  spatial_scale=1.0),
        helper.make_node("If", ["cond"], ["z"], then_branch=branch, else_branch=branch),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("x", "offset", "w", "rois")]
    inputs.append(helper.make_tensor_value_info("cond", TensorProto.BOOL, []))
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("pooled", "z")]
    return helper.make_model(helper.make_graph(nodes, "g", inputs, outputs))


def _dcn_nodes(model: "onnx.ModelProto") -> list:
    outer = [n for n in model.graph.node if n.op_type == "DeformConv2d"]
    if_node = next(n for n in model.graph.node if n.op_type == "If")
    inner = [n for a in if_node.attribute for n in a.g.node]
    return outer + inner


def test_sets_every_node_of_the_kind_and_keeps_the_rest() -> None:
    model = _model()
    roi_before = read_attributes(model.graph.node[1])
    assert set_node_attributes(model, "DeformConv2d", allow_tf32=1) == 3  # outer + inner of both branches
    for node in _dcn_nodes(model):
        attrs = read_attributes(node)
        assert attrs["allow_tf32"] == 1
        assert attrs["padding"] == [1, 1] and attrs["groups"] == 1  # untouched fields keep their values
        plugin = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        assert plugin["plugin_namespace"] == b"trtops" and plugin["plugin_version"] == b"1"
    assert read_attributes(model.graph.node[1]) == roi_before
    assert set_node_attributes(model, "DeformConv2d", allow_tf32=0) == 3
    assert all(read_attributes(n)["allow_tf32"] == 0 for n in _dcn_nodes(model))
    assert set_node_attributes(model.graph, "NMS", iou_threshold=0.5) == 0


@pytest.mark.parametrize(
    "op_type, attributes, error, match",
    [
        ("DeformConv2d", {"allow_tf32x": 1}, ValueError, r"unknown attribute\(s\) \['allow_tf32x'\]"),
        ("DeformConv2d", {"allow_tf32": 0.5}, TypeError, r"'allow_tf32' must be an int"),
        ("DeformConv", {"allow_tf32": 1}, ValueError, r"unknown trtops op_type 'DeformConv'"),
    ],
)
def test_rejects_bad_fields_before_changing_anything(op_type, attributes, error, match) -> None:
    model = _model()
    before = model.SerializeToString()
    with pytest.raises(error, match=match):
        set_node_attributes(model, op_type, **attributes)
    assert model.SerializeToString() == before


def test_cli_export_allow_tf32(tmp_path) -> None:
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [tests_dir, env.get("PYTHONPATH", "")]))
    for flag, expected in (([], 0), (["--allow-tf32"], 1)):
        path = tmp_path / f"dcn{expected}.onnx"
        child = subprocess.run([sys.executable, "-m", "trtops", "export", "cli_models:deform_head", "-o", str(path),
                                *flag], env=env, capture_output=True, text=True, timeout=600)
        assert child.returncode == 0, child.stderr
        assert "DeformConv2d x1" in child.stdout
        assert ("allow_tf32 on 1 DeformConv2d node(s)" in child.stdout) == bool(expected)
        nodes = [n for n in onnx.load(str(path)).graph.node if n.op_type == "DeformConv2d"]
        assert [read_attributes(n)["allow_tf32"] for n in nodes] == [expected]
