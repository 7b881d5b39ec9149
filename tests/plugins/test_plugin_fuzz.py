"""Bad input never crashes a plugin: hypothesis-driven fields and shapes through the harness.

Every plugin starts from a valid configuration; a draw then breaks it — a field set to an extreme,
non-finite, empty, over-long or wrongly typed value, a field dropped or an unknown one added; a
tensor given a dimension of 0 or up to 2^62 (element counts past int64), another rank, dtype or
format, or a tensor dropped or added. The creator (build and runtime phase, the latter being what
deserializing an engine does) and the build-phase calls (configure: supportsFormatCombination,
getOutputShapes at concrete shapes, configurePlugin, getWorkspaceSize) must either accept or refuse
with a message; a crash ends the test process. What is accepted must round-trip its fields, and a
workspace it asks for must be a size a GPU could hold.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trtops.converters._nodes import NODE_SPECS
from trtops.errors import TrtopsError
from trtops.plugins import built_plugins

pytestmark = pytest.mark.plugins

#: (fields, inputs, outputs) per plugin: a configuration every plugin accepts.
VALID: dict[str, tuple[dict[str, Any], list[tuple[str, list[int], str]], list[tuple[str, list[int], str]]]] = {
    "RoIAlign": ({"output_height": 7, "output_width": 5, "spatial_scale": 0.5, "sampling_ratio": 2, "aligned": 1},
                 [("float32", [2, 16, 20, 24], "linear"), ("float32", [10, 5], "linear")],
                 [("float32", [10, 16, 7, 5], "linear")]),
    "PSRoIAlign": ({"output_height": 2, "output_width": 2, "spatial_scale": 0.25, "sampling_ratio": 0},
                   [("float16", [1, 16, 20, 24], "linear"), ("float16", [10, 5], "linear")],
                   [("float16", [10, 4, 2, 2], "linear")]),
    "RoIPool": ({"output_height": 3, "output_width": 4, "spatial_scale": 0.125},
                [("bfloat16", [2, 8, 20, 24], "linear"), ("float32", [6, 5], "linear")],
                [("bfloat16", [6, 8, 3, 4], "linear")]),
    "PSRoIPool": ({"output_height": 2, "output_width": 3},
                  [("float32", [1, 12, 20, 24], "linear"), ("float32", [6, 5], "linear")],
                  [("float32", [6, 2, 2, 3], "linear")]),
    "MultiScaleRoIAlign": ({"output_height": 7, "output_width": 7, "spatial_scales": [0.25, 0.125], "sampling_ratio": 2},
                           [("float32", [1, 8, 32, 32], "linear"), ("float32", [1, 8, 16, 16], "linear"),
                            ("float32", [10, 5], "linear")],
                           [("float32", [10, 8, 7, 7], "linear")]),
    "DeformConv2d": ({"padding": [1, 1], "has_bias": 1, "has_mask": 1},
                     [("float32", [1, 4, 8, 8], "linear"), ("float32", [1, 18, 8, 8], "linear"),
                      ("float32", [8, 4, 3, 3], "linear"), ("float32", [8], "linear"),
                      ("float32", [1, 9, 8, 8], "linear")],
                     [("float32", [1, 8, 8, 8], "linear")]),
    "NMS": ({"iou_threshold": 0.5, "score_threshold": 0.1, "max_output_boxes": 20, "padded": 1},
            [("float32", [100, 4], "linear"), ("float32", [100], "linear")],
            [("int64", [20], "linear"), ("int64", [], "linear")]),
    "BatchedNMS": ({"iou_threshold": 0.5},
                   [("float16", [100, 4], "linear"), ("float16", [100], "linear"), ("int64", [100], "linear")],
                   [("int64", [100], "linear"), ("int64", [], "linear")]),
}

#: The largest workspace a plugin may ask for at the shapes drawn here (a GPU's memory, roughly).
MAX_WORKSPACE = 1 << 40

_INT_EXTREMES = [0, 1, -1, 2, 3, 7, 100, 2**31 - 1, -(2**31), 2**30]
_FLOAT_EXTREMES = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, 1e38, 3.4e38, float("nan"), float("inf"), float("-inf")]
_DIMS = [0, 1, 2, 3, 5, 7, 9, 64, 2**16, 2**31 - 1, 2**31, 2**40, 2**62]
_DTYPES = ["float32", "float16", "bfloat16", "int32", "int64", "bool"]
_FORMATS = ["linear", "linear", "hwc8", "hwc"]


def _field_value(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["int", "float", "ints", "floats", "int64", "float64", "empty"]))
    if kind == "int":
        return draw(st.sampled_from(_INT_EXTREMES) | st.integers(-(2**31), 2**31 - 1))
    if kind == "float":
        return draw(st.sampled_from(_FLOAT_EXTREMES) | st.floats(width=32))
    if kind == "ints":
        return draw(st.lists(st.sampled_from(_INT_EXTREMES), min_size=1, max_size=12))
    if kind == "floats":
        return draw(st.lists(st.sampled_from(_FLOAT_EXTREMES), min_size=1, max_size=12))
    if kind == "int64":
        return np.array(draw(st.lists(st.sampled_from([0, 1, 7, 2**31, -(2**40), 2**62]), min_size=1, max_size=3)),
                        np.int64)
    if kind == "float64":
        return np.array(draw(st.lists(st.sampled_from([0.5, 1e300, -1e300, float("nan")]), min_size=1, max_size=3)),
                        np.float64)
    return np.zeros(0, np.int32)


@st.composite
def broken_fields(draw: st.DrawFn, name: str) -> dict[str, Any]:
    fields = copy.deepcopy(VALID[name][0])
    known = sorted(set(fields) | set(NODE_SPECS[name].attributes))  # the plugin's fields
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["set", "set", "drop", "unknown"]))
        if action == "set":
            fields[draw(st.sampled_from(known))] = _field_value(draw)
        elif action == "drop" and fields:
            fields.pop(draw(st.sampled_from(sorted(fields))))
        else:
            fields[draw(st.sampled_from(["outputHeight", "unknown_field", "iou", ""]))] = _field_value(draw)
    return fields


@st.composite
def broken_tensors(draw: st.DrawFn, name: str) -> tuple[list, list]:
    inputs, outputs = copy.deepcopy(VALID[name][1]), copy.deepcopy(VALID[name][2])
    for _ in range(draw(st.integers(1, 3))):
        tensors = draw(st.sampled_from([inputs, outputs])) if outputs else inputs
        action = draw(st.sampled_from(["dim", "dim", "dim", "rank", "dtype", "format", "drop", "add"]))
        if action == "drop" and tensors:
            tensors.pop(draw(st.integers(0, len(tensors) - 1)))
        elif action == "add" or not tensors:
            tensors.append((draw(st.sampled_from(_DTYPES)), draw(st.lists(st.sampled_from(_DIMS), max_size=5)),
                            draw(st.sampled_from(_FORMATS))))
        else:
            i = draw(st.integers(0, len(tensors) - 1))
            dtype, shape, layout = tensors[i]
            if action == "dim" and shape:
                shape[draw(st.integers(0, len(shape) - 1))] = draw(st.sampled_from(_DIMS))
            elif action == "rank":
                shape = shape[:-1] if shape and draw(st.booleans()) else shape + [draw(st.sampled_from(_DIMS))]
            elif action == "dtype":
                dtype = draw(st.sampled_from(_DTYPES))
            elif action == "format":
                layout = draw(st.sampled_from(_FORMATS))
            tensors[i] = (dtype, shape, layout)
    return inputs, outputs


def _skip_unless_built(name: str) -> None:
    if name not in built_plugins():
        pytest.skip(f"{name} is not in this build (TRTOPS_KERNEL_FAMILIES)")


def test_valid_configurations_are_accepted(harness) -> None:
    """The starting points are valid, so the draws below break something real."""
    assert set(VALID) == set(NODE_SPECS)
    for name, (fields, inputs, outputs) in VALID.items():
        if name not in built_plugins():
            continue
        plugin = harness.create(name, fields)
        assert 0 <= plugin.configure(inputs, outputs) <= MAX_WORKSPACE, name


_FUZZ_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(VALID))
@_FUZZ_SETTINGS
@given(data=st.data())
def test_broken_fields_are_refused_or_round_trip(harness, name: str, data: st.DataObject) -> None:
    _skip_unless_built(name)
    fields = data.draw(broken_fields(name))
    phase = data.draw(st.sampled_from(["build", "runtime"]))
    try:
        plugin = harness.create(name, fields, phase=phase)
    except TrtopsError as refusal:
        assert str(refusal).strip(), "a refusal must say why"
        return
    serialized = plugin.fields()
    assert plugin.recreate().fields() == serialized
    assert plugin.clone(attach_to_context=True).fields() == serialized
    # Whatever fields were accepted, the plugin refuses or sizes shapes without crashing.
    try:
        workspace = plugin.configure(VALID[name][1], VALID[name][2])
    except TrtopsError as refusal:
        assert str(refusal).strip()
    else:
        assert 0 <= workspace <= MAX_WORKSPACE


@pytest.mark.parametrize("name", sorted(VALID))
@_FUZZ_SETTINGS
@given(data=st.data())
def test_broken_shapes_are_refused_or_sized(harness, name: str, data: st.DataObject) -> None:
    _skip_unless_built(name)
    inputs, outputs = data.draw(broken_tensors(name))
    plugin = harness.create(name, VALID[name][0])
    try:
        workspace = plugin.configure(inputs, outputs)
    except TrtopsError as refusal:
        assert str(refusal).strip(), "a refusal must say why"
    else:
        assert 0 <= workspace <= MAX_WORKSPACE, (inputs, outputs, workspace)
