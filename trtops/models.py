"""Models the CLI exports and checks: torchvision detectors by name (random or local weights,
never a download; Faster/Mask R-CNN, RetinaNet, FCOS, SSD) or ``module:function`` returning
``(model, inputs)``.

The same spec + seed always gives the same weights and the same example inputs, so
``trtops export`` and ``trtops check`` (possibly in different processes) agree on what PyTorch
computes. The spec is recorded in the exported ONNX's metadata (``trtops.model`` etc.).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

#: torchvision detection models with R-CNN heads that export in deploy mode.
RCNN_DETECTORS = (
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn_v2",
    "keypointrcnn_resnet50_fpn",
)

#: torchvision single-stage detectors that export in deploy mode.
SINGLE_STAGE_DETECTORS = (
    "retinanet_resnet50_fpn",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "ssd300_vgg16",
    "ssdlite320_mobilenet_v3_large",
)

#: SSD models resize every image to their own fixed size (300x300, 320x320) inside the model.
_FIXED_SIZE_DETECTORS = ("ssd300_vgg16", "ssdlite320_mobilenet_v3_large")

#: every torchvision detector the CLI takes by name.
DETECTORS = RCNN_DETECTORS + SINGLE_STAGE_DETECTORS

#: export dtypes (``--dtype``): the model and its floating-point inputs are cast before export.
#: TensorRT-RTX builds strongly typed networks, so an fp16 engine needs an fp16 graph.
DTYPES = {"float32": torch.float32, "float16": torch.float16}


@dataclasses.dataclass
class ModelSpec:
    """A model with example inputs, as export and check use it."""

    name: str
    model: torch.nn.Module
    inputs: tuple[torch.Tensor, ...]
    input_names: list[str]
    #: torchvision detector: exported in deploy mode, checked detection by detection
    detector: bool
    seed: int
    weights: Optional[str]
    batch: int
    image_size: tuple[int, int]
    #: graph output names (module:function models may set ``model.output_names``); None: the exporter's
    output_names: Optional[list[str]] = None
    #: dtype of the exported graph (``DTYPES``); PyTorch's reference stays in float32/float64
    dtype: str = "float32"
    #: detectors: the score threshold the model was built with (None: torchvision's default)
    score_thresh: Optional[float] = None

    def export_inputs(self) -> tuple[torch.Tensor, ...]:
        """The example inputs as the exported graph takes them (floating inputs cast to ``dtype``)."""
        target = DTYPES[self.dtype]
        return tuple(t.to(target) if t.is_floating_point() else t for t in self.inputs)

    def export_model(self) -> torch.nn.Module:
        """The model as exported: itself in float32, else a copy cast to ``dtype``."""
        if self.dtype == "float32":
            return self.model
        return copy.deepcopy(self.model).to(DTYPES[self.dtype])

    def metadata(self) -> dict[str, str]:
        return {
            "trtops.dtype": self.dtype,
            "trtops.model": self.name,
            "trtops.seed": str(self.seed),
            "trtops.weights": self.weights or "",
            "trtops.batch": str(self.batch),
            "trtops.image_size": f"{self.image_size[0]}x{self.image_size[1]}",
            "trtops.score_thresh": "" if self.score_thresh is None else repr(self.score_thresh),
        }


def parse_size(text: str) -> tuple[int, int]:
    """``"320x480"`` -> (320, 480) (height, width); ``"320"`` -> (320, 320)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"image size must be HxW or S, got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) <= 0:
        raise ValueError(f"image size must be HxW or S with positive sizes, got {text!r}")
    return values[0], values[1]


def load(
    spec: str,
    *,
    seed: int = 0,
    weights: Optional[str] = None,
    batch: int = 1,
    image_size: Sequence[int] = (320, 320),
    dtype: str = "float32",
    score_thresh: Optional[float] = None,
) -> ModelSpec:
    """Build the model named by ``spec`` with example inputs.

    Args:
        spec: a torchvision detection model name (``DETECTORS``: ``fasterrcnn_resnet50_fpn``,
            ``retinanet_resnet50_fpn``, ...) or ``module:function`` where ``function()`` returns
            ``(model, inputs)``.
        seed: seeds the random weights (when ``weights`` is None) and the example images.
        weights: a local ``state_dict`` file (never downloaded).
        batch, image_size: example input batch and (height, width) for torchvision detectors;
            the detector's transform is set to keep that size (no resizing inside the model),
            except SSD's, which resize to their fixed size.
        dtype: dtype of the exported graph (``DTYPES``; float16 for module:function models only).
            ``module:function`` models may name their graph inputs and outputs with
            ``model.input_names`` / ``model.output_names`` (lists of str).
        score_thresh: detectors only: the score a detection needs (R-CNN ``box_score_thresh``,
            RetinaNet/FCOS/SSD ``score_thresh``); None keeps torchvision's default. Random weights
            score low (RetinaNet and FCOS keep few or no boxes at their defaults), so a check of
            a random-weight detector sets it lower to compare many detections.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    height, width = int(image_size[0]), int(image_size[1])
    if ":" in spec:
        module_name, _, function_name = spec.partition(":")
        function = getattr(importlib.import_module(module_name), function_name, None)
        if function is None:
            raise ValueError(f"{spec!r}: module {module_name!r} has no {function_name!r}")
        if score_thresh is not None:
            raise ValueError(f"{spec!r}: score_thresh is for torchvision detectors, not module:function models")
        torch.manual_seed(seed)
        model, inputs = function()
        inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
        if weights:
            model.load_state_dict(torch.load(weights, map_location="cpu"))
        names = list(getattr(model, "input_names", None) or [f"input_{i}" for i in range(len(inputs))])
        if len(names) != len(inputs):
            raise ValueError(f"{spec!r}: model.input_names names {len(names)} inputs, "
                             f"the function returned {len(inputs)}")
        output_names = getattr(model, "output_names", None)
        return ModelSpec(spec, model.eval(), inputs, names, False, seed, weights, batch, (height, width),
                         list(output_names) if output_names else None, dtype)
    if spec not in DETECTORS:
        raise ValueError(
            f"unknown model {spec!r}: use a torchvision detector ({', '.join(DETECTORS)}) "
            "or module:function returning (model, inputs)"
        )
    if dtype != "float32":
        raise ValueError(f"{spec}: torchvision detectors export in float32 only (deploy mode); "
                         "--dtype float16 is for module:function models")
    if spec == "ssdlite320_mobilenet_v3_large" and not weights:
        raise ValueError(
            f"{spec}: pass trained weights (--weights): with random weights its backbone's features vanish "
            "(~1e-13), so every detection scores exactly 1/91 and which ones are kept is a tie-break"
        )
    import torchvision

    torch.manual_seed(seed)
    builder = getattr(torchvision.models.detection, spec)
    options: dict[str, Any] = {}
    if spec not in _FIXED_SIZE_DETECTORS:
        options.update(min_size=min(height, width), max_size=max(height, width))
    if score_thresh is not None:
        options["box_score_thresh" if spec in RCNN_DETECTORS else "score_thresh"] = float(score_thresh)
    model = builder(weights=None, weights_backbone=None, **options)
    if weights:
        model.load_state_dict(torch.load(weights, map_location="cpu"))
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, height, width, generator=generator)
    return ModelSpec(spec, model.eval(), (images,), ["images"], True, seed, weights, batch, (height, width),
                     score_thresh=None if score_thresh is None else float(score_thresh))


def from_onnx_metadata(model: Any) -> dict[str, Any]:
    """The load() arguments recorded by ``trtops export`` in an ONNX model (empty if none)."""
    props = {p.key: p.value for p in model.metadata_props}
    if "trtops.model" not in props:
        return {}
    return {
        "spec": props["trtops.model"],
        "seed": int(props.get("trtops.seed", "0")),
        "weights": props.get("trtops.weights") or None,
        "batch": int(props.get("trtops.batch", "1")),
        "image_size": parse_size(props.get("trtops.image_size", "320x320")),
        "dtype": props.get("trtops.dtype", "float32"),
        "score_thresh": float(props["trtops.score_thresh"]) if props.get("trtops.score_thresh") else None,
    }


def export_spec(spec: ModelSpec, path: Path, *, dynamic_batch: bool = False, dynamic_image_size: bool = False,
                opset: int = 20, allow_tf32: bool = False) -> Any:
    """Export ``spec`` with trtops nodes (detectors in deploy mode) and record it in the metadata.
    ``allow_tf32`` sets the field of that name on every DeformConv2d node (float32 may multiply on
    TF32 tensor cores)."""
    from trtops import converters

    if spec.detector:
        if dynamic_batch or dynamic_image_size:
            raise ValueError(
                "torchvision detectors export in deploy mode, whose post-processing has static shapes: "
                "choose the batch and image size with --batch / --image-size instead of dynamic dims"
            )
        deploy = converters.deploy_module(spec.model)
        proto = converters.export(
            deploy, spec.inputs, None, input_names=spec.input_names, output_names=deploy.output_names(),
            deploy=True, opset=opset,
        )
    else:
        dynamic_shapes = None
        if dynamic_batch or dynamic_image_size:
            from torch.export import Dim

            first: dict[int, Any] = {}
            if dynamic_batch:
                first[0] = Dim("batch")
            if dynamic_image_size and spec.inputs[0].dim() == 4:
                first[2], first[3] = Dim("height"), Dim("width")
            dynamic_shapes = (first,) + tuple(None for _ in spec.inputs[1:])
        proto = converters.export(
            spec.export_model(), spec.export_inputs(), None, dynamic_shapes=dynamic_shapes,
            input_names=spec.input_names, output_names=spec.output_names, opset=opset,
        )
    if allow_tf32:
        converters.set_node_attributes(proto, "DeformConv2d", allow_tf32=1)
    for key, value in spec.metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    import onnx

    onnx.save(proto, str(path))
    return proto
