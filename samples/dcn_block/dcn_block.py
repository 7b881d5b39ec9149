"""A deformable ResNet bottleneck block (DCNv2, as in Deformable ConvNets v2 backbones):

    x -> 1x1 conv, BN, ReLU -> 3x3 DeformConv2d (offsets + modulation mask predicted by a 3x3
    conv), BN, ReLU -> 1x1 conv, BN -> + x -> ReLU

``build()`` returns ``(model, inputs)`` with random weights seeded by the caller: the trtops CLI
takes it as the model spec ``dcn_block:build`` with this folder on PYTHONPATH (see run.sh). Batch
norms get random running statistics so they are not identities.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import DeformConv2d

#: example input: batch, channels, height, width (small: the sample runs on 2 CPU cores)
INPUT_SHAPE = (2, 64, 40, 48)


class DeformableBottleneck(nn.Module):
    """ResNet bottleneck whose 3x3 convolution is deformable.

    Args:
        channels: input = output channels (identity residual).
        width: channels of the 3x3 stage.
        offset_groups: deformable groups; each predicts its own (dy, dx) per kernel tap.
        modulated: DCNv2 (offsets and a sigmoid mask) when True, DCNv1 (offsets only) when False.
    """

    def __init__(self, channels: int = 64, width: int = 32, offset_groups: int = 2, modulated: bool = True) -> None:
        super().__init__()
        taps = 3 * 3
        self.modulated = modulated
        self.offset_channels = 2 * taps * offset_groups
        mask_channels = taps * offset_groups if modulated else 0
        self.reduce = nn.Sequential(nn.Conv2d(channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.offset = nn.Conv2d(width, self.offset_channels + mask_channels, 3, padding=1)
        self.deform = DeformConv2d(width, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.expand = nn.Sequential(nn.Conv2d(width, channels, 1, bias=False), nn.BatchNorm2d(channels))
        # offsets of about a pixel: enough to sample between and across pixels
        nn.init.normal_(self.offset.weight, std=0.05)
        nn.init.normal_(self.offset.bias, std=0.5)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                nn.init.uniform_(module.weight, 0.5, 1.5)
                nn.init.uniform_(module.bias, -0.2, 0.2)
                assert module.running_mean.numel() == n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        predicted = self.offset(y)
        offset = predicted[:, : self.offset_channels]
        mask = torch.sigmoid(predicted[:, self.offset_channels :]) if self.modulated else None
        y = torch.relu(self.bn(self.deform(y, offset, mask)))
        return torch.relu(x + self.expand(y))


def build() -> tuple[nn.Module, tuple[torch.Tensor]]:
    """The block (eval mode) and one example input; torch's RNG is seeded by the caller."""
    model = DeformableBottleneck().eval()
    model.input_names, model.output_names = ["x"], ["y"]  # graph names (trtops.models reads them)
    with torch.no_grad():
        x = torch.randn(*INPUT_SHAPE)
    return model, (x,)
