"""evaluate() on hand-built graphs: each backend for the standard ops, trtops nodes inside If
branches (the whole graph then goes to onnx.reference), and its input errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torchvision

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402

from trtops.converters import evaluate, make_node  # noqa: E402
from trtops.converters._nodes import DOMAIN, DOMAIN_VERSION  # noqa: E402

_ROI_ALIGN = dict(output_height=2, output_width=3, spatial_scale=0.5, sampling_ratio=2, aligned=1)


def _inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 10, 12, generator=g) + 0.25
    rois = torch.tensor([[1, 1.0, 1.5, 14.2, 16.1], [0, 0.2, 0.3, 22.0, 19.5], [1, 5.0, 3.0, 6.0, 4.0]])
    return {"x": x, "rois": rois}


def _expected(x: torch.Tensor, rois: torch.Tensor) -> np.ndarray:
    return torchvision.ops.roi_align(x, rois, (2, 3), 0.5, 2, True).numpy()


def _model(nodes: list[Any], inputs: list[Any], outputs: list[Any]) -> Any:
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, DOMAIN_VERSION)]
    # IR 8 goes with opset 17: every ONNX Runtime that runs opset 17 reads it (onnx's default, its
    # newest IR, is more than the ORT releases for Python 3.10 read).
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def _value(name: str, elem: int = TensorProto.FLOAT, shape: Any = None) -> Any:
    return helper.make_tensor_value_info(name, elem, shape)


def _chain_model() -> Any:
    """Relu -> RoIAlign (trtops) -> Mul by 2: standard pieces on both sides of a trtops node."""
    nodes = [
        helper.make_node("Relu", ["x"], ["relu"]),
        make_node("RoIAlign", ["relu", "rois"], ["pooled"], **_ROI_ALIGN),
        helper.make_node("Add", ["pooled", "pooled"], ["y"]),
    ]
    return _model(nodes, [_value("x", shape=[2, 3, 10, 12]), _value("rois", shape=[3, 5])], [_value("y")])


@pytest.mark.parametrize("backend", ["auto", "onnxruntime", "reference"])
def test_each_backend_runs_the_standard_pieces(backend: str) -> None:
    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed")
    inputs = _inputs()
    (got,) = evaluate(_chain_model(), inputs, backend=backend).values()
    np.testing.assert_allclose(got, 2 * _expected(inputs["x"].relu(), inputs["rois"]), rtol=1e-6, atol=1e-6)


def test_auto_hands_a_model_onnx_runtime_cannot_read_to_the_reference() -> None:
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed")
    inputs = _inputs()
    model = _chain_model()
    model.ir_version = 99  # newer than any ONNX Runtime reads
    with pytest.raises(Exception, match="Unsupported model IR version"):
        evaluate(model, inputs, backend="onnxruntime")
    (got,) = evaluate(model, inputs, backend="auto").values()
    np.testing.assert_allclose(got, 2 * _expected(inputs["x"].relu(), inputs["rois"]), rtol=1e-6, atol=1e-6)


def test_inputs_by_position_and_selected_outputs() -> None:
    inputs = _inputs()
    result = evaluate(_chain_model(), [inputs["x"], inputs["rois"]], outputs=["pooled", "relu"])
    assert list(result) == ["pooled", "relu"]
    np.testing.assert_allclose(result["pooled"], _expected(inputs["x"].relu(), inputs["rois"]), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(result["relu"], inputs["x"].relu().numpy())


@pytest.mark.parametrize("cond", [True, False])
def test_trtops_node_inside_an_if_branch(cond: bool) -> None:
    """ONNX Runtime cannot run a trtops node in a subgraph: evaluate() hands the whole graph to
    onnx.reference with the trtops nodes registered as its custom ops."""
    inputs = _inputs()
    pooled = make_node("RoIAlign", ["x", "rois"], ["then_y"], **_ROI_ALIGN)
    then_branch = helper.make_graph([pooled], "then", [], [_value("then_y")])
    # the else branch pools the negated map, so the branches cannot be confused
    negate = helper.make_node("Neg", ["x"], ["negated"])
    pooled_negated = make_node("RoIAlign", ["negated", "rois"], ["else_y"], **_ROI_ALIGN)
    else_branch = helper.make_graph([negate, pooled_negated], "else", [], [_value("else_y")])
    branch = helper.make_node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch)
    model = _model(
        [branch],
        [_value("cond", TensorProto.BOOL, []), _value("x", shape=[2, 3, 10, 12]), _value("rois", shape=[3, 5])],
        [_value("y")],
    )
    (got,) = evaluate(model, {"cond": np.array(cond), **inputs}).values()
    x = inputs["x"] if cond else -inputs["x"]
    np.testing.assert_allclose(got, _expected(x, inputs["rois"]), rtol=1e-6, atol=1e-6)


def test_input_errors_name_the_graph_inputs() -> None:
    inputs = _inputs()
    with pytest.raises(ValueError, match=r"lack graph input\(s\) \['rois'\]"):
        evaluate(_chain_model(), {"x": inputs["x"]})
    with pytest.raises(ValueError, match=r"got 1 inputs for graph inputs \['x', 'rois'\]"):
        evaluate(_chain_model(), [inputs["x"]])
    with pytest.raises(ValueError, match="backend must be"):
        evaluate(_chain_model(), inputs, backend="tensorrt")
