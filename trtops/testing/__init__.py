"""Helpers for verifying trtops: building ONNX graphs with the TensorRT-RTX builder (tier 2)."""

from trtops.testing.rtx_build import BuildResult, Profile, build_onnx, build_onnx_isolated

__all__ = ["BuildResult", "Profile", "build_onnx", "build_onnx_isolated"]
