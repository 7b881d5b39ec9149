"""Plugins driven by the harness (no TensorRT runtime): serialization round trips, clone and
attachToContext, build-phase calls at concrete shapes (CPU); enqueue vs torchvision (GPU)."""

from __future__ import annotations

import pytest

from trtops.errors import TrtopsError
from trtops.plugins import built_plugins

pytestmark = pytest.mark.plugins

# (plugin, fields) cases: defaults, every field set, arrays.
FIELD_CASES = [
    ("RoIAlign", {"output_height": 7, "output_width": 7}),
    ("RoIAlign", {"output_height": 14, "output_width": 3, "spatial_scale": 0.0625, "sampling_ratio": 0, "aligned": 1}),
    ("PSRoIAlign", {"output_height": 7, "output_width": 7, "spatial_scale": 0.5, "sampling_ratio": 2}),
    ("RoIPool", {"output_height": 7, "output_width": 7, "spatial_scale": 0.125}),
    ("PSRoIPool", {"output_height": 3, "output_width": 3}),
    ("MultiScaleRoIAlign", {"output_height": 7, "output_width": 7, "sampling_ratio": 2,
                            "spatial_scales": [0.25, 0.125, 0.0625, 0.03125]}),
    ("MultiScaleRoIAlign", {"output_height": 14, "output_width": 14, "spatial_scales": [0.5],
                            "canonical_scale": 112, "canonical_level": 3, "aligned": 1}),
    # mmdet's level mapper: strides 6, 12, 24 (scales neither powers of two)
    ("MultiScaleRoIAlign", {"output_height": 7, "output_width": 7, "sampling_ratio": 0, "aligned": 1,
                            "spatial_scales": [1 / 6, 1 / 12, 1 / 24], "level_mapper": 1, "finest_scale": 32}),
    ("DeformConv2d", {}),
    ("DeformConv2d", {"stride": [2, 1], "padding": [1, 2], "dilation": [1, 3], "groups": 2, "offset_groups": 4,
                      "has_bias": 1, "has_mask": 1, "allow_tf32": 1}),
    ("NMS", {"iou_threshold": 0.5}),
    ("NMS", {"iou_threshold": 0.7, "score_threshold": 0.05, "max_output_boxes": 100, "padded": 1, "index_int32": 1}),
    ("BatchedNMS", {"iou_threshold": 0.3, "max_output_boxes": 1000}),
]


def skip_unless_built(name: str) -> None:
    if name not in built_plugins():
        pytest.skip(f"{name} is not in this build (TRTOPS_KERNEL_FAMILIES)")


@pytest.mark.parametrize(("name", "fields"), FIELD_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_serialized_fields_round_trip(harness, name: str, fields: dict) -> None:
    skip_unless_built(name)
    plugin = harness.create(name, fields)
    serialized = plugin.fields()
    for key, value in fields.items():
        expected = [float(v) for v in (value if isinstance(value, list) else [value])]
        assert serialized[key][1] == pytest.approx(expected), key
    recreated = plugin.recreate()  # what deserializing an engine does
    assert recreated.fields() == serialized
    assert recreated.recreate().fields() == serialized
    assert plugin.clone().fields() == serialized
    assert plugin.clone(attach_to_context=True).fields() == serialized


def test_every_creator_is_covered() -> None:
    covered = {name for name, _ in FIELD_CASES}
    assert set(built_plugins()) <= covered


def test_int64_and_float64_fields_are_accepted(harness) -> None:
    import numpy as np

    skip_unless_built("RoIAlign")
    plugin = harness.create("RoIAlign", {"output_height": np.array([7], np.int64), "output_width": np.array([5], np.int64),
                                         "spatial_scale": np.array([0.25], np.float64)})
    assert plugin.fields()["output_width"] == ("INT32", [5.0])
    assert plugin.fields()["spatial_scale"] == ("FLOAT32", [0.25])


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("RoIAlign", {"output_height": 7}, "required field 'output_width' is missing"),
        ("RoIAlign", {"output_height": 7, "output_width": 7, "sampling_ratio": 1.5}, "'sampling_ratio' must be an integer"),
        ("RoIAlign", {"output_height": 7, "output_width": [7, 7]}, "'output_width' must hold 1 value"),
        ("RoIAlign", {"output_height": 7, "output_width": 7, "spatial_scale": float("nan")}, "'spatial_scale' must be finite"),
        ("DeformConv2d", {"stride": [0, 1]}, "'stride'\\[0\\] must be in \\[1, "),
        ("DeformConv2d", {"padding": [1]}, "'padding' must hold 2 value"),
        ("NMS", {}, "required field 'iou_threshold' is missing"),
        ("MultiScaleRoIAlign", {"output_height": 7, "output_width": 7, "spatial_scales": [0.25] * 9}, "must hold 1 to 8 values"),
        ("MultiScaleRoIAlign", {"output_height": 7, "output_width": 7, "spatial_scales": [0.25, 1 / 12]},
         "'spatial_scales'\\[1\\] must be a power of two"),
        ("MultiScaleRoIAlign", {"output_height": 7, "output_width": 7, "spatial_scales": [0.25, 0.0], "level_mapper": 1},
         "'spatial_scales'\\[1\\] must be positive and finite, got 0"),
        ("MultiScaleRoIAlign", {"output_height": 7, "output_width": 7, "spatial_scales": [0.25], "level_mapper": 2},
         "'level_mapper' must be in \\[0, 1\\]"),
        ("MultiScaleRoIAlign", {"output_height": 7, "output_width": 7, "spatial_scales": [0.25], "level_mapper": 1,
                                "finest_scale": 0}, "'finest_scale' must be in \\[1, "),
    ],
)
def test_creator_rejects_bad_fields(harness, name: str, fields: dict, message: str) -> None:
    skip_unless_built(name)
    with pytest.raises(TrtopsError, match=message):
        harness.create(name, fields)


def test_configure_accepts_valid_shapes_and_rejects_bad_rois(harness) -> None:
    skip_unless_built("RoIAlign")
    plugin = harness.create("RoIAlign", {"output_height": 7, "output_width": 5})
    good = [("float16", [2, 16, 50, 60], "linear"), ("float32", [100, 5], "linear")]
    # Linear (NCHW) RoIAlign asks for one channels-last copy of the features as workspace.
    assert plugin.configure(good, [("float16", [100, 16, 7, 5], "linear")]) == 2 * 16 * 50 * 60 * 2
    bad = [("float16", [2, 16, 50, 60], "linear"), ("float32", [100, 4], "linear")]
    with pytest.raises(TrtopsError, match="rois must be \\[K, 5\\]"):
        plugin.configure(bad, [("float16", [100, 16, 7, 5], "linear")])


def test_channels_last_formats(harness) -> None:
    skip_unless_built("RoIAlign")
    plugin = harness.create("RoIAlign", {"output_height": 7, "output_width": 7})
    hwc8 = [("float16", [1, 16, 32, 32], "hwc8"), ("float16", [10, 5], "linear")]
    assert plugin.configure(hwc8, [("float16", [10, 16, 7, 7], "hwc8")]) == 0
    with pytest.raises(TrtopsError, match="supportsFormatCombination rejects tensor 0"):
        # kHWC8 needs a channel count that is a multiple of 8 (no padded channels).
        plugin.configure([("float16", [1, 12, 32, 32], "hwc8"), ("float16", [10, 5], "linear")],
                         [("float16", [10, 12, 7, 7], "hwc8")])
    ps = harness.create("PSRoIAlign", {"output_height": 2, "output_width": 2})
    with pytest.raises(TrtopsError, match="supportsFormatCombination"):
        ps.configure([("float16", [1, 16, 32, 32], "hwc8"), ("float16", [10, 5], "linear")],
                     [("float16", [10, 4, 2, 2], "hwc8")])


def test_nms_workspace_is_sized_from_the_box_count(harness) -> None:
    skip_unless_built("NMS")
    plugin = harness.create("NMS", {"iou_threshold": 0.5})
    small = plugin.configure([("float32", [1000, 4], "linear"), ("float32", [1000], "linear")],
                             [("int64", [1000], "linear"), ("int64", [], "linear")])
    large = plugin.configure([("float32", [100000, 4], "linear"), ("float32", [100000], "linear")],
                             [("int64", [100000], "linear"), ("int64", [], "linear")])
    assert 0 < small < large <= 256 << 20  # 100k boxes within the 256 MiB target
