"""trtops.engine.build_engine's reduced-precision flags across runtimes: TensorRT 10's builder is
weakly typed (BuilderFlag.FP16/BF16); TensorRT 11's and TensorRT-RTX's are strongly typed and have
no such flags, where the graph's own types decide."""

from __future__ import annotations

import types

import pytest

from trtops.engine import _precision_flag


def _runtime(name: str, version: str, flags: tuple[str, ...]) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__version__ = version  # type: ignore[attr-defined]
    module.BuilderFlag = types.SimpleNamespace(**{flag: f"BuilderFlag.{flag}" for flag in flags})  # type: ignore[attr-defined]
    return module


def test_weakly_typed_builders_get_the_flag() -> None:
    tensorrt10 = _runtime("tensorrt", "10.3.0", ("FP16", "BF16", "TF32"))
    assert _precision_flag(tensorrt10, "fp32") is None
    assert _precision_flag(tensorrt10, "fp16") == "BuilderFlag.FP16"
    assert _precision_flag(tensorrt10, "bf16") == "BuilderFlag.BF16"


@pytest.mark.parametrize("name, version", [("tensorrt", "11.1.0"), ("tensorrt_rtx", "1.7.1.116")])
def test_strongly_typed_builders_ask_for_a_typed_export(name: str, version: str) -> None:
    runtime = _runtime(name, version, ("TF32", "REFIT"))
    assert _precision_flag(runtime, "fp32") is None
    with pytest.raises(ValueError, match=rf"{name} {version} builds strongly typed networks .*BuilderFlag.FP16.*--dtype"):
        _precision_flag(runtime, "fp16")


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be fp32, fp16 or bf16, got 'int8'"):
        _precision_flag(_runtime("tensorrt", "10.3.0", ("FP16",)), "int8")


@pytest.mark.trt_build
def test_tensorrt_rtx_refuses_reduced_precision_before_building() -> None:
    from trtops.engine import build_engine

    with pytest.raises(ValueError, match="tensorrt_rtx .* builds strongly typed networks"):
        build_engine(b"not parsed", runtime="tensorrt_rtx", precision="fp16")
