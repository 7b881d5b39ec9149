"""Tier 1: the default CUDA architectures (cmake/CudaArchitectures.cmake) for a given nvcc.

The function runs in a throw-away CMake project (no languages, so no compiler is needed) against
a fake nvcc that prints a chosen `--list-gpu-code`, and against the real nvcc where there is one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional

import pytest

REPO = Path(__file__).resolve().parents[1]
CMAKE = shutil.which("cmake")

#: `nvcc --list-gpu-code` of CUDA 13.0 (read off this machine's nvcc) and of CUDA 12.6
#: (JetPack 6's toolkit).
CUDA_13_0 = "sm_75 sm_80 sm_86 sm_87 sm_88 sm_89 sm_90 sm_100 sm_110 sm_103 sm_120 sm_121".split()
CUDA_12_6 = "sm_50 sm_52 sm_53 sm_60 sm_61 sm_62 sm_70 sm_72 sm_75 sm_80 sm_86 sm_87 sm_89 sm_90".split()

PROJECT = """cmake_minimum_required(VERSION 3.18)
project(architectures NONE)
set(CMAKE_CUDA_COMPILER "{nvcc}")
include("{module}")
trtops_default_cuda_architectures()
message(STATUS "ARCHS=${{CMAKE_CUDA_ARCHITECTURES}}")
"""


def default_architectures(tmp_path: Path, nvcc: str, preset: Optional[str] = None) -> List[str]:
    """CMAKE_CUDA_ARCHITECTURES as the function leaves it for `nvcc` (and a user's `preset`)."""
    if CMAKE is None:
        pytest.skip("[tier 1] cmake is not on PATH")
    source = tmp_path / "project"
    source.mkdir(exist_ok=True)
    module = (REPO / "cmake" / "CudaArchitectures.cmake").as_posix()
    (source / "CMakeLists.txt").write_text(PROJECT.format(nvcc=nvcc, module=module))
    command = [CMAKE, "-S", str(source), "-B", str(tmp_path / "build")]
    if preset is not None:
        command.append(f"-DCMAKE_CUDA_ARCHITECTURES={preset}")
    env = {k: v for k, v in os.environ.items() if k != "CUDAARCHS"}
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    line = next(line for line in out.splitlines() if "ARCHS=" in line)
    return line.split("ARCHS=", 1)[1].strip().split(";")


def fake_nvcc(tmp_path: Path, codes: List[str], exit_code: int = 0) -> str:
    script = tmp_path / "nvcc"
    listing = "\\n".join(codes)
    script.write_text(f"#!/bin/sh\nprintf '{listing}\\n'\nexit {exit_code}\n")
    script.chmod(0o755)
    return str(script)


def test_cuda_13_covers_every_major_it_targets_including_jetson_thor(tmp_path: Path) -> None:
    archs = default_architectures(tmp_path, fake_nvcc(tmp_path, CUDA_13_0))
    assert archs == ["75-real", "80-real", "86-real", "87-real", "89-real", "90-real", "100-real", "110-real",
                     "120-real", "120-virtual"]
    # Every GPU this nvcc can target runs one of them: real code of the same major and a minor at
    # or below its own, or PTX at or below it.
    real = [int(a.split("-")[0]) for a in archs if a.endswith("-real")]
    ptx = [int(a.split("-")[0]) for a in archs if a.endswith("-virtual")]
    for code in CUDA_13_0:
        cc = int(code[3:])
        assert any(r // 10 == cc // 10 and r <= cc for r in real) or any(p <= cc for p in ptx), code


def test_an_older_nvcc_gets_what_it_knows_with_ptx_of_its_newest(tmp_path: Path) -> None:
    archs = default_architectures(tmp_path, fake_nvcc(tmp_path, CUDA_12_6))
    assert archs == ["75-real", "80-real", "86-real", "87-real", "89-real", "90-real", "90-virtual"]


def test_an_nvcc_that_cannot_list_its_targets_gets_the_fallback_set(tmp_path: Path) -> None:
    archs = default_architectures(tmp_path, fake_nvcc(tmp_path, [], exit_code=1))
    assert archs == ["75-real", "80-real", "86-real", "89-real", "90"]


def test_a_user_choice_wins(tmp_path: Path) -> None:
    assert default_architectures(tmp_path, fake_nvcc(tmp_path, CUDA_13_0), preset="87-real") == ["87-real"]


def test_the_real_nvcc_can_generate_the_default_set(tmp_path: Path) -> None:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("[tier 1] nvcc is not on PATH")
    known = subprocess.run([nvcc, "--list-gpu-code"], capture_output=True, text=True, check=True).stdout.split()
    archs = default_architectures(tmp_path, nvcc)
    for arch in archs:
        number, kind = arch.split("-")
        assert f"sm_{number}" in known, (arch, known)
    assert sum(a.endswith("-virtual") for a in archs) == 1
