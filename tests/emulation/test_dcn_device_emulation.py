"""Tier 1: the CUDA path of deform_conv2d, run on the CPU by the CUDA emulator in this folder.

plugins/kernels/deform_conv/deform_conv2d.cu is rewritten with emulate_cuda_source.py into
pytest's temporary directory and built with the host implementation and dcn_emulation_test.cpp,
which runs deformConv2dForward (weight packing, then the tiled kernel: FFMA/DFMA for float32 and
float64; for float16/bfloat16 the tensor-core kernel with its FFMA fallback in place of the
inline-PTX mma, which a host build cannot run) against deformConv2dForwardHost over 40 cases.
The input is first copied channels-last (core/transpose.cuh), and the sampler reads it with
16-byte vectors where the channel runs allow.
Sampling, staging, double buffering, barriers and the epilogue are the code that runs on a GPU;
the mma fragment instructions are checked on a GPU only. The mutation tests break the kernel on
purpose and require the program to notice.

By hand:
    python tests/emulation/test_dcn_device_emulation.py [--seed=N] [--verbose]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import pytest

from emulated_build import (
    EMULATION_DIR,
    KERNELS_DIR,
    Mutation,
    assert_all_cases_match,
    check_mutation_is_caught,
    compile_all,
    link,
    load_rewriter,
    run_program,
    script_main,
    toolchain_missing_reason,
)

pytestmark = [pytest.mark.kernels, pytest.mark.slow]

DCN_SOURCE = KERNELS_DIR / "deform_conv" / "deform_conv2d.cu"
#: Headers with device code that the source includes, rewritten into a folder searched first.
DEVICE_HEADERS = [KERNELS_DIR / "core" / "transpose.cuh"]
HOST_SOURCES = {
    "deform_conv2d_host": KERNELS_DIR / "deform_conv" / "deform_conv2d.cpp",
    "status": KERNELS_DIR / "core" / "status.cpp",
    "cuda_emulator": EMULATION_DIR / "cuda_emulator.cpp",
    "dcn_emulation_test": EMULATION_DIR / "dcn_emulation_test.cpp",
}
#: The program runs 40 cases (10 shapes x 4 dtypes).
MIN_CASES = 40


@dataclass
class EmulatedDcnBuild:
    build_dir: Path

    def build(self, name: str, overrides: Dict[str, str] | None = None) -> Path:
        """An executable; `overrides` maps a path under plugins/kernels to the text to use instead
        (a mutated header is written into the folder searched first)."""
        overrides = overrides or {}
        folder = self.build_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        rewriter = load_rewriter()
        shadowed = set(overrides) | {str(h.relative_to(KERNELS_DIR)) for h in DEVICE_HEADERS}
        for relative in shadowed - {str(DCN_SOURCE.relative_to(KERNELS_DIR))}:
            header = KERNELS_DIR / relative
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(rewriter.rewrite(overrides.get(relative, header.read_text()), str(header)))
        rewritten = folder / "deform_conv2d_emulated.cpp"
        text = overrides.get(str(DCN_SOURCE.relative_to(KERNELS_DIR)), DCN_SOURCE.read_text())
        rewritten.write_text(rewriter.rewrite(text, str(DCN_SOURCE)))
        jobs = [(rewritten, folder / "deform_conv2d_emulated.o", [])]
        jobs += [(s, folder / f"{n}.o", ["-x", "c++"]) for n, s in HOST_SOURCES.items()]
        compile_all(jobs, include_first=[folder])
        return link([obj for _, obj, _ in jobs], folder / "dcn_emulation_test")


@pytest.fixture(scope="module")
def emulated_dcn(tmp_path_factory: pytest.TempPathFactory) -> EmulatedDcnBuild:
    reason = toolchain_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    return EmulatedDcnBuild(tmp_path_factory.mktemp("dcn_emulation"))


def test_device_path_matches_host(emulated_dcn: EmulatedDcnBuild) -> None:
    assert_all_cases_match(run_program(emulated_dcn.build("release")), MIN_CASES, "deform_conv2d")


MUTATIONS = [
    # The tensor-core kernel refills a buffer that other warps still multiply from.
    Mutation(
        "mma-loop-missing-barrier",
        "deform_conv/deform_conv2d.cu",
        "        copyWaitAll();\n        __syncthreads();\n    }\n",
        "        copyWaitAll();\n    }\n",
    ),
    # The FFMA kernel samples its K tiles at the wrong kernel tap.
    Mutation(
        "simt-wrong-tap",
        "deform_conv/deform_conv2d.cu",
        "        AccT v[Cfg::kRUN];\n        sampler.sample(geo, tap, ",
        "        AccT v[Cfg::kRUN];\n        sampler.sample(geo, (tap + 1) % geo.taps, ",
    ),
    # The vector sampler of the channels-last copy reads the wrong run of channels.
    Mutation(
        "vector-sample-wrong-channels",
        "deform_conv/deform_conv2d.cu",
        "deform::maskedSampleVec<kVEC>(base + c, ",
        "deform::maskedSampleVec<kVEC>(base + (c ^ kVEC), ",
    ),
    # The channels-last copy transposes through its tile without waiting for the other rows.
    Mutation(
        "transpose-missing-barrier",
        "core/transpose.cuh",
        "        __syncthreads();\n        for (int32_t r = threadIdx.y; r < kTILE; r += blockDim.y)\n        {\n"
        "            int64_t const p = p0 + r;",
        "        for (int32_t r = threadIdx.y; r < kTILE; r += blockDim.y)\n        {\n"
        "            int64_t const p = p0 + r;",
    ),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_emulation_catches_broken_device_code(emulated_dcn: EmulatedDcnBuild, mutation: Mutation) -> None:
    check_mutation_is_caught(emulated_dcn.build, mutation)


if __name__ == "__main__":
    sys.exit(script_main(lambda folder: EmulatedDcnBuild(folder).build("release"), sys.argv[1:], "dcn_emulation_"))
