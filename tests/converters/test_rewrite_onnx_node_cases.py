"""rewrite() on the ONNX backend node tests shipped with the ``onnx`` package: the rewritten
graph (trtops nodes run by trtops.reference) gives the same outputs as the original graph run by
ONNX Runtime / onnx.reference, and as the test cases' expected outputs."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402

from trtops.converters import evaluate, rewrite  # noqa: E402

# NonMaxSuppression takes its thresholds and cap as graph inputs in these cases; rewrite()
# needs them constant, so the tests freeze those inputs into initializers.
_NMS_CONSTANT_INPUTS = ("max_output_boxes_per_class", "iou_threshold", "score_threshold")


@functools.lru_cache(maxsize=None)
def _cases() -> dict:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    keys = ("roialign", "nonmaxsuppression", "deform_conv")
    return {c.name: c for c in cases if any(k in c.name for k in keys)}


def _case_names(key: str) -> list[str]:
    return sorted(n for n in _cases() if key in n)


def _frozen(case) -> tuple:
    """(model, feeds, expected outputs) with NMS's scalar inputs turned into initializers."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    inputs, outputs = case.data_sets[0]
    names = [i.name for i in model.graph.input]
    feeds = {}
    kept_inputs = []
    for name, value, info in zip(names, inputs, list(model.graph.input)):
        if name in _NMS_CONSTANT_INPUTS:
            model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        else:
            feeds[name] = np.asarray(value)
            kept_inputs.append(info)
    del model.graph.input[:]
    model.graph.input.extend(kept_inputs)
    return model, feeds, [np.asarray(o) for o in outputs]


def _check(name: str, expect_replaced: bool = True, atol: float = 0.0, rtol: float = 0.0) -> None:
    model, feeds, expected = _frozen(_cases()[name])
    before = list(evaluate(model, feeds).values())
    result = rewrite(model)
    if not expect_replaced:
        assert not result.replaced and len(result.left_alone) == 1, result
        return
    assert result.replaced and not result.left_alone, result
    assert any(n.domain == "trtops" for n in result.model.graph.node)
    after = list(evaluate(result.model, feeds).values())
    for got, ref, exp in zip(after, before, expected):
        assert got.dtype == ref.dtype and got.shape == ref.shape, (got, ref)
        np.testing.assert_allclose(got, ref, atol=atol, rtol=rtol)
        # the cases' stored outputs are rounded to 4 decimals (RoiAlign)
        np.testing.assert_allclose(got, exp, atol=max(atol, 1e-4), rtol=max(rtol, 1e-5))


@pytest.mark.parametrize("name", _case_names("nonmaxsuppression"))
def test_non_max_suppression_cases(name: str) -> None:
    _check(name)


@pytest.mark.parametrize("name", ["test_roialign_aligned_false", "test_roialign_aligned_true"])
def test_roi_align_cases(name: str) -> None:
    # ONNX Runtime samples in float32 with its own operation order: a few ulps
    _check(name, atol=1e-6, rtol=1e-5)


def test_roi_align_max_mode_is_left_alone() -> None:
    model, _, _ = _frozen(_cases()["test_roialign_mode_max"])
    result = rewrite(model)
    assert not result.replaced
    assert len(result.left_alone) == 1 and "mode='max'" in result.left_alone[0]


@pytest.mark.parametrize("name", _case_names("deform_conv"))
def test_deform_conv_cases(name: str) -> None:
    _check(name, atol=1e-5, rtol=1e-5)
