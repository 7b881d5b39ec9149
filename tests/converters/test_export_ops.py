"""export() of each torchvision op alone, with dynamic shapes: the graph holds exactly the
expected trtops node with the op's arguments as attributes, and evaluate() of the graph equals
PyTorch (torchvision) on inputs of another size than the export example."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
torchvision = pytest.importorskip("torchvision")

from torch.export import Dim  # noqa: E402

import trtops.ops as ops  # noqa: E402
from trtops.converters import evaluate, export  # noqa: E402

try:
    from tests.tolerances import host_vs_torchvision, tolerance
except ImportError:  # pytest run from inside tests/
    from tolerances import host_vs_torchvision, tolerance


def _rois(generator: torch.Generator, k: int, batch: int, size: float) -> torch.Tensor:
    xy = torch.rand(k, 2, generator=generator) * size * 0.7
    wh = torch.rand(k, 2, generator=generator) * size * 0.5 + 1.0
    index = torch.randint(0, batch, (k, 1), generator=generator).float()
    return torch.cat([index, xy, xy + wh], dim=1)


def _boxes(generator: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    xy = torch.rand(n, 2, generator=generator) * 50
    boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=generator) * 20 + 1], dim=1)
    return boxes, torch.rand(n, generator=generator)


class _Op(torch.nn.Module):
    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> Any:
        return self.fn(*args)


@dataclasses.dataclass
class Case:
    op: str  # trtops node expected
    fn: Callable[..., Any]
    make: Callable[[torch.Generator, int], tuple]  # (generator, variant) -> inputs
    dynamic: tuple
    attributes: dict
    tol: Optional[dict] = None  # evaluate() vs PyTorch, where not the op type's (below)


_B, _K, _N, _H, _W = Dim("batch"), Dim("rois"), Dim("boxes"), Dim("height", min=8), Dim("width", min=8)
_FEATURE = {0: _B, 2: _H, 3: _W}


def _roi_inputs(channels: int) -> Callable[[torch.Generator, int], tuple]:
    def make(g: torch.Generator, variant: int) -> tuple:
        batch, k, h, w = (2, 6, 20, 24) if variant == 0 else (3, 11, 17, 31)
        return torch.randn(batch, channels, h, w, generator=g), _rois(g, k, batch, 2 * min(h, w))

    return make


def _nms_inputs(g: torch.Generator, variant: int) -> tuple:
    return _boxes(g, 40 if variant == 0 else 73)


def _batched_nms_inputs(g: torch.Generator, variant: int) -> tuple:
    boxes, scores = _boxes(g, 40 if variant == 0 else 73)
    return boxes, scores, torch.randint(0, 3, (boxes.shape[0],), generator=g)


def _deform_inputs(mask: bool) -> Callable[[torch.Generator, int], tuple]:
    def make(g: torch.Generator, variant: int) -> tuple:
        batch, h, w = (1, 9, 10) if variant == 0 else (2, 12, 7)
        x = torch.randn(batch, 4, h, w, generator=g)
        offset = torch.randn(batch, 2 * 2 * 9, h, w, generator=g)  # 2 offset groups, 3x3
        weight = torch.randn(6, 2, 3, 3, generator=g) / 6  # groups = 2
        bias = torch.randn(6, generator=g)
        if mask:
            return x, offset, weight, bias, torch.rand(batch, 2 * 9, h, w, generator=g)
        return x, offset, weight, bias

    return make


CASES = {
    "roi_align": Case(
        "RoIAlign",
        lambda x, r: torchvision.ops.roi_align(x, r, (5, 4), 0.5, 2, False),
        _roi_inputs(3),
        (_FEATURE, {0: _K}),
        {"output_height": 5, "output_width": 4, "spatial_scale": 0.5, "sampling_ratio": 2, "aligned": 0},
    ),
    "roi_align_aligned_adaptive": Case(
        "RoIAlign",
        lambda x, r: torchvision.ops.roi_align(x, r, 3, 0.25, -1, True),
        _roi_inputs(2),
        (_FEATURE, {0: _K}),
        {"output_height": 3, "output_width": 3, "spatial_scale": 0.25, "sampling_ratio": -1, "aligned": 1},
    ),
    "ps_roi_align": Case(
        "PSRoIAlign",
        lambda x, r: torchvision.ops.ps_roi_align(x, r, (2, 3), 0.5, 2),
        _roi_inputs(12),
        (_FEATURE, {0: _K}),
        {"output_height": 2, "output_width": 3, "spatial_scale": 0.5, "sampling_ratio": 2},
    ),
    "roi_pool": Case(
        "RoIPool",
        lambda x, r: torchvision.ops.roi_pool(x, r, (4, 3), 0.5),
        _roi_inputs(3),
        (_FEATURE, {0: _K}),
        {"output_height": 4, "output_width": 3, "spatial_scale": 0.5},
    ),
    "ps_roi_pool": Case(
        "PSRoIPool",
        lambda x, r: torchvision.ops.ps_roi_pool(x, r, 2, 0.5),
        _roi_inputs(8),
        (_FEATURE, {0: _K}),
        {"output_height": 2, "output_width": 2, "spatial_scale": 0.5},
    ),
    "nms": Case(
        "NMS",
        lambda b, s: torchvision.ops.nms(b, s, 0.4),
        _nms_inputs,
        ({0: _N}, {0: _N}),
        {"iou_threshold": pytest.approx(0.4), "max_output_boxes": -1, "padded": 0, "index_int32": 0},
    ),
    "batched_nms": Case(
        "BatchedNMS",
        lambda b, s, i: torchvision.ops.batched_nms(b, s, i, 0.4),
        _batched_nms_inputs,
        ({0: _N}, {0: _N}, {0: _N}),
        {"iou_threshold": pytest.approx(0.4), "max_output_boxes": -1, "padded": 0},
    ),
    "deform_conv2d": Case(
        "DeformConv2d",
        lambda x, o, w, b: torchvision.ops.deform_conv2d(x, o, w, b, padding=1),
        _deform_inputs(False),
        (_FEATURE, _FEATURE, None, None),
        {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 2, "offset_groups": 2,
         "has_bias": 1, "has_mask": 0, "allow_tf32": 0},
    ),
    "deform_conv2d_v2": Case(
        "DeformConv2d",
        lambda x, o, w, b, m: torchvision.ops.deform_conv2d(x, o, w, b, padding=1, mask=m),
        _deform_inputs(True),
        (_FEATURE, _FEATURE, None, None, _FEATURE),
        {"has_bias": 1, "has_mask": 1, "offset_groups": 2},
    ),
}


def _levels_inputs(g: torch.Generator, variant: int) -> tuple:
    # Static levels (two maps of one image); the RoI count varies.
    levels = (torch.randn(1, 3, 16, 20, generator=g), torch.randn(1, 3, 8, 10, generator=g))
    return (*levels, _rois(g, 5 if variant == 0 else 9, 1, 32.0) * torch.tensor([0.0, 1, 1, 1, 1]))


# trtops.ops in a model (their trtops_kernels:: custom ops) export to the same nodes. Running the
# model in PyTorch needs the kernels library (its host implementation): the kernels tier.
KERNEL_CASES = {
    "trtops.roi_align": Case(
        "RoIAlign",
        lambda x, r: ops.roi_align(x, r, (5, 4), 0.5, 2, True),
        _roi_inputs(3),
        (_FEATURE, {0: _K}),
        {"output_height": 5, "output_width": 4, "spatial_scale": 0.5, "sampling_ratio": 2, "aligned": 1},
    ),
    "trtops.ps_roi_align": Case(
        "PSRoIAlign",
        lambda x, r: ops.ps_roi_align(x, r, (2, 3), 0.5, -1),
        _roi_inputs(12),
        (_FEATURE, {0: _K}),
        {"output_height": 2, "output_width": 3, "spatial_scale": 0.5, "sampling_ratio": -1},
        # the host implementation sums an adaptive bin in another order than torchvision
        tol=host_vs_torchvision("ps_roi_align", torch.float32, -1),
    ),
    "trtops.roi_pool": Case(
        "RoIPool",
        lambda x, r: ops.roi_pool(x, r, (4, 3), 0.5),
        _roi_inputs(3),
        (_FEATURE, {0: _K}),
        {"output_height": 4, "output_width": 3, "spatial_scale": 0.5},
    ),
    "trtops.ps_roi_pool": Case(
        "PSRoIPool",
        lambda x, r: ops.ps_roi_pool(x, r, 2, 0.5),
        _roi_inputs(8),
        (_FEATURE, {0: _K}),
        {"output_height": 2, "output_width": 2, "spatial_scale": 0.5},
    ),
    "trtops.multi_scale_roi_align": Case(
        "MultiScaleRoIAlign",
        lambda a, b, r: ops.multi_scale_roi_align([a, b], r, 3, [0.5, 0.25], 2, canonical_scale=16, canonical_level=2),
        _levels_inputs,
        (None, None, {0: _K}),
        {"output_height": 3, "output_width": 3, "sampling_ratio": 2, "spatial_scales": [0.5, 0.25],
         "canonical_scale": 16, "canonical_level": 2, "aligned": 0, "level_mapper": 0},
    ),
    "trtops.multi_scale_roi_align_mmdet": Case(
        "MultiScaleRoIAlign",
        lambda a, b, r: ops.multi_scale_roi_align(
            [a, b], r, 3, [1 / 3, 1 / 6], 0, True, level_mapper="mmdet", finest_scale=8
        ),
        _levels_inputs,
        (None, None, {0: _K}),
        {"output_height": 3, "output_width": 3, "sampling_ratio": 0, "spatial_scales": pytest.approx([1 / 3, 1 / 6]),
         "aligned": 1, "level_mapper": 1, "finest_scale": 8},
        # adaptive grids: the host kernel sums a bin by rows of columns, the reference sample by sample
        tol=host_vs_torchvision("multi_scale_roi_align", torch.float32, 0),
    ),
    "trtops.nms": Case(
        "NMS",
        lambda b, s: ops.nms(b, s, 0.4),
        _nms_inputs,
        ({0: _N}, {0: _N}),
        {"iou_threshold": pytest.approx(0.4), "max_output_boxes": -1, "padded": 0, "index_int32": 0},
    ),
    "trtops.batched_nms_padded_int32": Case(
        "BatchedNMS",
        lambda b, s, i: ops.batched_nms(
            b, s, i, 0.4, score_threshold=0.25, max_output_boxes=20, padded=True, index_dtype=torch.int32
        )[0],
        _batched_nms_inputs,
        ({0: _N}, {0: _N}, {0: _N}),
        {"iou_threshold": pytest.approx(0.4), "score_threshold": pytest.approx(0.25), "max_output_boxes": 20,
         "padded": 1, "index_int32": 1},
    ),
    "trtops.deform_conv2d_v2": Case(
        "DeformConv2d",
        lambda x, o, w, b, m: ops.deform_conv2d(x, o, w, b, padding=1, mask=m),
        _deform_inputs(True),
        (_FEATURE, _FEATURE, None, None, _FEATURE),
        {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 2, "offset_groups": 2,
         "has_bias": 1, "has_mask": 1, "allow_tf32": 0},
    ),
    "trtops.deform_conv2d_v1_no_bias": Case(
        "DeformConv2d",
        lambda x, o, w, b: ops.deform_conv2d(x, o, w, None, padding=1),
        _deform_inputs(False),
        (_FEATURE, _FEATURE, None, None),
        {"groups": 2, "offset_groups": 2, "has_bias": 0, "has_mask": 0},
    ),
}


def _params() -> list[Any]:
    """Every case; those running trtops.ops need the kernels library."""
    return [pytest.param(name) for name in sorted(CASES)] + [
        pytest.param(name, marks=pytest.mark.kernels) for name in sorted(KERNEL_CASES)
    ]


def _case(name: str) -> Case:
    return CASES[name] if name in CASES else KERNEL_CASES[name]


def _trtops_nodes(model: Any) -> list[Any]:
    return [n for n in model.graph.node if n.domain == "trtops"]


@pytest.fixture(scope="module")
def exported() -> dict[str, Any]:
    return {}


def _export(name: str, exported: dict[str, Any]) -> Any:
    if name not in exported:
        case = _case(name)
        args = case.make(torch.Generator().manual_seed(0), 0)
        # forward(*args): torch.export wants the per-input specs nested in one tuple
        exported[name] = export(_Op(case.fn), args, dynamic_shapes=(case.dynamic,), exporter="dynamo")
    return exported[name]


@pytest.mark.parametrize("name", _params())
def test_export_emits_one_trtops_node(name: str, exported: dict[str, Any]) -> None:
    from onnx import helper

    model = _export(name, exported)
    case = _case(name)
    nodes = _trtops_nodes(model)
    assert [n.op_type for n in nodes] == [case.op]
    assert not [n for n in model.graph.node if "torchvision" in n.domain or n.domain.startswith("pkg.")]
    attrs = {a.name: helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attrs.pop("plugin_namespace") == b"trtops" and attrs.pop("plugin_version") == b"1"
    for key, value in case.attributes.items():
        assert attrs[key] == value, key
    assert {p.key: p.value for p in model.metadata_props}["trtops.exporter"] == "dynamo"


def _tolerance(case: Any) -> dict[str, float]:
    """How close an evaluated export must be to PyTorch: the case's own, else by node (the
    reference sums a PS-RoIPool bin in another order than torchvision, its kernel row)."""
    return case.tol or {
        "DeformConv2d": tolerance("converters.deform_conv2d", torch.float32),
        "PSRoIPool": tolerance("ps_roi_pool", torch.float32),
    }.get(case.op, {"atol": 0.0, "rtol": 0.0})


@pytest.mark.parametrize("name", _params())
def test_evaluate_matches_pytorch_on_other_shapes(name: str, exported: dict[str, Any]) -> None:
    model = _export(name, exported)
    case = _case(name)
    args = case.make(torch.Generator().manual_seed(1), 1)
    expected = case.fn(*args)
    (got,) = evaluate(model, args).values()
    got = torch.from_numpy(got)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    torch.testing.assert_close(got, expected, **_tolerance(case))


class _TrtopsOpsHead(torch.nn.Module):
    """A small detector head written with trtops.ops: DCN features, padded NMS, then RoIAlign,
    PS-RoIPool and MultiScaleRoIAlign over the kept boxes."""

    def __init__(self) -> None:
        super().__init__()
        self.dcn = ops.DeformConv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, boxes: torch.Tensor,
                scores: torch.Tensor) -> tuple[torch.Tensor, ...]:
        keep, count = ops.nms(boxes, scores, 0.5, max_output_boxes=6, padded=True)
        kept = boxes[keep.clamp(min=0)]
        rois = torch.cat([torch.zeros_like(kept[:, :1]), kept], dim=1)
        y = self.dcn(x, offset, mask)
        small = torch.nn.functional.avg_pool2d(y, 2)
        return (
            ops.roi_align(y, rois, 3, 0.5, 2, True),
            ops.ps_roi_pool(y, rois, 2, 0.5),
            ops.multi_scale_roi_align([y, small], rois, 2, [0.5, 0.25], 2, canonical_scale=16, canonical_level=2),
            count,
        )


def _head_inputs(g: torch.Generator) -> tuple[torch.Tensor, ...]:
    xy = torch.rand(30, 2, generator=g) * 24
    boxes = torch.cat([xy, xy + torch.rand(30, 2, generator=g) * 8 + 1], dim=1)
    return (torch.randn(1, 8, 16, 16, generator=g), torch.randn(1, 18, 16, 16, generator=g),
            torch.rand(1, 9, 16, 16, generator=g), boxes, torch.rand(30, generator=g))


@pytest.mark.trt_build
def test_a_model_written_with_trtops_ops_builds_with_tensorrt_rtx(build_onnx) -> None:
    # Exporting traces the trtops_kernels:: ops' fake kernels: no kernel runs.
    proto = export(_TrtopsOpsHead().eval(), _head_inputs(torch.Generator().manual_seed(0)), exporter="dynamo")
    assert sorted(n.op_type for n in _trtops_nodes(proto)) == [
        "DeformConv2d", "MultiScaleRoIAlign", "NMS", "PSRoIPool", "RoIAlign"]
    result = build_onnx(proto)
    assert result.ok, result.error_text()
    assert result.plugin_layers == 5
    assert [shape for _, shape in result.outputs.values()] == [[6, 8, 3, 3], [6, 2, 2, 2], [6, 8, 2, 2], []]


@pytest.mark.kernels
def test_a_model_written_with_trtops_ops_evaluates_as_in_pytorch() -> None:
    model = _TrtopsOpsHead().eval()
    proto = export(model, _head_inputs(torch.Generator().manual_seed(0)), exporter="dynamo")
    args = _head_inputs(torch.Generator().manual_seed(1))
    expected = model(*args)
    got = list(evaluate(proto, args).values())
    assert len(got) == len(expected)
    tols = [tolerance("roi_align", torch.float32), tolerance("ps_roi_pool", torch.float32),
            tolerance("multi_scale_roi_align", torch.float32), {"atol": 0.0, "rtol": 0.0}]
    # DCN: the reference and the host implementation accumulate in other orders
    dcn = tolerance("converters.deform_conv2d", torch.float32)
    for value, want, tol in zip(got, expected, tols):
        merged = {k: max(tol[k], dcn[k]) for k in tol}
        torch.testing.assert_close(torch.from_numpy(value), want, **merged)


@pytest.mark.kernels
# The exporter traces sizes as tensors; the ops' argument checks must not warn about them.
@pytest.mark.filterwarnings("error::torch.jit.TracerWarning")
@pytest.mark.parametrize("name", sorted(KERNEL_CASES))
def test_trtops_ops_through_the_torchscript_exporter(name: str) -> None:
    # The fallback path ("auto" when torch.export fails): the JIT trace holds the trtops_kernels::
    # op, whose symbolic function emits the same node with the same fields.
    from onnx import helper

    case = KERNEL_CASES[name]
    args = case.make(torch.Generator().manual_seed(0), 0)
    model = export(_Op(case.fn), args, dynamic_shapes=case.dynamic, exporter="torchscript")  # one dict per input
    assert {p.key: p.value for p in model.metadata_props}["trtops.exporter"] == "torchscript+rewrite"
    nodes = _trtops_nodes(model)
    assert [n.op_type for n in nodes] == [case.op]
    attrs = {a.name: helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attrs.pop("plugin_namespace") == b"trtops" and attrs.pop("plugin_version") == b"1"
    for key, value in case.attributes.items():
        assert attrs[key] == value, key
    other = case.make(torch.Generator().manual_seed(1), 1)
    expected = case.fn(*other)
    # By name: the TorchScript exporter drops inputs the graph does not read (an unused bias)
    (got,) = evaluate(model, {f"input_{i}": a for i, a in enumerate(other)}).values()
    got = torch.from_numpy(got)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    torch.testing.assert_close(got, expected, **_tolerance(case))
