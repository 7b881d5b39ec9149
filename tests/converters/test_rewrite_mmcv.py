"""rewrite() on mmcv's / mmdeploy's custom ops: MMCVRoiAlign, MMCVModulatedDeformConv2d,
MMCVDeformConv2d and MMCVMultiLevelRoiAlign nodes, written as mmcv's and mmdeploy's ONNX symbolics
write them (domains, input order, attribute names and forms), become trtops nodes whose graph
computes torchvision's op (or mmdet's SingleRoIExtractor) on the same inputs. mmcv and mmdet are
not installed here: the expected values are torchvision's, whose CUDA kernels mmcv's compute
(same sampling, borders and offset layout), and a transcription of mmdet's extractor."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torchvision

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402

from trtops.converters import evaluate, rewrite  # noqa: E402

try:
    from tests.mmdet_extractor import boxes_at_level_boundaries, map_roi_levels, single_roi_extractor
except ImportError:  # tests/ itself on sys.path
    from mmdet_extractor import boxes_at_level_boundaries, map_roi_levels, single_roi_extractor


def _model(node: Any, inputs: dict[str, tuple[int, ...]], output: tuple[int, ...], domain: str) -> Any:
    graph = helper.make_graph(
        [node], "mmcv_op",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)) for name, shape in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output))],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)])


def _trtops_nodes(model: Any) -> list[Any]:
    return [n for n in model.graph.node if n.domain == "trtops"]


def _features(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _rois(k: int, batch: int, size: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    xy = torch.rand(k, 2, generator=generator) * size
    wh = torch.rand(k, 2, generator=generator) * size / 2
    index = torch.randint(0, batch, (k, 1), generator=generator).float()
    return torch.cat([index, xy, xy + wh], 1)


@pytest.mark.parametrize("domain", ["mmcv", "mmdeploy"])
@pytest.mark.parametrize("aligned", [0, 1])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_roi_align(domain: str, aligned: int, sampling_ratio: int) -> None:
    node = helper.make_node("MMCVRoiAlign", ["x", "rois"], ["y"], domain=domain, output_height=7, output_width=5,
                            spatial_scale=0.25, sampling_ratio=sampling_ratio, mode="avg", aligned=aligned)
    model = _model(node, {"x": (2, 8, 24, 30), "rois": (12, 5)}, (12, 8, 7, 5), domain)
    result = rewrite(model)
    assert result.replaced == ["MMCVRoiAlign (unnamed) -> RoIAlign"] and not result.left_alone
    [trtops_node] = _trtops_nodes(result.model)
    fields = {a.name: helper.get_attribute_value(a) for a in trtops_node.attribute}
    assert fields["aligned"] == aligned and fields["sampling_ratio"] == sampling_ratio
    x, rois = _features((2, 8, 24, 30), seed=1), _rois(12, 2, 100.0, seed=2)
    got = evaluate(result.model, {"x": x.numpy(), "rois": rois.numpy()})["y"]
    expected = torchvision.ops.roi_align(x, rois, (7, 5), 0.25, sampling_ratio, bool(aligned))
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_roi_align_max_mode_is_left_alone() -> None:
    node = helper.make_node("MMCVRoiAlign", ["x", "rois"], ["y"], domain="mmcv", output_height=7, output_width=7,
                            spatial_scale=1.0, sampling_ratio=2, mode="max", aligned=1)
    result = rewrite(_model(node, {"x": (1, 4, 16, 16), "rois": (3, 5)}, (3, 4, 7, 7), "mmcv"))
    assert not result.replaced
    assert result.left_alone == ["MMCVRoiAlign (unnamed): mode='max': the max over a bin's bilinear samples has no "
                                 "trtops counterpart"]


_DCN_CASES = [
    # (in, out, kernel, stride, padding, dilation, groups, deform_groups, height, width)
    (4, 6, 3, 1, 1, 1, 1, 1, 9, 11),
    (4, 8, 3, 2, 2, 2, 2, 2, 13, 10),
    (6, 4, 1, 1, 0, 1, 1, 3, 7, 5),
    (2, 3, 5, 1, 2, 1, 1, 1, 8, 8),
]


def _dcn_inputs(c_in: int, c_out: int, k: int, stride: int, padding: int, dilation: int, groups: int,
                deform_groups: int, h: int, w: int, seed: int) -> dict[str, torch.Tensor]:
    out_h = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    out_w = (w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    return {
        "x": _features((2, c_in, h, w), seed),
        # offsets of a few pixels, so that samples land between pixels and outside the map
        "offset": _features((2, 2 * deform_groups * k * k, out_h, out_w), seed + 1) * 3,
        "mask": torch.rand(2, deform_groups * k * k, out_h, out_w, generator=torch.Generator().manual_seed(seed + 2)),
        "weight": _features((c_out, c_in // groups, k, k), seed + 3),
        "bias": _features((c_out,), seed + 4),
    }


@pytest.mark.parametrize("domain", ["mmcv", "mmdeploy"])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("case", _DCN_CASES, ids=lambda c: "x".join(map(str, c)))
def test_modulated_deform_conv(domain: str, with_bias: bool, case: tuple) -> None:
    c_in, c_out, k, stride, padding, dilation, groups, deform_groups, h, w = case
    t = _dcn_inputs(*case, seed=10)
    names = ["x", "offset", "mask", "weight"] + (["bias"] if with_bias else [])
    node = helper.make_node("MMCVModulatedDeformConv2d", names, ["y"], domain=domain, stride=[stride, stride],
                            padding=[padding, padding], dilation=[dilation, dilation], groups=groups,
                            deform_groups=deform_groups)
    expected = torchvision.ops.deform_conv2d(t["x"], t["offset"], t["weight"], t["bias"] if with_bias else None,
                                             stride, padding, dilation, t["mask"])
    model = _model(node, {n: tuple(t[n].shape) for n in names}, tuple(expected.shape), domain)
    result = rewrite(model)
    assert result.replaced == ["MMCVModulatedDeformConv2d (unnamed) -> DeformConv2d"]
    [trtops_node] = _trtops_nodes(result.model)
    # torchvision's input order: input, offset, weight, [bias], mask
    assert list(trtops_node.input) == ["x", "offset", "weight"] + (["bias"] if with_bias else []) + ["mask"]
    got = evaluate(result.model, {n: t[n].numpy() for n in names})["y"]
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding_attr", [[2, 1], [2, 2, 1, 1], 1])
def test_deform_conv_v1(padding_attr: Any) -> None:
    """mmcv writes padding as a pair, mmdeploy as [top, top, left, left]; an int means both."""
    padding = (2, 1) if isinstance(padding_attr, list) else (1, 1)
    t = _dcn_inputs(4, 6, 3, 1, 0, 1, 1, 2, 10, 9, seed=20)
    out_h, out_w = 10 + 2 * padding[0] - 2, 9 + 2 * padding[1] - 2
    t["offset"] = _features((2, 2 * 2 * 9, out_h, out_w), 21) * 3
    node = helper.make_node("MMCVDeformConv2d", ["x", "offset", "weight"], ["y"], domain="mmdeploy", stride=[1, 1],
                            padding=padding_attr, dilation=[1, 1], groups=1, deform_groups=2)
    expected = torchvision.ops.deform_conv2d(t["x"], t["offset"], t["weight"], padding=padding)
    model = _model(node, {n: tuple(t[n].shape) for n in ("x", "offset", "weight")}, tuple(expected.shape), "mmdeploy")
    result = rewrite(model)
    assert result.replaced == ["MMCVDeformConv2d (unnamed) -> DeformConv2d"]
    got = evaluate(result.model, {n: t[n].numpy() for n in ("x", "offset", "weight")})["y"]
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("op", "inputs", "attrs", "reason"), [
    ("MMCVDeformConv2d", ["x", "offset", "weight"], {"padding": [1, 2, 1, 2]},
     "padding=[1, 2, 1, 2]: expected one value or a pair"),
    ("MMCVDeformConv2d", ["x", "offset", "weight"], {"bias": 1}, "bias=1: mmcv's DeformConv2d takes no bias input"),
    ("MMCVModulatedDeformConv2d", ["x", "offset", "weight"], {},
     "3 inputs: expected input, offset, mask, weight[, bias]"),
])
def test_unmappable_nodes_are_left_alone(op: str, inputs: list, attrs: dict, reason: str) -> None:
    node = helper.make_node(op, inputs, ["y"], domain="mmdeploy", **attrs)
    result = rewrite(_model(node, {n: (1, 1, 4, 4) for n in inputs}, (1, 1, 4, 4), "mmdeploy"))
    assert not result.replaced
    assert result.left_alone == [f"{op} (unnamed): {reason}"]


def test_other_domains_are_not_touched_but_reported() -> None:
    node = helper.make_node("MMCVRoiAlign", ["x", "rois"], ["y"], domain="custom", output_height=2, output_width=2)
    result = rewrite(_model(node, {"x": (1, 4, 8, 8), "rois": (2, 5)}, (2, 4, 2, 2), "custom"))
    assert not result.replaced and not result.left_alone
    assert result.other_custom_ops == ["MMCVRoiAlign (unnamed) (domain custom)"]


def test_only_nodes_of_unknown_custom_ops_are_reported() -> None:
    """Standard nodes, trtops nodes (an already rewritten graph) and mapped nodes are not listed;
    mmdeploy's TRTBatchedNMS, inside an If branch too, is."""
    nms = helper.make_node("TRTBatchedNMS", ["boxes", "scores"], ["dets"], domain="mmdeploy", name="nms")
    inner = helper.make_node("TRTBatchedNMS", ["boxes", "scores"], ["inner_dets"], domain="mmdeploy", name="inner")
    branch = helper.make_graph([inner], "branch", [], [helper.make_tensor_value_info("inner_dets", TensorProto.FLOAT,
                                                                                      None)])
    cond = helper.make_node("If", ["flag"], ["picked"], then_branch=branch, else_branch=branch)
    relu = helper.make_node("Relu", ["boxes"], ["relu"])
    roi = helper.make_node("MMCVRoiAlign", ["x", "rois"], ["pooled"], domain="mmcv", output_height=2, output_width=2)
    graph = helper.make_graph(
        [nms, cond, relu, roi], "g",
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 10, 1, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 10, 3]),
         helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8]),
         helper.make_tensor_value_info("rois", TensorProto.FLOAT, [2, 5])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("dets", "picked", "relu", "pooled")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("mmcv", 1),
                                                   helper.make_opsetid("mmdeploy", 1)])
    result = rewrite(model)
    assert result.replaced == ["MMCVRoiAlign (unnamed) -> RoIAlign"]
    assert sorted(result.other_custom_ops) == ["TRTBatchedNMS inner (domain mmdeploy)",
                                               "TRTBatchedNMS inner (domain mmdeploy)",
                                               "TRTBatchedNMS nms (domain mmdeploy)"]
    # rewriting the result again: its trtops RoIAlign node is not reported
    assert sorted(rewrite(result.model).other_custom_ops) == sorted(result.other_custom_ops)


def _multi_level_node(domain: str, levels: int, **attrs: Any) -> Any:
    """MMCVMultiLevelRoiAlign as mmdeploy's symbolic writes it: rois first, then the levels."""
    return helper.make_node("MMCVMultiLevelRoiAlign", ["rois"] + [f"p{i}" for i in range(levels)], ["y"],
                            domain=domain, **attrs)


def _pyramid_rois(k: int, batch: int, image: int, seed: int) -> torch.Tensor:
    """Rows whose boxes span every level of mmdet's mapper (sqrt(area) from 8 to ~1000)."""
    generator = torch.Generator().manual_seed(seed)
    side = torch.exp(torch.empty(k, 2).uniform_(np.log(8), np.log(1000), generator=generator))
    xy = torch.rand(k, 2, generator=generator) * image
    index = torch.randint(0, batch, (k, 1), generator=generator).float()
    return torch.cat([index, xy, xy + side], 1)


_MULTI_LEVEL_CASES = [
    # (domain, strides, finest_scale, sampling_ratio, aligned, extra attributes)
    ("mmdeploy", [4.0, 8.0, 16.0, 32.0], 56, 0, 1, {"pool_mode": 1, "roi_scale_factor": 1.0}),
    ("mmdeploy", [4.0, 8.0, 16.0, 32.0], 56, 2, 0, {"pool_mode": 1, "roi_scale_factor": -1.0}),
    ("mmdeploy", [8.0, 16.0, 32.0], 32, 0, 1, {"pool_mode": 1}),
    ("mmdeploy", [6.0, 12.0, 24.0], 56, 2, 1, {"pool_mode": 1, "roi_scale_factor": 1.0}),
    # mmdeploy's first symbolic: domain mmlab, no pool_mode (its plugin only averaged)
    ("mmlab", [4.0, 8.0, 16.0, 32.0], 56, 0, 1, {"roi_scale_factor": 1.0}),
    ("mmdeploy", [16.0], 56, 0, 1, {"pool_mode": 1}),
]


@pytest.mark.parametrize("case", _MULTI_LEVEL_CASES, ids=lambda c: f"{c[0]}-{len(c[1])}levels-s{c[1][0]:g}-f{c[2]}-"
                                                                   f"sr{c[3]}-a{c[4]}")
def test_multi_level_roi_align(case: tuple) -> None:
    domain, strides, finest_scale, sampling_ratio, aligned, extra = case
    image, batch, k = 320, 2, 60
    features = [_features((batch, 6, -(-image // int(s)), -(-image // int(s))), seed=40 + i)
                for i, s in enumerate(strides)]
    # random boxes over every level, and boxes where torchvision's mapper would pick another level
    rois = torch.cat([_pyramid_rois(k, batch, image, seed=50), boxes_at_level_boundaries(finest_scale)])
    k = len(rois)
    node = _multi_level_node(domain, len(strides), output_height=7, output_width=7, sampling_ratio=sampling_ratio,
                             featmap_strides=strides, finest_scale=finest_scale, aligned=aligned, **extra)
    inputs = {"rois": rois, **{f"p{i}": f for i, f in enumerate(features)}}
    model = _model(node, {n: tuple(t.shape) for n, t in inputs.items()}, (k, 6, 7, 7), domain)
    result = rewrite(model)
    assert result.replaced == ["MMCVMultiLevelRoiAlign (unnamed) -> MultiScaleRoIAlign"] and not result.left_alone
    [trtops_node] = _trtops_nodes(result.model)
    assert list(trtops_node.input) == [f"p{i}" for i in range(len(strides))] + ["rois"]
    fields = {a.name: helper.get_attribute_value(a) for a in trtops_node.attribute}
    assert fields["level_mapper"] == 1 and fields["finest_scale"] == finest_scale
    if len(strides) > 1:  # the rows exercise every level
        assert set(map_roi_levels(rois, len(strides), finest_scale).tolist()) == set(range(len(strides)))
    got = evaluate(result.model, {n: t.numpy() for n, t in inputs.items()})["y"]
    expected = single_roi_extractor(features, rois, (7, 7), strides, sampling_ratio, bool(aligned), finest_scale)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("attrs", "levels", "reason"), [
    ({"pool_mode": 0}, 4, "pool_mode=0 (max): the max over a bin's bilinear samples has no trtops counterpart"),
    ({"pool_mode": 1, "roi_scale_factor": 1.5}, 4,
     "roi_scale_factor=1.5: rescaling each RoI about its centre is not mapped (mmdeploy's kernel and mmdet's "
     "roi_rescale disagree on the box width)"),
    ({"pool_mode": 1, "featmap_strides": [4.0, 8.0]}, 4,
     "featmap_strides=[4.0, 8.0]: expected one stride per feature level (4)"),
    ({"pool_mode": 1, "featmap_strides": [4.0, 0.0, 16.0, 32.0]}, 4,
     "featmap_strides=[4.0, 0.0, 16.0, 32.0]: strides must be positive"),
    ({"pool_mode": 1, "featmap_strides": [4.0] * 9}, 9, "9 feature levels: trtops MultiScaleRoIAlign takes 1 to 8"),
])
def test_unmappable_multi_level_roi_align_is_left_alone(attrs: dict, levels: int, reason: str) -> None:
    attrs = {"featmap_strides": [4.0, 8.0, 16.0, 32.0], **attrs}
    node = _multi_level_node("mmdeploy", levels, output_height=7, output_width=7, **attrs)
    shapes = {"rois": (3, 5), **{f"p{i}": (1, 4, 8, 8) for i in range(levels)}}
    result = rewrite(_model(node, shapes, (3, 4, 7, 7), "mmdeploy"))
    assert not result.replaced
    assert result.left_alone == [f"MMCVMultiLevelRoiAlign (unnamed): {reason}"]


def test_extra_strides_are_ignored_as_by_mmdeploys_plugin() -> None:
    node = _multi_level_node("mmdeploy", 2, output_height=2, output_width=2, pool_mode=1,
                             featmap_strides=[4.0, 8.0, 16.0], aligned=1, sampling_ratio=2)
    result = rewrite(_model(node, {"rois": (3, 5), "p0": (1, 4, 8, 8), "p1": (1, 4, 4, 4)}, (3, 4, 2, 2), "mmdeploy"))
    [trtops_node] = _trtops_nodes(result.model)
    fields = {a.name: helper.get_attribute_value(a) for a in trtops_node.attribute}
    assert fields["spatial_scales"] == pytest.approx([0.25, 0.125])


@pytest.mark.trt_build
def test_rewritten_mmdeploy_roi_extractor_builds_with_tensorrt_rtx(build_onnx) -> None:
    """mmdeploy's MMCVMultiLevelRoiAlign over P2-P5 builds once rewritten."""
    strides = [4.0, 8.0, 16.0, 32.0]
    node = _multi_level_node("mmdeploy", 4, output_height=7, output_width=7, sampling_ratio=0, pool_mode=1,
                             featmap_strides=strides, finest_scale=56, roi_scale_factor=1.0, aligned=1)
    shapes = {"rois": (100, 5), **{f"p{i}": (1, 16, 200 >> i, 304 >> i) for i in range(4)}}
    result = rewrite(_model(node, shapes, (100, 16, 7, 7), "mmdeploy"))
    assert result.replaced == ["MMCVMultiLevelRoiAlign (unnamed) -> MultiScaleRoIAlign"]
    built = build_onnx(result.model)
    assert built.ok, built.error_text()
    assert built.plugin_layers == 1
    assert built.outputs["y"] == ("FLOAT", [100, 16, 7, 7])


@pytest.mark.trt_build
def test_rewritten_mmdeploy_graph_builds_with_tensorrt_rtx(build_onnx) -> None:
    """A DCNv2 layer and a RoIAlign as mmdeploy exports them build into one engine once rewritten."""
    t = _dcn_inputs(8, 8, 3, 1, 1, 1, 1, 1, 16, 16, seed=30)
    dcn = helper.make_node("MMCVModulatedDeformConv2d", ["x", "offset", "mask", "weight", "bias"], ["features"],
                           domain="mmdeploy", stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1,
                           deform_groups=1)
    roi = helper.make_node("MMCVRoiAlign", ["features", "rois"], ["y"], domain="mmcv", output_height=7,
                           output_width=7, spatial_scale=0.5, sampling_ratio=0, mode="avg", aligned=1)
    weights = [onnx.numpy_helper.from_array(t[n].numpy(), n) for n in ("weight", "bias")]
    shapes = {"x": (2, 8, 16, 16), "offset": (2, 18, 16, 16), "mask": (2, 9, 16, 16), "rois": (5, 5)}
    graph = helper.make_graph(
        [dcn, roi], "mmdeploy_head",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in shapes.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 8, 7, 7])], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("mmcv", 1),
                                                   helper.make_opsetid("mmdeploy", 1)])
    result = rewrite(model)
    assert len(result.replaced) == 2
    built = build_onnx(result.model)
    assert built.ok, built.error_text()
    assert built.plugin_layers == 2
    assert built.outputs["y"] == ("FLOAT", [5, 8, 7, 7])
