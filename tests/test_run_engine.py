"""trtops.accuracy.execute_engine / run_engine: static outputs get memory up front, data-dependent
ones (trtops NMS without padding) through an IOutputAllocator, and come back in the shape TensorRT
reports.

No runtime here can execute an engine (TensorRT-RTX refuses machines without a GPU and Hopper), so
the CPU tests drive execute_engine with a stand-in runtime that behaves as TensorRT's does towards
its caller: it sees only the addresses and shapes it is given, reads the inputs and writes the
outputs through those addresses, and sizes a data-dependent output by calling the registered
allocator, then reporting the shape. A trt_build test checks that every method the stand-in offers
exists on the real TensorRT-RTX classes and that the allocator subclasses the real base class; a
GPU test runs a real engine where a runtime accepts the GPU.
"""

from __future__ import annotations

import ctypes
import types
from typing import Any, Optional

import numpy as np
import pytest
import torch
import torchvision

from trtops.accuracy import _TORCH_TYPES, EngineOutputs, execute_engine, make_output_allocator
from trtops.errors import TrtopsError


def _tensor_at(address: int, shape: tuple[int, ...], dtype: torch.dtype, device: str) -> torch.Tensor:
    """The memory at `address` as a tensor (what a kernel sees of a buffer): host memory through
    ctypes, device memory through the CUDA array interface."""
    count = int(np.prod(shape, dtype=np.int64))
    itemsize = torch.empty((), dtype=dtype).element_size()
    if device == "cpu":
        raw = (ctypes.c_byte * (count * itemsize)).from_address(address)
        return torch.frombuffer(raw, dtype=dtype).view(shape)
    typestr = {torch.float32: "<f4", torch.int64: "<i8", torch.int32: "<i4"}[dtype]
    interface = types.SimpleNamespace(__cuda_array_interface__={
        "data": (address, False), "shape": shape, "typestr": typestr, "version": 3})
    return torch.as_tensor(interface, device="cuda")


class _FakeAllocatorBase:
    def __init__(self) -> None:
        pass


_FAKE_TRT = types.SimpleNamespace(
    IOutputAllocator=_FakeAllocatorBase,
    TensorIOMode=types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT"),
)


class _NmsContext:
    """An engine `boxes [N,4] float, scores [N] float -> keep [K] int64 (data-dependent),
    count [1] int32`: NMS at IoU 0.5, computed by torchvision on what the addresses hold."""

    def __init__(self, engine: "_NmsEngine") -> None:
        self.engine = engine
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}
        self.allocators: dict[str, Any] = {}

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        if name not in ("boxes", "scores") or (name == "boxes" and (len(shape) != 2 or shape[1] != 4)):
            return False
        self.shapes[name] = tuple(shape)
        return True

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.addresses[name] = address
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return {"keep": (-1,), "count": (1,)}[name]

    def set_output_allocator(self, name: str, allocator: Any) -> bool:
        if name != "keep":
            return False
        self.allocators[name] = allocator
        return True

    def execute_async_v3(self, stream: int) -> bool:
        if "keep" not in self.allocators or set(self.addresses) != {"boxes", "scores", "count"}:
            return False  # TensorRT fails an execution whose outputs have nowhere to go
        n, device = self.shapes["boxes"][0], self.engine.device
        boxes = _tensor_at(self.addresses["boxes"], (n, 4), torch.float32, device).cpu().clone() if n else torch.empty(0, 4)
        scores = _tensor_at(self.addresses["scores"], (n,), torch.float32, device).cpu().clone() if n else torch.empty(0)
        keep = torchvision.ops.nms(boxes, scores, 0.5)
        allocator = self.allocators["keep"]
        for size in self.engine.requests(keep.numel() * 8):
            address = allocator.reallocate_output_async("keep", 0, size, self.engine.alignment, stream)
            if address == 0 or address % self.engine.alignment:
                return False
        if keep.numel():
            _tensor_at(address, tuple(keep.shape), torch.int64, device).copy_(keep)
        if self.engine.notify:
            allocator.notify_shape("keep", tuple(keep.shape))
        _tensor_at(self.addresses["count"], (1,), torch.int32, device).fill_(keep.numel())
        return True


class _NmsEngine:
    num_io_tensors = 4
    _NAMES = ("boxes", "scores", "keep", "count")
    _TYPES = {"boxes": "FLOAT", "scores": "FLOAT", "keep": "INT64", "count": "INT32"}

    def __init__(self, *, device: str = "cpu", alignment: int = 256, notify: bool = True,
                 ask_first: Optional[int] = None) -> None:
        self.device = device
        self.alignment = alignment
        self.notify = notify
        self.ask_first = ask_first  # TensorRT may ask for a smaller size first, then grow
        self.contexts: list[_NmsContext] = []

    def requests(self, nbytes: int) -> list[int]:
        return [nbytes] if self.ask_first is None else [self.ask_first, nbytes]

    def create_execution_context(self) -> _NmsContext:
        self.contexts.append(_NmsContext(self))
        return self.contexts[-1]

    def get_tensor_name(self, index: int) -> str:
        return self._NAMES[index]

    def get_tensor_mode(self, name: str) -> str:
        return "OUTPUT" if name in ("keep", "count") else "INPUT"

    def get_tensor_dtype(self, name: str) -> types.SimpleNamespace:
        return types.SimpleNamespace(name=self._TYPES[name])


def _boxes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=generator) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=generator) * 30], 1)
    return boxes, torch.rand(n, generator=generator)


@pytest.mark.parametrize("n", [1, 37, 500])
def test_data_dependent_output_comes_back_in_the_reported_shape(n: int) -> None:
    boxes, scores = _boxes(n, seed=n)
    outputs = execute_engine(_FAKE_TRT, _NmsEngine(), {"boxes": boxes, "scores": scores}, "cpu", stream=0)
    expected = torchvision.ops.nms(boxes, scores, 0.5)
    assert list(outputs) == ["keep", "count"]  # the engine's output order
    assert outputs["keep"].dtype == torch.int64 and outputs["count"].dtype == torch.int32
    assert torch.equal(outputs["keep"], expected)
    assert int(outputs["count"]) == len(expected)


def test_empty_data_dependent_output() -> None:
    outputs = execute_engine(_FAKE_TRT, _NmsEngine(), {"boxes": torch.empty(0, 4), "scores": torch.empty(0)}, "cpu",
                             stream=0)
    assert outputs["keep"].shape == (0,) and outputs["keep"].dtype == torch.int64
    assert int(outputs["count"]) == 0


def test_memory_grows_when_tensorrt_asks_for_more() -> None:
    boxes, scores = _boxes(300, seed=1)
    outputs = execute_engine(_FAKE_TRT, _NmsEngine(ask_first=8, alignment=64), {"boxes": boxes, "scores": scores},
                             "cpu", stream=0)
    assert torch.equal(outputs["keep"], torchvision.ops.nms(boxes, scores, 0.5))


def test_missing_shape_report_is_an_error() -> None:
    boxes, scores = _boxes(20, seed=2)
    with pytest.raises(TrtopsError, match="reported no shape for the data-dependent output keep"):
        execute_engine(_FAKE_TRT, _NmsEngine(notify=False), {"boxes": boxes, "scores": scores}, "cpu", stream=0)


def test_refused_input_shape_names_the_input() -> None:
    with pytest.raises(TrtopsError, match=r"refused input boxes of shape \(5, 3\)"):
        execute_engine(_FAKE_TRT, _NmsEngine(), {"boxes": torch.rand(5, 3), "scores": torch.rand(5)}, "cpu", stream=0)


def test_inputs_are_cast_to_the_engine_types() -> None:
    # float64 memory read as float32 would be other numbers: the input is cast first.
    boxes, scores = _boxes(50, seed=4)
    outputs = execute_engine(_FAKE_TRT, _NmsEngine(), {"boxes": boxes.double(), "scores": scores.double()}, "cpu",
                             stream=0)
    assert torch.equal(outputs["keep"], torchvision.ops.nms(boxes, scores, 0.5))


@pytest.mark.parametrize("given", [{"boxes"}, {"boxes", "scores", "idxs"}])
def test_inputs_must_be_the_engines(given: set) -> None:
    boxes, scores = _boxes(5, seed=5)
    tensors = {"boxes": boxes, "scores": scores, "idxs": torch.zeros(5)}
    with pytest.raises(TrtopsError, match=r"the engine's inputs are \['boxes', 'scores'\], but .* were given"):
        execute_engine(_FAKE_TRT, _NmsEngine(), {name: tensors[name] for name in given}, "cpu", stream=0)


def test_allocation_failure_is_raised_after_the_execution() -> None:
    # TensorRT only sees a null pointer from a failing callback; the cause must reach the caller.
    outputs = EngineOutputs("cpu")
    assert outputs.reallocate("keep", 16, 3) == 0  # not a power of two
    assert "keep: TensorRT asked for 16 bytes aligned to 3" in str(outputs.error)
    assert outputs.reallocate("keep", -1, 8) == 0
    assert "aligned to 3" in str(outputs.error)  # the first error is kept


@pytest.mark.parametrize("alignment", [1, 8, 256, 4096])
def test_reallocate_aligns_and_reuses_memory(alignment: int) -> None:
    outputs = EngineOutputs("cpu")
    first = outputs.reallocate("x", 100, alignment)
    assert first % alignment == 0
    assert outputs.reallocate("x", 60, alignment) == first  # fits: same memory
    grown = outputs.reallocate("x", 1000, alignment)
    assert grown % alignment == 0
    values = torch.arange(250, dtype=torch.float32)
    ctypes.memmove(grown, values.data_ptr(), 1000)
    outputs.notify_shape("x", (25, 10))
    assert torch.equal(outputs.tensor("x", torch.float32), values.view(25, 10))


def test_shape_larger_than_the_memory_is_an_error() -> None:
    outputs = EngineOutputs("cpu")
    outputs.reallocate("x", 16, 8)
    outputs.notify_shape("x", (5,))
    with pytest.raises(TrtopsError, match=r"output x of shape \(5,\) \(40 bytes\) is larger"):
        outputs.tensor("x", torch.int64)


@pytest.mark.trt_build
def test_stand_in_matches_the_tensorrt_rtx_api() -> None:
    """Every method the stand-in runtime offers (and execute_engine calls) exists on TensorRT-RTX's
    classes, and the allocator is an instance of its IOutputAllocator whose callbacks reach
    EngineOutputs."""
    import tensorrt_rtx as trt

    context_methods = [m for m in vars(_NmsContext) if not m.startswith("_")]
    engine_methods = [m for m in vars(_NmsEngine) if not m.startswith("_") and m not in ("requests",)]
    assert context_methods and engine_methods
    for method in context_methods:
        assert hasattr(trt.IExecutionContext, method), method
    for attribute in engine_methods:
        assert hasattr(trt.ICudaEngine, attribute), attribute
    assert trt.TensorIOMode.OUTPUT.name == "OUTPUT"
    for data_type in (trt.DataType.FLOAT, trt.DataType.HALF, trt.DataType.BF16, trt.DataType.INT32, trt.DataType.INT64):
        assert data_type.name in _TORCH_TYPES, data_type.name  # the names run_engine maps

    outputs = EngineOutputs("cpu")
    allocator = make_output_allocator(trt, outputs)
    assert isinstance(allocator, trt.IOutputAllocator)
    address = allocator.reallocate_output_async("keep", 0, 24, 256, 0)
    assert address % 256 == 0 and allocator.reallocate_output("keep", 0, 16, 256) == address
    allocator.notify_shape("keep", trt.Dims([3]))
    assert outputs.tensor("keep", torch.int64).shape == (3,)


@pytest.mark.gpu
def test_data_dependent_output_on_cuda_memory() -> None:
    """The same protocol on device memory: the allocator hands out CUDA addresses and the outputs stay
    on the GPU (run_engine copies them back)."""
    boxes, scores = _boxes(200, seed=3)
    stream = torch.cuda.current_stream()
    outputs = execute_engine(_FAKE_TRT, _NmsEngine(device="cuda"), {"boxes": boxes, "scores": scores}, "cuda",
                             stream.cuda_stream)
    assert outputs["keep"].is_cuda and outputs["count"].is_cuda
    assert torch.equal(outputs["keep"].cpu(), torchvision.ops.nms(boxes, scores, 0.5))
