"""Tier 1: the CUDA path of NMS, run on the CPU by the CUDA emulator in this folder.

Rewrites plugins/kernels/nms/nms.cu with emulate_cuda_source.py into pytest's temporary
directory (the rewritten copy is never committed), builds it with g++ together with the host
implementation, cuda_emulator.cpp and nms_emulation_test.cpp, runs the comparison and requires
every case to match. The mutation tests break the device code on purpose, one way each, and
require the same program to notice: they keep the emulation honest about what it can catch.

By hand, with every case (~17 s; the test runs them too, in the release build):
    python tests/emulation/test_nms_device_emulation.py --full
Any argument is passed to the test program (--stop-at-first-failure, --seed=N, --verbose).
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

NMS_SOURCE = KERNELS_DIR / "nms" / "nms.cu"
NMS_FILE = "nms/nms.cu"

#: Host-side sources built as they are (nvcc would hand them to the same host compiler).
HOST_SOURCES = {
    "nms_host": KERNELS_DIR / "nms" / "nms_host.cu",
    "status": KERNELS_DIR / "core" / "status.cpp",
    "cuda_emulator": EMULATION_DIR / "cuda_emulator.cpp",
    "nms_emulation_test": EMULATION_DIR / "nms_emulation_test.cpp",
}
#: The default run has about 540 cases; fewer means cases were dropped, not that NMS got simpler.
MIN_DEFAULT_CASES = 500
#: --full has 1254.
MIN_FULL_CASES = 1200


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

    def build_variant(self, name: str, overrides: Dict[str, str], flags: Sequence[str] = ()) -> Path:
        """An executable whose device code comes from overrides["nms/nms.cu"] instead of nms.cu,
        compiled with the extra flags."""
        source = rewrite_nms(self.build_dir, name, overrides[NMS_FILE])
        obj = self.build_dir / f"{name}.o"
        compile_all([(source, obj, list(flags))])
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


#: (name, extra g++ flags) of the builds; the default one is the fixture's.
VARIANTS = [
    ("default", []),
    # suppressLaterKernel with one warp per 32 later boxes (what inputs of ~100k boxes get; the
    # cases here are small enough to split the kept list over several warps).
    ("one-warp-per-word", ["-DTRTOPS_NMS_SUPPRESS_SPREAD=0"]),
    # Every size through the general path (memset, key kernel, device sort, gather, two-kernel
    # compaction), as inputs over kSMALL_BOXES boxes take it; the default build sends nms inputs
    # of up to 8192 boxes through the one-CTA front and compaction.
    ("without-the-small-input-path", ["-DTRTOPS_NMS_SMALL_BOXES=0"]),
    # Chunks after the first resolved over their whole range of positions (suppressed boxes in
    # place), as before the compaction; the default build compacts them to their live boxes.
    ("chunks-in-place", ["-DTRTOPS_NMS_COMPACT_CHUNKS=0"]),
    # Compacted chunks after a first chunk of the full 4096 boxes (TRTOPS_NMS_FIRST_CHUNK's
    # largest value) or of 512 (a benchmarks/sweep.py variant); the default build starts nms over
    # more than one chunk with 1024.
    ("first-chunk-4096", ["-DTRTOPS_NMS_FIRST_CHUNK=4096"]),
    ("first-chunk-512", ["-DTRTOPS_NMS_FIRST_CHUNK=512"]),
]


def work(emulated: EmulatedBuild, test: str, params: Dict[str, object]) -> Optional[Callable[[], RunResult]]:
    """The build-and-run of a test (RunsAhead)."""
    if test == "test_device_path_matches_host":
        variant, flags = params["variant"], params["flags"]
        if not flags:
            # Every case (--full, 1254) in the release build: ~17 s of a background core since the
            # emulator's faster thread switch; the variants run the default ~540.
            return lambda: run_program(emulated.executable, ["--full"])
        return lambda: run_program(emulated.build_variant(
            f"nms_{variant.replace('-', '_')}", {NMS_FILE: NMS_SOURCE.read_text()}, flags))
    if test == "test_emulation_catches_broken_device_code":
        return lambda: run_mutation(emulated.build_variant, params["mutation"])
    return None


@pytest.fixture(scope="module")
def ahead(request: pytest.FixtureRequest, emulated_nms: EmulatedBuild):
    runs = RunsAhead(request, lambda test, params: work(emulated_nms, test, params))
    yield runs
    runs.close()


@pytest.mark.parametrize("variant, flags", VARIANTS, ids=[v for v, _ in VARIANTS])
def test_device_path_matches_host(request: pytest.FixtureRequest, ahead: RunsAhead, variant: str,
                                  flags: List[str]) -> None:
    min_cases = MIN_DEFAULT_CASES if flags else MIN_FULL_CASES  # the release build runs --full
    assert_all_cases_match(ahead.result(request.node), min_cases, "nmsForward")


#: What follows the early exit in suppressLaterKernel (suppressLaterBatchedKernel has the same exit).
_SUPPRESS_LATER_AFTER_EXIT = (
    "    Box<C> mine{};\n    C myArea{};\n    if (active)\n    {\n        mine = boxes[j];\n"
    "        myArea = areas[j];\n    }\n    if (threadIdx.x < kSUPPRESS_WARPS)"
)

MUTATIONS = [
    # Without the barrier, rows read the staged column boxes before other threads wrote them.
    Mutation(
        "chunk-mask-missing-barrier",
        NMS_FILE,
        "    }\n    __syncthreads();\n    uint64_t bits = 0;\n",
        "    }\n    uint64_t bits = 0;\n",
        "FAIL",
    ),
    # The block resolve gives each lane the suppressed-by words of the wrong boxes.
    Mutation(
        "resolve-wrong-diagonal-words",
        NMS_FILE,
        "resolveBlock(initial | warpOr(mine), supLo, supHi, lane)",
        "resolveBlock(initial | warpOr(mine), supHi, supLo, lane)",
        "FAIL",
    ),
    # Without the barrier that ends each resolved block, the other warps fold the previous
    # block's kept rows in before its owner warp has written them.
    Mutation(
        "resolve-missing-block-barrier",
        NMS_FILE,
        "            preload(i + 1);\n            __syncthreads();\n",
        "            preload(i + 1);\n",
        "FAIL",
    ),
    # Idle threads leave early and the rest wait at barriers they no longer reach: undefined
    # behaviour that often passes on a GPU; the emulator reports the barrier.
    Mutation(
        "suppress-later-divergent-barrier",
        NMS_FILE,
        "    if (!__syncthreads_or(active))\n    {\n        return;\n    }\n" + _SUPPRESS_LATER_AFTER_EXIT,
        "    if (!active)\n    {\n        return;\n    }\n" + _SUPPRESS_LATER_AFTER_EXIT,
        "threads exited",
    ),
    # The one-CTA front of small inputs: the keys go into the block sort in a different order
    # than their box indices (striped instead of blocked), so scores and boxes part.
    Mutation(
        "small-front-keys-and-indices-apart",
        NMS_FILE,
        "        values[k] = i;\n",
        "        values[k] = k * kSMALL_THREADS + tid;\n",
        "FAIL",
    ),
    # The one-CTA front leaves the counters other than the candidate count as the workspace had
    # them (the general path's memset is skipped for small inputs).
    Mutation(
        "small-front-counters-not-cleared",
        NMS_FILE,
        "        counters[tid] = tid == kNUM_VALID ? sNumValid : 0;\n",
        "        counters[tid] = tid == kNUM_VALID ? sNumValid : counters[tid];\n",
        "FAIL",
    ),
    # The one-CTA front keeps the suppression bitmap's previous contents.
    Mutation(
        "small-front-suppress-words-not-cleared",
        NMS_FILE,
        "        suppressWords[w] = 0;\n",
        "        suppressWords[w] |= 0;\n",
        "FAIL",
    ),
    # The single-tile compaction takes its total from the shared counter that only the
    # multi-tile compaction fills.
    Mutation(
        "single-tile-compaction-wrong-total",
        NMS_FILE,
        "    int32_t const total = tileCounts != nullptr ? sTotal : tileTotal;\n",
        "    int32_t const total = sTotal;\n",
        "FAIL",
    ),
    # The compaction of a later chunk keeps the boxes an earlier chunk suppressed.
    Mutation(
        "compact-chunk-keeps-suppressed",
        NMS_FILE,
        "live[k] = inPlace.live(first + k, candidates, suppressWords);",
        "live[k] = first + k < candidates;",
        "FAIL",
    ),
    # A compacted chunk's kept boxes go out by element instead of by sorted position.
    Mutation(
        "compacted-keep-words-by-element",
        NMS_FILE,
        "keepWords[wordBase + tid] = compacted ? static_cast<uint64_t>(sKeptAt[tid]) : sKept[tid];",
        "keepWords[wordBase + tid] = sKept[tid];",
        "FAIL",
    ),
    # The suppression bitmap keeps the workspace's previous contents.
    Mutation(
        "suppress-words-not-cleared",
        NMS_FILE,
        "            suppressWords[i >> 5] = 0;\n",
        "            suppressWords[i >> 5] |= 0;\n",
        "FAIL",
    ),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_emulation_catches_broken_device_code(request: pytest.FixtureRequest, ahead: RunsAhead,
                                              mutation: Mutation) -> None:
    assert_mutation_caught(ahead.result(request.node), mutation)


if __name__ == "__main__":
    sys.exit(script_main(lambda folder: build(folder).executable, sys.argv[1:], "nms_emulation_"))
