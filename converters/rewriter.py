"""Standard ONNX detection ops -> trtops nodes, for models exported by other tools.

Each rule maps one standard node to trtops node(s) plus glue made of plain ONNX ops, such that
the graph computes exactly what it computed before (same outputs, same order, same dtypes):

* ``RoiAlign`` (opset 10 and 16), ``mode="avg"``: rois ``[K, 4]`` + ``batch_indices [K]``
  become ``[K, 5]`` rows (a Concat), ``coordinate_transformation_mode="half_pixel"`` (opset 16's
  default) is ``aligned=1``, ``"output_half_pixel"`` (opset 10's behaviour) ``aligned=0``.
  ``mode="max"`` (ONNX's max of weighted samples, no torchvision counterpart) is left alone.
* ``NonMaxSuppression``: one trtops ``NMS`` per (batch, class) (batch and class counts must be
  static), boxes normalised to min/max corners (ONNX accepts flipped corners) or converted from
  ``center_point_box=1``, the strict ``score > score_threshold`` expressed as
  ``score >= nextafter(score_threshold)``, and the ``[num_selected, 3]`` (batch, class, box)
  rows rebuilt in ONNX's order. Thresholds and ``max_output_boxes_per_class`` must be constants.
* ``MaxRoiPool``: ``RoIPool`` (same rois layout, same rounding).
* ``DeformConv`` (opset 19): ``DeformConv2d`` with inputs reordered; asymmetric pads are left
  alone.

And the custom ops of mmcv / mmdeploy exports (domains ``mmcv`` and ``mmdeploy``; their TensorRT
plugins are IPluginV2, which TensorRT 10 deprecates and TensorRT-RTX does not load), whose CUDA
kernels compute what torchvision's do (same sampling, borders, offset layout):

* ``MMCVRoiAlign``, ``mode="avg"``: ``RoIAlign`` with the same fields (rois ``[K, 5]`` as
  torchvision's); ``mode="max"`` (the max over the bin's bilinear samples) is left alone.
* ``MMCVModulatedDeformConv2d`` (input, offset, mask, weight[, bias]): ``DeformConv2d`` v2 with
  the inputs in torchvision's order and ``deform_groups`` as ``offset_groups``.
* ``MMCVDeformConv2d`` (input, offset, weight; no bias): ``DeformConv2d`` v1. Its padding may come
  as a pair or, from mmdeploy, as ``[top, top, left, left]``.
* ``MMCVMultiLevelRoiAlign`` (mmdeploy's form of mmdet's ``SingleRoIExtractor``; rois, then the
  levels): ``MultiScaleRoIAlign`` with mmdet's level mapper (``finest_scale``) and
  ``spatial_scales = 1 / featmap_strides``. ``pool_mode=0`` (max) and a ``roi_scale_factor``
  other than 1 are left alone.

Nodes no rule maps exactly are left in place and listed in :attr:`RewriteResult.left_alone`;
nodes of other custom domains (mmdeploy's ``TRTBatchedNMS``, say), which TensorRT builds only with
a plugin of their own, in :attr:`RewriteResult.other_custom_ops`.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Optional

import numpy as np

from . import _nodes

#: NMS groups (batch x class) above which NonMaxSuppression is left alone (one node per group)
MAX_NMS_GROUPS = 256
_INT32_MAX = 2**31 - 1


@dataclasses.dataclass
class RewriteResult:
    """Outcome of :func:`rewrite`."""

    model: Any
    #: ``"op_type node_name -> trtops op(s)"`` per rewritten node
    replaced: list[str] = dataclasses.field(default_factory=list)
    #: ``"op_type node_name: reason"`` per node of a rewritable type that was left alone
    left_alone: list[str] = dataclasses.field(default_factory=list)
    #: ``"op_type node_name (domain d)"`` per node of a custom domain that no rule knows (e.g.
    #: mmdeploy's ``TRTBatchedNMS``): TensorRT's ONNX parser builds such a node only through a
    #: plugin registered under its op type, which trtops does not provide
    other_custom_ops: list[str] = dataclasses.field(default_factory=list)


class _Skip(Exception):
    """A node cannot be mapped exactly; the message says why."""


class _Builder:
    """Emits glue nodes with unique names for one source node, respecting the graph's opset."""

    def __init__(self, ctx: "_Context", node: Any) -> None:
        self.ctx = ctx
        self.prefix = f"{node.name or node.op_type}/trtops"
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def name(self, hint: str) -> str:
        return self.ctx.unique(f"{self.prefix}/{hint}")

    def const(self, hint: str, value: Any, dtype: Any = np.int64) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, outputs: int = 1, **attrs: Any) -> Any:
        from onnx import helper

        names = [self.name(f"{hint}_{i}" if outputs > 1 else hint) for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=self.name(hint + "_node"), **attrs))
        return names if outputs > 1 else names[0]

    def trtops(self, op_type: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self.nodes.append(_nodes.make_node(op_type, inputs, outputs, name=self.name(op_type), **attrs))

    def unsqueeze(self, value: str, axis: int, hint: str) -> str:
        if self.ctx.opset >= 13:
            return self.op("Unsqueeze", [value, self.const(hint + "_axes", [axis])], hint)
        return self.op("Unsqueeze", [value], hint, axes=[axis])

    def gather(self, value: str, index: int, axis: int, hint: str) -> str:
        return self.op("Gather", [value, self.const(hint + "_index", index)], hint, axis=axis)


class _Context:
    def __init__(self, model: Any) -> None:
        import onnx

        self.model = model
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        try:
            inferred = onnx.shape_inference.infer_shapes(model)
        except Exception:  # shape inference is a help, not a requirement
            inferred = model
        self.types: dict[str, Any] = {}  # value name -> onnx TypeProto
        for graph in _graphs(inferred.graph):
            for v in itertools.chain(graph.input, graph.value_info, graph.output):
                self.types.setdefault(v.name, v.type)
        for init in model.graph.initializer:
            self.types.setdefault(init.name, onnx.helper.make_tensor_type_proto(init.data_type, list(init.dims)))
        self.initializers = {i.name: i for i in model.graph.initializer}
        all_nodes = [n for g in _graphs(model.graph) for n in g.node]
        self.constants = {n.output[0]: n for n in all_nodes if n.op_type == "Constant" and n.output}
        self.used_names = {n for node in all_nodes for n in itertools.chain(node.input, node.output)}
        self.used_names |= {n.name for n in all_nodes} | set(self.initializers)
        self.used_names |= {v.name for v in model.graph.input}

    def unique(self, name: str) -> str:
        candidate, i = name, 0
        while candidate in self.used_names:
            i += 1
            candidate = f"{name}_{i}"
        self.used_names.add(candidate)
        return candidate

    def constant(self, name: str) -> Optional[np.ndarray]:
        from onnx import numpy_helper

        if not name:
            return None
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.constants.get(name)
        if node is not None:
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
        raise _Skip(f"input {name!r} must be a constant (initializer or Constant node)")

    def elem_type(self, name: str) -> Optional[int]:
        t = self.types.get(name)
        if t is not None and t.HasField("tensor_type") and t.tensor_type.elem_type:
            return t.tensor_type.elem_type
        return None

    def shape(self, name: str) -> Optional[list[Optional[int]]]:
        t = self.types.get(name)
        if t is None or not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
            return None
        return [d.dim_value if d.HasField("dim_value") else None for d in t.tensor_type.shape.dim]


def _graphs(graph: Any) -> list[Any]:
    """``graph`` and every subgraph nested in its nodes (If/Loop/Scan bodies)."""
    found = [graph]
    for node in graph.node:
        for attr in node.attribute:
            for sub in list(attr.graphs) + ([attr.g] if attr.HasField("g") else []):
                found.extend(_graphs(sub))
    return found


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}


def _roi_align(ctx: _Context, node: Any, b: _Builder) -> str:
    attrs = _attrs(node)
    mode = attrs.get("mode", "avg")
    if mode != "avg":
        raise _Skip(f"mode={mode!r}: ONNX max mode takes the max of weighted samples, no trtops counterpart")
    default_ctm = "half_pixel" if ctx.opset >= 16 else "output_half_pixel"
    ctm = attrs.get("coordinate_transformation_mode", default_ctm)
    if ctm not in ("half_pixel", "output_half_pixel"):
        raise _Skip(f"coordinate_transformation_mode={ctm!r}")
    x, rois, batch_indices = node.input[:3]
    rois_type = ctx.elem_type(rois) or ctx.elem_type(x)
    if rois_type is None:
        raise _Skip("the dtype of rois is unknown (run shape inference first)")
    column = b.op("Cast", [b.unsqueeze(batch_indices, 1, "batch_column")], "batch_column_cast", to=rois_type)
    rois5 = b.op("Concat", [column, rois], "rois5", axis=1)
    b.trtops(
        "RoIAlign",
        [x, rois5],
        [node.output[0]],
        output_height=int(attrs.get("output_height", 1)),
        output_width=int(attrs.get("output_width", 1)),
        spatial_scale=float(attrs.get("spatial_scale", 1.0)),
        sampling_ratio=int(attrs.get("sampling_ratio", 0)),
        aligned=int(ctm == "half_pixel"),
    )
    return "RoIAlign"


def _max_roi_pool(ctx: _Context, node: Any, b: _Builder) -> str:
    attrs = _attrs(node)
    pooled = list(attrs["pooled_shape"])
    b.trtops(
        "RoIPool",
        list(node.input[:2]),
        [node.output[0]],
        output_height=int(pooled[0]),
        output_width=int(pooled[1]),
        spatial_scale=float(attrs.get("spatial_scale", 1.0)),
    )
    return "RoIPool"


def _deform_conv(ctx: _Context, node: Any, b: _Builder) -> str:
    attrs = _attrs(node)
    inputs = list(node.input) + [""] * (5 - len(node.input))
    x, w, offset, bias, mask = inputs[:5]
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
        raise _Skip(f"pads={pads}: trtops DeformConv2d takes symmetric padding")
    strides = list(attrs.get("strides", [1, 1]))
    dilations = list(attrs.get("dilations", [1, 1]))
    if len(strides) != 2 or len(dilations) != 2:
        raise _Skip("only 2-D DeformConv is supported")
    return _deform_conv_node(b, node, x, offset, w, bias, mask, stride=strides, padding=pads[:2],
                             dilation=dilations, groups=int(attrs.get("group", 1)),
                             offset_groups=int(attrs.get("offset_group", 1)))


def _deform_conv_node(b: _Builder, node: Any, x: str, offset: str, weight: str, bias: str, mask: str,
                      **geometry: Any) -> str:
    """Emits the DeformConv2d node computing `node`'s output: torchvision's input order (input,
    offset, weight, [bias], [mask]); "" for a missing bias or mask."""
    node_inputs = [x, offset, weight] + ([bias] if bias else []) + ([mask] if mask else [])
    b.trtops("DeformConv2d", node_inputs, [node.output[0]], has_bias=int(bool(bias)), has_mask=int(bool(mask)),
             allow_tf32=0, **geometry)
    return "DeformConv2d"


def _pair(attrs: dict[str, Any], name: str, default: int) -> list[int]:
    """An mmcv attribute given as one int or a pair (mmdeploy repeats each padding value:
    [top, top, left, left])."""
    value = attrs.get(name, default)
    values = [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    if len(values) == 1:
        return values * 2
    if len(values) == 4 and values[0] == values[1] and values[2] == values[3]:
        return [values[0], values[2]]
    if len(values) != 2:
        raise _Skip(f"{name}={values}: expected one value or a pair")
    return values


def _mmcv_roi_align(ctx: _Context, node: Any, b: _Builder) -> str:
    attrs = _attrs(node)
    mode = attrs.get("mode", "avg")
    if mode != "avg":
        raise _Skip(f"mode={mode!r}: the max over a bin's bilinear samples has no trtops counterpart")
    b.trtops(
        "RoIAlign",
        list(node.input[:2]),
        [node.output[0]],
        output_height=int(attrs.get("output_height", 1)),
        output_width=int(attrs.get("output_width", 1)),
        spatial_scale=float(attrs.get("spatial_scale", 1.0)),
        sampling_ratio=int(attrs.get("sampling_ratio", 0)),
        aligned=int(bool(attrs.get("aligned", 1))),  # mmcv's RoIAlign is aligned by default
    )
    return "RoIAlign"


def _mmcv_multi_level_roi_align(ctx: _Context, node: Any, b: _Builder) -> str:
    """mmdeploy's MMCVMultiLevelRoiAlign (mmdet's SingleRoIExtractor over mmcv RoIAlign layers):
    inputs rois, then the feature levels; a missing attribute takes its plugin's default, except
    pool_mode, which mmdeploy's first version left out because its plugin could only average."""
    attrs = _attrs(node)
    pool_mode = int(attrs.get("pool_mode", 1))
    if pool_mode != 1:
        raise _Skip(f"pool_mode={pool_mode} (max): the max over a bin's bilinear samples has no trtops counterpart")
    factor = float(attrs.get("roi_scale_factor", -1.0))
    if factor > 0 and factor != 1.0:
        raise _Skip(f"roi_scale_factor={factor}: rescaling each RoI about its centre is not mapped "
                    "(mmdeploy's kernel and mmdet's roi_rescale disagree on the box width)")
    from trtops.ops._roi import MAX_LEVELS

    rois, features = node.input[0], list(node.input[1:])
    if not 1 <= len(features) <= MAX_LEVELS:
        raise _Skip(f"{len(features)} feature levels: trtops MultiScaleRoIAlign takes 1 to {MAX_LEVELS}")
    strides = [float(s) for s in attrs.get("featmap_strides", [])]
    if len(strides) < len(features):
        raise _Skip(f"featmap_strides={strides}: expected one stride per feature level ({len(features)})")
    strides = strides[: len(features)]  # as mmdeploy's plugin, which ignores any extra strides
    if not all(np.isfinite(s) and s > 0 for s in strides):
        raise _Skip(f"featmap_strides={strides}: strides must be positive")
    b.trtops(
        "MultiScaleRoIAlign",
        features + [rois],
        [node.output[0]],
        output_height=int(attrs.get("output_height", 7)),
        output_width=int(attrs.get("output_width", 7)),
        sampling_ratio=int(attrs.get("sampling_ratio", 2)),
        # the float32 value mmcv's RoIAlign gets from mmdet's spatial_scale=1 / stride
        spatial_scales=[float(np.float32(1.0 / s)) for s in strides],
        aligned=int(bool(attrs.get("aligned", 0))),
        level_mapper=1,
        finest_scale=int(attrs.get("finest_scale", 56)),
    )
    return "MultiScaleRoIAlign"


def _mmcv_deform_conv(ctx: _Context, node: Any, b: _Builder, modulated: bool) -> str:
    attrs = _attrs(node)
    if modulated:
        if len(node.input) not in (4, 5):
            raise _Skip(f"{len(node.input)} inputs: expected input, offset, mask, weight[, bias]")
        x, offset, mask, weight = node.input[:4]
        bias = node.input[4] if len(node.input) == 5 else ""
    else:
        if len(node.input) != 3:
            raise _Skip(f"{len(node.input)} inputs: expected input, offset, weight")
        if int(attrs.get("bias", 0)):
            raise _Skip("bias=1: mmcv's DeformConv2d takes no bias input")
        x, offset, weight = node.input
        mask, bias = "", ""
    return _deform_conv_node(b, node, x, offset, weight, bias, mask, stride=_pair(attrs, "stride", 1),
                             padding=_pair(attrs, "padding", 0), dilation=_pair(attrs, "dilation", 1),
                             groups=int(attrs.get("groups", 1)), offset_groups=int(attrs.get("deform_groups", 1)))


def _nms(ctx: _Context, node: Any, b: _Builder) -> str:
    attrs = _attrs(node)
    inputs = list(node.input) + [""] * (5 - len(node.input))
    boxes, scores, max_name, iou_name, score_name = inputs[:5]
    cap_value = ctx.constant(max_name)
    cap = 0 if cap_value is None else int(np.asarray(cap_value).reshape(-1)[0])
    iou_value = ctx.constant(iou_name)
    iou = 0.0 if iou_value is None else float(np.asarray(iou_value, dtype=np.float32).reshape(-1)[0])
    score = ctx.constant(score_name)
    shape = ctx.shape(scores)
    if shape is None or len(shape) != 3 or shape[0] is None or shape[1] is None:
        raise _Skip("scores must have a static [batch, classes, N] prefix (one NMS per batch and class)")
    groups = shape[0] * shape[1]
    if groups > MAX_NMS_GROUPS:
        raise _Skip(f"{groups} batch x class groups (more than {MAX_NMS_GROUPS})")
    if cap <= 0:
        b.nodes.append(_empty_selection(b, node.output[0]))
        return "none (max_output_boxes_per_class=0)"
    score_threshold = None
    if score is not None:
        # ONNX keeps score > t; trtops keeps score >= threshold: the next float32 above t
        t = np.float32(np.asarray(score, dtype=np.float32).reshape(-1)[0])
        score_threshold = float(np.nextafter(t, np.float32(np.inf)))
    corners = _corner_boxes(b, boxes, int(attrs.get("center_point_box", 0)))
    rows = []
    for batch in range(shape[0]):
        batch_boxes = b.gather(corners, batch, 0, f"boxes_b{batch}")
        batch_scores = b.gather(scores, batch, 0, f"scores_b{batch}")
        for cls in range(shape[1]):
            tag = f"b{batch}c{cls}"
            cls_scores = b.gather(batch_scores, cls, 0, f"scores_{tag}")
            indices, count = b.name(f"indices_{tag}"), b.name(f"count_{tag}")
            b.trtops(
                "NMS",
                [batch_boxes, cls_scores],
                [indices, count],
                iou_threshold=iou,
                score_threshold=score_threshold,
                max_output_boxes=cap if cap <= _INT32_MAX else -1,
            )
            column = b.unsqueeze(indices, 1, f"column_{tag}")
            fill_shape = b.op("Shape", [column], f"shape_{tag}")
            prefix = b.op("Expand", [b.const(f"bc_{tag}", [[batch, cls]]), fill_shape], f"prefix_{tag}")
            # Expand of [1, 2] to [K, 1] broadcasts to [K, 2]
            rows.append(b.op("Concat", [prefix, column], f"rows_{tag}", axis=1))
    if len(rows) == 1:
        b.op("Identity", rows, "selected")
        b.nodes[-1].output[0] = node.output[0]
    else:
        b.nodes.append(_concat_to(b, rows, node.output[0]))
    return f"NMS x{groups}"


def _concat_to(b: _Builder, inputs: list[str], output: str) -> Any:
    from onnx import helper

    return helper.make_node("Concat", inputs, [output], name=b.name("selected_node"), axis=0)


def _empty_selection(b: _Builder, output: str) -> Any:
    from onnx import helper, numpy_helper

    value = numpy_helper.from_array(np.zeros((0, 3), dtype=np.int64))
    return helper.make_node("Constant", [], [output], name=b.name("empty_node"), value=value)


def _corner_boxes(b: _Builder, boxes: str, center_point_box: int) -> str:
    """``[B, N, 4]`` boxes as (min, min, max, max) corners; IoU is symmetric in the two axes, so
    ONNX's ``(y, x)`` order needs no swap."""
    if b.ctx.opset >= 13:
        parts = b.op("Split", [boxes, b.const("split4", [1, 1, 1, 1])], "coord", outputs=4, axis=2)
    else:
        parts = b.op("Split", [boxes], "coord", outputs=4, axis=2, split=[1, 1, 1, 1])
    a0, a1, a2, a3 = parts
    if center_point_box:
        # ONNX: [x_center, y_center, width, height]; corners center -/+ size / 2
        half_w = b.op("Div", [a2, b.const("two_w", 2.0, np.float32)], "half_w")
        half_h = b.op("Div", [a3, b.const("two_h", 2.0, np.float32)], "half_h")
        lo0, hi0 = b.op("Sub", [a0, half_w], "x1"), b.op("Add", [a0, half_w], "x2")
        lo1, hi1 = b.op("Sub", [a1, half_h], "y1"), b.op("Add", [a1, half_h], "y2")
        return b.op("Concat", [lo0, lo1, hi0, hi1], "corners", axis=2)
    lo0, hi0 = b.op("Min", [a0, a2], "lo0"), b.op("Max", [a0, a2], "hi0")
    lo1, hi1 = b.op("Min", [a1, a3], "lo1"), b.op("Max", [a1, a3], "hi1")
    return b.op("Concat", [lo0, lo1, hi0, hi1], "corners", axis=2)


Rule = Callable[[_Context, Any, _Builder], str]

#: Rules of the standard ONNX domain, by op_type.
_RULES: dict[str, Rule] = {
    "RoiAlign": _roi_align,
    "NonMaxSuppression": _nms,
    "MaxRoiPool": _max_roi_pool,
    "DeformConv": _deform_conv,
}

#: Rules of mmcv's and mmdeploy's custom ops (any of these domains: mmcv's own symbolics use
#: "mmcv"; mmdeploy's rewrites "mmcv" for RoIAlign, "mmdeploy" for the deformable convolutions and
#: the multi-level RoIAlign, whose first version used "mmlab").
_MMCV_DOMAINS = ("mmcv", "mmdeploy", "mmlab")
_MMCV_RULES: dict[str, Rule] = {
    "MMCVRoiAlign": _mmcv_roi_align,
    "MMCVMultiLevelRoiAlign": _mmcv_multi_level_roi_align,
    "MMCVModulatedDeformConv2d": lambda ctx, node, b: _mmcv_deform_conv(ctx, node, b, modulated=True),
    "MMCVDeformConv2d": lambda ctx, node, b: _mmcv_deform_conv(ctx, node, b, modulated=False),
}


#: The ONNX operator sets TensorRT's parser implements itself.
_STANDARD_DOMAINS = ("", "ai.onnx")


def _rule(node: Any) -> Optional[Rule]:
    if node.domain in _STANDARD_DOMAINS:
        return _RULES.get(node.op_type)
    if node.domain in _MMCV_DOMAINS:
        return _MMCV_RULES.get(node.op_type)
    return None


def rewrite(model: Any) -> RewriteResult:
    """Replace the standard ONNX ops, and mmcv's / mmdeploy's custom ops, that have exact trtops
    counterparts by trtops nodes.

    Args:
        model: ``onnx.ModelProto`` (not modified), or a path.

    Returns:
        :class:`RewriteResult` with the new model, what was replaced and what was left alone
        (and why).
    """
    import onnx
    from onnx import helper

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    out = onnx.ModelProto()
    out.CopyFrom(model)
    ctx = _Context(out)
    result = RewriteResult(model=out)
    # subgraphs first (a parent's node list is rebuilt from copies, which must hold the
    # rewritten subgraphs); glue constants live in the main graph, visible to every subgraph
    for graph in reversed(_graphs(out.graph)):
        new_nodes: list[Any] = []
        for node in graph.node:
            rule = _rule(node)
            if rule is None:
                if node.domain not in _STANDARD_DOMAINS and node.domain != _nodes.DOMAIN:
                    result.other_custom_ops.append(f"{node.op_type} {node.name or '(unnamed)'} (domain {node.domain})")
                new_nodes.append(node)
                continue
            builder = _Builder(ctx, node)
            label = f"{node.op_type} {node.name or '(unnamed)'}"
            try:
                produced = rule(ctx, node, builder)
            except _Skip as why:
                result.left_alone.append(f"{label}: {why}")
                new_nodes.append(node)
                continue
            new_nodes.extend(builder.nodes)
            out.graph.initializer.extend(builder.initializers)
            result.replaced.append(f"{label} -> {produced}")
        del graph.node[:]
        graph.node.extend(new_nodes)
    if result.replaced and not any(o.domain == _nodes.DOMAIN for o in out.opset_import):
        out.opset_import.append(helper.make_opsetid(_nodes.DOMAIN, _nodes.DOMAIN_VERSION))
    return result
