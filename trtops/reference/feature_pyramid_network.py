"""Feature Pyramid Network with torchvision's structure, parameter names and semantics."""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from ._common import check_int

__all__ = [
    "FeaturePyramidNetwork",
    "ExtraFPNBlock",
    "LastLevelMaxPool",
    "LastLevelP6P7",
    "Conv2dNormActivation",
]


class ExtraFPNBlock(nn.Module):
    """Base class of blocks that add levels after the FPN.

    ``forward(results, x, names)`` receives the FPN outputs, the original feature maps and
    their names, and returns the extended ``(results, names)``.
    """

    def forward(
        self, results: List[Tensor], x: List[Tensor], names: List[str]
    ) -> Tuple[List[Tensor], List[str]]:
        raise NotImplementedError


class LastLevelMaxPool(ExtraFPNBlock):
    """Adds level ``'pool'``: the last output subsampled with stride 2 (``max_pool2d`` with a
    1x1 kernel), as torchvision's block of the same name."""

    def forward(
        self, results: List[Tensor], x: List[Tensor], names: List[str]
    ) -> Tuple[List[Tensor], List[str]]:
        names.append("pool")
        results.append(F.max_pool2d(results[-1], kernel_size=1, stride=2, padding=0))
        return results, names


class LastLevelP6P7(ExtraFPNBlock):
    """Adds RetinaNet's P6 (3x3 stride-2 conv of P5, or of C5 when channel counts differ) and
    P7 (3x3 stride-2 conv of ReLU(P6)), as torchvision's block of the same name."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.p6 = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, 2, 1)
        for conv in (self.p6, self.p7):
            nn.init.kaiming_uniform_(conv.weight, a=1)
            assert conv.bias is not None  # the convolutions are created with a bias
            nn.init.constant_(conv.bias, 0)
        self.use_P5 = in_channels == out_channels

    def forward(
        self, results: List[Tensor], x: List[Tensor], names: List[str]
    ) -> Tuple[List[Tensor], List[str]]:
        source = results[-1] if self.use_P5 else x[-1]
        p6 = self.p6(source)
        p7 = self.p7(F.relu(p6))
        results.extend([p6, p7])
        names.extend(["p6", "p7"])
        return results, names


class Conv2dNormActivation(nn.Sequential):
    """Conv2d, optional normalisation, optional activation: the layout (and class name, so
    module reprs and state-dict keys match) of torchvision's block of the same name, reduced to
    what the FPN uses. ``padding`` defaults to ``(kernel_size - 1) // 2 * dilation``; the conv
    has a bias only when there is no normalisation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: Optional[int] = None,
        groups: int = 1,
        norm_layer: Optional[Callable[..., nn.Module]] = nn.BatchNorm2d,
        activation_layer: Optional[Callable[..., nn.Module]] = nn.ReLU,
        dilation: int = 1,
    ) -> None:
        if padding is None:
            padding = (kernel_size - 1) // 2 * dilation
        layers: List[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation=dilation,
                groups=groups,
                bias=norm_layer is None,
            )
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer(inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels


class FeaturePyramidNetwork(nn.Module):
    """Top-down FPN (Lin et al. 2017), as ``torchvision.ops.FeaturePyramidNetwork``.

    Args:
        in_channels_list: channels of each input map, highest resolution first.
        out_channels: channels of every output map.
        extra_blocks: optional :class:`ExtraFPNBlock` appending levels.
        norm_layer: optional normalisation after each conv (convs then have no bias).

    Forward:
        ``x``: ``Dict[str, Tensor[N, C_i, H_i, W_i]]`` ordered by increasing stride. Returns an
        ``OrderedDict`` with the same keys (plus extra blocks' names) of
        ``Tensor[N, out_channels, H_i, W_i]``: ``layer_i(inner_i(x_i) + nearest_upsample(top))``.

    Parameter names (``inner_blocks.<i>.0.weight`` ...) and initialisation order match
    torchvision, so its state dicts load here (including the pre-v2 layout without the ``.0``)
    and a fixed seed gives the same initial weights.
    """

    _version = 2

    def __init__(
        self,
        in_channels_list: List[int],
        out_channels: int,
        extra_blocks: Optional[nn.Module] = None,
        norm_layer: Optional[Callable[..., nn.Module]] = None,
    ) -> None:
        super().__init__()
        out_channels = check_int("out_channels", out_channels)
        self.inner_blocks = nn.ModuleList()
        self.layer_blocks = nn.ModuleList()
        for i, in_channels in enumerate(in_channels_list):
            in_channels = check_int(f"in_channels_list[{i}]", in_channels)
            if in_channels <= 0:
                raise ValueError(
                    "in_channels_list entries must be positive, got "
                    f"in_channels_list={in_channels_list!r}"
                )
            self.inner_blocks.append(
                Conv2dNormActivation(in_channels, out_channels, kernel_size=1, padding=0,
                                     norm_layer=norm_layer, activation_layer=None)
            )
            self.layer_blocks.append(
                Conv2dNormActivation(out_channels, out_channels, kernel_size=3,
                                     norm_layer=norm_layer, activation_layer=None)
            )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, a=1)
                if module.bias is not None:
                    nn.init.constant_(module.bias, 0)
        if extra_blocks is not None and not isinstance(extra_blocks, nn.Module):
            raise TypeError(
                "extra_blocks must be an ExtraFPNBlock (an nn.Module taking (results, x, names)), "
                f"got extra_blocks={type(extra_blocks).__name__}"
            )
        self.extra_blocks = extra_blocks

    def _load_from_state_dict(
        self,
        state_dict: Dict[str, Tensor],
        prefix: str,
        local_metadata: Dict[str, object],
        strict: bool,
        missing_keys: List[str],
        unexpected_keys: List[str],
        error_msgs: List[str],
    ) -> None:
        version = local_metadata.get("version", None)
        if version is None or (isinstance(version, int) and version < 2):
            # v1 checkpoints stored the convs directly: "<block>.<i>.weight".
            for block in ("inner_blocks", "layer_blocks"):
                for i in range(len(self.inner_blocks)):
                    for kind in ("weight", "bias"):
                        old = f"{prefix}{block}.{i}.{kind}"
                        if old in state_dict:
                            state_dict[f"{prefix}{block}.{i}.0.{kind}"] = state_dict.pop(old)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def forward(self, x: Dict[str, Tensor]) -> Dict[str, Tensor]:
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of feature maps, got x={type(x).__name__}")
        if len(x) != len(self.inner_blocks):
            raise ValueError(
                f"x must hold {len(self.inner_blocks)} feature maps (one per in_channels_list "
                f"entry), got {len(x)}: {list(x.keys())}"
            )
        names = list(x.keys())
        maps = list(x.values())
        last_inner = self.inner_blocks[-1](maps[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(maps) - 2, -1, -1):
            lateral = self.inner_blocks[idx](maps[idx])
            top_down = F.interpolate(last_inner, size=lateral.shape[-2:], mode="nearest")
            last_inner = lateral + top_down
            results.insert(0, self.layer_blocks[idx](last_inner))
        if self.extra_blocks is not None:
            results, names = self.extra_blocks(results, maps, names)
        return OrderedDict(zip(names, results))
