"""Detectors and blocks built from torchvision with random weights (never downloaded): deploy
export -> evaluate() matches PyTorch's detections; the graph holds the expected trtops nodes and
no boolean masking (NonZero); TensorRT-RTX parses and builds it with the plugins loaded."""

from __future__ import annotations

import collections
import functools
from typing import Any

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torchvision = pytest.importorskip("torchvision")

from trtops.converters import evaluate, export  # noqa: E402
from trtops.converters.deploy import DeployRCNN, paste_masks, split_detections  # noqa: E402

try:
    from tests.tolerances import tolerance
except ImportError:  # pytest run from inside tests/
    from tolerances import tolerance

# small images keep CPU time low; a score threshold just under the random-weight softmax level
# (~1/91) exercises the score filtering while keeping many detections
_SIZE = dict(min_size=224, max_size=224, box_score_thresh=0.0105)
_IMAGE_SHAPE = (1, 3, 200, 240)


def _needs_nms_plugins() -> None:
    from trtops.plugins import built_plugins

    missing = {"NMS", "BatchedNMS", "MultiScaleRoIAlign"} - set(built_plugins())
    if missing:
        pytest.skip(f"the plugin library lacks {sorted(missing)} (their kernels are not built yet)")


@functools.lru_cache(maxsize=None)
def _detector(name: str) -> tuple[Any, torch.Tensor, Any]:
    torch.manual_seed(0)
    builder = getattr(torchvision.models.detection, name)
    model = builder(weights=None, weights_backbone=None, **_SIZE).eval()
    images = torch.rand(_IMAGE_SHAPE, generator=torch.Generator().manual_seed(0))
    deploy = DeployRCNN(model)
    proto = export(deploy, (images,), input_names=["images"], output_names=deploy.output_names(), deploy=True)
    return model, images, proto


def _check_detections(model: Any, images: torch.Tensor, outputs: dict, leading: int = 100) -> None:
    """Same count; the first ``leading`` detections equal PyTorch's within tolerance (random
    weights put many scores within float32 noise of each other near 1/91, and ONNX Runtime's
    rounding may reorder such near-ties further down the list)."""
    with torch.no_grad():
        expected = model(list(images))
    got = split_detections(list(outputs.values()))
    for exp, det, image in zip(expected, got, images):
        assert det["boxes"].shape[0] == exp["boxes"].shape[0] > 10
        exp = {k: v[:leading] for k, v in exp.items()}
        det = {k: v[:leading] for k, v in det.items()}
        torch.testing.assert_close(det["labels"], exp["labels"], atol=0, rtol=0)
        torch.testing.assert_close(det["boxes"], exp["boxes"], **tolerance("converters.detector_boxes", torch.float32))
        torch.testing.assert_close(det["scores"], exp["scores"], **tolerance("converters.detector_scores", torch.float32))
        if "masks" in exp:
            pasted = paste_masks(det["masks"], det["boxes"], image.shape[-2:])
            torch.testing.assert_close(pasted, exp["masks"], **tolerance("converters.detector_masks", torch.float32))


def _op_counts(proto: Any) -> collections.Counter:
    return collections.Counter(f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in proto.graph.node)


def test_deploy_module_equals_torchvision_in_pytorch() -> None:
    model, images, _ = _detector("fasterrcnn_resnet50_fpn")
    with torch.no_grad():
        expected = model(list(images))
        got = split_detections(DeployRCNN(model)(images))
    for exp, det in zip(expected, got):
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(det[key], exp[key], atol=0, rtol=0)


def test_faster_rcnn_graph_holds_trtops_nodes_and_no_masking() -> None:
    _, _, proto = _detector("fasterrcnn_resnet50_fpn")
    counts = _op_counts(proto)
    assert counts["trtops::BatchedNMS"] == 2  # RPN (per level) + box head (per class), batch 1
    assert counts["trtops::MultiScaleRoIAlign"] == 1
    assert not {"NonZero", "NonMaxSuppression", "RoiAlign"} & set(counts)
    assert not [k for k in counts if "torchvision" in k or k.startswith("pkg.")]
    assert [o.name for o in proto.graph.output] == ["boxes", "scores", "labels", "num_detections"]


def test_faster_rcnn_evaluate_matches_pytorch() -> None:
    model, images, proto = _detector("fasterrcnn_resnet50_fpn")
    _check_detections(model, images, evaluate(proto, [images]))


@pytest.mark.trt_build
def test_faster_rcnn_builds_with_tensorrt_rtx() -> None:
    from trtops.testing import build_onnx_isolated

    _needs_nms_plugins()
    _, _, proto = _detector("fasterrcnn_resnet50_fpn")
    result = build_onnx_isolated(proto)
    assert result.ok, result.error_text()
    assert result.plugin_layers == 3
    assert result.outputs["boxes"] == ("FLOAT", [1, 100, 4])
    assert result.outputs["num_detections"][1] == [1]


@pytest.mark.slow
def test_mask_rcnn_evaluate_matches_pytorch() -> None:
    model, images, proto = _detector("maskrcnn_resnet50_fpn")
    counts = _op_counts(proto)
    assert counts["trtops::MultiScaleRoIAlign"] == 2 and counts["trtops::BatchedNMS"] == 2
    assert "NonZero" not in counts
    outputs = evaluate(proto, [images])
    with torch.no_grad():
        (expected,) = model(list(images))
    (det,) = split_detections(list(outputs.values()))
    # random weights give dozens of scores within float32 noise of each other, which ONNX
    # Runtime's rounding may order differently: match detections by (label, box) instead of rank
    assert det["boxes"].shape[0] == expected["boxes"].shape[0] > 10
    box_tol = tolerance("converters.detector_boxes", torch.float32)["atol"]
    pasted = paste_masks(det["masks"], det["boxes"], images.shape[-2:])
    unmatched = 0
    for i in range(expected["boxes"].shape[0]):
        close = ((det["boxes"] - expected["boxes"][i]).abs().max(1).values <= box_tol) & (
            det["labels"] == expected["labels"][i]
        )
        if not close.any():
            unmatched += 1
            continue
        j = int(close.nonzero()[0])
        torch.testing.assert_close(det["scores"][j], expected["scores"][i], **tolerance("converters.detector_scores", torch.float32))
        # pasting resamples at the box edges: a box differing by ~1e-2 px moves edge pixels, so
        # the masks agree within tolerance except on a thin edge band
        tol = tolerance("converters.detector_masks", torch.float32)
        off = (pasted[j] - expected["masks"][i]).abs() > tol["atol"] + tol["rtol"] * expected["masks"][i].abs()
        assert off.float().mean() < 0.02, (i, off.float().mean())
    # a near-tie at the cut (detections_per_img) may swap the last kept detection
    assert unmatched <= 2


@pytest.mark.slow
@pytest.mark.trt_build
def test_mask_rcnn_builds_with_tensorrt_rtx() -> None:
    from trtops.testing import build_onnx_isolated

    _needs_nms_plugins()
    _, _, proto = _detector("maskrcnn_resnet50_fpn")
    result = build_onnx_isolated(proto)
    assert result.ok, result.error_text()
    assert result.plugin_layers == 4
