"""Accuracy of a converted model or engine against PyTorch: per-output errors and, for
detectors, detection-level agreement. Used by ``trtops check`` and the samples.

Tolerances (:data:`TOLERANCES`) are stated in every report. What runs the candidate:

* an engine, when a CUDA GPU and a TensorRT runtime that accepts it exist (:func:`run_engine`);
* otherwise the converted ONNX graph, evaluated on CPU by :func:`trtops.converters.evaluate`
  (standard ops by ONNX Runtime, trtops nodes by :mod:`trtops.reference`) — the report says so.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch

from trtops.errors import TrtopsError

#: Pass/fail limits. Tensor outputs: |a - b| <= atol + rtol |b| elementwise (float outputs; integer
#: outputs must be equal); detector boxes, in pixels, use box_atol instead of atol: float32
#: rounding differences between PyTorch and the candidate's convolutions reach ~1e-2 px after a
#: ResNet-50 + box decoding. Detections: a reference detection is matched by the candidate
#: detection of highest IoU >= match_iou; the run passes when at most `unmatched_fraction` of
#: detections are unmatched on either side (random-weight detectors have near-tied scores whose
#: order float rounding may flip), matched pairs have IoU >= min_iou (a 0.05 px shift of a 3 px
#: box is IoU 0.97), equal labels and scores within score_atol. Mask R-CNN: the candidate's masks,
#: pasted into the image with its own boxes as torchvision pastes them, must match torchvision's
#: pasted masks within mask_atol (probabilities) for every matched pair (torchvision rounds box
#: corners to whole pixels when pasting, so a box that moves across a pixel edge shifts its mask).
#: Keypoint R-CNN: the candidate's keypoints, decoded from its heatmaps and boxes as torchvision
#: decodes them, must lie within keypoint_atol pixels of torchvision's for all but
#: unmatched_fraction of the matched pairs' keypoints (a keypoint is the argmax of a heatmap
#: resized to its box's size in whole pixels: rounding moves it by a fraction of a pixel, a
#: near-tied argmax or a box width crossing a whole pixel by about a pixel). The keypoint_heatmaps
#: tensor (logits, up to ~100 with random weights) is compared with an atol of heatmap_atol times
#: its largest magnitude: float32 rounding through the keypoint head's eight convolutions grows
#: with the activations' scale, not with each value.
TOLERANCES = {
    "atol": 1e-3,
    "rtol": 1e-3,
    "box_atol": 5e-2,
    "match_iou": 0.5,
    "min_iou": 0.95,
    "score_atol": 1e-3,
    "unmatched_fraction": 0.02,
    "mask_atol": 1e-2,
    "keypoint_atol": 0.5,
    "heatmap_atol": 1e-3,
}

#: atol/rtol for graphs exported in a reduced precision (``trtops export --dtype``), replacing
#: TOLERANCES' float32 limits. The reference is PyTorch in float64 on the float32 model and inputs,
#: so the limit covers the rounding of weights, inputs and every intermediate to fp16 (unit
#: roundoff 4.9e-4): a ResNet block in fp16 is typically within 4e-3 of float64 at values ~4.
DTYPE_TOLERANCES = {
    "float16": {"atol": 1e-2, "rtol": 1e-2},
}


@dataclasses.dataclass
class TensorComparison:
    name: str
    shape: list[int]
    max_abs: float
    max_rel: float
    passed: bool


@dataclasses.dataclass
class DetectionComparison:
    image: int
    reference: int  #: detections PyTorch made
    candidate: int  #: detections the candidate made
    matched: int
    min_iou: float
    max_score_delta: float
    label_agreement: float  #: fraction of matched pairs with equal labels
    passed: bool
    #: Mask R-CNN: max |probability difference| of pasted masks over matched pairs (None: no masks)
    mask_max_abs: Optional[float] = None
    #: Mask R-CNN: lowest IoU of the pasted masks binarized at 0.5, over matched pairs where either
    #: mask has a pixel >= 0.5 (reported, not a pass criterion: random weights give probabilities
    #: near 0.5, where binarization amplifies tiny differences)
    mask_min_iou: Optional[float] = None
    #: matched pairs whose binarized masks are not both empty (those mask_min_iou covers)
    mask_nonempty_pairs: Optional[int] = None
    #: Keypoint R-CNN: max distance (pixels, per coordinate) of the matched pairs' keypoints
    #: (None: no keypoints), and the fraction of those keypoints farther than keypoint_atol
    keypoint_max_abs: Optional[float] = None
    keypoint_far_fraction: Optional[float] = None
    #: Keypoint R-CNN: max |difference| of the keypoint scores (heatmap logits), reported only:
    #: the heatmaps themselves are compared as a tensor
    keypoint_score_max_abs: Optional[float] = None


@dataclasses.dataclass
class AccuracyReport:
    model: str
    candidate: str
    #: what computed the candidate's outputs, in words
    executed_by: str
    tensors: list[TensorComparison]
    detections: list[DetectionComparison]
    tolerances: dict[str, float]
    notes: list[str]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tensors) and all(d.passed for d in self.detections)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "passed": self.passed}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        lines = [
            f"model      {self.model}",
            f"candidate  {self.candidate}",
            f"executed   {self.executed_by}",
            "",
        ]
        name_width = max([16] + [len(t.name) for t in self.tensors])
        shape_width = max([20] + [len(str(t.shape)) for t in self.tensors])
        lines.append(f"{'output':<{name_width}} {'shape':<{shape_width}} {'max abs err':>12} {'max rel err':>12}  result")
        for t in self.tensors:
            lines.append(f"{t.name:<{name_width}} {str(t.shape):<{shape_width}} {t.max_abs:>12.3e} {t.max_rel:>12.3e}  "
                         f"{'ok' if t.passed else 'FAIL'}")
        if self.detections:
            masks = any(d.mask_max_abs is not None for d in self.detections)
            keypoints = any(d.keypoint_max_abs is not None for d in self.detections)
            mask_head = f" {'mask |dp|':>10} {'mask IoU':>8}" if masks else ""
            keypoint_head = f" {'kp |dxy|':>9} {'kp far':>7} {'kp |dscore|':>11}" if keypoints else ""
            lines += ["", f"{'image':<6} {'ref':>5} {'cand':>5} {'matched':>8} {'min IoU':>8} "
                          f"{'max |dscore|':>13} {'labels':>7}{mask_head}{keypoint_head}  result"]
            nan = float("nan")
            for d in self.detections:
                mask_cells = keypoint_cells = ""
                if masks:
                    mask_cells = (f" {d.mask_max_abs if d.mask_max_abs is not None else nan:>10.3e}"
                                  f" {d.mask_min_iou if d.mask_min_iou is not None else nan:>8.4f}")
                if keypoints:
                    keypoint_cells = (f" {d.keypoint_max_abs if d.keypoint_max_abs is not None else nan:>9.3e}"
                                      f" {d.keypoint_far_fraction if d.keypoint_far_fraction is not None else nan:>7.1%}"
                                      f" {d.keypoint_score_max_abs if d.keypoint_score_max_abs is not None else nan:>11.3e}")
                lines.append(f"{d.image:<6} {d.reference:>5} {d.candidate:>5} {d.matched:>8} {d.min_iou:>8.4f} "
                             f"{d.max_score_delta:>13.3e} {d.label_agreement:>7.1%}{mask_cells}{keypoint_cells}  "
                             f"{'ok' if d.passed else 'FAIL'}")
        limits = ", ".join(f"{k}={v:g}" for k, v in self.tolerances.items())
        lines += ["", f"tolerances {limits}"]
        lines += [f"note       {n}" for n in self.notes]
        lines.append(f"result     {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)


def compare_tensors(
    reference: Mapping[str, Any],
    candidate: Mapping[str, Any],
    *,
    atol: float,
    rtol: float,
    atol_by_name: Optional[Mapping[str, float]] = None,
) -> list[TensorComparison]:
    """Per-output max absolute / relative error (NaN where exactly one side is NaN counts as inf)."""
    rows = []
    for name, ref in reference.items():
        output_atol = (atol_by_name or {}).get(name, atol)
        ref_array = np.asarray(ref.detach().cpu() if isinstance(ref, torch.Tensor) else ref)
        if name not in candidate:
            rows.append(TensorComparison(name, list(ref_array.shape), float("inf"), float("inf"), False))
            continue
        cand_array = np.asarray(candidate[name])
        if cand_array.shape != ref_array.shape:
            rows.append(TensorComparison(name, list(cand_array.shape), float("inf"), float("inf"), False))
            continue
        a, b = cand_array.astype(np.float64), ref_array.astype(np.float64)
        both_nan = np.isnan(a) & np.isnan(b)
        diff = np.where(both_nan, 0.0, np.abs(a - b))
        diff = np.where(np.isnan(diff), np.inf, diff)
        finite = np.isfinite(b) & np.isfinite(a)
        same_inf = (a == b) & ~finite
        diff = np.where(same_inf, 0.0, diff)
        rel = diff / np.maximum(np.abs(b), 1e-12)
        exact = np.issubdtype(ref_array.dtype, np.integer) or ref_array.dtype == np.bool_
        passed = bool(np.all(diff == 0)) if exact else bool(np.all(diff <= output_atol + rtol * np.abs(np.where(finite, b, 0))))
        rows.append(TensorComparison(
            name, list(ref_array.shape), float(diff.max(initial=0.0)), float(rel.max(initial=0.0)), passed
        ))
    return rows


#: IoU says little about boxes a pixel or two across: a box of zero area has no IoU (0 with every
#: box, itself included), and one 1 px wide drops to IoU 0.9 when it moves by box_atol. Detectors
#: keep such boxes (torchvision's FCOS and RetinaNet do not drop small ones; random weights make
#: many). A pair holding a box with a side under SMALL_BOX_SIDE pixels (where a box_atol shift
#: can take IoU below min_iou) is compared by the IoU of both boxes grown by
#: DEGENERATE_BOX_GROWTH pixels on every side instead (2 px: even a point, grown to 4 x 4 px,
#: keeps IoU >= min_iou when both its coordinates move by box_atol).
SMALL_BOX_SIDE = 2.0
DEGENERATE_BOX_GROWTH = 2.0


def _plain_box_iou(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU [len(a), len(b)] and whether a pair holds a box with a side under SMALL_BOX_SIDE."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    iou = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)
    small_a = np.minimum(a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]) < SMALL_BOX_SIDE
    small_b = np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) < SMALL_BOX_SIDE
    return iou, small_a[:, None] | small_b[None, :]


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iou, small = _plain_box_iou(a, b)
    if small.any():
        growth = np.array([-1.0, -1.0, 1.0, 1.0]) * DEGENERATE_BOX_GROWTH
        grown, _ = _plain_box_iou(a + growth, b + growth)
        iou = np.where(small, grown, iou)
    return iou


def _match(ref_boxes: np.ndarray, ref_scores: np.ndarray, ref_labels: np.ndarray, cand_boxes: np.ndarray,
           cand_labels: np.ndarray, match_iou: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching in the reference's score order: each reference detection takes
    the free candidate of highest IoU >= match_iou, preferring one with the same label."""
    if not len(ref_boxes) or not len(cand_boxes):
        return []
    iou = _box_iou(ref_boxes, cand_boxes)
    taken = np.zeros(len(cand_boxes), dtype=bool)
    pairs = []
    for i in np.argsort(-ref_scores, kind="stable"):
        eligible = (~taken) & (iou[i] >= match_iou)
        if not eligible.any():
            continue
        preference = np.where(eligible, iou[i] + (cand_labels == ref_labels[i]), -1.0)
        j = int(np.argmax(preference))
        taken[j] = True
        pairs.append((int(i), j))
    return pairs


#: Deploy outputs with one row per detection slot ([B, D, ...]).
DETECTION_OUTPUTS = ("boxes", "scores", "labels", "masks", "keypoint_heatmaps", "keypoint_boxes")


def align_detector_outputs(
    reference: Mapping[str, Any], candidate: Mapping[str, np.ndarray], match_iou: float
) -> dict[str, np.ndarray]:
    """The candidate's deploy outputs ([B, D, ...] per detection) reordered into the reference's
    detection order, so near-tied scores that float rounding ordered differently compare
    detection by detection; unmatched slots stay where they are."""
    aligned = {name: np.array(value, copy=True) for name, value in candidate.items()}
    ref = {k: np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in reference.items()}
    per_detection = [n for n in DETECTION_OUTPUTS if n in aligned]
    for b in range(ref["boxes"].shape[0]):
        n_ref, n_cand = int(ref["num_detections"][b]), int(candidate["num_detections"][b])
        pairs = _match(ref["boxes"][b, :n_ref], ref["scores"][b, :n_ref], ref["labels"][b, :n_ref],
                       np.asarray(candidate["boxes"])[b, :n_cand], np.asarray(candidate["labels"])[b, :n_cand], match_iou)
        order = list(range(aligned["boxes"].shape[1]))
        used = {j for _, j in pairs}
        free = [j for j in range(n_cand) if j not in used]
        for slot in range(n_cand):
            order[slot] = -1
        for i, j in pairs:
            order[i] = j
        for slot in range(n_cand):  # unmatched candidates fill the remaining slots in their order
            if order[slot] == -1:
                order[slot] = free.pop(0)
        for name in per_detection:
            aligned[name][b] = np.asarray(candidate[name])[b][order]
    return aligned


def compare_detections(
    reference: Sequence[Mapping[str, Any]], candidate: Sequence[Mapping[str, Any]], tolerances: Mapping[str, float]
) -> list[DetectionComparison]:
    """Detection-level agreement per image (matching: :func:`_match`)."""
    rows = []
    for image, (ref, cand) in enumerate(zip(reference, candidate)):
        rb, cb = (np.asarray(d["boxes"], dtype=np.float64).reshape(-1, 4) for d in (ref, cand))
        rs, cs = (np.asarray(d["scores"], dtype=np.float64).reshape(-1) for d in (ref, cand))
        rl, cl = (np.asarray(d["labels"]).reshape(-1) for d in (ref, cand))
        pairs = _match(rb, rs, rl, cb, cl, tolerances["match_iou"])
        ious = []
        if pairs:
            iou = _box_iou(rb, cb)
            ious = [iou[i, j] for i, j in pairs]
        deltas = [abs(rs[i] - cs[j]) for i, j in pairs]
        same_label = [rl[i] == cl[j] for i, j in pairs]
        matched = len(pairs)
        allowed = tolerances["unmatched_fraction"] * max(len(rb), len(cb))
        min_iou = float(min(ious)) if ious else 1.0
        max_delta = float(max(deltas)) if deltas else 0.0
        agreement = float(np.mean(same_label)) if same_label else 1.0
        passed = (
            len(rb) - matched <= allowed
            and len(cb) - matched <= allowed
            and min_iou >= tolerances["min_iou"]
            and max_delta <= tolerances["score_atol"]
            and agreement == 1.0
        )
        mask_max_abs = mask_min_iou = mask_pairs = None
        if "masks" in ref and "masks" in cand:
            mask_max_abs, mask_min_iou, mask_pairs = _compare_pasted_masks(ref, cand, pairs)
            passed = passed and mask_max_abs <= tolerances["mask_atol"]
        keypoint_max_abs = keypoint_far = keypoint_score_max_abs = None
        if "keypoints" in ref and "keypoints" in cand:
            keypoint_max_abs, keypoint_far, keypoint_score_max_abs = _compare_keypoints(
                ref, cand, pairs, tolerances["keypoint_atol"])
            passed = passed and keypoint_far <= tolerances["unmatched_fraction"]
        rows.append(DetectionComparison(image, len(rb), len(cb), matched, min_iou, max_delta, agreement, passed,
                                        mask_max_abs, mask_min_iou, mask_pairs, keypoint_max_abs, keypoint_far,
                                        keypoint_score_max_abs))
    return rows


def _compare_keypoints(ref: Mapping[str, Any], cand: Mapping[str, Any], pairs: Sequence[tuple[int, int]],
                       keypoint_atol: float) -> tuple[float, float, float]:
    """Over matched pairs: max |dx|, |dy| of the keypoints ``[N, K, 3]``, the fraction of keypoints
    with |dx| or |dy| > keypoint_atol, and max |difference| of ``keypoints_scores``."""
    if not pairs:
        return 0.0, 0.0, 0.0
    ri, ci = (np.array(index) for index in zip(*pairs))
    ref_xy = np.asarray(ref["keypoints"], dtype=np.float64)[ri][..., :2]
    cand_xy = np.asarray(cand["keypoints"], dtype=np.float64)[ci][..., :2]
    distance = np.abs(ref_xy - cand_xy).max(axis=-1)
    scores = np.abs(np.asarray(ref["keypoints_scores"], dtype=np.float64)[ri]
                    - np.asarray(cand["keypoints_scores"], dtype=np.float64)[ci])
    return float(distance.max()), float((distance > keypoint_atol).mean()), float(scores.max())


def _compare_pasted_masks(ref: Mapping[str, Any], cand: Mapping[str, Any],
                          pairs: Sequence[tuple[int, int]]) -> tuple[float, float, int]:
    """torchvision's pasted masks ``[N, 1, H, W]`` versus the candidate's unpasted ``[D, 1, M, M]``
    masks pasted with the candidate's boxes (as torchvision pastes them), over matched pairs:
    (max |probability difference|, min IoU at 0.5 over pairs not both empty, that pair count)."""
    from trtops.converters.deploy import paste_masks

    if not pairs:
        return 0.0, 1.0, 0
    ref_masks = torch.as_tensor(np.asarray(ref["masks"]), dtype=torch.float32)
    cand_masks = torch.as_tensor(np.asarray(cand["masks"]), dtype=torch.float32)
    cand_boxes = torch.as_tensor(np.asarray(cand["boxes"]), dtype=torch.float32)
    ri = torch.tensor([i for i, _ in pairs])
    ci = torch.tensor([j for _, j in pairs])
    pasted = paste_masks(cand_masks[ci], cand_boxes[ci], ref_masks.shape[-2:])
    expected = ref_masks[ri]
    max_abs = float((pasted - expected).abs().max())
    a, b = (pasted >= 0.5).flatten(1), (expected >= 0.5).flatten(1)
    union = (a | b).sum(1)
    nonempty = union > 0
    ious = (a & b).sum(1)[nonempty].double() / union[nonempty].double()
    return max_abs, float(ious.min()) if len(ious) else 1.0, int(nonempty.sum())


class EngineOutputs:
    """Device memory for the outputs of one engine execution whose size TensorRT learns only while it
    runs (data-dependent shapes, e.g. trtops NMS without padding): TensorRT asks for memory through
    :meth:`reallocate` and reports the final shape through :meth:`notify_shape` (the two calls of
    its ``IOutputAllocator``); :meth:`tensor` then views the memory as the output.

    The memory is torch's (its caching allocator, on the stream the engine runs on), so it is
    reused across calls and never leaks when an execution fails.
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self._buffers: dict[str, torch.Tensor] = {}
        self._offsets: dict[str, int] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        #: The first exception raised inside a callback (TensorRT only sees a null pointer).
        self.error: Optional[BaseException] = None

    def reallocate(self, name: str, size: int, alignment: int) -> int:
        """Address of at least ``size`` bytes for output ``name`` aligned to ``alignment`` (which
        TensorRT gives as a power of two); keeps the current memory when it is large enough.
        Returns 0 (TensorRT's failure) and records the error when the memory cannot be had."""
        try:
            if size < 0 or alignment < 1 or alignment & (alignment - 1):
                raise TrtopsError(f"output {name}: TensorRT asked for {size} bytes aligned to {alignment}")
            buffer = self._buffers.get(name)
            if buffer is not None and buffer.numel() - self._offsets[name] >= size:
                return buffer.data_ptr() + self._offsets[name]
            # One byte at least: a null pointer would read as a failure even for an empty output.
            buffer = torch.empty(max(size, 1) + alignment - 1, dtype=torch.uint8, device=self.device)
            self._buffers[name] = buffer
            self._offsets[name] = -buffer.data_ptr() % alignment
            return buffer.data_ptr() + self._offsets[name]
        except BaseException as exc:  # noqa: BLE001 - TensorRT's callback must not raise; re-raised after
            self.error = self.error or exc
            return 0

    def notify_shape(self, name: str, shape: Sequence[int]) -> None:
        """Records the shape output ``name`` has after the execution."""
        self._shapes[name] = tuple(int(d) for d in shape)

    def tensor(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        """Output ``name`` as a tensor of ``dtype`` in the notified shape (a view of the memory)."""
        if name not in self._shapes:
            raise TrtopsError(f"TensorRT reported no shape for the data-dependent output {name}")
        shape = self._shapes[name]
        count = int(np.prod(shape, dtype=np.int64))
        nbytes = count * torch.empty((), dtype=dtype).element_size()
        buffer = self._buffers.get(name)
        offset = self._offsets.get(name, 0)
        if not nbytes:
            return torch.empty(shape, dtype=dtype, device=self.device)
        if buffer is None or buffer.numel() - offset < nbytes:
            raise TrtopsError(f"output {name} of shape {shape} ({nbytes} bytes) is larger than the memory "
                              "TensorRT asked for")
        return buffer[offset:offset + nbytes].view(dtype).view(shape)


def make_output_allocator(trt: Any, outputs: EngineOutputs) -> Any:
    """An instance of ``trt.IOutputAllocator`` (the runtime module's own base class) that hands
    TensorRT's calls to ``outputs``. Both reallocate callbacks are implemented: TensorRT 10+ calls
    ``reallocate_output_async``, older bindings ``reallocate_output``."""

    class OutputAllocator(trt.IOutputAllocator):
        def __init__(self) -> None:
            trt.IOutputAllocator.__init__(self)

        def reallocate_output(self, tensor_name: str, memory: int, size: int, alignment: int) -> int:
            return outputs.reallocate(tensor_name, size, alignment)

        def reallocate_output_async(self, tensor_name: str, memory: int, size: int, alignment: int,
                                    stream: int) -> int:
            return outputs.reallocate(tensor_name, size, alignment)

        def notify_shape(self, tensor_name: str, shape: Any) -> None:
            outputs.notify_shape(tensor_name, tuple(shape))

    return OutputAllocator()


#: TensorRT data type names (``trt.DataType.X.name``) -> torch dtypes of the outputs run_engine returns.
_TORCH_TYPES = {"FLOAT": torch.float32, "HALF": torch.float16, "BF16": torch.bfloat16,
                "INT32": torch.int32, "INT64": torch.int64, "INT8": torch.int8, "UINT8": torch.uint8,
                "BOOL": torch.bool}


def execute_engine(trt: Any, engine: Any, inputs: Mapping[str, torch.Tensor], device: torch.device | str,
                   stream: int) -> dict[str, torch.Tensor]:
    """Runs a deserialized ``engine`` once on ``inputs`` (one per engine input, moved to ``device``
    and cast to the input's type) on CUDA stream ``stream`` and returns its outputs on ``device`` after the stream has finished. Outputs with a
    static shape (after the input shapes are set) get their memory up front; outputs whose shape
    depends on the data (trtops NMS without padding) get it through an ``IOutputAllocator`` and
    come back in the shape TensorRT reports."""
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    wanted = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
    if sorted(wanted) != sorted(inputs):
        raise TrtopsError(f"the engine's inputs are {wanted}, but {sorted(inputs)} were given")
    # An engine reads its inputs' memory as its own types: a float64 or int32 tensor handed to a
    # float32 or int64 input would be read as other numbers. Each input is cast to its type.
    device_inputs = {}
    for name in wanted:
        type_name = engine.get_tensor_dtype(name).name
        if type_name not in _TORCH_TYPES:
            raise TrtopsError(f"input {name} has TensorRT type {type_name}, which run_engine does not feed")
        device_inputs[name] = inputs[name].to(device=device, dtype=_TORCH_TYPES[type_name]).contiguous()
    context = engine.create_execution_context()
    if context is None:
        raise TrtopsError("the engine could not create an execution context (see the TensorRT log above)")
    for name, tensor in device_inputs.items():
        if not context.set_input_shape(name, tuple(tensor.shape)):
            raise TrtopsError(f"the engine refused input {name} of shape {tuple(tensor.shape)} "
                              "(see the TensorRT log above)")
        context.set_tensor_address(name, tensor.data_ptr())
    static: dict[str, torch.Tensor] = {}
    dynamic: dict[str, torch.dtype] = {}
    allocated = EngineOutputs(device)
    allocators = []  # TensorRT holds no reference: they must outlive the execution
    for name in names:
        if engine.get_tensor_mode(name) != trt.TensorIOMode.OUTPUT:
            continue
        type_name = engine.get_tensor_dtype(name).name
        if type_name not in _TORCH_TYPES:
            raise TrtopsError(f"output {name} has TensorRT type {type_name}, which run_engine does not return")
        dtype = _TORCH_TYPES[type_name]
        shape = tuple(context.get_tensor_shape(name))
        if any(d < 0 for d in shape):
            allocators.append(make_output_allocator(trt, allocated))
            if not context.set_output_allocator(name, allocators[-1]):
                raise TrtopsError(f"the engine refused an output allocator for {name}")
            dynamic[name] = dtype
        else:
            static[name] = torch.empty(shape, dtype=dtype, device=device)
            context.set_tensor_address(name, static[name].data_ptr())
    ok = context.execute_async_v3(stream)
    if allocated.error is not None:
        raise TrtopsError(f"allocating a data-dependent output failed: {allocated.error}") from allocated.error
    if not ok:
        raise TrtopsError("execute_async_v3 failed (see the TensorRT log above)")
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    outputs = {name: allocated.tensor(name, dtype) for name, dtype in dynamic.items()}
    outputs.update(static)
    return {name: outputs[name] for name in names if name in outputs}


def run_engine(engine_path: Path, inputs: Mapping[str, torch.Tensor], runtime: Any = None) -> dict[str, np.ndarray]:
    """Run a serialized engine once on a CUDA GPU; returns the outputs (data-dependent ones, e.g.
    trtops NMS without padding, in the shape the execution gave them; bfloat16 ones as float32).

    Raises TrtopsError when no GPU or no runtime that accepts the engine is available.
    """
    from trtops.plugins import import_runtime, load_plugins

    if not torch.cuda.is_available():
        raise TrtopsError("running an engine needs a CUDA GPU, and torch sees none")
    trt = import_runtime(runtime)
    load_plugins(trt)
    logger = trt.Logger(trt.Logger.WARNING)
    engine = trt.Runtime(logger).deserialize_cuda_engine(Path(engine_path).read_bytes())
    if engine is None:
        raise TrtopsError(f"{trt.__name__} could not deserialize {engine_path} (see its log above)")
    device = torch.device("cuda", torch.cuda.current_device())
    outputs = execute_engine(trt, engine, inputs, device, torch.cuda.current_stream(device).cuda_stream)
    # numpy has no bfloat16: such outputs come back as float32 (exactly).
    return {name: (t.float() if t.dtype == torch.bfloat16 else t).cpu().numpy() for name, t in outputs.items()}


def _decode_candidate_keypoints(spec: Any, detections: Sequence[dict[str, Any]]) -> None:
    """Adds torchvision's ``keypoints`` / ``keypoints_scores`` to each image's deploy detections,
    decoded in the model's image coordinates (after its transform's resize) as torchvision does."""
    from trtops.converters.deploy import decode_keypoints

    images = spec.inputs[0]
    model_sizes = spec.model.transform(list(images))[0].image_sizes
    for detection, model_size in zip(detections, model_sizes):
        keypoints, scores = decode_keypoints(detection.pop("keypoint_heatmaps"), detection.pop("keypoint_boxes"),
                                             model_size, images.shape[-2:])
        detection["keypoints"], detection["keypoints_scores"] = keypoints, scores


def check(candidate: Path, spec: Any, *, engine: Optional[Path] = None, runtime: Any = None,
          tolerances: Optional[Mapping[str, float]] = None) -> AccuracyReport:
    """Compare a converted model (ONNX) or engine with PyTorch on ``spec``'s example inputs.

    Args:
        candidate: the ``.onnx`` produced by export, or a ``.engine``.
        spec: a :class:`trtops.models.ModelSpec` (same model, weights and inputs as the export).
        engine: with an ONNX candidate, an engine built from it, run instead when possible.
        runtime: TensorRT module or name for running engines.
        tolerances: overrides of :data:`TOLERANCES` keys for this check (stated in the report).

    A graph exported in a reduced precision (``spec.dtype``, e.g. float16) gets the example inputs
    cast to that dtype, and is compared with PyTorch in float64 on the float32 model and inputs
    under :data:`DTYPE_TOLERANCES`.
    """
    from trtops import converters

    candidate = Path(candidate)
    dtype = getattr(spec, "dtype", "float32")
    limits = dict(TOLERANCES)
    limits.update(DTYPE_TOLERANCES.get(dtype, {}))
    unknown = sorted(set(tolerances or {}) - set(TOLERANCES))
    if unknown:
        raise TrtopsError(f"unknown tolerance(s) {', '.join(unknown)}; known: {', '.join(TOLERANCES)}")
    limits.update(tolerances or {})
    exported_inputs = spec.export_inputs() if hasattr(spec, "export_inputs") else spec.inputs
    inputs = dict(zip(spec.input_names, exported_inputs))
    notes: list[str] = []
    engine_path = candidate if candidate.suffix in (".engine", ".plan") else engine
    outputs: Optional[dict[str, np.ndarray]] = None
    if engine_path is not None:
        try:
            outputs = run_engine(engine_path, inputs, runtime)
            executed_by = f"TensorRT engine {engine_path} on {torch.cuda.get_device_name()}"
        except (TrtopsError, ImportError) as exc:
            if candidate == engine_path:
                raise TrtopsError(f"cannot run {engine_path} here ({exc}); pass the ONNX file to check the "
                                  "converted graph on CPU instead") from exc
            notes.append(f"engine {engine_path} not run: {exc}")
    if outputs is None:
        outputs = converters.evaluate(candidate, inputs)
        executed_by = ("the converted ONNX graph evaluated on CPU (standard ops: ONNX Runtime; trtops nodes: "
                       "trtops.reference)")

    with torch.no_grad():
        if spec.detector:
            deploy = converters.deploy_module(spec.model)
            reference = dict(zip(deploy.output_names(), deploy(*spec.inputs)))
            torchvision_detections = spec.model(list(spec.inputs[0]))
        elif dtype != "float32":
            import copy

            model64 = copy.deepcopy(spec.model).double()
            result = model64(*(t.double() if t.is_floating_point() else t for t in spec.inputs))
            result = result if isinstance(result, (tuple, list)) else (result,)
            notes.append(f"candidate is a {dtype} graph run on the inputs rounded to {dtype}; reference: PyTorch "
                         f"in float64 on CPU (float32 weights and inputs); {dtype} limits atol/rtol "
                         f"{limits['atol']:g}/{limits['rtol']:g}")
        else:
            result = spec.model(*spec.inputs)
            result = result if isinstance(result, (tuple, list)) else (result,)
        if not spec.detector:
            reference = dict(zip(list(outputs)[: len(result)], result))
    if tolerances:
        notes.append("tolerances overridden for this check: " + ", ".join(f"{k}={v:g}" for k, v in tolerances.items()))
    if spec.detector:
        outputs = align_detector_outputs(reference, outputs, limits["match_iou"])
        notes.append("detector outputs compared detection by detection (candidate rows reordered to the "
                     "reference's matched order; near-tied scores may be ordered differently)")
    atol_by_name: Optional[dict[str, float]] = None
    if spec.detector:
        atol_by_name = {"boxes": limits["box_atol"], "keypoint_boxes": limits["box_atol"]}
        if "keypoint_heatmaps" in reference:
            scale = float(np.abs(np.asarray(reference["keypoint_heatmaps"])).max(initial=0.0))
            atol_by_name["keypoint_heatmaps"] = limits["heatmap_atol"] * max(scale, 1.0)
    tensors = compare_tensors(reference, outputs, atol=limits["atol"], rtol=limits["rtol"], atol_by_name=atol_by_name)
    detections: list[DetectionComparison] = []
    if spec.detector:
        from trtops.converters.deploy import split_detections

        candidate_detections = split_detections([outputs[n] for n in deploy.output_names()], deploy.output_names())
        if "keypoint_heatmaps" in outputs:
            _decode_candidate_keypoints(spec, candidate_detections)
            notes.append("keypoints: decoded from the candidate's keypoint_heatmaps and keypoint_boxes as torchvision "
                         "decodes them (trtops.converters.deploy.decode_keypoints), compared with torchvision's over "
                         "matched pairs (kp |dxy|: max distance per coordinate in pixels; kp far: the fraction farther "
                         "than keypoint_atol, pass limit unmatched_fraction; kp |dscore|: keypoint scores, reported)")
        detections = compare_detections(torchvision_detections, candidate_detections, limits)
        notes.append("detections compared with the torchvision model itself; tensors with its static-shape "
                     "deploy form (same weights)")
        if "masks" in outputs:
            notes.append("masks: the `masks` tensor compares the unpasted [D, 1, 28, 28] probabilities; per image, "
                         "the candidate's masks pasted with its own boxes are compared with torchvision's pasted "
                         "masks (mask |dp|: max probability difference, pass limit mask_atol; mask IoU: lowest "
                         "IoU at 0.5 over matched pairs not both empty, reported only)")
    return AccuracyReport(spec.name, str(candidate), executed_by, tensors, detections, limits, notes)
