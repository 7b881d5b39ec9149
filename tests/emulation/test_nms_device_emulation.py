"""Tier 1: the CUDA path of NMS, run on the CPU by the CUDA emulator in this folder.

Rewrites plugins/kernels/nms/nms.cu with emulate_cuda_source.py into pytest's temporary
directory (the rewritten copy is never committed), builds it with g++ together with the host
implementation, cuda_emulator.cpp and nms_emulation_test.cpp, runs the comparison and requires
every case to match. The mutation tests break the device code on purpose, one way each, and
require the same program to notice: they keep the emulation honest about what it can catch.

By hand, with every case (several minutes):
    python tests/emulation/test_nms_device_emulation.py --full
Any argument is passed to the test program (--stop-at-first-failure, --seed=N, --verbose).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

import pytest

from emulated_build import (
    EMULATION_DIR,
    KERNELS_DIR,
    RunResult,
    compile_all,
    link,
    load_rewriter,
    run_program,
    toolchain_missing_reason,
)

pytestmark = [pytest.mark.kernels, pytest.mark.slow]

NMS_SOURCE = KERNELS_DIR / "nms" / "nms.cu"

#: Host-side sources built as they are (nvcc would hand them to the same host compiler).
HOST_SOURCES = {
    "nms_host": KERNELS_DIR / "nms" / "nms_host.cu",
    "status": KERNELS_DIR / "core" / "status.cpp",
    "cuda_emulator": EMULATION_DIR / "cuda_emulator.cpp",
    "nms_emulation_test": EMULATION_DIR / "nms_emulation_test.cpp",
}
#: The default run has about 540 cases; fewer means cases were dropped, not that NMS got simpler.
MIN_DEFAULT_CASES = 500


def rewrite_nms(build_dir: Path, name: str, source_text: str) -> Path:
    """Writes the emulator-ready form of nms.cu (possibly mutated) into build_dir."""
    rewritten = load_rewriter().rewrite(source_text, str(NMS_SOURCE))
    path = build_dir / f"{name}.cpp"
    path.write_text(rewritten)
    return path


@dataclass
class EmulatedBuild:
    build_dir: Path
    host_objects: List[Path]
    executable: Path

    def build_variant(self, name: str, nms_text: str) -> Path:
        """An executable whose device code comes from nms_text instead of nms.cu."""
        source = rewrite_nms(self.build_dir, name, nms_text)
        obj = self.build_dir / f"{name}.o"
        compile_all([(source, obj, [])])
        return link([*self.host_objects, obj], self.build_dir / name)


def build(build_dir: Path) -> EmulatedBuild:
    build_dir.mkdir(parents=True, exist_ok=True)
    nms_source = rewrite_nms(build_dir, "nms_emulated", NMS_SOURCE.read_text())
    jobs = [(nms_source, build_dir / "nms_emulated.o", [])]
    jobs += [(source, build_dir / f"{name}.o", ["-x", "c++"]) for name, source in HOST_SOURCES.items()]
    compile_all(jobs)
    host_objects = [build_dir / f"{name}.o" for name in HOST_SOURCES]
    executable = link([*host_objects, build_dir / "nms_emulated.o"], build_dir / "nms_emulation_test")
    return EmulatedBuild(build_dir, host_objects, executable)


@pytest.fixture(scope="module")
def emulated_nms(tmp_path_factory: pytest.TempPathFactory) -> EmulatedBuild:
    reason = toolchain_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    return build(tmp_path_factory.mktemp("nms_emulation"))


def test_device_path_matches_host(emulated_nms: EmulatedBuild) -> None:
    result = run_program(emulated_nms.executable)
    assert result.summary is not None, f"the test program ended without a summary:\n{result.tail()}"
    assert result.returncode == 0 and result.summary["failed"] == 0 and result.summary["emulator_errors"] == 0, (
        f"emulated nmsForward differs from nmsForwardHost:\n{result.tail()}"
    )
    assert result.summary["cases"] >= MIN_DEFAULT_CASES, result.tail()


@dataclass(frozen=True)
class Mutation:
    """A one-place break of nms.cu that a real GPU would punish (wrongly or unpredictably)."""

    name: str
    original: str
    broken: str
    expected_message: str  #: in the output when the emulation catches it


MUTATIONS = [
    # Without the barrier, rows read the staged column boxes before other threads wrote them.
    Mutation(
        "chunk-mask-missing-barrier",
        "    }\n    __syncthreads();\n    uint64_t bits = 0;\n",
        "    }\n    uint64_t bits = 0;\n",
        "FAIL",
    ),
    # The greedy walk takes the diagonal mask word of the wrong box.
    Mutation(
        "resolve-wrong-shuffle-lane",
        "__shfl_sync(kFULL_MASK, i < 32 ? diagLo : diagHi, i & 31)",
        "__shfl_sync(kFULL_MASK, i < 32 ? diagLo : diagHi, (i + 1) & 31)",
        "FAIL",
    ),
    # Idle threads leave early and the rest wait at barriers they no longer reach: undefined
    # behaviour that often passes on a GPU; the emulator reports the barrier.
    Mutation(
        "suppress-later-divergent-barrier",
        "    if (!__syncthreads_or(active))\n    {\n        return;\n    }\n    Box<C> mine{};",
        "    if (!active)\n    {\n        return;\n    }\n    Box<C> mine{};",
        "threads exited",
    ),
    # The suppression bitmap keeps the workspace's previous contents.
    Mutation(
        "suppress-words-not-cleared",
        "at<void>(workspace, layout.suppressWords), 0, static_cast<size_t>(ceilDiv(n, 32)) * sizeof(uint32_t), stream)",
        "at<void>(workspace, layout.suppressWords), 0, 0, stream)",
        "FAIL",
    ),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_emulation_catches_broken_device_code(emulated_nms: EmulatedBuild, mutation: Mutation) -> None:
    source = NMS_SOURCE.read_text()
    occurrences = source.count(mutation.original)
    if occurrences != 1:
        pytest.fail(
            f"mutation {mutation.name!r} expects its snippet exactly once in {NMS_SOURCE}, found {occurrences}; "
            f"nms.cu changed: update the snippet in {Path(__file__).name}"
        )
    broken_source = source.replace(mutation.original, mutation.broken)
    executable = emulated_nms.build_variant(f"mutant_{mutation.name}", broken_source)
    result = run_program(executable, ["--stop-at-first-failure"])
    assert result.returncode != 0, f"broken device code ({mutation.name}) passed the emulated run:\n{result.tail()}"
    assert mutation.expected_message in result.output, result.tail()


def main(arguments: Sequence[str]) -> int:
    reason = toolchain_missing_reason()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="nms_emulation_") as build_dir:
        executable = build(Path(build_dir)).executable
        return subprocess.run([str(executable), *arguments]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
