"""The sources build against CUDA 12.6's headers: JetPack 6 (Jetson Orin, TensorRT 10.3) ships CUDA
12.6, whose runtime API, device intrinsics and CCCL (CUB 2.5, libcu++) are older than the CUDA 13
this machine compiles with.

What runs: every ``.cu`` file compiled to PTX for sm_87 (Orin) by this machine's nvcc, with CUDA
12.6's runtime headers and CCCL ahead of the toolkit's own on the include path (the device code,
and the host code the front end type-checks with it: launches, CUB calls, runtime API); every
``.cpp`` file type-checked by g++ against the same headers. The 12.6 headers come from NVIDIA's
wheels ``nvidia-cuda-runtime-cu12`` and ``nvidia-cuda-cccl-cu12`` (requirements/dev.txt). Not
covered: CUDA 12.6's own compiler front end and code generator (NVIDIA ships no nvcc 12 wheel), and
CMake's handling of that toolkit (tests/test_cuda_architectures.py fakes it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
KERNELS = PLUGINS / "kernels"
#: CUDART_VERSION and CUB_VERSION of CUDA 12.6's headers.
CUDART_12_6 = 12060
CUB_2_5 = 200500
ORIN = "sm_87"


def _package_include(module: str) -> Optional[Path]:
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    include = Path(list(spec.submodule_search_locations)[0]) / "include"
    return include if include.is_dir() else None


def _cuda12_includes() -> list[Path]:
    runtime, cccl = _package_include("nvidia.cuda_runtime"), _package_include("nvidia.cuda_cccl")
    if runtime is None or cccl is None:
        pytest.skip("CUDA 12.6 headers not installed (pip install nvidia-cuda-runtime-cu12==12.6.77 "
                    "nvidia-cuda-cccl-cu12==12.6.77, as requirements/dev.txt does)")
    return [cccl, runtime]


def _nvcc() -> str:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found on PATH")
    return nvcc


def _toolkit_include(nvcc: str) -> Path:
    """The nvcc toolkit's include folder: the 12.6 runtime headers take its crt/ folder (they ship
    without one; nvcc's front end needs its own)."""
    for candidate in (Path(nvcc).resolve().parents[1] / "include",
                      Path(nvcc).resolve().parents[1] / "targets" / "x86_64-linux" / "include",
                      Path("/usr/local/cuda/include")):
        if (candidate / "crt" / "host_defines.h").is_file():
            return candidate
    pytest.skip(f"no crt/host_defines.h next to {nvcc}")


def _nvcc_flags() -> list[str]:
    nvcc = _nvcc()
    flags = [nvcc, "-std=c++17", f"-arch={ORIN}"]
    for include in _cuda12_includes():
        flags.append(f"-I{include}")
    return flags + [f"-I{KERNELS}"]


def test_the_12_6_headers_are_the_ones_used(tmp_path: Path) -> None:
    """The include order makes the check mean something: CUDART_VERSION and CUB_VERSION seen by
    the compile are CUDA 12.6's, not the toolkit's."""
    probe = tmp_path / "versions.cu"
    probe.write_text("#include <cuda_runtime_api.h>\n#include <cub/version.cuh>\n"
                     "trtops_probe_cudart CUDART_VERSION\ntrtops_probe_cub CUB_VERSION\n")
    result = subprocess.run(_nvcc_flags() + ["-E", str(probe)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # A macro from a system header may expand onto the next line, after a line marker.
    text = " ".join(line for line in result.stdout.splitlines() if not line.startswith("#"))
    versions = dict(re.findall(r"trtops_probe_(\w+)\s+(\d+)", text))
    assert int(versions["cudart"]) == CUDART_12_6, versions
    assert int(versions["cub"]) == CUB_2_5, versions


_CU_SOURCES = sorted(KERNELS.rglob("*.cu"))


@pytest.fixture(scope="module")
def ptx_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, subprocess.CompletedProcess[str]]:
    """Every .cu file compiled to PTX against the 12.6 headers, as many at a time as there are cores."""
    flags = _nvcc_flags()
    folder = tmp_path_factory.mktemp("ptx")

    def build(source: Path) -> subprocess.CompletedProcess[str]:
        output = folder / (source.stem + ".ptx")
        # -O0 in the device compiler: the headers, templates and intrinsics are what is checked, and
        # unoptimized PTX takes a tenth of the time.
        return subprocess.run(flags + ["-Xcicc", "-O0", "-ptx", str(source), "-o", str(output)], capture_output=True,
                              text=True, timeout=900)

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        return dict(zip(_CU_SOURCES, pool.map(build, _CU_SOURCES)))


@pytest.mark.kernels
@pytest.mark.slow
@pytest.mark.parametrize("source", _CU_SOURCES, ids=lambda p: str(p.relative_to(KERNELS)))
def test_cuda_sources_compile_against_cuda_12_6(ptx_builds, source: Path) -> None:
    result = ptx_builds[source]
    assert result.returncode == 0, f"{source.relative_to(ROOT)} against CUDA 12.6 headers:\n{result.stderr[-3000:]}"


def test_every_cuda_source_is_covered() -> None:
    assert len(_CU_SOURCES) >= 9, _CU_SOURCES


@pytest.mark.kernels
def test_host_sources_compile_against_cuda_12_6() -> None:
    """The C++ files (C ABI, host code, plugins where TensorRT headers exist) type-check against the
    12.6 runtime headers."""
    from trtops import _native

    if shutil.which("g++") is None:
        pytest.skip("g++ not found on PATH")
    nvcc = _nvcc()
    flags = ["g++", "-std=c++17", "-fsyntax-only", "-Wno-deprecated-declarations"]
    flags += [f"-I{include}" for include in _cuda12_includes()]
    flags += ["-idirafter", str(_toolkit_include(nvcc)), f"-I{KERNELS}", f"-I{PLUGINS}",
              '-DTRTOPS_VERSION_STRING="0"'] + [f"-DTRTOPS_WITH_{f}=1" for f in ("ROI", "NMS", "DEFORM_CONV")]
    sources = sorted(KERNELS.rglob("*.cpp"))
    tensorrt = _native.build_info().get("tensorrt_headers")
    if tensorrt and (Path(tensorrt) / "NvInferRuntime.h").is_file():
        flags += ["-isystem", tensorrt]
        sources += sorted(p for p in PLUGINS.rglob("*.cpp") if "kernels" not in p.parts and "harness" not in p.parts)

    def check(source: Path) -> Optional[str]:
        result = subprocess.run(flags + [str(source)], capture_output=True, text=True, timeout=300)
        return None if result.returncode == 0 else f"{source.relative_to(ROOT)}:\n{result.stderr[-1500:]}"

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        failures = [failure for failure in pool.map(check, sources) if failure is not None]
    assert len(sources) >= 5 and not failures, "\n".join(failures)
