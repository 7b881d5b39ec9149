"""Which exporter path export() takes, and the trtops node table it writes through."""

from __future__ import annotations

import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
torchvision = pytest.importorskip("torchvision")

from trtops.converters import evaluate, export, make_node  # noqa: E402


def _exporter(proto) -> str:
    return {p.key: p.value for p in proto.metadata_props}["trtops.exporter"]


class _Pool(torch.nn.Module):
    def forward(self, x: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return torchvision.ops.roi_align(x, rois, 2, 0.5, 2, True)


def _inputs() -> tuple:
    return torch.randn(1, 3, 8, 8), torch.tensor([[0.0, 1.0, 1.0, 9.0, 12.0]])


def test_torchscript_path_on_request_gives_the_same_graph_semantics() -> None:
    x, rois = _inputs()
    proto = export(_Pool(), (x, rois), exporter="torchscript")
    assert _exporter(proto) == "torchscript+rewrite"
    assert [n.op_type for n in proto.graph.node if n.domain == "trtops"] == ["RoIAlign"]
    (got,) = evaluate(proto, [x, rois]).values()
    torch.testing.assert_close(torch.from_numpy(got), _Pool()(x, rois), atol=1e-6, rtol=1e-6)


def test_multi_scale_roi_align_module_is_one_node(tmp_path) -> None:
    pooler = torchvision.ops.MultiScaleRoIAlign(["a", "b", "c"], (3, 2), 2)

    class Head(torch.nn.Module):
        def forward(self, a, b, c, boxes):
            return pooler({"a": a, "b": b, "c": c}, [boxes], [(64, 64)])

    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(1, 4, 64 // s, 64 // s, generator=g) for s in (4, 8, 16)]
    xy = torch.rand(20, 2, generator=g) * 30
    boxes = torch.cat([xy, xy + torch.rand(20, 2, generator=g) * 60 + 1], 1)
    dims = ({}, {}, {}, {0: torch.export.Dim("boxes")})
    proto = export(Head(), (*feats, boxes), tmp_path / "head.onnx", dynamic_shapes=dims)
    assert (tmp_path / "head.onnx").exists() and _exporter(proto) == "dynamo"
    nodes = [n for n in proto.graph.node if n.domain == "trtops"]
    assert [n.op_type for n in nodes] == ["MultiScaleRoIAlign"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attrs["spatial_scales"] == pytest.approx([0.25, 0.125, 0.0625])
    assert (attrs["canonical_scale"], attrs["canonical_level"], attrs["aligned"]) == (224, 4, 0)
    assert (attrs["output_height"], attrs["output_width"], attrs["sampling_ratio"]) == (3, 2, 2)
    boxes2 = boxes[:7] * 0.8
    (got,) = evaluate(proto, [*feats, boxes2]).values()
    torch.testing.assert_close(torch.from_numpy(got), Head()(*feats, boxes2), atol=0, rtol=0)
    # the swap of MultiScaleRoIAlign.forward is undone after export
    assert type(pooler).forward is torchvision.ops.MultiScaleRoIAlign.forward
    assert torchvision.ops.boxes.batched_nms.__module__ == "torchvision.ops.boxes"


@pytest.mark.slow
def test_faster_rcnn_without_deploy_falls_back_to_torchscript() -> None:
    # torch.export stops at data-dependent guards in torchvision's post-processing (box decoder);
    # "auto" then takes the TorchScript exporter and rewrites its RoiAlign / NonMaxSuppression
    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=128, max_size=128
    ).eval()
    proto = export(model, ([torch.rand(3, 120, 128)],))
    assert _exporter(proto) == "torchscript+rewrite"

    def ops(graph):
        for node in graph.node:
            yield node
            for attr in node.attribute:
                if attr.HasField("g"):
                    yield from ops(attr.g)

    kinds = {(n.domain, n.op_type) for n in ops(proto.graph)}
    assert ("trtops", "RoIAlign") in kinds and ("trtops", "NMS") in kinds
    assert not {("", "RoiAlign"), ("", "NonMaxSuppression")} & kinds


def test_make_node_checks_names_and_types() -> None:
    node = make_node("NMS", ["b", "s"], ["i", "c"], iou_threshold=0.5, padded=True, max_output_boxes=10)
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs == {
        "iou_threshold": 0.5, "max_output_boxes": 10, "padded": 1, "index_int32": 0,
        "plugin_namespace": b"trtops", "plugin_version": b"1",
    }
    assert node.domain == "trtops"
    with pytest.raises(ValueError, match="unknown attribute"):
        make_node("RoIAlign", ["x", "r"], ["y"], output_height=2, output_width=2, samplingratio=2)
    with pytest.raises(ValueError, match="required"):
        make_node("RoIAlign", ["x", "r"], ["y"], output_height=2)
    with pytest.raises(TypeError, match="must be an int"):
        make_node("RoIPool", ["x", "r"], ["y"], output_height=2.5, output_width=2)
