"""TensorRT-RTX specifics: the unversioned library name its ONNX parser needs.

TensorRT-RTX's ONNX parser ``dlopen``s ``libtensorrt_rtx.so`` when it meets a plugin node, but
the pip wheel ships only ``libtensorrt_rtx.so.1``; without the unversioned name the process
aborts. trtops keeps a symlink in a private folder (``~/.cache/trtops/...``; never inside
site-packages) that must be on ``LD_LIBRARY_PATH`` when the process starts (the dynamic loader
reads it only then). :func:`environment` gives a child process that setting; the test and CLI
entry points use it.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Mapping, Optional

UNVERSIONED_NAME = "libtensorrt_rtx.so"


def _wheel_library() -> Optional[Path]:
    spec = importlib.util.find_spec("tensorrt_rtx_libs")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidates = sorted(Path(folder).glob(UNVERSIONED_NAME + ".*"))
        if candidates:
            return candidates[0]
    return None


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trtops"


def library_dir() -> Optional[Path]:
    """The private folder holding ``libtensorrt_rtx.so`` -> the wheel's versioned library,
    created on first use; None when TensorRT-RTX is not installed."""
    target = _wheel_library()
    if target is None:
        return None
    # One folder per installed library, so two virtual environments never share a stale link.
    digest = hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:12]
    folder = _cache_root() / f"tensorrt_rtx-{digest}"
    link = folder / UNVERSIONED_NAME
    if not (link.is_symlink() and Path(os.readlink(link)) == target):
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{UNVERSIONED_NAME}.{os.getpid()}"
        if temporary.is_symlink():
            temporary.unlink()
        temporary.symlink_to(target)
        temporary.replace(link)  # atomic: concurrent processes never see a half-made link
    return folder


def environment(base: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """A copy of ``base`` (default: os.environ) with the private folder first on LD_LIBRARY_PATH."""
    env = dict(os.environ if base is None else base)
    folder = library_dir()
    if folder is not None:
        parts = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
        if str(folder) not in parts:
            env["LD_LIBRARY_PATH"] = os.pathsep.join([str(folder), *parts])
    return env


def in_process_missing_reason() -> Optional[str]:
    """None when this process can parse ONNX plugin nodes with TensorRT-RTX, else why not."""
    if importlib.util.find_spec("tensorrt_rtx") is None:
        return "TensorRT-RTX is not installed (pip install tensorrt-rtx-cu13==1.7.1.116)"
    try:
        ctypes.CDLL(UNVERSIONED_NAME)
    except OSError:
        folder = library_dir()
        return (
            f"{UNVERSIONED_NAME} is not on the loader path of this process, so TensorRT-RTX's ONNX "
            f"parser would abort on plugin nodes; start the process with "
            f"LD_LIBRARY_PATH={folder} (scripts/test.sh does this)"
        )
    return None
