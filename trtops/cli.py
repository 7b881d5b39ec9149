"""The ``trtops`` command line (also ``python -m trtops``)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import platform
import sys
from typing import Any, Optional, Sequence

import trtops
from trtops import _native
from trtops.errors import TrtopsError
from trtops.plugins import RUNTIME_MODULES, load_plugins, plugin_fields


def _module_version(name: str) -> Optional[str]:
    if importlib.util.find_spec(name) is None:
        return None
    try:
        return str(getattr(importlib.import_module(name), "__version__", "unknown"))
    except Exception as exc:  # a broken install is worth reporting, not crashing on
        return f"import failed: {exc}"


def collect_info() -> dict[str, Any]:
    """Everything `trtops info` reports, as a JSON-serializable dict."""
    build = _native.build_info()
    info: dict[str, Any] = {
        "trtops": trtops.__version__,
        "python": platform.python_version(),
        "torch": _module_version("torch"),
        "torchvision": _module_version("torchvision"),
        "onnx": _module_version("onnx"),
        "build": build or None,
        "kernels_library": str(_native.find_library(_native.KERNELS_LIBRARY) or ""),
        "plugins_library": str(_native.find_library(_native.PLUGINS_LIBRARY) or ""),
        "cuda_devices": None,
        "runtimes": {},
    }
    if info["kernels_library"]:
        info["cuda_devices"] = int(_native.kernels_library().trtops_cuda_device_count())
    for name in RUNTIME_MODULES:
        version = _module_version(name)
        entry: dict[str, Any] = {"version": version}
        if version is not None and not version.startswith("import failed"):
            try:
                entry["plugins"] = load_plugins(name)
                entry["fields"] = plugin_fields(name)
            except TrtopsError as exc:
                entry["error"] = str(exc)
        info["runtimes"][name] = entry
    return info


def _print_info(info: dict[str, Any]) -> None:
    build = info["build"] or {}
    rows = [
        ("trtops", info["trtops"]),
        ("python", info["python"]),
        ("torch", info["torch"] or "not installed"),
        ("torchvision", info["torchvision"] or "not installed"),
        ("onnx", info["onnx"] or "not installed"),
        ("CUDA compiler", f"{build.get('cuda_version') or 'none'} ({build.get('cuda_compiler') or '-'})"),
        ("CUDA architectures", ", ".join(build.get("cuda_architectures") or []) or "-"),
        ("kernels library", info["kernels_library"] or "not built"),
        ("CUDA devices", "-" if info["cuda_devices"] is None else str(info["cuda_devices"])),
    ]
    if build.get("plugins_built"):
        rows.append(("plugins library", f"{info['plugins_library']} (TensorRT {build.get('tensorrt_headers_version')} headers)"))
    else:
        rows.append(("plugins library", f"not built: {build.get('plugins_skip_reason') or 'no native build installed'}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for name, entry in info["runtimes"].items():
        if entry["version"] is None:
            print(f"{name:<{width}}  not installed")
            continue
        print(f"{name:<{width}}  {entry['version']}")
        if "error" in entry:
            print(f"{'':<{width}}  plugins not loaded: {entry['error']}")
            continue
        for plugin in entry.get("plugins", []):
            fields = entry["fields"].get(plugin, [])
            described = ", ".join(f"{f['name']}:{f['type']}[{f['length']}]" for f in fields)
            print(f"{'':<{width}}  trtops::{plugin} v1  {described}")


def cmd_info(args: argparse.Namespace) -> int:
    info = collect_info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info)
    return 0


def cmd_rtx_libdir(args: argparse.Namespace) -> int:
    from trtops import rtx

    folder = rtx.library_dir()
    if folder is None:
        print("TensorRT-RTX is not installed", file=sys.stderr)
        return 1
    print(folder)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trtops", description="TensorRT plugins for torchvision.ops")
    parser.add_argument("--version", action="version", version=f"trtops {trtops.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="versions, what was built, runtimes and registered plugins")
    info.add_argument("--json", action="store_true", help="print machine-readable JSON")
    info.set_defaults(run=cmd_info)

    libdir = commands.add_parser(
        "rtx-libdir",
        help="print the folder to put on LD_LIBRARY_PATH so TensorRT-RTX's parser finds libtensorrt_rtx.so",
    )
    libdir.set_defaults(run=cmd_rtx_libdir)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except TrtopsError as exc:
        print(f"trtops: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
