"""Deploy mode for torchvision detectors: static-shape post-processing.

torchvision's detectors filter boxes with boolean masks (``boxes[keep]``,
``torch.where(scores > t)``), which exports as ``NonZero`` and data-dependent shapes that
TensorRT's ONNX parser does not take. :class:`DeployRCNN` (Faster/Mask/Keypoint R-CNN) and
:class:`DeploySingleStage` (RetinaNet, FCOS, SSD) run the same model with the same weights and the
same decisions, expressed with fixed-size tensors (:func:`deploy_module` picks one):

* a box that torchvision would drop (too small, score under the threshold, padding) keeps its
  slot and gets the score ``-inf``; one padded trtops NMS per image
  (``torch.ops.trtops.nms_padded``: ``score_threshold`` = lowest float, ``max_output_boxes`` =
  torchvision's cap) then skips it. NMS keeps by decreasing score, so the first ``count`` slots
  are exactly torchvision's kept boxes, in torchvision's order;
* RPN proposals (R-CNN): ``[post_nms_top_n]`` slots per image, the ones past the count repeat a
  valid box and are masked out of the detections;
* single-stage candidates (RetinaNet, FCOS: per level; SSD: per class): a fixed-size TopK of
  the scores, see :class:`DeploySingleStage`;
* detections: ``[detections_per_img]`` slots per image, zeros past ``num_detections``.

Outputs: ``boxes [B, D, 4]`` (original image coordinates), ``scores [B, D]``, ``labels [B, D]``
(int64), ``num_detections [B]`` (int64) and, for Mask R-CNN, ``masks [B, D, 1, M, M]``: the
per-box mask probabilities before pasting (:func:`paste_masks` pastes them on the host exactly as
torchvision's post-processing does); for Keypoint R-CNN, ``keypoint_heatmaps [B, D, K, 56, 56]``
and ``keypoint_boxes [B, D, 4]`` (the boxes in the model's image coordinates), from which
:func:`decode_keypoints` reads torchvision's keypoints on the host. Batch size and image size are
fixed at export time.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn

#: score_threshold of the padded NMS: every finite score passes, -inf (a dropped box) does not.
_LOWEST = float(torch.finfo(torch.float32).min)


def _nms_padded(boxes: Tensor, scores: Tensor, idxs: Tensor, iou: float, max_out: int) -> tuple[Tensor, Tensor]:
    from . import _torch_ops  # noqa: F401  (registers trtops::nms_padded)

    return torch.ops.trtops.nms_padded(boxes, scores, idxs, float(iou), _LOWEST, int(max_out))


def _detection_slots(
    boxes: Tensor, scores: Tensor, labels: Tensor, keep: Tensor, nms_thresh: float, detections: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One image's candidates -> its detection slots: class-aware padded NMS over the ``keep``
    candidates (the others score ``-inf``), at most ``detections`` kept by decreasing score.
    Returns ``boxes [D, 4]``, ``scores [D]``, ``labels [D]`` (zeros past the count) and the count."""
    scores = torch.where(keep, scores, torch.full_like(scores, float("-inf")))
    index, count = _nms_padded(boxes, scores, labels, nms_thresh, detections)
    present = torch.arange(index.shape[0]) < count
    pick = index.clamp(min=0)
    kept_boxes = torch.where(present[:, None], boxes[pick], torch.zeros_like(boxes[pick]))
    kept_scores = torch.where(present, scores[pick], torch.zeros_like(scores[pick]))
    kept_labels = torch.where(present, labels[pick], torch.zeros_like(labels[pick]))
    return kept_boxes, kept_scores, kept_labels, count


def _not_small(boxes: Tensor, min_size: float) -> Tensor:
    ws, hs = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return (ws >= min_size) & (hs >= min_size)


class DeployRCNN(nn.Module):
    """A torchvision ``GeneralizedRCNN`` (Faster/Mask/Keypoint R-CNN) with static-shape post-processing.

    Args:
        model: e.g. ``torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None)``;
            its submodules and settings are used as they are (in eval mode).

    Forward: ``images`` ``Tensor[B, 3, H, W]`` (one batch of equally sized images, values as the
    torchvision model takes them). Returns the tuple described in the module docstring.
    """

    # The wrapped GeneralizedRCNN, whose submodules (rpn, roi_heads, transform, ...) are reached
    # by name: torchvision ships no type information, and nn.Module's own attribute type
    # (Tensor | Module) would make every such access an error for a type checker.
    model: Any

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        for name in ("transform", "backbone", "rpn", "roi_heads"):
            if not hasattr(model, name):
                raise TypeError(
                    f"DeployRCNN takes a torchvision GeneralizedRCNN (Faster/Mask/Keypoint R-CNN); "
                    f"{type(model).__name__} has no {name!r}"
                )
        self.model = model.eval()

    @property
    def has_mask(self) -> bool:
        return self.model.roi_heads.has_mask()

    @property
    def has_keypoints(self) -> bool:
        return self.model.roi_heads.has_keypoint()

    def output_names(self) -> list[str]:
        names = ["boxes", "scores", "labels", "num_detections"]
        names += ["masks"] if self.has_mask else []
        return names + (["keypoint_heatmaps", "keypoint_boxes"] if self.has_keypoints else [])

    def _proposals(self, images: Any, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        from torchvision.models.detection.rpn import concat_box_prediction_layers
        from torchvision.ops import boxes as box_ops

        rpn = self.model.rpn
        objectness, deltas = rpn.head(features)
        anchors = rpn.anchor_generator(images, features)
        num_images = len(anchors)
        per_level = [o[0].shape[0] * o[0].shape[1] * o[0].shape[2] for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        proposals = rpn.box_coder.decode(deltas.detach(), anchors).view(num_images, -1, 4)

        objectness = objectness.detach().reshape(num_images, -1)
        levels = torch.cat([torch.full((n,), i, dtype=torch.int64) for i, n in enumerate(per_level)])
        levels = levels.reshape(1, -1).expand_as(objectness)
        top_n = rpn._get_top_n_idx(objectness, per_level)
        batch = torch.arange(num_images)[:, None]
        objectness, levels, proposals = objectness[batch, top_n], levels[batch, top_n], proposals[batch, top_n]
        probs = torch.sigmoid(objectness)

        kept, valid = [], []
        for boxes, scores, lvl, shape in zip(proposals, probs, levels, images.image_sizes):
            boxes = box_ops.clip_boxes_to_image(boxes, shape)
            keep = _not_small(boxes, rpn.min_size) & (scores >= rpn.score_thresh)
            scores = torch.where(keep, scores, torch.full_like(scores, float("-inf")))
            index, count = _nms_padded(boxes, scores, lvl, rpn.nms_thresh, rpn.post_nms_top_n())
            kept.append(boxes[index.clamp(min=0)])
            valid.append(torch.arange(index.shape[0]) < count)
        return kept, valid

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        from torchvision.models.detection.transform import resize_boxes
        from torchvision.ops import boxes as box_ops

        if images.dim() != 4:
            raise ValueError(f"images must be Tensor[B, 3, H, W], got shape {tuple(images.shape)}")
        original_size = [int(images.shape[-2]), int(images.shape[-1])]
        image_list, _ = self.model.transform(list(images.unbind(0)))
        features = self.model.backbone(image_list.tensors)
        if isinstance(features, Tensor):
            features = OrderedDict([("0", features)])
        proposals, proposal_valid = self._proposals(image_list, list(features.values()))

        heads = self.model.roi_heads
        box_features = heads.box_roi_pool(features, proposals, image_list.image_sizes)
        class_logits, box_regression = heads.box_predictor(heads.box_head(box_features))
        num_classes = class_logits.shape[-1]
        pred_boxes = heads.box_coder.decode(box_regression, proposals)
        pred_scores = torch.softmax(class_logits, -1)
        per_image = [p.shape[0] for p in proposals]

        outputs: list[list[Tensor]] = [[], [], [], []]
        detection_boxes = []
        for boxes, scores, valid, shape in zip(
            pred_boxes.split(per_image), pred_scores.split(per_image), proposal_valid, image_list.image_sizes
        ):
            boxes = box_ops.clip_boxes_to_image(boxes, shape)
            labels = torch.arange(num_classes).view(1, -1).expand_as(scores)
            valid = valid[:, None].expand(-1, num_classes - 1).reshape(-1)
            boxes = boxes[:, 1:].reshape(-1, 4)
            scores = scores[:, 1:].reshape(-1)
            labels = labels[:, 1:].reshape(-1)
            keep = valid & (scores > heads.score_thresh) & _not_small(boxes, 1e-2)
            slots = _detection_slots(boxes, scores, labels, keep, heads.nms_thresh, heads.detections_per_img)
            detection_boxes.append(slots[0])
            outputs[0].append(resize_boxes(slots[0], shape, original_size))
            for output, value in zip(outputs[1:], slots[1:]):
                output.append(value)
        result = [torch.stack(o) for o in outputs]

        if self.has_mask:
            mask_features = heads.mask_roi_pool(features, detection_boxes, image_list.image_sizes)
            mask_logits = heads.mask_predictor(heads.mask_head(mask_features))
            labels = result[2].reshape(-1)
            probs = mask_logits.sigmoid()[torch.arange(labels.shape[0]), labels]
            result.append(probs.reshape(result[2].shape + (1,) + probs.shape[-2:]))
        if self.has_keypoints:
            # torchvision reads keypoints off heatmaps resized to each box's size in pixels: a
            # data-dependent shape per box, so that step runs on the host (decode_keypoints),
            # from the heatmaps and the boxes in the model's image coordinates
            keypoint_features = heads.keypoint_roi_pool(features, detection_boxes, image_list.image_sizes)
            heatmaps = heads.keypoint_predictor(heads.keypoint_head(keypoint_features))
            result.append(heatmaps.reshape(result[2].shape + heatmaps.shape[1:]))
            result.append(torch.stack(detection_boxes))
        return tuple(result)


class DeploySingleStage(nn.Module):
    """A torchvision RetinaNet, FCOS or SSD (SSDlite included) with static-shape
    post-processing.

    torchvision keeps, per group of candidates (RetinaNet/FCOS: each feature level's
    (anchor, class) pairs; SSD: each class's anchors), the scores above ``score_thresh`` (a
    boolean mask) and then their ``topk_candidates`` best. Here each group takes its
    ``min(topk_candidates, n)`` best of all ``n`` scores with a fixed-size TopK, and those that
    are not above ``score_thresh`` score ``-inf``. They are the same candidates: every score
    above the threshold ranks before every score that is not. All groups' boxes then go through
    one padded class-aware trtops NMS per image, capped at ``detections_per_img``, as in
    :class:`DeployRCNN`.

    Args:
        model: e.g. ``torchvision.models.detection.retinanet_resnet50_fpn(weights=None)``,
            ``fcos_resnet50_fpn(...)`` or ``ssdlite320_mobilenet_v3_large(...)``; its
            submodules and settings are used as they are (in eval mode).

    Forward: ``images`` ``Tensor[B, 3, H, W]``. Returns ``boxes [B, D, 4]`` (original image
    coordinates), ``scores [B, D]``, ``labels [B, D]`` (int64) and ``num_detections [B]`` (int64).
    """

    # The wrapped detector, reached by name (see DeployRCNN.model).
    model: Any

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        from torchvision.models.detection import FCOS, RetinaNet
        from torchvision.models.detection.ssd import SSD

        kinds = ((RetinaNet, "retinanet"), (FCOS, "fcos"), (SSD, "ssd"))
        kind = next((name for cls, name in kinds if isinstance(model, cls)), None)
        if kind is None:
            raise TypeError(
                f"DeploySingleStage takes a torchvision RetinaNet, FCOS or SSD, got {type(model).__name__}"
            )
        #: "retinanet", "fcos" (scores are sqrt(class x centerness probability)) or "ssd"
        self.kind = kind
        self.model = model.eval()

    def output_names(self) -> list[str]:
        return ["boxes", "scores", "labels", "num_detections"]

    def _top(self, scores: Tensor) -> tuple[Tensor, Tensor]:
        """The ``min(topk_candidates, n)`` best of the last dimension's ``n`` scores, and where."""
        return scores.topk(min(int(self.model.topk_candidates), int(scores.shape[-1])), dim=-1)

    def _level_candidates(
        self, head: dict[str, Tensor], anchors: Tensor, image: int, features: list[Tensor], shape: Any
    ) -> tuple[Tensor, Tensor, Tensor]:
        """RetinaNet / FCOS: each level's best (anchor, class) pairs, boxes decoded and clipped."""
        from torchvision.ops import boxes as box_ops

        model = self.model
        # each level's rows of the head outputs and anchors: its locations x anchors per location
        locations = [int(f.shape[-2]) * int(f.shape[-1]) for f in features]
        anchors_per_location = int(head["cls_logits"].shape[1]) // sum(locations)
        bounds = [0]
        for level_locations in locations:
            bounds.append(bounds[-1] + level_locations * anchors_per_location)
        level_boxes, level_scores, level_labels = [], [], []
        for start, end in zip(bounds[:-1], bounds[1:]):
            logits = head["cls_logits"][image, start:end]
            num_classes = int(logits.shape[-1])
            probs = torch.sigmoid(logits)
            if self.kind == "fcos":
                probs = torch.sqrt(probs * torch.sigmoid(head["bbox_ctrness"][image, start:end]))
            scores, flat_index = self._top(probs.flatten())
            anchor_index = torch.div(flat_index, num_classes, rounding_mode="floor")
            codes = head["bbox_regression"][image, start:end][anchor_index]
            if self.kind == "fcos":
                boxes = model.box_coder.decode(codes, anchors[start:end][anchor_index])
            else:
                boxes = model.box_coder.decode_single(codes, anchors[start:end][anchor_index])
            level_boxes.append(box_ops.clip_boxes_to_image(boxes, shape))
            level_scores.append(scores)
            level_labels.append(flat_index % num_classes)
        return torch.cat(level_boxes), torch.cat(level_scores), torch.cat(level_labels)

    def _class_candidates(
        self, head: dict[str, Tensor], anchors: Tensor, image: int, shape: Any
    ) -> tuple[Tensor, Tensor, Tensor]:
        """SSD: every class's (background excluded) best anchors, in class order; all anchors'
        boxes are decoded and clipped first, as torchvision does."""
        from torchvision.ops import boxes as box_ops

        boxes = self.model.box_coder.decode_single(head["bbox_regression"][image], anchors)
        boxes = box_ops.clip_boxes_to_image(boxes, shape)
        probs = torch.softmax(head["cls_logits"][image], dim=-1)
        num_classes = int(probs.shape[-1])
        scores, anchor_index = self._top(probs[:, 1:].transpose(0, 1))  # [classes - 1, k]
        labels = torch.arange(1, num_classes)[:, None].expand_as(anchor_index)
        return boxes[anchor_index.reshape(-1)], scores.reshape(-1), labels.reshape(-1)

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        from torchvision.models.detection.transform import resize_boxes

        if images.dim() != 4:
            raise ValueError(f"images must be Tensor[B, 3, H, W], got shape {tuple(images.shape)}")
        model = self.model
        original_size = [int(images.shape[-2]), int(images.shape[-1])]
        image_list, _ = model.transform(list(images.unbind(0)))
        features = model.backbone(image_list.tensors)
        if isinstance(features, Tensor):
            features = OrderedDict([("0", features)])
        features = list(features.values())
        head = model.head(features)
        anchors = model.anchor_generator(image_list, features)

        outputs: list[list[Tensor]] = [[], [], [], []]
        for i, shape in enumerate(image_list.image_sizes):
            if self.kind == "ssd":
                boxes, scores, labels = self._class_candidates(head, anchors[i], i, shape)
            else:
                boxes, scores, labels = self._level_candidates(head, anchors[i], i, features, shape)
            boxes, scores, labels, count = _detection_slots(
                boxes, scores, labels, scores > model.score_thresh, model.nms_thresh, model.detections_per_img
            )
            for output, value in zip(outputs, (resize_boxes(boxes, shape, original_size), scores, labels, count)):
                output.append(value)
        return tuple(torch.stack(o) for o in outputs)


def deploy_module(model: nn.Module) -> nn.Module:
    """The static-shape deploy form of a torchvision detector: :class:`DeployRCNN` for
    Faster/Mask R-CNN, :class:`DeploySingleStage` for RetinaNet, FCOS and SSD (a deploy module
    is returned as it is)."""
    if isinstance(model, (DeployRCNN, DeploySingleStage)):
        return model
    from torchvision.models.detection import FCOS, RetinaNet
    from torchvision.models.detection.ssd import SSD

    if isinstance(model, (RetinaNet, FCOS, SSD)):
        return DeploySingleStage(model)
    return DeployRCNN(model)


def paste_masks(masks: Tensor, boxes: Tensor, image_size: Sequence[int]) -> Tensor:
    """Paste per-box mask probabilities ``[D, 1, M, M]`` into ``[D, 1, H, W]`` images, as
    torchvision's Mask R-CNN post-processing does (host side of the deploy outputs)."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    return paste_masks_in_image(masks, boxes, tuple(int(s) for s in image_size))


def decode_keypoints(
    heatmaps: Tensor, model_boxes: Tensor, model_image_size: Sequence[int], image_size: Sequence[int]
) -> tuple[Tensor, Tensor]:
    """One image's Keypoint R-CNN deploy outputs ``keypoint_heatmaps [D, K, 56, 56]`` and
    ``keypoint_boxes [D, 4]`` -> torchvision's ``keypoints [D, K, 3]`` (in the image of
    ``image_size``) and ``keypoints_scores [D, K]``, decoded as torchvision's post-processing
    does. ``model_image_size``: the image size inside the model (after its transform's resize)."""
    from torchvision.models.detection.roi_heads import heatmaps_to_keypoints
    from torchvision.models.detection.transform import resize_keypoints

    if heatmaps.shape[0] == 0:
        return heatmaps.new_zeros((0, heatmaps.shape[1], 3)), heatmaps.new_zeros((0, heatmaps.shape[1]))
    keypoints, scores = heatmaps_to_keypoints(heatmaps, model_boxes)
    sizes = [int(s) for s in model_image_size], [int(s) for s in image_size]
    return resize_keypoints(keypoints, *sizes), scores


def split_detections(outputs: Sequence[Any], names: Optional[Sequence[str]] = None) -> list[dict[str, Tensor]]:
    """Deploy outputs (tensors or arrays, batch first) -> torchvision's ``List[Dict]`` format,
    one entry per image with its first ``num_detections`` rows of every per-detection output
    (``masks`` still unpasted, keypoints still heatmaps: :func:`paste_masks`,
    :func:`decode_keypoints`). ``names``: the outputs' names (the deploy module's
    ``output_names()``); default boxes, scores, labels, num_detections[, masks]."""
    tensors = [o if isinstance(o, Tensor) else torch.from_numpy(o) for o in outputs]
    names = list(names) if names is not None else ["boxes", "scores", "labels", "num_detections", "masks"]
    named = dict(zip(names, tensors))
    counts = named.pop("num_detections")
    result = []
    for i in range(counts.shape[0]):
        n = int(counts[i])
        result.append({name: value[i, :n] for name, value in named.items()})
    return result
