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

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

pytestmark = [pytest.mark.kernels, pytest.mark.slow]

EMULATION_DIR = Path(__file__).resolve().parent
REPO_ROOT = EMULATION_DIR.parents[1]
KERNELS_DIR = REPO_ROOT / "plugins" / "kernels"
NMS_SOURCE = KERNELS_DIR / "nms" / "nms.cu"

#: Host-side sources built as they are (nvcc would hand them to the same host compiler).
HOST_SOURCES = {
    "nms_host": KERNELS_DIR / "nms" / "nms_host.cu",
    "status": KERNELS_DIR / "core" / "status.cpp",
    "cuda_emulator": EMULATION_DIR / "cuda_emulator.cpp",
    "nms_emulation_test": EMULATION_DIR / "nms_emulation_test.cpp",
}
#: Headers the CUDA toolkit must provide for the emulated build.
CUDA_HEADERS = ("cuda_runtime_api.h", "cuda_fp16.h", "cuda_bf16.h")
#: The default run has about 540 cases; fewer means cases were dropped, not that NMS got simpler.
MIN_DEFAULT_CASES = 500
RUN_TIMEOUT_S = 300

_SUMMARY = re.compile(r"^SUMMARY cases=(\d+) failed=(\d+) emulator_errors=(\d+)$", re.MULTILINE)


def _load_rewriter():
    spec = importlib.util.spec_from_file_location("emulate_cuda_source", EMULATION_DIR / "emulate_cuda_source.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cuda_include_dir() -> Optional[Path]:
    """The CUDA toolkit's include folder (the one nvcc uses), if it has every header we need."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    nvcc = shutil.which("nvcc")
    if nvcc is not None:
        candidates.append(str(Path(os.path.realpath(nvcc)).parent.parent))
    candidates.append("/usr/local/cuda")
    for root in candidates:
        if root and all((Path(root) / "include" / header).is_file() for header in CUDA_HEADERS):
            return Path(root) / "include"
    return None


def toolchain_missing_reason() -> Optional[str]:
    if shutil.which("g++") is None:
        return "g++ not found on PATH (the CUDA emulation test builds device code for the host)"
    if cuda_include_dir() is None:
        return (
            "CUDA headers (" + ", ".join(CUDA_HEADERS) + ") not found under $CUDA_HOME, $CUDA_PATH, nvcc's "
            "toolkit or /usr/local/cuda; the emulated build needs the toolkit's include folder"
        )
    return None


def compile_flags() -> List[str]:
    return [
        "-std=c++17",
        "-O2",
        "-Wall",
        # The CUDA headers mark host/device functions with attributes g++ does not know, and the
        # kernels' '#pragma unroll' means nothing to it: neither is a problem of the code.
        "-Wno-attributes",
        "-Wno-unknown-pragmas",
        # Every operation rounded on its own, as the kernels' __f*_rn intrinsics do (baseline
        # x86-64 has no FMA to fuse into; other hosts might, and would then round differently).
        "-ffp-contract=off",
        f"-I{EMULATION_DIR}",
        f"-I{KERNELS_DIR}",
        "-isystem",
        str(cuda_include_dir()),
    ]


def compile_all(jobs: Sequence[Tuple[Path, Path, List[str]]]) -> None:
    """Compiles (source, object, extra flags) jobs, as many at a time as there are CPUs."""
    pending = list(jobs)
    running: List[Tuple[subprocess.Popen, Path]] = []
    errors: List[str] = []
    width = max(1, os.cpu_count() or 1)
    while pending or running:
        while pending and len(running) < width:
            source, obj, extra = pending.pop(0)
            command = ["g++", *compile_flags(), *extra, "-c", str(source), "-o", str(obj)]
            running.append(
                (subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), source)
            )
        process, source = running.pop(0)
        output, _ = process.communicate()
        if process.returncode != 0:
            errors.append(f"g++ failed on {source}:\n{output[-6000:]}")
    if errors:
        raise AssertionError("\n\n".join(errors))


def rewrite_nms(build_dir: Path, name: str, source_text: str) -> Path:
    """Writes the emulator-ready form of nms.cu (possibly mutated) into build_dir."""
    rewritten = _load_rewriter().rewrite(source_text, str(NMS_SOURCE))
    path = build_dir / f"{name}.cpp"
    path.write_text(rewritten)
    return path


def link(objects: Sequence[Path], executable: Path) -> Path:
    result = subprocess.run(
        ["g++", *map(str, objects), "-o", str(executable)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if result.returncode != 0:
        raise AssertionError(f"linking {executable.name} failed:\n{result.stdout[-6000:]}")
    return executable


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


@dataclass
class RunResult:
    returncode: int
    output: str
    summary: Optional[Dict[str, int]]

    def tail(self, characters: int = 8000) -> str:
        return self.output[-characters:]


def run_program(executable: Path, arguments: Sequence[str] = ()) -> RunResult:
    result = subprocess.run(
        [str(executable), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    match = _SUMMARY.search(result.stdout)
    summary = None
    if match is not None:
        summary = dict(zip(("cases", "failed", "emulator_errors"), map(int, match.groups())))
    return RunResult(result.returncode, result.stdout, summary)


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
