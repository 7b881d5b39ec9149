"""PyTorch -> ONNX with trtops nodes.

Primary path: ``torch.onnx.export(dynamo=True)`` (torch.export) with

* torchvision's registered ops (``torch.ops.torchvision.nms / roi_align / ps_roi_align /
  roi_pool / ps_roi_pool / deform_conv2d``) lowered to trtops nodes by a
  ``custom_translation_table`` (:mod:`._translations`);
* torchvision Python code that torch.export cannot take as one op swapped, for the duration of
  the export, for ``trtops::`` custom ops with fake kernels (:mod:`._torch_ops`):
  ``torchvision.ops.boxes.batched_nms`` (which branches on a data-dependent ``numel()``) and
  ``MultiScaleRoIAlign.forward`` (one node instead of a level mapper and a RoIAlign per level).

Fallback path (``exporter="torchscript"``, or ``"auto"`` when torch.export fails): the
TorchScript exporter (``dynamo=False``) produces standard ONNX ``RoiAlign`` /
``NonMaxSuppression`` / ``MaxRoiPool`` / ``DeformConv`` nodes, then :func:`rewrite` turns
those into trtops nodes. The path taken is recorded in the model's ``metadata_props``
(``trtops.exporter``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import torch

from . import _nodes

_LOG = logging.getLogger("trtops.converters")

EXPORTER_KEY = "trtops.exporter"
#: ONNX custom domains the torch exporter uses for ops it cannot lower (never left in our output)
_TORCH_CUSTOM_DOMAINS = ("pkg.torchvision", "torchvision", "pkg.torch.ops", "org.pytorch.aten")


def _batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    return torch.ops.trtops.batched_nms(boxes, scores, idxs, float(iou_threshold))


def _multi_scale_roi_align_forward(
    self: Any, x: Mapping[str, torch.Tensor], boxes: list[torch.Tensor], image_shapes: list[tuple[int, int]]
) -> torch.Tensor:
    # `self`: a torchvision MultiScaleRoIAlign (this replaces its forward while exporting)
    from torchvision.ops import poolers

    features = poolers._filter_input(x, self.featmap_names)
    if self.scales is None or self.map_levels is None:
        self.scales, self.map_levels = poolers._setup_scales(
            features, image_shapes, self.canonical_scale, self.canonical_level
        )
    rois = poolers._convert_to_roi_format(boxes)
    return torch.ops.trtops.multi_scale_roi_align(
        features,
        rois,
        int(self.output_size[0]),
        int(self.output_size[1]),
        int(self.sampling_ratio),
        [float(s) for s in self.scales],
        int(self.map_levels.s0),
        int(self.map_levels.lvl0),
        False,
    )


@contextlib.contextmanager
def torchvision_as_trtops_ops() -> Iterator[None]:
    """While active, ``torchvision.ops.batched_nms`` and ``MultiScaleRoIAlign`` run as
    ``trtops::`` custom ops (same results; one op each for torch.export).

    Only module attributes are swapped: code that imported ``batched_nms`` by name before
    (``from torchvision.ops import batched_nms``) keeps torchvision's function.
    """
    import torchvision.ops
    import torchvision.ops.boxes as boxes
    from torchvision.ops import poolers

    from . import _torch_ops  # noqa: F401  (registers the ops)

    saved = [
        (boxes, "batched_nms", boxes.batched_nms),
        (torchvision.ops, "batched_nms", torchvision.ops.batched_nms),
        (poolers.MultiScaleRoIAlign, "forward", poolers.MultiScaleRoIAlign.forward),
    ]
    boxes.batched_nms = _batched_nms
    torchvision.ops.batched_nms = _batched_nms
    poolers.MultiScaleRoIAlign.forward = _multi_scale_roi_align_forward
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def _prime_multi_scale_poolers(model: torch.nn.Module, args: tuple, kwargs: Mapping[str, Any]) -> None:
    """Infer the scales of every MultiScaleRoIAlign (torchvision does it on the first call,
    from concrete sizes) by running the model once when any is still unset."""
    from torchvision.ops import poolers

    pending = [m for m in model.modules() if isinstance(m, poolers.MultiScaleRoIAlign) and m.scales is None]
    if pending:
        with torch.no_grad():
            model(*args, **(kwargs or {}))


def _fix_trtops_output_types(ir_model: Any) -> None:
    """The exporter's tracer knows shapes but not dtypes of custom-domain outputs: set them (an
    NMS node's indices always, as the node's ``index_int32`` says: the tracer may have guessed)."""
    from onnxscript import ir

    for node in ir_model.graph.all_nodes():
        if node.domain != _nodes.DOMAIN:
            continue
        for index, value in enumerate(node.outputs):
            if node.op_type in ("NMS", "BatchedNMS"):
                index_int32 = node.attributes.get("index_int32")
                int32 = index == 0 and index_int32 is not None and index_int32.value == 1
                value.dtype = ir.DataType.INT32 if int32 else ir.DataType.INT64
            elif value.dtype is None and node.inputs[0].dtype is not None:
                value.dtype = node.inputs[0].dtype


def _dynamic_axes(dynamic_shapes: Any, names: Sequence[str]) -> Optional[dict[str, dict[int, str]]]:
    """``dynamic_shapes`` (torch.export form) -> ``dynamic_axes`` (TorchScript exporter form)."""
    if dynamic_shapes is None:
        return None
    if isinstance(dynamic_shapes, Mapping):
        entries = [dynamic_shapes.get(n) for n in names]
    else:
        entries = list(dynamic_shapes)
    axes: dict[str, dict[int, str]] = {}
    for name, entry in zip(names, entries):
        if not entry:
            continue
        if not isinstance(entry, Mapping):
            raise ValueError(
                "the TorchScript fallback takes dynamic_shapes as one {dim: Dim} dict per input, got "
                f"{entry!r} for input {name!r}"
            )
        axes[name] = {int(d): getattr(dim, "__name__", f"{name}_{d}") for d, dim in entry.items()}
    return axes


def _export_dynamo(
    model: torch.nn.Module,
    args: tuple[Any, ...],
    kwargs: Optional[Mapping[str, Any]],
    dynamic_shapes: Any,
    opset: int,
    input_names: Optional[Sequence[str]],
    output_names: Optional[Sequence[str]],
    optimize: bool,
) -> Any:
    from . import _translations

    _prime_multi_scale_poolers(model, args, kwargs or {})
    with torchvision_as_trtops_ops():
        program = torch.onnx.export(
            model,
            args,
            kwargs=dict(kwargs or {}),
            dynamo=True,
            custom_translation_table=_translations.translation_table(),
            dynamic_shapes=dynamic_shapes,
            opset_version=opset,
            input_names=input_names,
            output_names=output_names,
            optimize=optimize,
            verbose=False,
        )
    if program is None:  # only the TorchScript exporter (dynamo=False) returns nothing
        raise RuntimeError("torch.onnx.export(dynamo=True) returned no ONNXProgram")
    _fix_trtops_output_types(program.model)
    return program.model_proto


def _export_torchscript(
    model: torch.nn.Module,
    args: tuple[Any, ...],
    kwargs: Optional[Mapping[str, Any]],
    dynamic_shapes: Any,
    opset: int,
    input_names: Optional[Sequence[str]],
    output_names: Optional[Sequence[str]],
) -> Any:
    import io

    import onnx

    from . import _torchscript_symbolics
    from .rewriter import rewrite

    if kwargs:
        raise ValueError("the TorchScript fallback takes positional args only (kwargs given)")
    _torchscript_symbolics.register(min(opset, 20))
    flat_count = len(args)
    names = list(input_names or [f"input_{i}" for i in range(flat_count)])
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        tuple(args),
        buffer,  # type: ignore[arg-type]  # the TorchScript exporter also writes to file objects
        dynamo=False,
        opset_version=min(opset, 20),
        input_names=names,
        output_names=list(output_names) if output_names else None,
        dynamic_axes=_dynamic_axes(dynamic_shapes, names),
        do_constant_folding=True,
    )
    standard = onnx.load_from_string(buffer.getvalue())
    result = rewrite(standard)
    for node in result.left_alone:
        _LOG.warning("TorchScript fallback: %s", node)
    return result.model


def export(
    model: torch.nn.Module,
    args: Union[tuple, Any],
    path: Union[None, str, os.PathLike] = None,
    *,
    kwargs: Optional[Mapping[str, Any]] = None,
    dynamic_shapes: Any = None,
    opset: int = 20,
    input_names: Optional[Sequence[str]] = None,
    output_names: Optional[Sequence[str]] = None,
    exporter: str = "auto",
    deploy: bool = False,
    optimize: bool = True,
) -> Any:
    """Export ``model`` to ONNX with every torchvision detection op as a trtops node.

    Args:
        model: the module to export (put in eval mode).
        args: example positional inputs (a tuple, or one tensor).
        path: where to save the model (also returned); None saves nothing.
        kwargs: example keyword inputs (torch.export path only).
        dynamic_shapes: as ``torch.export`` takes it (e.g. ``({0: Dim("K")}, ...)``).
        opset: default-domain ONNX opset.
        input_names, output_names: names of the graph's inputs/outputs.
        exporter: ``"dynamo"`` (torch.export only), ``"torchscript"`` (TorchScript exporter +
            :func:`rewrite`), or ``"auto"``: dynamo, falling back to TorchScript when torch.export
            fails (logged as a warning).
        deploy: for torchvision detectors (Faster/Mask/Keypoint R-CNN, RetinaNet, FCOS, SSD): export their
            deploy form instead (:func:`~trtops.converters.deploy.deploy_module`:
            ``DeployRCNN`` or ``DeploySingleStage``), whose post-processing has static shapes
            (padded trtops NMS, no boolean masking) so that TensorRT builds it. ``args`` is then
            a batch tensor ``[B, 3, H, W]``.
        optimize: run the torch exporter's ONNX optimizer.

    Returns:
        The ``onnx.ModelProto``. ``metadata_props`` holds ``trtops.exporter`` = ``dynamo`` or
        ``torchscript+rewrite``.
    """
    import onnx

    if exporter not in ("auto", "dynamo", "torchscript"):
        raise ValueError(f"exporter must be 'auto', 'dynamo' or 'torchscript', got {exporter!r}")
    if deploy:
        from .deploy import deploy_module

        model = deploy_module(model)
    if not isinstance(args, tuple):
        args = (args,)
    model = model.eval()
    _nodes.register_onnx_schemas()

    proto = None
    used = exporter
    if exporter in ("auto", "dynamo"):
        try:
            proto = _export_dynamo(model, args, kwargs, dynamic_shapes, opset, input_names, output_names, optimize)
            used = "dynamo"
        except Exception as exc:  # torch.export raises many types; the fallback reports it
            if exporter == "dynamo":
                raise
            _LOG.warning(
                "torch.export-based export failed (%s: %s); falling back to the TorchScript "
                "exporter + rewrite()", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""
            )
    if proto is None:
        proto = _export_torchscript(model, args, kwargs, dynamic_shapes, opset, input_names, output_names)
        used = "torchscript+rewrite"

    leftovers = sorted({f"{n.domain}::{n.op_type}" for n in proto.graph.node if n.domain in _TORCH_CUSTOM_DOMAINS})
    if leftovers:
        from trtops.errors import TrtopsError

        raise TrtopsError(
            f"export left torch custom ops in the graph: {leftovers}; these ops have no trtops "
            "translation (see converters/README.md for the supported ops)"
        )
    onnx.helper.set_model_props(
        proto, {**{p.key: p.value for p in proto.metadata_props}, EXPORTER_KEY: used}
    )
    if path is not None:
        path = Path(path)
        if proto.ByteSize() > 1_900_000_000:
            onnx.save(proto, str(path), save_as_external_data=True)
        else:
            onnx.save(proto, str(path))
    return proto
