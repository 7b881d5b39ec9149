"""One plugin library for TensorRT 10.x, 11.x and TensorRT-RTX (plugins/common/tensorrt_abi.h).

* The layout probe (``layout_probe.cpp``: vtable slots, struct layouts, enum values of what the
  library implements and calls) gives the same answer for every header set, except the classes
  whose layout TensorRT 11 changed and the library handles per runtime.
* The fake runtime (``fake_runtime.cpp``, built against one header set as a shared library with
  that runtime's soname, ``getInferLibVersion`` and ``getPluginRegistry``) meets the library as a
  runtime of that version does, in a child process (a wrong vtable slot crashes): the library's
  initializer registers its creators with the runtime's registry, ``loadLibrary``'s
  ``setLoggerFinder`` + ``getCreators`` take them back, and the RoIAlign creator refuses an
  invalid field with a message that must reach the runtime's logger.

Header sets: the ones the library was built with (as TensorRT 11 and as TensorRT-RTX 1.7), and
older TensorRT releases' ``include/`` folders named by ``TRTOPS_TENSORRT_COMPAT_HEADERS``
(os.pathsep-separated) or found as ``/usr/local/TensorRT-*/include``, e.g. from the TensorRT OSS
repository: ``git archive v10.3.0 include | tar -x -C /usr/local/TensorRT-10.3.0``.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

HERE = Path(__file__).resolve().parent
_NO_COMPAT_HEADERS = (
    "no other TensorRT release's headers (TensorRT 10.x above all): set TRTOPS_TENSORRT_COMPAT_HEADERS or put "
    "a release's include/ folder at /usr/local/TensorRT-<version>/include (`git archive v10.3.0 include` of the "
    "TensorRT OSS repository)"
)
#: getInferLibVersion of TensorRT-RTX 1.7.1 (it counts its own versions).
RTX_1_7_VERSION = 10701


def _cuda_include_dir() -> Optional[Path]:
    """The CUDA toolkit's include folder, found as the emulated build finds it."""
    module = sys.modules.get("emulated_build")
    if module is None:
        spec = importlib.util.spec_from_file_location("emulated_build", HERE.parent / "emulation" / "emulated_build.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return module.cuda_include_dir()


def header_version(include: Path) -> int:
    """getInferLibVersion() of the release whose headers these are (major * 10000 + minor * 100 +
    patch), from NvInferVersion.h."""
    text = (include / "NvInferVersion.h").read_text()
    parts = []
    for name in ("MAJOR", "MINOR", "PATCH"):
        match = re.search(rf"#define (?:TRT_{name}_ENTERPRISE|NV_TENSORRT_{name})\s+(\d+)", text)
        assert match is not None, f"{include}/NvInferVersion.h names no {name} version"
        parts.append(int(match.group(1)))
    return parts[0] * 10000 + parts[1] * 100 + parts[2]


def compat_header_sets() -> list[Path]:
    named = os.environ.get("TRTOPS_TENSORRT_COMPAT_HEADERS")
    folders = named.split(os.pathsep) if named else sorted(glob.glob("/usr/local/TensorRT-*/include"))
    return [Path(f) for f in folders if (Path(f) / "NvInferRuntime.h").is_file()]


def _build_headers() -> Optional[Path]:
    from trtops import _native

    headers = _native.build_info().get("tensorrt_headers")
    return Path(headers) if headers and (Path(headers) / "NvInferRuntime.h").is_file() else None


def _cases() -> list[Any]:
    cases = []
    built = _build_headers()
    if built is not None:
        cases.append(pytest.param(built, header_version(built), id=f"built-with-{header_version(built)}"))
        cases.append(pytest.param(built, RTX_1_7_VERSION, id="built-with-as-tensorrt-rtx-1.7"))
    for include in compat_header_sets():
        cases.append(pytest.param(include, header_version(include), id=f"tensorrt-{header_version(include)}"))
    if not any(100000 <= version < 110000 for _, version in (c.values for c in cases)):
        cases.append(pytest.param(None, 0, id="tensorrt-10", marks=pytest.mark.skip(reason=_NO_COMPAT_HEADERS)))
    return cases


def _compile_flags(include: Path) -> list[str]:
    if shutil.which("g++") is None:
        pytest.skip("g++ not found on PATH (the test programs are compiled here)")
    cuda = _cuda_include_dir()
    if cuda is None:
        pytest.skip("CUDA headers not found (NvInferRuntime.h includes cuda_runtime_api.h)")
    return ["g++", "-std=c++17", "-O1", "-Wall", "-Wextra", "-Wno-deprecated-declarations", "-isystem", str(include),
            "-isystem", str(cuda), f"-I{HERE.parents[1] / 'plugins'}"]


def _probe(include: Path, folder: Path) -> dict[str, str]:
    """layout_probe.cpp's lines, built against `include`: {"slot ILogger::log": "4", ...}."""
    program = folder / f"layout_probe_{header_version(include)}"
    command = _compile_flags(include) + ["-Wno-invalid-offsetof", str(HERE / "layout_probe.cpp"), "-o", str(program)]
    built = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    output = subprocess.run([str(program)], capture_output=True, text=True, timeout=60, check=True).stdout
    return {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1] for line in output.splitlines()}


#: The vtable slots TensorRT 11 moved; the library calls a TensorRT 10 runtime's objects through
#: its own declarations of TensorRT 10's layout (the probe's "mirror" lines).
_MOVED_IN_TENSORRT_11 = (
    "ILoggerFinder::findLogger",
    "ILogger::log",
    "IPluginRegistry::registerCreator",
    "IPluginRegistry::deregisterCreator",
)


def _plugin_interface_infos(include: Path) -> set[tuple[str, int, int]]:
    """Every plugin interface's getInterfaceInfo() in the headers: ("PLUGIN_V3ONE_BUILD", 1, 0), ..."""
    pattern = re.compile(r'\{"(PLUGIN[A-Z0-9_ ]*)",\s*(\d+),\s*(\d+)\}')
    found = set()
    for header in include.glob("*.h"):
        found |= {(kind, int(major), int(minor)) for kind, major, minor in pattern.findall(header.read_text())}
    return found


def _compat_cases() -> list[Any]:
    cases = [pytest.param(include, id=f"tensorrt-{header_version(include)}") for include in compat_header_sets()]
    return cases or [pytest.param(None, id="no-other-release", marks=pytest.mark.skip(reason=_NO_COMPAT_HEADERS))]


@pytest.mark.plugins
@pytest.mark.parametrize("include", _compat_cases())
def test_layout_matches_the_headers_the_library_was_built_with(include: Path, tmp_path: Path) -> None:
    from trtops.plugins import plugin_library_path

    plugin_library_path()  # skips the test where the plugin library was not built
    built_with = _build_headers()
    if built_with is None:
        pytest.skip("build_info.json names no TensorRT headers")
    expected = _probe(built_with, tmp_path)
    got = _probe(include, tmp_path)
    assert set(got) == set(expected)
    # the interface kinds and versions plugins and creators report (inline in the headers)
    assert _plugin_interface_infos(include) == _plugin_interface_infos(built_with)
    tensorrt10 = 100000 <= header_version(include) < 110000
    for key, value in got.items():
        kind, _, name = key.partition(" ")
        if kind == "mirror":
            continue
        if kind == "slot" and name in _MOVED_IN_TENSORRT_11 and tensorrt10:
            assert value == expected[f"mirror {name}"], (key, value, "the library's TensorRT 10 declaration")
        else:
            assert value == expected[key], (key, value, expected[key])


def _fake_runtime(include: Path, version: int, folder: Path) -> Path:
    library = folder / f"libfake_runtime_{version}.so"
    # the soname the library's initializer looks for (plugin_library.cpp, findRegistry)
    soname = "libtensorrt_rtx.so.1" if version < 100000 else f"libnvinfer.so.{version // 10000}"
    command = _compile_flags(include) + ["-shared", "-fPIC", f"-DFAKE_RUNTIME_VERSION={version}",
                                         str(HERE / "fake_runtime.cpp"), "-o", str(library), f"-Wl,-soname,{soname}",
                                         "-ldl"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return library


_CHILD = """
import ctypes, json, sys
runtime = ctypes.CDLL(sys.argv[1])
out = ctypes.create_string_buffer(8192)
code = runtime.fake_load(sys.argv[2].encode(), out, len(out))
registered, deregistered = ctypes.c_int(), ctypes.c_int()
runtime.fake_registrations(ctypes.byref(registered), ctypes.byref(deregistered))
print(json.dumps({"code": code, "received": out.value.decode(errors="replace"),
                  "registered": registered.value, "deregistered": deregistered.value}))
"""


@pytest.mark.plugins
@pytest.mark.parametrize("include, version", _cases())
def test_each_runtime_layout_registers_and_logs(include: Path, version: int, tmp_path: Path) -> None:
    from trtops.plugins import PLUGINS_BY_FAMILY, plugin_library_path

    runtime = _fake_runtime(include, version, tmp_path)
    child = subprocess.run([sys.executable, "-c", _CHILD, str(runtime), str(plugin_library_path())],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, f"the child crashed (exit {child.returncode}): {child.stderr[-2000:]}"
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, result
    # the initializer registered every creator with this runtime's registry, getCreators took
    # them all back (loadLibrary registers them itself)
    creators = sum(len(names) for names in PLUGINS_BY_FAMILY.values())
    assert result["registered"] == result["deregistered"] == creators, result
    assert "[trtops]" in result["received"] and "output_height" in result["received"], result
    # nothing went to stderr instead: the message reached the runtime's logger
    assert "output_height" not in child.stderr, child.stderr


@pytest.mark.parametrize("include", _compat_cases())
def test_plugin_sources_compile_against_other_releases(include: Path) -> None:
    """The plugin library builds from source against each release's headers too (syntax and
    types; the kernels do not include TensorRT)."""
    plugins = HERE.parents[1] / "plugins"
    sources = sorted(p for p in plugins.rglob("*.cpp") if "kernels" not in p.parts)
    defines = [f"-DTRTOPS_WITH_{family}=1" for family in ("ROI", "NMS", "DEFORM_CONV")]
    failures = []
    for source in sources:
        command = _compile_flags(include) + defines + [f"-I{plugins / 'kernels'}", "-Werror", "-fsyntax-only",
                                                       str(source)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            failures.append(f"{source.relative_to(plugins)}:\n{result.stderr[-1500:]}")
    assert len(sources) > 5 and not failures, "\n".join(failures)
