"""Tier 1: the CUDA path of deform_conv2d, run on the CPU by the CUDA emulator in this folder.

plugins/kernels/deform_conv/deform_conv2d.cu is rewritten with emulate_cuda_source.py into
pytest's temporary directory and built with the host implementation and dcn_emulation_test.cpp,
which runs deformConv2dForward (weight packing, the channels-last copy of the input
(core/transpose.cuh), then the tiled kernel: FFMA/DFMA for float32 and float64; the tensor-core
kernel for float16/bfloat16 and for float32 with allowTf32, its ldmatrix/mma.sync computed by
warp_mma_model.h from the PTX fragment layouts) against deformConv2dForwardHost over 109 cases.
The bilinear table, the corner stage (plain copies here instead of cp.async), double buffering,
barriers, the fragment addressing and the epilogue are the code that runs on a GPU. It builds
three times: as sm_90 (227 KiB of shared memory per block, TF32), as sm_86/89 (99 KiB, TF32: the
256-row tensor-core kernel runs without its corner stage), and as sm_75 (64 KiB, no TF32), where
the 256-row tile gives way to several 128-row tiles, the gather stages fewer passes (or none) and
float32 stays on FFMA although TF32 is allowed. The mutation tests break the kernel on purpose and
require the program to notice.

By hand (every build):
    python tests/emulation/test_dcn_device_emulation.py [--seed=N] [--verbose]
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

DCN_SOURCE = KERNELS_DIR / "deform_conv" / "deform_conv2d.cu"
#: Headers with device code that the source includes, rewritten into a folder searched first.
DEVICE_HEADERS = [KERNELS_DIR / "core" / "transpose.cuh"]
#: Headers replaced by a model (path under plugins/kernels -> model): the inline PTX of the
#: tensor-core instructions has no host form.
MODEL_HEADERS = {"core/warp_mma.cuh": EMULATION_DIR / "warp_mma_model.h"}
HOST_SOURCES = {
    "deform_conv2d_host": KERNELS_DIR / "deform_conv" / "deform_conv2d.cpp",
    "status": KERNELS_DIR / "core" / "status.cpp",
    "cuda_emulator": EMULATION_DIR / "cuda_emulator.cpp",
    "dcn_emulation_test": EMULATION_DIR / "dcn_emulation_test.cpp",
}
#: The program runs 110 cases: the TF32 rounding and split, then 18 shapes x (4 dtypes + float32
#: with TF32 allowed on exact and on random data).
MIN_CASES = 110
#: (name, extra g++ flags) of the builds: the shared memory the launcher may use per block and the
#: compute capability (sm_75: no TF32, float32 stays on FFMA even when TF32 is allowed).
SM75_FLAGS = ["-DTRTOPS_DCN_EMULATED_SHARED_LIMIT=65536", "-DTRTOPS_EMULATED_COMPUTE_MAJOR=7"]
#: sm_86 / sm_89 (RTX 30/40, A10, L4, L40): 99 KiB per block, TF32. The 256-row tensor-core kernel
#: fits there only without its corner stage: every pass loads its corners in the blend.
SM86_FLAGS = ["-DTRTOPS_DCN_EMULATED_SHARED_LIMIT=101376", "-DTRTOPS_EMULATED_COMPUTE_MAJOR=8"]
#: The switches benchmarks/sweep.py times, two or three to a build where their code paths do not
#: exclude each other (each switch's code is reached in its build), so that CI runs 6 builds
#: rather than 11:
#: - 32 x 4 pixel blocks (TRTOPS_DCN_TILE_WIDTH: the cases' small outputs leave most of a block
#:   past the output, and images split over blocks), K tiles in tap-minor order (a new bilinear
#:   table for every K tile, weights packed chunk by chunk) and corner copies one K tile ahead in
#:   the one-CTA kernels, the combination they are meant to be timed in;
#: - 16 x 8 pixel blocks, tap-minor K tiles at the default depth (two K tiles ahead: the table
#:   slots turn over every K tile), and the 256-row split-TF32 kernel splitting its columns once,
#:   when it stores them, into a second plane (TRTOPS_DCN_SPLIT_COLUMNS_AT_STORE);
#: - output-channel tiles of at most 128 rows (TRTOPS_DCN_MAX_TILE_ROWS: groups of more than 128
#:   output channels take several tiles of rows), and float32 on the FFMA kernel on a TF32 device
#:   (TRTOPS_DCN_SPLIT_TF32=0: its 128-row kernel at sm_90's shared memory; the 16-bit dtypes
#:   take the 128-row tensor-core kernels).
SWITCH_BUILDS = [
    ("tiles-32x4-tap-minor-depth-1",
     ["-DTRTOPS_DCN_TILE_WIDTH=32", "-DTRTOPS_DCN_TAP_MINOR=1", "-DTRTOPS_DCN_ONE_CTA_GATHER_DEPTH=1"]),
    ("tiles-16x8-tap-minor-split-columns-at-store",
     ["-DTRTOPS_DCN_TILE_WIDTH=16", "-DTRTOPS_DCN_TAP_MINOR=1", "-DTRTOPS_DCN_SPLIT_COLUMNS_AT_STORE=1"]),
    ("max-128-rows-ffma-float32", ["-DTRTOPS_DCN_MAX_TILE_ROWS=128", "-DTRTOPS_DCN_SPLIT_TF32=0"]),
]
VARIANTS = [
    ("release", []),
    ("sm86-shared-memory", SM86_FLAGS),
    ("sm75-shared-memory", SM75_FLAGS),
    *SWITCH_BUILDS,
]


@dataclass
class EmulatedDcnBuild:
    build_dir: Path

    def build(self, name: str, overrides: Dict[str, str] | None = None, flags: Sequence[str] = ()) -> Path:
        """An executable; `overrides` maps a path under plugins/kernels to the text to use instead
        (a mutated header is written into the folder searched first); `flags` go to the compile
        of the rewritten kernel source."""
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
        for relative, model in MODEL_HEADERS.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(model.read_text())
        rewritten = folder / "deform_conv2d_emulated.cpp"
        text = overrides.get(str(DCN_SOURCE.relative_to(KERNELS_DIR)), DCN_SOURCE.read_text())
        rewritten.write_text(rewriter.rewrite(text, str(DCN_SOURCE)))
        jobs = [(rewritten, folder / "deform_conv2d_emulated.o", list(flags))]
        # The comparison program gets the flags too: it checks which kernel the device runs.
        jobs += [(s, folder / f"{n}.o", ["-x", "c++", *flags]) for n, s in HOST_SOURCES.items()]
        compile_all(jobs, include_first=[folder])
        return link([obj for _, obj, _ in jobs], folder / "dcn_emulation_test")


@pytest.fixture(scope="module")
def emulated_dcn(tmp_path_factory: pytest.TempPathFactory) -> EmulatedDcnBuild:
    reason = toolchain_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    return EmulatedDcnBuild(tmp_path_factory.mktemp("dcn_emulation"))


def work(emulated: EmulatedDcnBuild, test: str, params: Dict[str, object]) -> Optional[Callable[[], RunResult]]:
    """The build-and-run of a test (RunsAhead)."""
    if test == "test_device_path_matches_host":
        return lambda: run_program(emulated.build(params["variant"], flags=params["flags"]))
    if test == "test_emulation_catches_broken_device_code":
        mutation = params["mutation"]
        flags = SM75_FLAGS if mutation.name in SM75_MUTATIONS else []
        return lambda: run_mutation(lambda name, overrides: emulated.build(name, overrides, flags), mutation)
    return None


@pytest.fixture(scope="module")
def ahead(request: pytest.FixtureRequest, emulated_dcn: EmulatedDcnBuild):
    runs = RunsAhead(request, lambda test, params: work(emulated_dcn, test, params))
    yield runs
    runs.close()


@pytest.mark.parametrize("variant, flags", VARIANTS, ids=[v for v, _ in VARIANTS])
def test_device_path_matches_host(request: pytest.FixtureRequest, ahead: RunsAhead, variant: str,
                                  flags: List[str]) -> None:
    assert_all_cases_match(ahead.result(request.node), MIN_CASES, "deform_conv2d")


MUTATIONS = [
    # The shared K loop refills the weight and column buffers that other warps still multiply
    # from (the barrier is kept where a new bilinear table is published: without it, unwritten
    # table entries would send the gather to arbitrary addresses).
    Mutation(
        "k-loop-missing-barrier",
        "deform_conv/deform_conv2d.cu",
        "        ahead[kDEPTH - 1] = after;\n        __syncthreads();\n",
        "        ahead[kDEPTH - 1] = after;\n        if (refresh)\n        {\n            __syncthreads();\n        }\n",
    ),
    # The next bilinear table overwrites the slot that K tiles in flight still sample from.
    Mutation(
        "table-single-slot",
        "deform_conv/deform_conv2d.cu",
        "                after.slot = (after.slot + 1) % Gather::kTABLE_SLOTS;",
        "                after.slot = after.slot;",
    ),
    # The blend reads the corners of tile k + 1 from the stage slot that the copies of tile k + 2
    # are landing in (kernels that gather two K tiles ahead).
    Mutation(
        "stage-slot-mixup",
        "deform_conv/deform_conv2d.cu",
        "                (kTile + 1) % kDEPTH, emit);",
        "                kTile % kDEPTH, emit);",
    ),
    # The bilinear table holds the points of the next kernel tap.
    Mutation(
        "table-wrong-tap",
        "deform_conv/deform_conv2d.cu",
        "tapPoint(geo, pixelCoords(geo, table.pixel[tid]), key.tap, mOwnInputs)",
        "tapPoint(geo, pixelCoords(geo, table.pixel[tid]), (key.tap + 1) % geo.taps, mOwnInputs)",
    ),
    # The staged vector gather of the channels-last copy reads the wrong run of channels.
    Mutation(
        "vector-sample-wrong-channels",
        "deform_conv/deform_conv2d.cu",
        "                    T const* base = image(geo, table, pixel) + p.channel;\n",
        "                    T const* base = image(geo, table, pixel) + (p.channel ^ kRUN);\n",
    ),
    # The FFMA kernel writes a sampled run into the wrong rows of its column tile.
    Mutation(
        "simt-column-wrong-row",
        "deform_conv/deform_conv2d.cu",
        "            sB[buffer][column + c][pixel] = v[c];",
        "            sB[buffer][(column + c + 1) % Cfg::kBK][pixel] = v[c];",
    ),
    # finish() takes every pass from the stage, also those gather() left unstaged (sm_75 build).
    Mutation(
        "unstaged-pass-read-from-stage",
        "deform_conv/deform_conv2d.cu",
        "                Run corners[4];\n                if (pass < geo.stagedPasses)\n",
        "                Run corners[4];\n                if (pass < kPASSES)\n",
    ),
    # The tensor-core kernel loads rows 0-7 of each m16 tile twice (ldmatrix row addresses of
    # lanes 8-15 and 24-31): caught through the fragment model, for every operand type.
    Mutation(
        "mma-a-fragment-rows",
        "deform_conv/deform_conv2d.cu",
        "mma::loadMatrixX4(a, &sA[plane][rowBase + mt * 16 + (lane & 15)][kk + (lane >> 4) * kVEC]);",
        "mma::loadMatrixX4(a, &sA[plane][rowBase + mt * 16 + (lane & 7)][kk + (lane >> 4) * kVEC]);",
    ),
    # The second 16 bytes of an A fragment's K are taken 8 elements on, right for 16-bit types
    # only: with TF32 they are the next mma's K (only the float32 TF32 cases can catch it).
    Mutation(
        "tf32-a-fragment-k-offset",
        "deform_conv/deform_conv2d.cu",
        "mma::loadMatrixX4(a, &sA[plane][rowBase + mt * 16 + (lane & 15)][kk + (lane >> 4) * kVEC]);",
        "mma::loadMatrixX4(a, &sA[plane][rowBase + mt * 16 + (lane & 15)][kk + (lane >> 4) * 8]);",
    ),
    # float32's split TF32 products lose the small x big cross term (each product then off by up to
    # 2^-11 of itself): caught by the tight float32 bound, not the worst-case one.
    Mutation(
        "split-tf32-drops-cross-term",
        "deform_conv/deform_conv2d.cu",
        "    mma::mmaM16N8<float>(d, aSmall, bBig);\n",
        "",
    ),
    # The split weights' small parts are read from the big plane.
    Mutation(
        "split-tf32-weights-one-plane",
        "deform_conv/deform_conv2d.cu",
        "                    loadA(1, mt, aSmall);",
        "                    loadA(0, mt, aSmall);",
    ),
    # The float32 columns are rounded to TF32 when stored, so that their small parts are zero.
    Mutation(
        "split-tf32-columns-rounded",
        "deform_conv/deform_conv2d.cu",
        "        *static_cast<float4*>(dst) = make_float4(v[0], v[1], v[2], v[3]);",
        "        *static_cast<float4*>(dst) = make_float4(\n"
        "            roundToTf32(v[0]), roundToTf32(v[1]), roundToTf32(v[2]), roundToTf32(v[3]));",
    ),
    # The FFMA fallback of the tensor-core kernel (bfloat16 before sm_80: the sm_75 build) computes
    # each fragment element from the neighbouring column.
    Mutation(
        "fallback-fragment-wrong-column",
        "deform_conv/deform_conv2d.cu",
        "int32_t const col = colBase + nt * 8 + tq * 2 + (e & 1);",
        "int32_t const col = colBase + nt * 8 + tq * 2 + ((e & 1) ^ 1);",
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
#: Mutations whose code only the sm_75 build reaches.
SM75_MUTATIONS = {"unstaged-pass-read-from-stage", "fallback-fragment-wrong-column"}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_emulation_catches_broken_device_code(request: pytest.FixtureRequest, ahead: RunsAhead,
                                              mutation: Mutation) -> None:
    assert_mutation_caught(ahead.result(request.node), mutation)


def main(arguments: Sequence[str]) -> int:
    """Runs the comparison program of every build; fails when any does."""
    status = 0
    for variant, flags in VARIANTS:
        print(f"== {variant}", flush=True)
        build = lambda folder, v=variant, f=flags: EmulatedDcnBuild(folder).build(v, flags=f)  # noqa: E731
        status = max(status, script_main(build, arguments, "dcn_emulation_"))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
