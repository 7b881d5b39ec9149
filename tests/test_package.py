"""Tier 1: the package itself: version, lazy imports, build metadata, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import trtops
from trtops import _native


def test_version_is_the_one_version_string() -> None:
    assert trtops.__version__.count(".") == 2
    assert all(part.isdigit() for part in trtops.__version__.split("."))


def test_import_is_cheap() -> None:
    # `import trtops` must need neither torch nor TensorRT (CLI start-up, plugin-only users).
    code = "import sys, trtops; print(sorted(m for m in ('torch', 'tensorrt', 'tensorrt_rtx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        trtops.no_such_thing  # noqa: B018


def test_converters_namespace_is_importable() -> None:
    import trtops.converters  # noqa: F401 - `converters/` ships as trtops.converters


@pytest.mark.kernels
def test_build_info_matches_the_installed_libraries() -> None:
    info = _native.build_info()
    assert info["version"] == trtops.__version__
    assert info["kernels_built"] is True
    assert _native.find_library(_native.KERNELS_LIBRARY) is not None
    if info["plugins_built"]:
        assert info["plugins_skip_reason"] == ""
        assert _native.find_library(_native.PLUGINS_LIBRARY) is not None
    else:
        assert "TensorRT" in info["plugins_skip_reason"] or "TRTOPS_BUILD_PLUGINS" in info["plugins_skip_reason"]


@pytest.mark.kernels
def test_kernels_library_c_abi_basics() -> None:
    lib = _native.kernels_library()
    assert lib.trtops_version().decode() == trtops.__version__
    assert lib.trtops_cuda_runtime_version() >= 12000
    assert lib.trtops_cuda_device_count() >= 0


def test_cli_info_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "trtops", "info", "--json"], capture_output=True, text=True, check=True
    ).stdout
    info = json.loads(out)
    assert info["trtops"] == trtops.__version__
    assert set(info["runtimes"]) == {"tensorrt", "tensorrt_rtx"}


def test_cli_info_table() -> None:
    out = subprocess.run([sys.executable, "-m", "trtops", "info"], capture_output=True, text=True, check=True).stdout
    assert "plugins library" in out and "kernels library" in out


def test_missing_plugin_library_is_explained(tmp_path, monkeypatch) -> None:
    # A build without TensorRT headers records why; load_plugins must say so.
    (tmp_path / "build_info.json").write_text(
        json.dumps({"version": trtops.__version__, "kernels_built": True, "plugins_built": False,
                    "plugins_skip_reason": "TensorRT headers (NvInfer.h) were not found at build time"})
    )
    monkeypatch.setattr(_native, "library_dirs", lambda: [tmp_path])
    _native.build_info.cache_clear()
    try:
        with pytest.raises(trtops.TrtopsError, match="NvInfer.h"):
            trtops.plugin_library_path()
    finally:
        _native.build_info.cache_clear()


def test_missing_runtime_is_explained() -> None:
    with pytest.raises(trtops.TrtopsError, match="no TensorRT Python runtime"):
        trtops.load_plugins("no_such_tensorrt_module")


def test_ops_exports_are_the_functions_not_their_modules() -> None:
    import importlib

    import trtops.ops

    for name in trtops.ops.__all__:
        implementation = importlib.import_module(f"trtops.ops.{trtops.ops._EXPORTS[name]}")
        assert getattr(trtops.ops, name) is getattr(implementation, name), name


def test_setup_refuses_a_python_too_old_for_the_pinned_environment(tmp_path) -> None:
    import shutil
    from pathlib import Path

    candidates = [shutil.which("python3.10"), shutil.which("python3.9")]
    candidates += [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.1[0]*/bin/python"))]
    candidates += [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.9*/bin/python"))]
    runnable = [c for c in candidates if c and subprocess.run([c, "-c", "1"], capture_output=True).returncode == 0]
    if not runnable:
        pytest.skip("[tier 1] no Python 3.9/3.10 interpreter here to hand scripts/setup.sh")
    old = runnable[0]
    # A copy of the scripts: the check must stop setup.sh before it creates or changes anything.
    repo = Path(__file__).resolve().parents[1]
    shutil.copytree(repo / "scripts", tmp_path / "scripts")
    result = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], env={**os.environ, "PYTHON": old},
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "is too old for the pinned environment" in result.stderr and "Python 3.11+" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scripts"]
