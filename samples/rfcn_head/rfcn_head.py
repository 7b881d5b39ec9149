"""An R-FCN-style detection head (Dai et al., 2016) over one backbone feature map:

    features [N, C, H, W] -> 1x1 conv + ReLU
        -> 1x1 conv: k*k*num_classes position-sensitive class score maps
        -> 1x1 conv: k*k*4 position-sensitive box maps (class-agnostic deltas)
    ps_roi_align of both over the given RoIs [K, 5] -> [K, num_classes, k, k], [K, 4, k, k]
    average vote over the k x k bins -> class scores (softmax) [K, num_classes], deltas [K, 4]

``build()`` returns ``(model, (features, rois))`` with random weights seeded by the caller: the
trtops CLI takes it as the model spec ``rfcn_head:build`` with this folder on PYTHONPATH (see run.sh).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import ps_roi_align

#: example: 2 images of 608x800 pixels, a stride-16 feature map, 96 RoIs
BATCH, CHANNELS, STRIDE, IMAGE_SIZE, NUM_ROIS = 2, 64, 16, (608, 800), 96


class RFCNHead(nn.Module):
    """Position-sensitive score maps + PS-RoIAlign + average voting.

    Args:
        in_channels: backbone feature channels.
        num_classes: classes including background.
        k: bins per side of the position-sensitive grid.
        spatial_scale: feature map scale relative to the RoI coordinates (1/stride).
        sampling_ratio: bilinear samples per bin side (<= 0: adaptive).
    """

    def __init__(self, in_channels: int = CHANNELS, mid_channels: int = 64, num_classes: int = 9, k: int = 3,
                 spatial_scale: float = 1.0 / STRIDE, sampling_ratio: int = 2) -> None:
        super().__init__()
        self.k, self.spatial_scale, self.sampling_ratio = k, spatial_scale, sampling_ratio
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, mid_channels, 1), nn.ReLU())
        self.cls_maps = nn.Conv2d(mid_channels, k * k * num_classes, 1)
        self.box_maps = nn.Conv2d(mid_channels, k * k * 4, 1)

    def _vote(self, maps: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        pooled = ps_roi_align(maps, rois, (self.k, self.k), self.spatial_scale, self.sampling_ratio)
        return pooled.mean(dim=(2, 3))

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.reduce(features)
        scores = torch.softmax(self._vote(self.cls_maps(x), rois), dim=1)
        deltas = self._vote(self.box_maps(x), rois)
        return scores, deltas


def example_rois(num: int, batch: int, image_size: tuple[int, int]) -> torch.Tensor:
    """``[num, 5]`` RoIs (batch index, x1, y1, x2, y2) of 16..320 px, a few crossing the border."""
    height, width = image_size
    size = torch.empty(num, 2).uniform_(16, 320)
    center = torch.rand(num, 2) * torch.tensor([width, height])
    boxes = torch.cat([center - size / 2, center + size / 2], dim=1)
    index = torch.arange(num) % batch
    return torch.cat([index[:, None].float(), boxes], dim=1)


def build() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """The head (eval mode) and example inputs; torch's RNG is seeded by the caller."""
    model = RFCNHead().eval()
    model.input_names, model.output_names = ["features", "rois"], ["scores", "deltas"]
    height, width = IMAGE_SIZE[0] // STRIDE, IMAGE_SIZE[1] // STRIDE
    features = torch.randn(BATCH, CHANNELS, height, width)
    return model, (features, example_rois(NUM_ROIS, BATCH, IMAGE_SIZE))
