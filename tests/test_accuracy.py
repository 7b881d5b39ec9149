"""trtops.accuracy's detection matching (compare_detections), which `trtops check` and the
detector tests rely on: what it matches, what it counts as unmatched, and what fails."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trtops.accuracy import TOLERANCES, compare_detections


def _detections(boxes: list[list[float]], scores: list[float], labels: list[int]) -> dict[str, Any]:
    return {"boxes": np.array(boxes, dtype=np.float32), "scores": np.array(scores, dtype=np.float32),
            "labels": np.array(labels, dtype=np.int64)}


_REFERENCE = _detections(
    [[10, 10, 50, 40], [12, 11, 49, 41], [100, 80, 130, 120], [25.7, 30, 25.7, 34], [60, 60, 60, 60]],
    [0.9, 0.8, 0.7, 0.6, 0.5],
    [3, 5, 3, 7, 7],
)


def _only(rows: list) -> Any:
    assert len(rows) == 1
    return rows[0]


def test_identical_detections_all_match_zero_area_boxes_included() -> None:
    """The last two boxes have zero area (IoU 0 even with themselves): they match by the IoU of
    the boxes grown by DEGENERATE_BOX_GROWTH."""
    row = _only(compare_detections([_REFERENCE], [_REFERENCE], TOLERANCES))
    assert row.passed and row.matched == row.reference == row.candidate == 5
    assert row.min_iou == 1.0 and row.max_score_delta == 0.0 and row.label_agreement == 1.0


def test_boxes_thinner_than_two_pixels_match_when_moved_within_box_atol() -> None:
    """A 0.05 px wide box moved by box_atol has IoU ~0.33 with itself; grown by 2 px it is 4 px
    wide and keeps IoU >= min_iou."""
    reference = _detections([[10, 10, 10.05, 30], [40, 40, 41.5, 41]], [0.9, 0.8], [1, 2])
    moved = {k: v.copy() for k, v in reference.items()}
    moved["boxes"] += TOLERANCES["box_atol"]
    row = _only(compare_detections([reference], [moved], TOLERANCES))
    assert row.passed and row.matched == 2 and row.min_iou >= TOLERANCES["min_iou"]


def test_reordered_and_slightly_moved_detections_match() -> None:
    order = [1, 0, 2, 4, 3]  # near-tied scores ordered the other way
    moved = {k: v[order].copy() for k, v in _REFERENCE.items()}
    moved["boxes"] += 0.05  # box_atol
    moved["scores"] += 5e-4
    row = _only(compare_detections([_REFERENCE], [moved], TOLERANCES))
    assert row.passed and row.matched == 5
    assert TOLERANCES["min_iou"] <= row.min_iou < 1.0


def test_same_box_with_other_labels_pairs_by_label() -> None:
    """One anchor's box kept for several classes: each reference detection takes the candidate
    of its own label."""
    boxes = [[10, 10, 50, 40]] * 3
    reference = _detections(boxes, [0.9, 0.8, 0.7], [1, 2, 3])
    candidate = _detections(boxes, [0.7, 0.9, 0.8], [3, 1, 2])
    row = _only(compare_detections([reference], [candidate], TOLERANCES))
    assert row.passed and row.matched == 3 and row.label_agreement == 1.0


@pytest.mark.parametrize(
    "change, failing",
    [
        ("drop", "unmatched"),
        ("label", "label_agreement"),
        ("score", "max_score_delta"),
        ("shift", "min_iou"),
        ("degenerate shift", "unmatched"),
    ],
)
def test_disagreements_fail(change: str, failing: str) -> None:
    candidate = {k: v.copy() for k, v in _REFERENCE.items()}
    if change == "drop":
        candidate = {k: v[:4] for k, v in candidate.items()}
    elif change == "label":
        candidate["labels"][2] = 4
    elif change == "score":
        candidate["scores"][1] += 2 * TOLERANCES["score_atol"]
    elif change == "shift":
        candidate["boxes"][2] += 3.0  # IoU ~0.83: matched, below min_iou
    else:
        candidate["boxes"][3] += [5.0, 0.0, 5.0, 0.0]  # a zero-width box moved 5 px: no match
    row = _only(compare_detections([_REFERENCE], [candidate], TOLERANCES))
    assert not row.passed
    if failing == "unmatched":
        assert row.matched == 4
    elif failing == "label_agreement":
        assert row.label_agreement < 1.0
    elif failing == "max_score_delta":
        assert row.max_score_delta > TOLERANCES["score_atol"]
    else:
        assert row.matched == 5 and row.min_iou < TOLERANCES["min_iou"]


def _with_keypoints(detections: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    count = detections["boxes"].shape[0]
    keypoints = np.concatenate([rng.uniform(0, 100, (count, 17, 2)), np.ones((count, 17, 1))], axis=-1)
    return {**detections, "keypoints": keypoints.astype(np.float32),
            "keypoints_scores": rng.normal(5, 2, (count, 17)).astype(np.float32)}


def test_keypoints_of_matched_pairs_are_compared() -> None:
    reference = _with_keypoints(_REFERENCE)
    candidate = {k: v.copy() for k, v in reference.items()}
    candidate["keypoints"][..., :2] += 0.01
    row = _only(compare_detections([reference], [candidate], TOLERANCES))
    assert row.passed and row.keypoint_far_fraction == 0.0
    assert row.keypoint_max_abs == pytest.approx(0.01, abs=1e-5) and row.keypoint_score_max_abs == 0.0


def test_keypoints_moved_by_a_pixel_fail_beyond_the_allowed_fraction() -> None:
    reference = _with_keypoints(_REFERENCE)
    candidate = {k: v.copy() for k, v in reference.items()}
    candidate["keypoints"][0, 0, 0] += 1.0  # 1 of 85 keypoints (1.2%): allowed
    row = _only(compare_detections([reference], [candidate], TOLERANCES))
    assert row.passed and row.keypoint_far_fraction == pytest.approx(1 / 85) and row.keypoint_max_abs == pytest.approx(1.0)
    candidate["keypoints"][1, :3, 1] -= 1.0  # 4 of 85 (4.7%): over unmatched_fraction
    row = _only(compare_detections([reference], [candidate], TOLERANCES))
    assert not row.passed and row.keypoint_far_fraction == pytest.approx(4 / 85)
