"""The trtops ONNX node convention, in one table.

A trtops node has domain ``trtops``, ``op_type`` = plugin name, and as attributes exactly the
plugin's fields (same names and types) plus ``plugin_namespace="trtops"`` and
``plugin_version="1"``. TensorRT's ONNX parser forwards only the fields a creator declares, so a
misspelt attribute would be dropped silently: every node this package writes goes through
:func:`make_node`, which checks names and types against :data:`NODE_SPECS`.

:func:`register_onnx_schemas` also registers an ``onnx.defs.OpSchema`` per node, so that the
torch exporter's onnxscript tracer (and ``onnx.checker``) know the ops.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Optional, Sequence

DOMAIN = "trtops"
DOMAIN_VERSION = 1
PLUGIN_NAMESPACE = "trtops"
PLUGIN_VERSION = "1"

INT, FLOAT, INTS, FLOATS = "int", "float", "ints", "floats"
REQUIRED = object()  # default of an attribute that must be given
OMIT = object()  # default of an attribute that is left out when not given


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One trtops node: its inputs (names; ``variadic`` nodes take any number >= min_inputs),
    outputs, and attributes ``name -> (kind, default)``."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: Mapping[str, tuple[str, Any]]
    variadic: bool = False
    min_inputs: int = 0


_ROI_SIZE = {"output_height": (INT, REQUIRED), "output_width": (INT, REQUIRED)}
_NMS_ATTRS = {
    "iou_threshold": (FLOAT, REQUIRED),
    "score_threshold": (FLOAT, OMIT),
    "max_output_boxes": (INT, -1),
    "padded": (INT, 0),
    "index_int32": (INT, 0),
}

NODE_SPECS: dict[str, NodeSpec] = {
    "RoIAlign": NodeSpec(
        ("input", "rois"),
        ("output",),
        {**_ROI_SIZE, "spatial_scale": (FLOAT, 1.0), "sampling_ratio": (INT, -1), "aligned": (INT, 0)},
    ),
    "PSRoIAlign": NodeSpec(
        ("input", "rois"),
        ("output",),
        {**_ROI_SIZE, "spatial_scale": (FLOAT, 1.0), "sampling_ratio": (INT, -1)},
    ),
    "RoIPool": NodeSpec(("input", "rois"), ("output",), {**_ROI_SIZE, "spatial_scale": (FLOAT, 1.0)}),
    "PSRoIPool": NodeSpec(("input", "rois"), ("output",), {**_ROI_SIZE, "spatial_scale": (FLOAT, 1.0)}),
    "MultiScaleRoIAlign": NodeSpec(
        ("features_then_rois",),
        ("output",),
        {
            **_ROI_SIZE,
            "sampling_ratio": (INT, REQUIRED),
            "spatial_scales": (FLOATS, REQUIRED),
            "canonical_scale": (INT, 224),
            "canonical_level": (INT, 4),
            "aligned": (INT, 0),
            "level_mapper": (INT, 0),
            "finest_scale": (INT, 56),
        },
        variadic=True,
        min_inputs=2,
    ),
    "DeformConv2d": NodeSpec(
        ("input_offset_weight_bias_mask",),
        ("output",),
        {
            "stride": (INTS, [1, 1]),
            "padding": (INTS, [0, 0]),
            "dilation": (INTS, [1, 1]),
            "groups": (INT, 1),
            "offset_groups": (INT, 0),
            "has_bias": (INT, 0),
            "has_mask": (INT, 0),
            "allow_tf32": (INT, 0),
        },
        variadic=True,
        min_inputs=3,
    ),
    "NMS": NodeSpec(("boxes", "scores"), ("indices", "count"), dict(_NMS_ATTRS)),
    "BatchedNMS": NodeSpec(("boxes", "scores", "idxs"), ("indices", "count"), dict(_NMS_ATTRS)),
}

_FLOAT_TYPES = ["tensor(float)", "tensor(float16)", "tensor(bfloat16)", "tensor(double)"]
_INDEX_TYPES = ["tensor(int32)", "tensor(int64)"]


def _check_value(op_type: str, name: str, kind: str, value: Any) -> Any:
    where = f"trtops node {op_type}: attribute {name!r}"
    if kind == INT:
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int):
            raise TypeError(f"{where} must be an int, got {value!r}")
        return value
    if kind == FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{where} must be a float, got {value!r}")
        if math.isnan(value):
            raise ValueError(f"{where} must not be NaN")
        return float(value)
    if kind == INTS:
        values = [int(v) for v in value]
        if any(isinstance(v, float) for v in value):
            raise TypeError(f"{where} must be a list of ints, got {value!r}")
        return values
    return [float(v) for v in value]


def node_attributes(op_type: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The full attribute set of a trtops node: ``given`` checked against the spec, defaults
    filled in (attributes defaulting to OMIT stay absent unless given and not None)."""
    spec = NODE_SPECS.get(op_type)
    if spec is None:
        raise ValueError(f"unknown trtops op_type {op_type!r}; known: {sorted(NODE_SPECS)}")
    unknown = sorted(set(given) - set(spec.attributes))
    if unknown:
        raise ValueError(
            f"trtops node {op_type}: unknown attribute(s) {unknown}; fields are {sorted(spec.attributes)}"
        )
    attrs: dict[str, Any] = {}
    for name, (kind, default) in spec.attributes.items():
        value = given.get(name, default)
        if value is REQUIRED:
            raise ValueError(f"trtops node {op_type}: attribute {name!r} is required")
        if value is OMIT or value is None:
            continue
        attrs[name] = _check_value(op_type, name, kind, value)
    return attrs


def make_node(
    op_type: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    *,
    name: Optional[str] = None,
    **attributes: Any,
) -> Any:
    """An ``onnx.NodeProto`` for trtops node ``op_type`` with checked attributes."""
    from onnx import helper

    attrs = node_attributes(op_type, attributes)
    return helper.make_node(
        op_type,
        list(inputs),
        list(outputs),
        name=name,
        domain=DOMAIN,
        plugin_namespace=PLUGIN_NAMESPACE,
        plugin_version=PLUGIN_VERSION,
        **attrs,
    )


def read_attributes(node: Any) -> dict[str, Any]:
    """Attributes of a trtops ``onnx.NodeProto`` with defaults filled in (plugin_* removed)."""
    from onnx import helper

    given = {
        a.name: helper.get_attribute_value(a)
        for a in node.attribute
        if a.name not in ("plugin_namespace", "plugin_version")
    }
    return node_attributes(node.op_type, given)


def is_trtops_node(node: Any) -> bool:
    return node.domain == DOMAIN and node.op_type in NODE_SPECS


def _graphs(graph: Any) -> Any:
    """``graph`` and every subgraph nested in its nodes' attributes (If/Loop/Scan bodies)."""
    from onnx import AttributeProto

    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                yield from _graphs(attribute.g)
            elif attribute.type == AttributeProto.GRAPHS:
                for inner in attribute.graphs:
                    yield from _graphs(inner)


def set_node_attributes(model: Any, op_type: str, **attributes: Any) -> int:
    """Sets ``attributes`` on every trtops ``op_type`` node of ``model`` (an ``onnx.ModelProto``
    or ``GraphProto``, subgraphs included), in place, checked like :func:`make_node`; the other
    attributes keep their values. Returns how many nodes were changed, e.g.
    ``set_node_attributes(model, "DeformConv2d", allow_tf32=1)`` lets every deformable
    convolution multiply float32 on TF32 tensor cores."""
    from onnx import helper

    if op_type not in NODE_SPECS:
        raise ValueError(f"unknown trtops op_type {op_type!r}; known: {sorted(NODE_SPECS)}")
    node_attributes(op_type, attributes)  # names and types, before anything changes
    graph = model.graph if hasattr(model, "graph") else model
    changed = 0
    for g in _graphs(graph):
        for node in g.node:
            if not (is_trtops_node(node) and node.op_type == op_type):
                continue
            merged = node_attributes(op_type, {**read_attributes(node), **attributes})
            plugin = [a for a in node.attribute if a.name in ("plugin_namespace", "plugin_version")]
            del node.attribute[:]
            node.attribute.extend(plugin)
            node.attribute.extend(helper.make_attribute(name, value) for name, value in sorted(merged.items()))
            changed += 1
    return changed


_registered = False


def register_onnx_schemas() -> None:
    """Register an ``onnx.defs.OpSchema`` for every trtops node (once per process)."""
    global _registered
    if _registered:
        return
    from onnx import defs

    kinds = {
        INT: defs.OpSchema.AttrType.INT,
        FLOAT: defs.OpSchema.AttrType.FLOAT,
        INTS: defs.OpSchema.AttrType.INTS,
        FLOATS: defs.OpSchema.AttrType.FLOATS,
    }
    variadic = defs.OpSchema.FormalParameterOption.Variadic
    for op_type, spec in NODE_SPECS.items():
        if defs.has(op_type, DOMAIN_VERSION, DOMAIN):
            continue
        if spec.variadic:
            inputs = [
                defs.OpSchema.FormalParameter(
                    spec.inputs[0], "T", param_option=variadic, is_homogeneous=False,
                    min_arity=spec.min_inputs,
                )
            ]
            constraints = [("T", _FLOAT_TYPES, "feature maps, RoIs and parameters")]
        else:
            inputs = [
                defs.OpSchema.FormalParameter(name, "I" if name == "idxs" else "T")
                for name in spec.inputs
            ]
            constraints = [("T", _FLOAT_TYPES, "floating-point inputs")]
            if "idxs" in spec.inputs:
                constraints.append(("I", _INDEX_TYPES, "class index per box"))
        if op_type in ("NMS", "BatchedNMS"):
            outputs = [
                defs.OpSchema.FormalParameter("indices", "tensor(int64)"),
                defs.OpSchema.FormalParameter("count", "tensor(int64)"),
            ]
        else:
            outputs = [defs.OpSchema.FormalParameter("output", "T")]
        attributes = [
            defs.OpSchema.Attribute(name, kinds[kind], required=default is REQUIRED)
            for name, (kind, default) in spec.attributes.items()
        ]
        attributes += [
            defs.OpSchema.Attribute("plugin_namespace", defs.OpSchema.AttrType.STRING, required=False),
            defs.OpSchema.Attribute("plugin_version", defs.OpSchema.AttrType.STRING, required=False),
        ]
        defs.register_schema(
            defs.OpSchema(
                op_type,
                DOMAIN,
                DOMAIN_VERSION,
                f"trtops plugin {op_type} (see the plugin table in the trtops README)",
                inputs=inputs,
                outputs=outputs,
                type_constraints=constraints,
                attributes=attributes,
            )
        )
    _registered = True
