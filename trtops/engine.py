"""Building TensorRT engines from ONNX graphs that hold trtops plugin nodes.

Works with TensorRT (``tensorrt``) and TensorRT-RTX (``tensorrt_rtx``, which builds on machines
without a GPU). The trtops plugins are registered first (:func:`trtops.load_plugins`).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping, Optional, Sequence, Union

from trtops.errors import TrtopsError

#: Optimization profile: input name -> (min shape, opt shape, max shape).
Profile = Mapping[str, tuple[Sequence[int], Sequence[int], Sequence[int]]]
OnnxLike = Union[bytes, str, Path, Any]  # serialized bytes, a path, or an onnx.ModelProto


@dataclasses.dataclass
class BuildResult:
    """Outcome of one engine build."""

    ok: bool
    #: size of the serialized engine in bytes (0 when the build failed)
    engine_size: int = 0
    #: parser errors and builder messages of severity ERROR / INTERNAL_ERROR
    errors: list[str] = dataclasses.field(default_factory=list)
    #: every builder/parser message of severity WARNING or worse
    log: list[str] = dataclasses.field(default_factory=list)
    #: output tensor name -> (dtype name, shape with -1 for dynamic dims) of the parsed network
    outputs: dict[str, tuple[str, list[int]]] = dataclasses.field(default_factory=dict)
    #: plugin layers found in the parsed network (layer type PLUGIN_V3)
    plugin_layers: int = 0
    #: the build process died instead of reporting (isolated builds only)
    crashed: bool = False
    #: name of the runtime module that built it
    runtime: str = ""
    #: seconds spent in build_serialized_network
    build_seconds: float = 0.0
    #: serialized engine (in-process builds only)
    engine: Optional[bytes] = dataclasses.field(default=None, repr=False)

    def error_text(self) -> str:
        return "\n".join(self.errors)


def onnx_bytes(model: OnnxLike) -> bytes:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    if isinstance(model, (str, Path)):
        return Path(model).read_bytes()
    return model.SerializeToString()


def _progress_monitor(trt: Any, stream: Any) -> Any:
    """A TensorRT IProgressMonitor drawing one progress bar for the top-level build phase (nested
    phases only name the current step) on ``stream``."""

    class _Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._top: Optional[str] = None
            self._done, self._total, self._step = 0, 0, ""

        def phase_start(self, phase_name: str, parent_phase: Optional[str], num_steps: int) -> None:
            if parent_phase is None and self._top is None:
                self._top, self._done, self._total = phase_name, 0, num_steps
            self._step = phase_name
            self._draw()

        def step_complete(self, phase_name: str, step: int) -> bool:
            if phase_name == self._top:
                self._done = step + 1
                self._draw()
            return True  # never cancel

        def phase_finish(self, phase_name: str) -> None:
            if phase_name == self._top:
                self._done, self._step = self._total, "done"
                self._draw()
                stream.write("\n")
                stream.flush()
                self._top = None

        def _draw(self) -> None:
            if self._top is None:
                return
            width = 30
            filled = width * self._done // self._total if self._total else width
            stream.write(f"\r{self._top} [{'#' * filled}{'.' * (width - filled)}] {self._done}/{self._total} {self._step[:40]:<40}")
            stream.flush()

    return _Monitor()


def _precision_flag(trt: Any, precision: str) -> Any:
    """The builder flag that lets ``trt`` pick ``precision`` (None for fp32). Only weakly typed
    builders have one: TensorRT 11 removed BuilderFlag.FP16/BF16 (its networks are strongly
    typed, as TensorRT-RTX's are), and there the graph's own types decide."""
    if precision not in ("fp32", "fp16", "bf16"):
        raise ValueError(f"precision must be fp32, fp16 or bf16, got {precision!r}")
    if precision == "fp32":
        return None
    flag = getattr(trt.BuilderFlag, precision.upper(), None)
    if flag is None:
        version = getattr(trt, "__version__", "?")
        raise ValueError(
            f"precision={precision!r}: {trt.__name__} {version} builds strongly typed networks (it has no "
            f"BuilderFlag.{precision.upper()}); export the model in that precision instead (trtops export --dtype)"
        )
    return flag


def build_engine(
    model: OnnxLike,
    profiles: Sequence[Profile] = (),
    *,
    runtime: Union[None, str, ModuleType] = None,
    precision: str = "fp32",
    timing_cache: Optional[Path] = None,
    workspace_bytes: int = 1 << 30,
    progress: bool = False,
) -> BuildResult:
    """Parse ``model`` and build a serialized engine.

    Args:
        model: ONNX model (bytes, path or ModelProto).
        profiles: optimization profiles for dynamic inputs, one dict per profile.
        runtime: ``tensorrt``, ``tensorrt_rtx`` or the module; default: TensorRT if importable,
            else TensorRT-RTX.
        precision: ``fp32`` builds the graph's own types; ``fp16``/``bf16`` let TensorRT pick
            reduced precision (TensorRT 10 only: TensorRT 11 and TensorRT-RTX build strongly
            typed networks, so export the model in that precision instead).
        timing_cache: file to read and update with TensorRT's timing cache.
        workspace_bytes: builder workspace limit.
        progress: draw a progress bar per build phase on stderr.
    """
    from trtops import rtx
    from trtops.plugins import import_runtime, load_plugins

    trt: Any = import_runtime(runtime)  # TensorRT's Python bindings carry no type information
    is_rtx = trt.__name__.startswith("tensorrt_rtx")
    if is_rtx:
        reason = rtx.in_process_missing_reason()
        if reason is not None:
            raise TrtopsError(reason)
    precision_flag = _precision_flag(trt, precision)
    load_plugins(trt)

    class _Collector(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []
            self.messages: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            if severity <= trt.ILogger.Severity.WARNING:
                self.messages.append(f"{severity.name}: {msg}")
            if severity <= trt.ILogger.Severity.ERROR:
                self.errors.append(msg)

    logger = _Collector()
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    result = BuildResult(ok=False, runtime=trt.__name__)
    if not parser.parse(onnx_bytes(model)):
        result.errors = logger.errors + [str(parser.get_error(i)) for i in range(parser.num_errors)]
        result.log = logger.messages
        return result

    for i in range(network.num_outputs):
        tensor = network.get_output(i)
        result.outputs[tensor.name] = (tensor.dtype.name, list(tensor.shape))
    result.plugin_layers = sum(
        1 for i in range(network.num_layers) if network.get_layer(i).type.name == "PLUGIN_V3"
    )

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision_flag is not None:
        config.set_flag(precision_flag)
    for profile_spec in profiles:
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in profile_spec.items():
            profile.set_shape(name, tuple(lo), tuple(opt), tuple(hi))
        config.add_optimization_profile(profile)
    timing: Optional[tuple[Path, Any]] = None  # the cache file and the timing cache read from it
    if timing_cache is not None:
        cache_path = Path(timing_cache)
        cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
        timing = (cache_path, cache)
    if progress:
        config.progress_monitor = _progress_monitor(trt, sys.stderr)

    start = time.perf_counter()
    engine = builder.build_serialized_network(network, config)
    result.build_seconds = time.perf_counter() - start
    result.errors = logger.errors
    result.log = logger.messages
    if engine is None:
        return result
    if timing is not None:
        cache_path, cache = timing
        cache_path.write_bytes(bytes(cache.serialize()))
    result.engine = bytes(engine)
    result.engine_size = len(result.engine)
    result.ok = True
    return result
