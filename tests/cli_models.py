"""Small models for CLI tests, loaded as ``cli_models:function`` (module:function specs)."""

from __future__ import annotations

import torch
import torchvision
from torch import nn


class RoIHead(nn.Module):
    """conv -> roi_align -> linear: a torchvision op between standard layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 5 * 5, 4)

    def forward(self, images: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        features = self.conv(images)
        pooled = torchvision.ops.roi_align(features, rois, (5, 5), spatial_scale=0.5, sampling_ratio=2, aligned=True)
        return self.fc(pooled.flatten(1))


def roi_head():
    model = RoIHead()
    images = torch.rand(2, 3, 32, 48)
    boxes = torch.rand(6, 4) * 40
    boxes[:, 2:] += boxes[:, :2] + 1
    rois = torch.cat([torch.tensor([0, 0, 0, 1, 1, 1.0]).unsqueeze(1), boxes], 1)
    return model, (images, rois)


class DeformHead(nn.Module):
    """conv -> offsets and mask -> torchvision DeformConv2d (v2)."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = nn.Conv2d(3, 27, 3, padding=1)
        self.deform = torchvision.ops.DeformConv2d(3, 8, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        offset_mask = self.offset(images)
        return self.deform(images, offset_mask[:, :18], torch.sigmoid(offset_mask[:, 18:]))


def deform_head():
    return DeformHead(), (torch.rand(1, 3, 16, 20),)


class TrtopsOpsHead(nn.Module):
    """conv -> trtops.ops.deform_conv2d -> padded trtops.ops.nms -> trtops.ops.roi_align: a model
    written with trtops.ops (its kernels' host implementation runs it in PyTorch)."""

    def __init__(self) -> None:
        super().__init__()
        import trtops.ops

        self.offset = nn.Conv2d(3, 18, 3, padding=1)
        self.deform = trtops.ops.DeformConv2d(3, 8, 3, padding=1)

    def forward(self, images: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, ...]:
        import trtops.ops

        features = self.deform(images, self.offset(images))
        keep, count = trtops.ops.nms(boxes, scores, 0.5, max_output_boxes=4, padded=True)
        kept = boxes[keep.clamp(min=0)]
        rois = torch.cat([torch.zeros_like(kept[:, :1]), kept], 1)
        return trtops.ops.roi_align(features, rois, 3, 0.5, 2, True), keep, count


def trtops_ops_head():
    boxes = torch.rand(20, 4) * 40
    boxes[:, 2:] += boxes[:, :2] + 1
    return TrtopsOpsHead(), (torch.rand(1, 3, 32, 48), boxes, torch.rand(20))


class NmsHead(nn.Module):
    """scores from a linear layer -> torchvision.ops.nms: an output whose length depends on the data
    (an unpadded trtops NMS)."""

    def __init__(self) -> None:
        super().__init__()
        self.score = nn.Linear(4, 1)

    def forward(self, boxes: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.score(boxes / 40)).squeeze(1)
        return torchvision.ops.nms(boxes, scores, 0.5)


def nms_head():
    boxes = torch.rand(200, 4) * 40
    boxes[:, 2:] += boxes[:, :2] + 5 + torch.rand(200, 2) * 20
    return NmsHead(), (boxes,)
