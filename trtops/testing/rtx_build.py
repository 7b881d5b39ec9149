"""Build ONNX graphs that hold trtops plugin nodes into engines with TensorRT-RTX.

TensorRT-RTX builds engines on machines without a GPU, which makes the plugins' whole build-phase
contract (creator fields, output shapes, formats, workspace, serialization) testable anywhere.

* :func:`build_onnx` builds in this process (needs :func:`trtops.rtx.in_process_missing_reason`
  to be None).
* :func:`build_onnx_isolated` builds in a child process with the right loader path, so a crash
  of the builder or parser (e.g. on deliberately bad attributes) fails only that build.

Run as ``python -m trtops.testing.rtx_build MODEL.onnx [--profile JSON]`` it builds one graph and
prints a BuildResult as JSON (what build_onnx_isolated does).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

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
    #: plugin layers found in the parsed network (layer type name PLUGIN_V3)
    plugin_layers: int = 0
    #: the child process died instead of reporting (isolated builds only)
    crashed: bool = False
    #: serialized engine (in-process builds only; isolated builds leave it None)
    engine: Optional[bytes] = dataclasses.field(default=None, repr=False)

    def error_text(self) -> str:
        return "\n".join(self.errors)


def _onnx_bytes(model: OnnxLike) -> bytes:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    if isinstance(model, (str, Path)):
        return Path(model).read_bytes()
    return model.SerializeToString()


def build_onnx(
    model: OnnxLike,
    profiles: Sequence[Profile] = (),
    *,
    load_plugins: bool = True,
    workspace_bytes: int = 1 << 30,
) -> BuildResult:
    """Parse and build ``model`` with TensorRT-RTX in this process.

    Args:
        model: ONNX model (bytes, path or ModelProto).
        profiles: optimization profiles for dynamic inputs, one dict per profile.
        load_plugins: register libtrtops_plugins.so first (trtops.load_plugins).
        workspace_bytes: builder workspace limit.
    """
    import tensorrt_rtx as trt

    from trtops import rtx
    from trtops.plugins import load_plugins as register

    reason = rtx.in_process_missing_reason()
    if reason is not None:
        from trtops.errors import TrtopsError

        raise TrtopsError(reason)
    if load_plugins:
        register(trt)

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
    result = BuildResult(ok=False)
    if not parser.parse(_onnx_bytes(model)):
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
    for profile_spec in profiles:
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in profile_spec.items():
            profile.set_shape(name, tuple(lo), tuple(opt), tuple(hi))
        config.add_optimization_profile(profile)

    engine = builder.build_serialized_network(network, config)
    result.errors = logger.errors
    result.log = logger.messages
    if engine is None:
        return result
    result.engine = bytes(engine)
    result.engine_size = len(result.engine)
    result.ok = True
    return result


def build_onnx_isolated(
    model: OnnxLike, profiles: Sequence[Profile] = (), *, timeout: float = 600.0
) -> BuildResult:
    """Like :func:`build_onnx`, in a child process started with TensorRT-RTX's loader path.

    A crash (abort, segfault) of the parser or builder returns ``BuildResult(ok=False,
    crashed=True)`` with the child's stderr in ``errors`` instead of killing the caller.
    """
    from trtops import rtx

    with tempfile.TemporaryDirectory(prefix="trtops-build-") as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(_onnx_bytes(model))
        command = [sys.executable, "-m", "trtops.testing.rtx_build", str(path)]
        for profile in profiles:
            command += ["--profile", json.dumps({k: [list(s) for s in v] for k, v in profile.items()})]
        child = subprocess.run(
            command, env=rtx.environment(), capture_output=True, text=True, timeout=timeout
        )
    lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        tail = (child.stderr or child.stdout).strip().splitlines()[-20:]
        return BuildResult(
            ok=False, crashed=True, errors=[f"build process exited with {child.returncode}", *tail]
        )
    fields = json.loads(lines[-1])
    fields["outputs"] = {k: (v[0], v[1]) for k, v in fields["outputs"].items()}
    return BuildResult(**fields)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--profile", action="append", default=[], help="JSON: name -> [min, opt, max]")
    args = parser.parse_args(argv)
    profiles = [{k: tuple(v) for k, v in json.loads(p).items()} for p in args.profile]
    result = build_onnx(args.model, profiles)
    fields = dataclasses.asdict(result)
    fields.pop("engine")
    print(json.dumps(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
