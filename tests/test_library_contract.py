"""The shared libraries' link contract: the plugin library links no TensorRT library and exports
exactly TensorRT's loadLibrary entry points; the kernels library exports only its C ABI."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from trtops import _native


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} (binutils) is not installed")
    return path


def needed_libraries(path) -> list[str]:
    out = subprocess.run([_tool("readelf"), "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def exported_symbols(path) -> set[str]:
    out = subprocess.run([_tool("nm"), "-D", "--defined-only", str(path)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in out.stdout.splitlines() if line.split()[1:2] and line.split()[1] in "TDBRVW"}


@pytest.mark.plugins
def test_plugin_library_links_no_tensorrt_and_exports_two_symbols() -> None:
    from trtops.plugins import plugin_library_path

    path = plugin_library_path()
    needed = needed_libraries(path)
    assert not [lib for lib in needed if "nvinfer" in lib or "tensorrt" in lib or "cudart.so" in lib], needed
    assert exported_symbols(path) == {"getCreators", "setLoggerFinder"}


@pytest.mark.kernels
def test_kernels_library_exports_only_its_c_abi() -> None:
    path = _native.find_library(_native.KERNELS_LIBRARY)
    symbols = exported_symbols(path)
    assert symbols and all(s.startswith("trtops_") for s in symbols), sorted(symbols)[:10]
    assert not [lib for lib in needed_libraries(path) if "cudart.so" in lib]  # static CUDA runtime
