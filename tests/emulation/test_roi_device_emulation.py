"""Tier 1: the CUDA path of the RoI family, run on the CPU by the CUDA emulator in this folder.

Every .cu source of plugins/kernels/roi, the headers holding its kernels and core/transpose.cuh
are rewritten with
emulate_cuda_source.py (``assume_cudacc``: the kernels and launchers that only nvcc compiles are
emulated) into pytest's temporary directory, which is searched before the sources. The program
roi_emulation_test.cpp runs each operator's device entry point against its host implementation on
poisoned outputs and workspaces and requires equal values. Two builds cover both chunk widths of
the NCHW kernels: the release threshold (small launches take one channel per thread) and
TRTOPS_MIN_CHUNK_ITEMS=0 (every launch shares a bin's geometry across several channels).
The mutation tests break the device code on purpose and require the program to notice.

By hand:
    python tests/emulation/test_roi_device_emulation.py [--seed=N] [--verbose]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

import pytest

from emulated_build import (
    EMULATION_DIR,
    KERNELS_DIR,
    compile_all,
    link,
    load_rewriter,
    run_program,
    toolchain_missing_reason,
)

pytestmark = [pytest.mark.kernels, pytest.mark.slow]

ROI_DIR = KERNELS_DIR / "roi"
#: Sources and headers with device code, rewritten for the emulator (RoI family + shared kernels).
DEVICE_FILES = sorted(p for p in ROI_DIR.iterdir() if p.suffix in (".cu", ".cuh")) + [
    KERNELS_DIR / "core" / "transpose.cuh"
]
#: Compiled as they are.
HOST_SOURCES = {
    "status": KERNELS_DIR / "core" / "status.cpp",
    "cuda_emulator": EMULATION_DIR / "cuda_emulator.cpp",
    "roi_emulation_test": EMULATION_DIR / "roi_emulation_test.cpp",
}
#: The program runs 381 cases; fewer means cases were dropped.
MIN_CASES = 370
#: (name, extra g++ flags) of the builds.
VARIANTS = [("release", []), ("all-chunked", ["-DTRTOPS_MIN_CHUNK_ITEMS=0"])]


def write_rewritten(folder: Path, overrides: Dict[str, str]) -> List[Path]:
    """Rewrites every device file into folder/roi/ (text from `overrides` when given); returns the
    rewritten .cu sources (now .cpp)."""
    rewriter = load_rewriter()
    sources = []
    for path in DEVICE_FILES:
        text = overrides.get(path.name, path.read_text())
        rewritten = rewriter.rewrite(text, str(path), assume_cudacc=True)
        subfolder = folder / path.parent.relative_to(KERNELS_DIR)  # roi/ or core/, as included
        subfolder.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".cu":
            target = subfolder / f"{path.stem}.cpp"
            sources.append(target)
        else:
            target = subfolder / path.name
        target.write_text(rewritten)
    return sources


@dataclass
class EmulatedRoiBuild:
    build_dir: Path

    def build(self, name: str, extra_flags: Sequence[str] = (), overrides: Dict[str, str] | None = None) -> Path:
        """An executable from the (possibly overridden) device files, built with extra_flags."""
        folder = self.build_dir / name
        sources = write_rewritten(folder, overrides or {})
        jobs = [(s, folder / f"{s.stem}.o", list(extra_flags)) for s in sources]
        jobs += [(s, folder / f"{n}.o", ["-x", "c++", *extra_flags]) for n, s in HOST_SOURCES.items()]
        compile_all(jobs, include_first=[folder])
        return link([obj for _, obj, _ in jobs], folder / "roi_emulation_test")


@pytest.fixture(scope="module")
def emulated_roi(tmp_path_factory: pytest.TempPathFactory) -> EmulatedRoiBuild:
    reason = toolchain_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    return EmulatedRoiBuild(tmp_path_factory.mktemp("roi_emulation"))


@pytest.mark.parametrize("variant, flags", VARIANTS, ids=[v for v, _ in VARIANTS])
def test_device_path_matches_host(emulated_roi: EmulatedRoiBuild, variant: str, flags: List[str]) -> None:
    result = run_program(emulated_roi.build(variant, flags))
    assert result.summary is not None, f"the test program ended without a summary:\n{result.tail()}"
    assert result.returncode == 0 and result.summary["failed"] == 0 and result.summary["emulator_errors"] == 0, (
        f"emulated RoI kernels differ from the host implementation:\n{result.tail()}"
    )
    assert result.summary["cases"] >= MIN_CASES, result.tail()


@dataclass(frozen=True)
class Mutation:
    """A one-place break of a RoI device file that a real GPU would punish."""

    name: str
    file: str
    original: str
    broken: str


MUTATIONS = [
    # The NCHW-output kernel writes its stage before every warp has filled it.
    Mutation(
        "stage-missing-barrier",
        "roi_align_family.cuh",
        "    __syncthreads();\n    int32_t const tileChannels",
        "    int32_t const tileChannels",
    ),
    # The transpose reads its tile before the other rows of threads have written it.
    Mutation(
        "transpose-missing-barrier",
        "transpose.cuh",
        "        __syncthreads();\n        for (int32_t r = threadIdx.y; r < kTILE; r += blockDim.y)\n        {\n            int64_t const p = p0 + r;",
        "        for (int32_t r = threadIdx.y; r < kTILE; r += blockDim.y)\n        {\n            int64_t const p = p0 + r;",
    ),
    # The channel-chunk kernel writes one channel too few.
    Mutation(
        "chunk-drops-last-channel",
        "roi_align_family.cuh",
        "        int32_t const numChannels = left < kCHANNELS ? static_cast<int32_t>(left) : kCHANNELS;",
        "        int32_t const numChannels = (left < kCHANNELS ? static_cast<int32_t>(left) : kCHANNELS) - (kCHANNELS > 1);",
    ),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_emulation_catches_broken_device_code(emulated_roi: EmulatedRoiBuild, mutation: Mutation) -> None:
    path = next(p for p in DEVICE_FILES if p.name == mutation.file)
    source = path.read_text()
    occurrences = source.count(mutation.original)
    if occurrences != 1:
        pytest.fail(
            f"mutation {mutation.name!r} expects its snippet exactly once in {mutation.file}, found {occurrences}; "
            f"the source changed: update the snippet in {Path(__file__).name}"
        )
    broken = {mutation.file: source.replace(mutation.original, mutation.broken)}
    executable = emulated_roi.build(f"mutant_{mutation.name}", ["-DTRTOPS_MIN_CHUNK_ITEMS=0"], broken)
    result = run_program(executable, ["--stop-at-first-failure"])
    assert result.returncode != 0, f"broken device code ({mutation.name}) passed the emulated run:\n{result.tail()}"
    assert "FAIL" in result.output, result.tail()


def main(arguments: Sequence[str]) -> int:
    reason = toolchain_missing_reason()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="roi_emulation_") as build_dir:
        executable = EmulatedRoiBuild(Path(build_dir)).build("release")
        return subprocess.run([str(executable), *arguments]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
