"""Shared test configuration: tier markers skip with a printed reason when their tier's
requirements are missing (see README "Verification tiers")."""

from __future__ import annotations

import functools
from typing import Optional

import pytest


@functools.lru_cache(maxsize=None)
def kernels_missing_reason() -> Optional[str]:
    from trtops import TrtopsError, _native

    try:
        _native.kernels_library()
    except TrtopsError as exc:
        return str(exc)
    return None


@functools.lru_cache(maxsize=None)
def gpu_missing_reason() -> Optional[str]:
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU visible to torch (tier 3 runs on a GPU machine: pytest -m gpu)"
    return kernels_missing_reason()


@functools.lru_cache(maxsize=None)
def trt_build_missing_reason() -> Optional[str]:
    from trtops import TrtopsError, rtx
    from trtops.plugins import plugin_library_path

    try:
        plugin_library_path()
    except TrtopsError as exc:
        return str(exc)
    return rtx.in_process_missing_reason()


@functools.lru_cache(maxsize=None)
def plugins_missing_reason() -> Optional[str]:
    from trtops import TrtopsError, _native
    from trtops.plugins import plugin_library_path

    try:
        plugin_library_path()
    except TrtopsError as exc:
        return str(exc)
    if _native.find_library("libtrtops_plugin_harness.so") is None:
        return "libtrtops_plugin_harness.so is missing from the installation"
    return None


@functools.lru_cache(maxsize=None)
def gpu_plugins_missing_reason() -> Optional[str]:
    return gpu_missing_reason() or plugins_missing_reason()


_TIER_REASONS = {
    "kernels": kernels_missing_reason,
    "gpu": gpu_missing_reason,
    "trt_build": trt_build_missing_reason,
    "plugins": plugins_missing_reason,
}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, reason_fn in _TIER_REASONS.items():
        if item.get_closest_marker(marker) is not None:
            reason = reason_fn()
            if reason is not None:
                pytest.skip(f"[{marker} tier] {reason}")


@pytest.fixture(scope="session")
def rtx_builder():
    """A TensorRT-RTX builder with the trtops plugins registered: ``(trt module, builder, logger)``.

    Skips (with the reason) where the build tier is unavailable; tests using it are build-tier
    tests and should also carry ``@pytest.mark.trt_build``."""
    reason = trt_build_missing_reason()
    if reason is not None:
        pytest.skip(f"[trt_build tier] {reason}")
    import tensorrt_rtx as trt

    import trtops

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    trtops.load_plugins(trt)
    return trt, builder, logger


@pytest.fixture(scope="session")
def build_onnx(rtx_builder):
    """Builds an ONNX graph (bytes, path or ModelProto) with TensorRT-RTX and the trtops plugins and
    returns a :class:`trtops.engine.BuildResult`: ``build_onnx(model, profiles=[...])``."""
    from trtops.testing import build_onnx as build

    return build


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With TRTOPS_FAILURE_LOG set, append each failure to that file as it happens.

    A GPU session runs under a hard time limit; pytest prints tracebacks only at the end, so a run
    cut off by the limit would otherwise say that tests failed but not how."""
    import os

    path = os.environ.get("TRTOPS_FAILURE_LOG")
    if not path or not report.failed:
        return
    text = report.longreprtext
    if len(text) > 4000:  # keep the head (the call) and the tail (the assertion)
        text = text[:1500] + "\n[...]\n" + text[-2500:]
    with open(path, "a") as f:
        f.write(f"=== {report.nodeid} ({report.when}, {report.duration:.1f} s)\n{text}\n")
