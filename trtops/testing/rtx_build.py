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
from typing import Optional, Sequence

from trtops.engine import BuildResult, OnnxLike, Profile, build_engine, onnx_bytes


def build_onnx(model: OnnxLike, profiles: Sequence[Profile] = (), *, workspace_bytes: int = 1 << 30) -> BuildResult:
    """Parse and build ``model`` with TensorRT-RTX in this process, trtops plugins loaded."""
    return build_engine(model, profiles, runtime="tensorrt_rtx", workspace_bytes=workspace_bytes)


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
        path.write_bytes(onnx_bytes(model))
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
    fields = dataclasses.asdict(build_onnx(args.model, profiles))
    fields.pop("engine")
    print(json.dumps(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
