"""Glue between torch tensors and the C ABI of libtrtops_kernels.so, shared by every op module.

A call passes raw data pointers, shapes, dtype/layout codes, a ``device`` flag (1: CUDA kernel,
0: host implementation) and the CUDA stream to queue on (the tensor's current torch stream).
"""

from __future__ import annotations

import ctypes
import functools
import warnings
from typing import Callable, Optional, ParamSpec, Sequence, TypeVar

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode as _current_dispatch_mode

from trtops import _native

_TORCH_DTYPE_NAMES = {
    torch.float32: "float32",
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.float64: "float64",
    torch.int32: "int32",
    torch.int64: "int64",
}


def dtype_code(tensor: torch.Tensor, op: str, name: str) -> int:
    """The C ABI code of a tensor's dtype; TypeError naming the op and argument otherwise."""
    try:
        return _native.DTYPE_CODES[_TORCH_DTYPE_NAMES[tensor.dtype]]
    except KeyError:
        raise TypeError(f"{op}: {name} has unsupported dtype {tensor.dtype}") from None


def traced(tensor: torch.Tensor) -> bool:
    """Whether a call goes through the op's ``trtops_kernels::`` torch custom op instead of
    launching directly, so that whatever records or fakes the call sees one op:

    * while torch.compile, torch.export or torch.jit.trace traces it (the JIT tracer cannot see
      a direct launch: its graph would return the empty output);
    * under a torch dispatch mode (FakeTensorMode, make_fx, a user's logging mode): a direct
      launch would hand fake tensors' null pointers to the kernels or be left out of a trace;
    * for tensor subclasses (FakeTensor, FunctionalTensor) and meta tensors.

    The custom op's fake kernel gives the output's shape. An eager call on real tensors launches
    directly: the custom op's dispatch costs several microseconds a call, a sizeable share of a
    RoI op's ~15 us on the GPU."""
    return (
        torch.compiler.is_compiling()
        or torch.jit.is_tracing()
        or tensor.is_meta
        or (type(tensor) is not torch.Tensor and type(tensor) is not torch.nn.Parameter)
        or _current_dispatch_mode() is not None
    )


_P = ParamSpec("_P")
_R = TypeVar("_R")


def quiet_under_jit_trace(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Silences torch.jit.TracerWarning while torch.jit.trace runs ``fn`` (an op's public function).

    The TorchScript ONNX exporter traces sizes as tensors, so every argument check that compares a
    size would warn that the trace keeps its outcome as a constant. For a check (and for the
    structural values taken from sizes: groups, offset groups) a constant is what is meant, so
    those warnings say nothing to the user; other calls are not touched."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not torch.jit.is_tracing():
            return fn(*args, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            return fn(*args, **kwargs)

    return wrapper


def detached(tensor: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """An optional tensor, detached. The ops are inference-only: an eager call's result has no
    autograd history, and traced calls hand their custom ops detached tensors so that a compiled
    model whose parameters require grad gets the same (the custom ops have no backward)."""
    return None if tensor is None else tensor.detach()


def pointer(tensor: torch.Tensor) -> int:
    """The tensor's data address, as the plain int ctypes passes for a ``c_void_p`` argument."""
    return tensor.data_ptr()


def same_device(op: str, **tensors: torch.Tensor) -> torch.device:
    """The one device all tensors share; ValueError naming the mismatching argument otherwise."""
    first_name = ""
    first: torch.device | None = None
    for name, tensor in tensors.items():
        device = tensor.device
        if first is None:
            first_name, first = name, device
        elif device != first:
            raise ValueError(f"{op}: {name} is on {device} but {first_name} is on {first}")
    assert first is not None, "same_device needs at least one tensor"
    return first


# torch's current raw CUDA stream of a device index without building a torch.cuda.Stream object:
# every kernel call pays for this lookup, and small RoI launches take only ~15 us on the GPU.
_raw_stream: Callable[[int], int] = getattr(
    torch._C, "_cuda_getCurrentRawStream", lambda index: torch.cuda.current_stream(index).cuda_stream
)


def call_on_cuda_device(device: torch.device, call: Callable[[int], int]) -> None:
    """Runs ``call(device_index)`` (a C ABI call returning a status) with that CUDA device current
    and raises on failure; switches devices only when another one is current (a device guard
    costs microseconds per call)."""
    current = torch.cuda.current_device()
    index = device.index if device.index is not None else current
    if index == current:
        _native.check_status(call(index))
    else:
        with torch.cuda.device(index):
            _native.check_status(call(index))


def launch(device: torch.device, fn: _native.KernelFunction, *args: object) -> None:
    """Calls a C ABI entry point with (*args, device_flag, stream) and raises on failure.

    On CUDA the call runs with the tensor's device current and queues on torch's current stream
    for it; nothing synchronizes.
    """
    if device.type == "cuda":
        call_on_cuda_device(device, lambda index: fn(*args, 1, _raw_stream(index)))
    elif device.type == "cpu":
        _native.check_status(fn(*args, 0, None))
    else:
        raise ValueError(f"trtops kernels run on CPU or CUDA tensors, not on {device}")


def int64_array(values: Sequence[int]) -> ctypes.Array:
    return (ctypes.c_int64 * len(values))(*values)
