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

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import pytest

from emulated_build import (
    EMULATION_DIR,
    KERNELS_DIR,
    Mutation,
    RunResult,
    RunsAhead,
    assert_all_cases_match,
    assert_mutation_caught,
    compile_all,
    link,
    load_rewriter,
    run_mutation,
    run_program,
    script_main,
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
#: The program runs 572 cases; fewer means cases were dropped.
MIN_CASES = 560
#: (name, extra g++ flags) of the builds.
VARIANTS = [
    ("release", []),
    ("all-chunked", ["-DTRTOPS_MIN_CHUNK_ITEMS=0"]),
    # Adaptive grids summed sample by sample (the TRTOPS_ROI_SEPARABLE_ADAPTIVE=0 build that
    # benchmarks/sweep.py times): the fixed-grid code then also meets grids of 0 or fewer
    # columns (aligned RoIs of no width), which the default build never hands it.
    ("sample-by-sample-adaptive", ["-DTRTOPS_ROI_SEPARABLE_ADAPTIVE=0", "-DTRTOPS_MIN_CHUNK_ITEMS=0"]),
    # The other switches benchmarks/sweep.py times: PS-RoIPool cell by cell, two columns of an
    # adaptive grid in flight.
    ("pool-cell-by-cell-column-batch-2", ["-DTRTOPS_ROI_POOL_PLANE_VECTORS=0", "-DTRTOPS_ROI_COLUMN_BATCH=2"]),
    # The emulator's portable thread switch (ucontext), which hosts other than x86-64 Linux use:
    # only cuda_emulator.cpp compiles anew (the object cache has the rest), and the run takes ~6 s.
    ("ucontext-thread-switch", ["-DTRTOPS_EMULATOR_UCONTEXT"]),
]


def write_rewritten(folder: Path, overrides: Dict[str, str]) -> List[Path]:
    """Rewrites every device file into folder/roi/ (text from `overrides` when given); returns the
    rewritten .cu sources (now .cpp)."""
    rewriter = load_rewriter()
    sources = []
    for path in DEVICE_FILES:
        text = overrides.get(str(path.relative_to(KERNELS_DIR)), path.read_text())
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


def work(emulated: EmulatedRoiBuild, test: str, params: Dict[str, object]) -> Optional[Callable[[], RunResult]]:
    """The build-and-run of a test (RunsAhead)."""
    if test == "test_device_path_matches_host":
        return lambda: run_program(emulated.build(params["variant"], params["flags"]))
    if test == "test_emulation_catches_broken_device_code":
        # Built with every chunk width enabled, so that the small cases reach the broken code.
        return lambda: run_mutation(
            lambda name, overrides: emulated.build(name, ["-DTRTOPS_MIN_CHUNK_ITEMS=0"], overrides),
            params["mutation"])
    return None


@pytest.fixture(scope="module")
def ahead(request: pytest.FixtureRequest, emulated_roi: EmulatedRoiBuild):
    runs = RunsAhead(request, lambda test, params: work(emulated_roi, test, params))
    yield runs
    runs.close()


@pytest.mark.parametrize("variant, flags", VARIANTS, ids=[v for v, _ in VARIANTS])
def test_device_path_matches_host(request: pytest.FixtureRequest, ahead: RunsAhead, variant: str,
                                  flags: List[str]) -> None:
    assert_all_cases_match(ahead.result(request.node), MIN_CASES, "RoI kernels")


MUTATIONS = [
    # The NCHW-output kernel writes its stage before every warp has filled it.
    Mutation(
        "stage-missing-barrier",
        "roi/roi_align_family.cuh",
        "    __syncthreads();\n    int32_t const tileChannels",
        "    int32_t const tileChannels",
    ),
    # The transpose reads its tile before the other rows of threads have written it.
    Mutation(
        "transpose-missing-barrier",
        "core/transpose.cuh",
        "        __syncthreads();\n        for (int32_t r = threadIdx.y; r < kTILE; r += blockDim.y)\n        {\n            int64_t const p = p0 + r;",
        "        for (int32_t r = threadIdx.y; r < kTILE; r += blockDim.y)\n        {\n            int64_t const p = p0 + r;",
    ),
    # The channel-chunk kernel writes one channel too few.
    Mutation(
        "chunk-drops-last-channel",
        "roi/roi_common.cuh",
        "    item.numChannels = left < kCHANNELS ? static_cast<int32_t>(left) : kCHANNELS;",
        "    item.numChannels = (left < kCHANNELS ? static_cast<int32_t>(left) : kCHANNELS) - (kCHANNELS > 1);",
    ),
    # The one-channel kernel (PS-RoIAlign) samples in groups of four: the last sample of each
    # group is interpolated but not added.
    Mutation(
        "sample-group-drops-its-last-sample",
        "roi/roi_common.cuh",
        "                if (taps[i].inside) // not `+= 0`",
        "                if (taps[i].inside && i + 1 < kBATCH) // not `+= 0`",
    ),
    # The separable sum of adaptive grids (shared with the host) reads channels-last pixels as
    # vectors on the device: every channel of the vector takes the first one's value.
    Mutation(
        "separable-vector-load-repeats-a-channel",
        "roi/roi_align_family.cuh",
        "                    values[j] = convertTo<Acc>(v.v[j]);",
        "                    values[j] = convertTo<Acc>(v.v[0]);",
    ),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_emulation_catches_broken_device_code(request: pytest.FixtureRequest, ahead: RunsAhead,
                                              mutation: Mutation) -> None:
    assert_mutation_caught(ahead.result(request.node), mutation)


if __name__ == "__main__":
    sys.exit(script_main(lambda folder: EmulatedRoiBuild(folder).build("release"), sys.argv[1:], "roi_emulation_"))
