"""Run an ONNX graph that holds trtops nodes on CPU, without TensorRT.

The graph's nodes (already in topological order, as ONNX requires) are cut into runs of standard
nodes and single trtops nodes. Each run of standard nodes becomes a small ONNX model executed by
ONNX Runtime (or the ``onnx.reference`` evaluator); each trtops node is computed by
``trtops.reference`` through :mod:`._semantics`. Values flow between the pieces as numpy arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from . import _nodes, _semantics

OnnxLike = Union[str, Path, bytes, Any]


def _load(model: OnnxLike) -> Any:
    import onnx

    if isinstance(model, (str, Path)):
        return onnx.load(str(model))
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    return model


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _subgraph_inputs(node: Any) -> set[str]:
    """Names a node reads, including outer-scope names used inside its subgraphs."""
    names = {n for n in node.input if n}
    for attr in node.attribute:
        graphs = list(attr.graphs) + ([attr.g] if attr.HasField("g") else [])
        for graph in graphs:
            produced = {i.name for i in graph.input} | {i.name for i in graph.initializer}
            for inner in graph.node:
                produced.update(inner.output)
            for inner in graph.node:
                names.update(n for n in _subgraph_inputs(inner) if n not in produced)
    return names


def _segments(nodes: Sequence[Any]) -> list[tuple[bool, list[Any]]]:
    """``[(is_trtops, nodes)]``: maximal runs of standard nodes, trtops nodes one by one."""
    segments: list[tuple[bool, list[Any]]] = []
    for node in nodes:
        trt = _nodes.is_trtops_node(node)
        if trt or not segments or segments[-1][0]:
            segments.append((trt, [node]))
        else:
            segments[-1][1].append(node)
    return segments


def _torch(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.array(array, copy=True))


def run_trtops_node(node: Any, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Outputs of one trtops node (``onnx.NodeProto``) for numpy inputs."""
    attrs = _nodes.read_attributes(node)
    tensors = [_torch(a) for a in inputs]
    op = node.op_type
    ref = _semantics._reference()
    if op in ("RoIAlign", "PSRoIAlign", "RoIPool", "PSRoIPool"):
        x, rois = tensors
        rois = rois.to(x.dtype)
        size = (attrs["output_height"], attrs["output_width"])
        if op == "RoIAlign":
            out = ref.roi_align(x, rois, size, attrs["spatial_scale"], attrs["sampling_ratio"], bool(attrs["aligned"]))
        elif op == "PSRoIAlign":
            out = ref.ps_roi_align(x, rois, size, attrs["spatial_scale"], attrs["sampling_ratio"])
        elif op == "RoIPool":
            out = ref.roi_pool(x, rois, size, attrs["spatial_scale"])
        else:
            out = ref.ps_roi_pool(x, rois, size, attrs["spatial_scale"])
        outputs = [out]
    elif op == "MultiScaleRoIAlign":
        features, rois = tensors[:-1], tensors[-1].to(tensors[0].dtype)
        outputs = [
            _semantics.multi_scale_roi_align(
                features, rois, attrs["output_height"], attrs["output_width"], attrs["sampling_ratio"],
                attrs["spatial_scales"], attrs["canonical_scale"], attrs["canonical_level"],
                bool(attrs["aligned"]), attrs["level_mapper"], attrs["finest_scale"],
            )
        ]
    elif op == "DeformConv2d":
        outputs = [_semantics.deform_conv2d(tensors, attrs)]
    else:  # NMS, BatchedNMS
        idxs = tensors[2] if op == "BatchedNMS" else None
        outputs = list(
            _semantics.nms(
                tensors[0], tensors[1], idxs, attrs["iou_threshold"], attrs.get("score_threshold"),
                attrs["max_output_boxes"], bool(attrs["padded"]), bool(attrs["index_int32"]),
            )
        )
    return [o.detach().numpy() for o in outputs[: len(node.output)]]


class _StandardRunner:
    """Runs a list of standard ONNX nodes as a model of its own."""

    def __init__(self, model: Any, nodes: list[Any], needed_after: set[str], backend: str) -> None:
        self.model = model
        self.nodes = nodes
        self.backend = backend
        produced: list[str] = [o for n in nodes for o in n.output if o]
        produced_set = set(produced)
        consumed: set[str] = set()
        for n in nodes:
            consumed |= _subgraph_inputs(n)
        initializers = {i.name: i for i in model.graph.initializer}
        self.initializers = [initializers[n] for n in sorted(consumed) if n in initializers and n not in produced_set]
        self.inputs = sorted(n for n in consumed - produced_set if n not in initializers)
        self.outputs = [n for n in dict.fromkeys(produced) if n in needed_after]

    def run(self, env: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import onnx
        from onnx import helper

        if not self.outputs:
            return {}
        value_types = {v.name: v for v in list(self.model.graph.value_info) + list(self.model.graph.output)}
        inputs = [
            helper.make_tensor_value_info(
                n, helper.np_dtype_to_tensor_dtype(env[n].dtype), list(env[n].shape)
            )
            for n in self.inputs
        ]
        outputs = [value_types[n] if n in value_types and value_types[n].type.HasField("tensor_type")
                   else onnx.ValueInfoProto(name=n) for n in self.outputs]
        graph = helper.make_graph(self.nodes, "segment", inputs, outputs, initializer=self.initializers)
        sub = helper.make_model(graph, opset_imports=self.model.opset_import, ir_version=self.model.ir_version)
        sub.functions.extend(self.model.functions)
        feeds = {n: env[n] for n in self.inputs}
        session = None
        if self.backend in ("onnxruntime", "auto"):
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            try:
                session = ort.InferenceSession(
                    sub.SerializeToString(), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:
                # "auto" hands onnx.reference the pieces ORT cannot take: op versions it has no
                # kernel for (RoiAlign-22), and models of a newer IR version than it reads (the
                # ORT releases for Python 3.10 stop at IR 11; onnx writes IR 14).
                refused = "NOT_IMPLEMENTED" in str(exc) or "Unsupported model IR version" in str(exc)
                if self.backend == "onnxruntime" or not refused:
                    raise
        if session is not None:
            values = session.run(self.outputs, feeds)
        else:
            from onnx.reference import ReferenceEvaluator

            values = ReferenceEvaluator(sub).run(self.outputs, feeds)
        return dict(zip(self.outputs, (np.asarray(v) for v in values)))


def _trtops_in_subgraphs(graph: Any) -> bool:
    for node in graph.node:
        for attr in node.attribute:
            for sub in list(attr.graphs) + ([attr.g] if attr.HasField("g") else []):
                if any(_nodes.is_trtops_node(n) for n in sub.node) or _trtops_in_subgraphs(sub):
                    return True
    return False


def _reference_ops() -> list[type]:
    from onnx.reference.op_run import OpRun

    def run(self: Any, *args: Any, **_attrs: Any) -> tuple:
        return tuple(run_trtops_node(self.onnx_node, args))

    return [type(name, (OpRun,), {"op_domain": _nodes.DOMAIN, "_run": run}) for name in _nodes.NODE_SPECS]


def _evaluate_with_reference(model: Any, inputs: Any, outputs: Optional[Iterable[str]]) -> dict[str, np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    initializer_names = {i.name for i in model.graph.initializer}
    graph_inputs = [i.name for i in model.graph.input if i.name not in initializer_names]
    if isinstance(inputs, Mapping):
        feeds = {n: _to_numpy(inputs[n]) for n in graph_inputs}
    else:
        feeds = {n: _to_numpy(v) for n, v in zip(graph_inputs, inputs)}
    wanted = list(outputs) if outputs is not None else [o.name for o in model.graph.output]
    values = ReferenceEvaluator(model, new_ops=_reference_ops()).run(wanted, feeds)
    return dict(zip(wanted, (np.asarray(v) for v in values)))


def _pick_backend(backend: str) -> str:
    if backend not in ("auto", "onnxruntime", "reference"):
        raise ValueError(f"backend must be 'auto', 'onnxruntime' or 'reference', got {backend!r}")
    if backend != "auto":
        return backend
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "reference"
    # ONNX Runtime, and onnx.reference for pieces whose op versions it has no kernel for
    return "auto"


def evaluate(
    model: OnnxLike,
    inputs: Union[Mapping[str, Any], Sequence[Any]],
    *,
    backend: str = "auto",
    outputs: Optional[Iterable[str]] = None,
) -> dict[str, np.ndarray]:
    """Run ``model`` (an ``onnx.ModelProto``, path or bytes) on CPU.

    Args:
        inputs: arrays or tensors, by graph input name or in graph input order.
        backend: ``"onnxruntime"``, ``"reference"`` (``onnx.reference``) or ``"auto"`` (ONNX
            Runtime when importable, ``onnx.reference`` for pieces holding op versions ONNX
            Runtime has no kernel for) for the standard ops; trtops nodes always run
            ``trtops.reference``.
        outputs: names to return (default: the graph's outputs).

    Returns:
        ``{output name: numpy array}`` in the order asked for.
    """
    from onnx import numpy_helper

    model = _load(model)
    graph = model.graph
    backend = _pick_backend(backend)
    if _trtops_in_subgraphs(graph):
        # ONNX Runtime cannot run trtops nodes inside If/Loop bodies: the whole graph goes to
        # onnx.reference with the trtops nodes registered as its custom ops (slower)
        return _evaluate_with_reference(model, inputs, outputs)
    initializer_names = {i.name for i in graph.initializer}
    graph_inputs = [i.name for i in graph.input if i.name not in initializer_names]
    if isinstance(inputs, Mapping):
        missing = [n for n in graph_inputs if n not in inputs]
        if missing:
            raise ValueError(f"inputs lack graph input(s) {missing}; graph inputs are {graph_inputs}")
        env = {n: _to_numpy(inputs[n]) for n in graph_inputs}
    else:
        inputs = list(inputs)
        if len(inputs) != len(graph_inputs):
            raise ValueError(f"got {len(inputs)} inputs for graph inputs {graph_inputs}")
        env = {n: _to_numpy(v) for n, v in zip(graph_inputs, inputs)}

    wanted = list(outputs) if outputs is not None else [o.name for o in graph.output]
    segments = _segments(list(graph.node))
    # names each segment must hand on: read by a later segment or asked for
    needed_after: list[set[str]] = [set() for _ in segments]
    later: set[str] = set(wanted)
    for index in range(len(segments) - 1, -1, -1):
        needed_after[index] = set(later)
        for node in segments[index][1]:
            later |= _subgraph_inputs(node)

    initializers = {i.name: i for i in graph.initializer}
    for (is_trtops, nodes), needed in zip(segments, needed_after):
        if is_trtops:
            node = nodes[0]
            args = []
            for name in node.input:
                if name not in env and name in initializers:
                    env[name] = numpy_helper.to_array(initializers[name])
                args.append(env[name])
            env.update(zip(node.output, run_trtops_node(node, args)))
        else:
            env.update(_StandardRunner(model, nodes, needed, backend).run(env))
    for name in wanted:
        if name not in env and name in initializers:
            env[name] = numpy_helper.to_array(initializers[name])
    return {name: env[name] for name in wanted}
