"""A ResNet bottleneck whose 3x3 convolution is a modulated DeformConv2d (DCNv2, offsets and
mask from a plain convolution): export with a dynamic batch and image size -> evaluate()
matches PyTorch; TensorRT-RTX builds it with the DeformConv2d plugin."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torchvision = pytest.importorskip("torchvision")

from torch.export import Dim  # noqa: E402

from trtops.converters import evaluate, export  # noqa: E402

try:
    from tests.tolerances import tolerance
except ImportError:  # pytest run from inside tests/
    from tolerances import tolerance


class DeformableBottleneck(nn.Module):
    """1x1 reduce -> 3x3 DCNv2 -> 1x1 expand, batch norm, residual."""

    def __init__(self, channels: int = 32, width: int = 16) -> None:
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.offset = nn.Conv2d(width, 3 * 9, 3, padding=1)
        self.deform = torchvision.ops.DeformConv2d(width, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.expand = nn.Sequential(nn.Conv2d(width, channels, 1, bias=False), nn.BatchNorm2d(channels))
        nn.init.normal_(self.offset.weight, std=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        offset_mask = self.offset(y)
        offset, mask = offset_mask[:, :18], torch.sigmoid(offset_mask[:, 18:])
        y = torch.relu(self.bn(self.deform(y, offset, mask)))
        return torch.relu(x + self.expand(y))


def _block() -> tuple[nn.Module, object]:
    torch.manual_seed(0)
    block = DeformableBottleneck().eval()
    x = torch.randn(1, 32, 24, 20)
    dims = {0: Dim("batch", max=8), 2: Dim("height", min=8, max=128), 3: Dim("width", min=8, max=128)}
    return block, export(block, (x,), input_names=["x"], dynamic_shapes=(dims,))


_CACHE: dict = {}


def _exported() -> tuple[nn.Module, object]:
    if "block" not in _CACHE:
        _CACHE["block"] = _block()
    return _CACHE["block"]


def test_dcn_block_exports_one_deform_conv_node() -> None:
    _, proto = _exported()
    trtops = [n for n in proto.graph.node if n.domain == "trtops"]
    assert [n.op_type for n in trtops] == ["DeformConv2d"]
    attrs = {a.name: a for a in trtops[0].attribute}
    assert attrs["has_mask"].i == 1 and attrs["has_bias"].i == 1 and list(attrs["padding"].ints) == [1, 1]


@pytest.mark.parametrize("shape", [(1, 32, 24, 20), (2, 32, 17, 31)])
def test_dcn_block_evaluate_matches_pytorch(shape: tuple) -> None:
    block, proto = _exported()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = block(x)
    (got,) = evaluate(proto, [x]).values()
    torch.testing.assert_close(torch.from_numpy(got), expected, **tolerance("converters.dcn_block", torch.float32))


@pytest.mark.trt_build
def test_dcn_block_builds_with_tensorrt_rtx() -> None:
    from trtops.testing import build_onnx_isolated

    _, proto = _exported()
    profile = {"x": ((1, 32, 8, 8), (1, 32, 24, 20), (4, 32, 64, 64))}
    result = build_onnx_isolated(proto, [profile])
    assert result.ok, result.error_text()
    assert result.plugin_layers == 1
    assert result.outputs[proto.graph.output[0].name] == ("FLOAT", [-1, 32, -1, -1])
