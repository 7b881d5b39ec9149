"""rewrite() on graphs exported from torchvision with the standard (TorchScript) exporter:
RoiAlign (opset 16 with both coordinate modes, opset 10), MaxRoiPool, NonMaxSuppression and MultiScaleRoIAlign's per-level
RoiAligns become trtops nodes; the outputs are identical before and after rewriting."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torchvision = pytest.importorskip("torchvision")

from trtops.converters import evaluate, rewrite  # noqa: E402


class _Fn(torch.nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _torchscript(fn, args: tuple, opset: int) -> object:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Fn(fn), args, buffer, dynamo=False, opset_version=opset)
    return onnx.load_from_string(buffer.getvalue())


def _features_and_rois(seed: int = 0) -> tuple:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4, 16, 18, generator=g)
    xy = torch.rand(9, 2, generator=g) * 20
    boxes = torch.cat([xy, xy + torch.rand(9, 2, generator=g) * 12 + 0.5], 1)
    index = torch.randint(0, 2, (9, 1), generator=g).float()
    return x, torch.cat([index, boxes], 1)


def _nms_inputs(seed: int = 0) -> tuple:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(60, 2, generator=g) * 40
    boxes = torch.cat([xy, xy + torch.rand(60, 2, generator=g) * 15 + 1], 1)
    return boxes, torch.rand(60, generator=g), torch.randint(0, 4, (60,), generator=g)


def _same_before_and_after(model, args: tuple, expected_ops: set, exact: bool = True) -> None:
    feeds = [a.numpy() for a in args]
    before = evaluate(model, feeds)
    result = rewrite(model)
    assert not result.left_alone, result.left_alone
    found = {n.op_type for g in _all_graphs(result.model.graph) for n in g.node if n.domain == "trtops"}
    assert found == expected_ops
    after = evaluate(result.model, feeds)
    for name in before:
        assert after[name].dtype == before[name].dtype and after[name].shape == before[name].shape
        if exact:
            np.testing.assert_array_equal(after[name], before[name])
        else:  # ONNX Runtime's RoiAlign kernel vs trtops.reference: float32 rounding
            np.testing.assert_allclose(after[name], before[name], atol=1e-5, rtol=1e-5)


def _all_graphs(graph) -> list:
    found = [graph]
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                found.extend(_all_graphs(attr.g))
    return found


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("opset", [16, 17])
def test_roi_align(aligned: bool, opset: int) -> None:
    x, rois = _features_and_rois()

    def fn(x, rois):
        return torchvision.ops.roi_align(x, rois, (3, 4), 0.5, 2, aligned)

    model = _torchscript(fn, (x, rois), opset)
    assert {n.op_type for n in model.graph.node} >= {"RoiAlign"}
    _same_before_and_after(model, (x, rois), {"RoIAlign"}, exact=False)
    # and the rewritten graph equals torchvision itself
    (got,) = evaluate(rewrite(model).model, [x.numpy(), rois.numpy()]).values()
    torch.testing.assert_close(torch.from_numpy(got), fn(x, rois), atol=1e-5, rtol=1e-5)


def test_roi_align_opset_10() -> None:
    x, rois = _features_and_rois()
    model = _torchscript(lambda x, r: torchvision.ops.roi_align(x, r, 2, 1.0, 2, False), (x, rois), 11)
    _same_before_and_after(model, (x, rois), {"RoIAlign"}, exact=False)


def test_roi_pool_as_max_roi_pool() -> None:
    x, rois = _features_and_rois()
    model = _torchscript(lambda x, r: torchvision.ops.roi_pool(x, r, (3, 2), 0.5), (x, rois), 17)
    assert "MaxRoiPool" in {n.op_type for n in model.graph.node}
    _same_before_and_after(model, (x, rois), {"RoIPool"})


def test_nms() -> None:
    boxes, scores, _ = _nms_inputs()
    model = _torchscript(lambda b, s: torchvision.ops.nms(b, s, 0.5), (boxes, scores), 17)
    _same_before_and_after(model, (boxes, scores), {"NMS"})


def test_batched_nms() -> None:
    boxes, scores, idxs = _nms_inputs()
    model = _torchscript(lambda b, s, i: torchvision.ops.batched_nms(b, s, i, 0.5), (boxes, scores, idxs), 17)
    _same_before_and_after(model, (boxes, scores, idxs), {"NMS"})


def test_multi_scale_roi_align_levels() -> None:
    g = torch.Generator().manual_seed(3)
    pooler = torchvision.ops.MultiScaleRoIAlign(["p2", "p3"], 3, 2)
    f2, f3 = torch.randn(1, 4, 32, 40, generator=g), torch.randn(1, 4, 16, 20, generator=g)
    xy = torch.rand(12, 2, generator=g) * 60
    boxes = torch.cat([xy, xy + torch.rand(12, 2, generator=g) * 90 + 2], 1)

    def fn(f2, f3, boxes):
        return pooler({"p2": f2, "p3": f3}, [boxes], [(128, 160)])

    model = _torchscript(fn, (f2, f3, boxes), 17)
    assert sum(n.op_type == "RoiAlign" for n in model.graph.node) == 2
    _same_before_and_after(model, (f2, f3, boxes), {"RoIAlign"}, exact=False)
