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


# ----- single-stage detectors (RetinaNet, FCOS, SSD): DeploySingleStage ------------------------

# Random weights score near the classification prior; each threshold keeps a few dozen
# detections per image, below the cap (detections_per_img), so that no near-tie at the cap
# decides which boxes are kept.
_SINGLE_STAGE_THRESH = {
    "retinanet_resnet50_fpn": 0.024,
    "retinanet_resnet50_fpn_v2": 0.035,
    "fcos_resnet50_fpn": 0.12,
    "ssd300_vgg16": 0.985,  # softmax scores of random weights saturate near 1
}
# TopK nodes per image: one per feature level (RetinaNet, FCOS) or one over all classes (SSD)
_SINGLE_STAGE_TOPK = {"retinanet_resnet50_fpn": 5, "fcos_resnet50_fpn": 5, "ssd300_vgg16": 1}
_SINGLE_STAGE_IMAGES = (2, 3, 200, 240)


@functools.lru_cache(maxsize=None)
def _single_stage(name: str) -> tuple[Any, torch.Tensor]:
    torch.manual_seed(0)
    builder = getattr(torchvision.models.detection, name)
    size = {} if name.startswith("ssd") else dict(min_size=224, max_size=224)  # SSD: its own fixed size
    model = builder(weights=None, weights_backbone=None, score_thresh=_SINGLE_STAGE_THRESH[name], **size).eval()
    images = torch.rand(_SINGLE_STAGE_IMAGES, generator=torch.Generator().manual_seed(0))
    return model, images


@functools.lru_cache(maxsize=None)
def _single_stage_onnx(name: str) -> Any:
    from trtops.converters import deploy_module

    model, images = _single_stage(name)
    deploy = deploy_module(model)
    return export(deploy, (images,), input_names=["images"], output_names=deploy.output_names(), deploy=True)


@pytest.mark.parametrize("name", sorted(_SINGLE_STAGE_THRESH))
def test_single_stage_deploy_module_equals_torchvision_in_pytorch(name: str) -> None:
    from trtops.converters import DeploySingleStage

    model, images = _single_stage(name)
    with torch.no_grad():
        expected = model(list(images))
        got = split_detections(DeploySingleStage(model)(images))
    for exp, det in zip(expected, got):
        assert 10 < exp["boxes"].shape[0] < model.detections_per_img
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(det[key], exp[key], atol=0, rtol=0)


@pytest.mark.parametrize("name", sorted(_SINGLE_STAGE_TOPK))
def test_single_stage_evaluate_matches_torchvision(name: str) -> None:
    from trtops.accuracy import TOLERANCES, compare_detections

    model, images = _single_stage(name)
    proto = _single_stage_onnx(name)
    counts = _op_counts(proto)
    batch = images.shape[0]
    assert counts["trtops::BatchedNMS"] == batch  # one per image, over all its candidates
    assert counts["TopK"] == batch * _SINGLE_STAGE_TOPK[name]
    assert not {"NonZero", "NonMaxSuppression"} & set(counts)
    assert [o.name for o in proto.graph.output] == ["boxes", "scores", "labels", "num_detections"]
    with torch.no_grad():
        expected = model(list(images))
    got = split_detections(list(evaluate(proto, [images]).values()))
    for row in compare_detections(expected, got, TOLERANCES):
        assert row.passed and row.matched == row.reference == row.candidate, row


def test_deploy_module_picks_the_form_by_detector() -> None:
    from trtops.converters import DeploySingleStage, deploy_module

    single = deploy_module(_single_stage("fcos_resnet50_fpn")[0])
    assert isinstance(single, DeploySingleStage) and single.kind == "fcos"
    assert deploy_module(single) is single
    rcnn = deploy_module(_detector("fasterrcnn_resnet50_fpn")[0])
    assert isinstance(rcnn, DeployRCNN)
    with pytest.raises(TypeError, match="RetinaNet, FCOS or SSD, got Sequential"):
        DeploySingleStage(torch.nn.Sequential())


@pytest.mark.trt_build
def test_retinanet_builds_with_tensorrt_rtx() -> None:
    from trtops.testing import build_onnx_isolated

    _needs_nms_plugins()
    result = build_onnx_isolated(_single_stage_onnx("retinanet_resnet50_fpn"))
    assert result.ok, result.error_text()
    assert result.plugin_layers == _SINGLE_STAGE_IMAGES[0]
    assert result.outputs["boxes"] == ("FLOAT", [_SINGLE_STAGE_IMAGES[0], 300, 4])
    assert result.outputs["labels"][1] == [_SINGLE_STAGE_IMAGES[0], 300]


# ----- Keypoint R-CNN: heatmaps in the graph, keypoints decoded on the host ------------------


@functools.lru_cache(maxsize=None)
def _keypoint_rcnn() -> tuple[Any, torch.Tensor, Any]:
    torch.manual_seed(0)
    # min_size below the images' shorter side: the model resizes them (200x240 -> 186x224), so
    # the keypoints go through torchvision's resize back to the input images too
    model = torchvision.models.detection.keypointrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=186, max_size=224, box_score_thresh=0.02).eval()
    images = torch.rand((1, 3, 200, 240), generator=torch.Generator().manual_seed(0))
    deploy = DeployRCNN(model)
    proto = export(deploy, (images,), input_names=["images"], output_names=deploy.output_names(), deploy=True)
    return model, images, proto


def _with_decoded_keypoints(model: Any, images: torch.Tensor, detections: list[dict]) -> list[dict]:
    from trtops.converters.deploy import decode_keypoints

    model_sizes = model.transform(list(images))[0].image_sizes
    for detection, size in zip(detections, model_sizes):
        detection["keypoints"], detection["keypoints_scores"] = decode_keypoints(
            detection.pop("keypoint_heatmaps"), detection.pop("keypoint_boxes"), size, images.shape[-2:])
    return detections


def test_keypoint_rcnn_deploy_module_equals_torchvision_in_pytorch() -> None:
    model, images, _ = _keypoint_rcnn()
    deploy = DeployRCNN(model)
    assert deploy.output_names()[-2:] == ["keypoint_heatmaps", "keypoint_boxes"]
    with torch.no_grad():
        (expected,) = model(list(images))
        (got,) = _with_decoded_keypoints(model, images, split_detections(deploy(images), deploy.output_names()))
    assert model.transform(list(images))[0].image_sizes[0] != tuple(images.shape[-2:])  # resized inside
    assert expected["boxes"].shape[0] > 10
    for key in ("boxes", "scores", "labels", "keypoints", "keypoints_scores"):
        torch.testing.assert_close(got[key], expected[key], atol=0, rtol=0)


@pytest.mark.slow
def test_keypoint_rcnn_evaluate_matches_torchvision() -> None:
    from trtops.accuracy import TOLERANCES, compare_detections

    model, images, proto = _keypoint_rcnn()
    counts = _op_counts(proto)
    assert counts["trtops::MultiScaleRoIAlign"] == 2 and counts["trtops::BatchedNMS"] == 2
    assert "NonZero" not in counts
    outputs = evaluate(proto, [images])
    got = _with_decoded_keypoints(model, images, split_detections(list(outputs.values()), list(outputs)))
    with torch.no_grad():
        expected = model(list(images))
    (row,) = compare_detections(expected, got, TOLERANCES)
    assert row.passed and row.matched == row.reference > 10, row
    assert row.keypoint_far_fraction == 0.0 and row.keypoint_max_abs < 0.05, row
