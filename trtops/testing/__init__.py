"""Helpers for verifying trtops: building ONNX graphs with the TensorRT-RTX builder (tier 2)."""

from trtops.engine import BuildResult, Profile
from trtops.testing.rtx_build import build_onnx, build_onnx_isolated

__all__ = ["BuildResult", "Profile", "build_onnx", "build_onnx_isolated"]
