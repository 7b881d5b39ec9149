"""Deploy mode for torchvision R-CNN detectors: static-shape post-processing.

torchvision's Faster/Mask R-CNN filter boxes with boolean masks (``boxes[keep]``,
``torch.where(scores > t)``), which exports as ``NonZero`` and data-dependent shapes that
TensorRT's ONNX parser does not take. :class:`DeployRCNN` runs the same model with the same
weights and the same decisions, expressed with fixed-size tensors:

* a box that torchvision would drop (too small, score under the threshold, padding) keeps its
  slot and gets the score ``-inf``; one padded trtops NMS per image
  (``torch.ops.trtops.nms_padded``: ``score_threshold`` = lowest float, ``max_output_boxes`` =
  torchvision's cap) then skips it. NMS keeps by decreasing score, so the first ``count`` slots
  are exactly torchvision's kept boxes, in torchvision's order;
* RPN proposals: ``[post_nms_top_n]`` slots per image, the ones past the count repeat a valid
  box and are masked out of the detections;
* detections: ``[detections_per_img]`` slots per image, zeros past ``num_detections``.

Outputs: ``boxes [B, D, 4]`` (original image coordinates), ``scores [B, D]``, ``labels [B, D]``
(int64), ``num_detections [B]`` (int64) and, for Mask R-CNN, ``masks [B, D, 1, M, M]``: the
per-box mask probabilities before pasting (:func:`paste_masks` pastes them on the host exactly as
torchvision's post-processing does). Batch size and image size are fixed at export time.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import torch
from torch import Tensor, nn

#: score_threshold of the padded NMS: every finite score passes, -inf (a dropped box) does not.
_LOWEST = float(torch.finfo(torch.float32).min)


def _nms_padded(boxes: Tensor, scores: Tensor, idxs: Tensor, iou: float, max_out: int) -> tuple[Tensor, Tensor]:
    from . import _torch_ops  # noqa: F401  (registers trtops::nms_padded)

    return torch.ops.trtops.nms_padded(boxes, scores, idxs, float(iou), _LOWEST, int(max_out))


def _not_small(boxes: Tensor, min_size: float) -> Tensor:
    ws, hs = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return (ws >= min_size) & (hs >= min_size)


class DeployRCNN(nn.Module):
    """A torchvision ``GeneralizedRCNN`` (Faster/Mask R-CNN) with static-shape post-processing.

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
                    f"DeployRCNN takes a torchvision GeneralizedRCNN (Faster/Mask R-CNN); "
                    f"{type(model).__name__} has no {name!r}"
                )
        if getattr(model.roi_heads, "keypoint_predictor", None) is not None:
            raise TypeError("DeployRCNN does not support keypoint heads (Keypoint R-CNN)")
        self.model = model.eval()

    @property
    def has_mask(self) -> bool:
        return self.model.roi_heads.has_mask()

    def output_names(self) -> list[str]:
        names = ["boxes", "scores", "labels", "num_detections"]
        return names + (["masks"] if self.has_mask else [])

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
            scores = torch.where(keep, scores, torch.full_like(scores, float("-inf")))
            index, count = _nms_padded(boxes, scores, labels, heads.nms_thresh, heads.detections_per_img)
            present = torch.arange(index.shape[0]) < count
            pick = index.clamp(min=0)
            det_boxes = torch.where(present[:, None], boxes[pick], torch.zeros_like(boxes[pick]))
            detection_boxes.append(det_boxes)
            outputs[0].append(resize_boxes(det_boxes, shape, original_size))
            outputs[1].append(torch.where(present, scores[pick], torch.zeros_like(scores[pick])))
            outputs[2].append(torch.where(present, labels[pick], torch.zeros_like(labels[pick])))
            outputs[3].append(count)
        result = [torch.stack(o) for o in outputs]

        if self.has_mask:
            mask_features = heads.mask_roi_pool(features, detection_boxes, image_list.image_sizes)
            mask_logits = heads.mask_predictor(heads.mask_head(mask_features))
            labels = result[2].reshape(-1)
            probs = mask_logits.sigmoid()[torch.arange(labels.shape[0]), labels]
            result.append(probs.reshape(result[2].shape + (1,) + probs.shape[-2:]))
        return tuple(result)


def paste_masks(masks: Tensor, boxes: Tensor, image_size: Sequence[int]) -> Tensor:
    """Paste per-box mask probabilities ``[D, 1, M, M]`` into ``[D, 1, H, W]`` images, as
    torchvision's Mask R-CNN post-processing does (host side of the deploy outputs)."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    return paste_masks_in_image(masks, boxes, tuple(int(s) for s in image_size))


def split_detections(outputs: Sequence[Any]) -> list[dict[str, Tensor]]:
    """Deploy outputs (tensors or arrays, batch first) -> torchvision's ``List[Dict]`` format
    (``masks`` still unpasted)."""
    tensors = [o if isinstance(o, Tensor) else torch.from_numpy(o) for o in outputs]
    boxes, scores, labels, counts = tensors[:4]
    result = []
    for i in range(boxes.shape[0]):
        n = int(counts[i])
        item = {"boxes": boxes[i, :n], "scores": scores[i, :n], "labels": labels[i, :n]}
        if len(tensors) > 4:
            item["masks"] = tensors[4][i, :n]
        result.append(item)
    return result
