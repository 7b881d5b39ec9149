"""The ``trtops`` command line (also ``python -m trtops``)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import platform
import sys
from pathlib import Path
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


def parse_shapes(text: Optional[str]) -> dict[str, tuple[int, ...]]:
    """trtexec's shape syntax: ``input:1x3x800x1216,rois:1000x5``."""
    shapes: dict[str, tuple[int, ...]] = {}
    if not text:
        return shapes
    for item in text.split(","):
        name, sep, dims = item.rpartition(":")
        if not sep or not name:
            raise ValueError(f"shape {item!r} is not NAME:DxDx...")
        try:
            shapes[name] = tuple(int(d) for d in dims.split("x"))
        except ValueError:
            raise ValueError(f"shape {item!r}: dimensions must be integers separated by 'x'") from None
    return shapes


def profile_from_args(args: argparse.Namespace) -> list[dict[str, tuple]]:
    lo, opt, hi = (parse_shapes(s) for s in (args.min_shapes, args.opt_shapes, args.max_shapes))
    if not (lo or opt or hi):
        return []
    names = set(lo) | set(opt) | set(hi)
    missing = [n for n in sorted(names) if not (n in lo and n in hi)]
    if missing:
        raise ValueError(f"--min-shapes and --max-shapes must both name {', '.join(missing)}")
    return [{n: (lo[n], opt.get(n, hi[n]), hi[n]) for n in names}]


def ensure_rtx_loader_path(runtime: Optional[str]) -> None:
    """Restart this command with TensorRT-RTX's private library folder on LD_LIBRARY_PATH when the
    build will use TensorRT-RTX and the loader cannot find ``libtensorrt_rtx.so`` (see trtops.rtx);
    the dynamic loader reads that variable only at process start."""
    import os

    from trtops import rtx

    uses_rtx = runtime == "tensorrt_rtx" or (
        runtime is None and importlib.util.find_spec("tensorrt") is None
    )
    if not uses_rtx or rtx.in_process_missing_reason() is None or os.environ.get("TRTOPS_CLI_RESTARTED"):
        return
    env = rtx.environment()
    env["TRTOPS_CLI_RESTARTED"] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "trtops", *sys.argv[1:]], env)


def cmd_build(args: argparse.Namespace) -> int:
    from trtops.engine import build_engine

    ensure_rtx_loader_path(args.runtime)

    output = args.output or args.model.with_suffix(".engine")
    result = build_engine(
        args.model,
        profile_from_args(args),
        runtime=args.runtime,
        precision=args.precision,
        timing_cache=args.timing_cache,
        workspace_bytes=args.workspace_mib << 20,
        progress=not args.quiet,
    )
    for line in result.log:
        if not line.startswith("ERROR"):
            print(line, file=sys.stderr)
    if not result.ok:
        print(f"trtops build: {args.model} failed with {result.runtime}:", file=sys.stderr)
        for error in result.errors or ["the builder gave no engine and no error message"]:
            print(f"  {error}", file=sys.stderr)
        return 1
    assert result.engine is not None
    output.write_bytes(result.engine)
    print(f"{output}: {result.engine_size} bytes, {result.plugin_layers} trtops plugin layer(s), "
          f"built by {result.runtime} in {result.build_seconds:.1f} s")
    return 0


def _load_spec(args: argparse.Namespace, recorded: Optional[dict] = None) -> Any:
    from trtops import models

    recorded = recorded or {}
    spec = args.model if getattr(args, "model", None) else getattr(args, "against", None) or recorded.get("spec")
    if spec is None:
        raise ValueError("name the PyTorch model with --against (the ONNX file records none)")
    image_size = models.parse_size(args.image_size) if args.image_size else recorded.get("image_size", (320, 320))
    return models.load(
        spec,
        seed=args.seed if args.seed is not None else recorded.get("seed", 0),
        weights=args.weights or recorded.get("weights"),
        batch=args.batch if args.batch is not None else recorded.get("batch", 1),
        image_size=image_size,
        dtype=getattr(args, "dtype", None) or recorded.get("dtype", "float32"),
        score_thresh=args.score_thresh if args.score_thresh is not None else recorded.get("score_thresh"),
    )


def parse_tolerances(items: Optional[Sequence[str]]) -> dict[str, float]:
    """``["atol=2e-2", "rtol=1e-2"]`` -> {"atol": 0.02, "rtol": 0.01}; keys of trtops.accuracy.TOLERANCES."""
    from trtops.accuracy import TOLERANCES

    result: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in TOLERANCES:
            raise ValueError(f"--tolerance {item!r}: use KEY=VALUE with KEY one of {', '.join(TOLERANCES)}")
        try:
            result[key] = float(value)
        except ValueError:
            raise ValueError(f"--tolerance {item!r}: {value!r} is not a number") from None
    return result


def cmd_export(args: argparse.Namespace) -> int:
    from trtops import models

    spec = _load_spec(args)
    output = args.output or Path(f"{spec.name.replace(':', '_')}.onnx")
    proto = models.export_spec(spec, output, dynamic_batch=args.dynamic_batch,
                               dynamic_image_size=args.dynamic_image_size, opset=args.opset,
                               allow_tf32=args.allow_tf32)
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        if node.domain == "trtops":
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    exporter = {p.key: p.value for p in proto.metadata_props}.get("trtops.exporter", "?")
    nodes = ", ".join(f"{n} x{c}" for n, c in sorted(counts.items())) or "none"
    tf32 = f", allow_tf32 on {counts.get('DeformConv2d', 0)} DeformConv2d node(s)" if args.allow_tf32 else ""
    print(f"{output}: {spec.name}, inputs {[tuple(t.shape) for t in spec.inputs]}, exporter {exporter}, "
          f"trtops nodes: {nodes}{tf32}")
    if args.allow_tf32 and "DeformConv2d" not in counts:
        print("trtops export: --allow-tf32 changed nothing: the model has no DeformConv2d node", file=sys.stderr)
    return 0


def cmd_rewrite(args: argparse.Namespace) -> int:
    import onnx

    from trtops.converters import rewrite

    if not args.model.is_file():
        raise TrtopsError(f"{args.model}: no such file")
    result = rewrite(onnx.load(str(args.model)))
    output = args.output or args.model.with_name(args.model.stem + ".trtops.onnx")
    onnx.save(result.model, str(output))
    for line in result.replaced:
        print(f"replaced     {line}")
    for line in result.left_alone:
        print(f"left alone   {line}")
    for line in result.other_custom_ops:
        print(f"no rule      {line}")
    print(f"{output}: {len(result.replaced)} node(s) replaced by trtops nodes, {len(result.left_alone)} left alone")
    if result.other_custom_ops:
        print(f"{output}: {len(result.other_custom_ops)} node(s) of custom ops trtops has no rule for remain; "
              "TensorRT builds them only with plugins registered under their op types", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    import onnx

    from trtops.accuracy import check

    recorded: dict = {}
    onnx_path = args.candidate if args.candidate.suffix == ".onnx" else args.onnx
    if onnx_path is not None:
        from trtops import models

        recorded = models.from_onnx_metadata(onnx.load(str(onnx_path), load_external_data=False))
    spec = _load_spec(args, recorded)
    report = check(args.candidate, spec, engine=args.engine, runtime=args.runtime,
                   tolerances=parse_tolerances(args.tolerance))
    print(report.table())
    json_path = args.json or args.candidate.with_suffix(args.candidate.suffix + ".check.json")
    json_path.write_text(report.to_json())
    print(f"report     {json_path}")
    return 0 if report.passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trtops", description="TensorRT plugins for torchvision.ops")
    parser.add_argument("--version", action="version", version=f"trtops {trtops.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="versions, what was built, runtimes and registered plugins")
    info.add_argument("--json", action="store_true", help="print machine-readable JSON")
    info.set_defaults(run=cmd_info)

    def model_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--seed", type=int, default=None, help="seeds random weights and example inputs (default 0)")
        command.add_argument("--weights", help="local state_dict file (never downloaded)")
        command.add_argument("--batch", type=int, default=None, help="example batch size (default 1)")
        command.add_argument("--image-size", help="example image size HxW (detectors; default 320x320)")
        command.add_argument("--score-thresh", type=float, default=None,
                             help="detectors: score a detection needs (R-CNN box_score_thresh, RetinaNet/FCOS/SSD "
                                  "score_thresh; default torchvision's); random weights score low")

    export = commands.add_parser("export", help="export a PyTorch model to ONNX with trtops nodes")
    export.add_argument("model", help="torchvision detector name (e.g. fasterrcnn_resnet50_fpn, retinanet_resnet50_fpn, fcos_resnet50_fpn, "
                        "ssd300_vgg16) "
                        "or module:function")
    export.add_argument("-o", "--output", type=Path, help="ONNX file (default: MODEL.onnx)")
    model_options(export)
    export.add_argument("--dynamic-batch", action="store_true", help="dynamic batch dimension (non-detectors)")
    export.add_argument("--dynamic-image-size", action="store_true", help="dynamic H and W (non-detectors)")
    export.add_argument("--dtype", choices=["float32", "float16"], default=None,
                        help="dtype of the exported graph: model and floating inputs are cast before export "
                             "(module:function models; default float32)")
    export.add_argument("--opset", type=int, default=20)
    export.add_argument("--allow-tf32", action="store_true",
                        help="DeformConv2d nodes may multiply float32 on TF32 tensor cores (sm_80+ GPUs; "
                             "about float16 accuracy, much faster); default: exact float32")
    export.set_defaults(run=cmd_export)

    check = commands.add_parser("check", help="accuracy report of an ONNX export or engine versus PyTorch")
    check.add_argument("candidate", type=Path, help="model.onnx (evaluated on CPU) or model.engine (run on a GPU)")
    check.add_argument("--against", help="the PyTorch model (default: the one recorded by trtops export)")
    model_options(check)
    check.add_argument("--engine", type=Path, help="with an ONNX candidate: its engine, run instead where a GPU allows")
    check.add_argument("--onnx", type=Path, help="with an engine candidate: the ONNX it came from (for its recorded model)")
    check.add_argument("--runtime", choices=["tensorrt", "tensorrt_rtx"], help="runtime for engines")
    check.add_argument("--json", type=Path, help="JSON report path (default: CANDIDATE.check.json)")
    check.add_argument("--tolerance", action="append", metavar="KEY=VALUE",
                       help="override one pass/fail limit of the report (e.g. atol=2e-2); repeatable")
    check.set_defaults(run=cmd_check)

    rewrite = commands.add_parser(
        "rewrite", help="replace the detection ops of an ONNX file exported by another tool (standard ONNX ops, "
                        "mmcv / mmdeploy custom ops) by trtops nodes")
    rewrite.add_argument("model", type=Path, help="ONNX file")
    rewrite.add_argument("-o", "--output", type=Path, help="rewritten ONNX file (default: MODEL.trtops.onnx)")
    rewrite.set_defaults(run=cmd_rewrite)

    build = commands.add_parser("build", help="build an ONNX graph (trtops nodes allowed) into a TensorRT engine")
    build.add_argument("model", type=Path, help="ONNX file")
    build.add_argument("-o", "--output", type=Path, help="engine file (default: MODEL with .engine)")
    build.add_argument("--runtime", choices=["tensorrt", "tensorrt_rtx"],
                       help="default: tensorrt if importable, else tensorrt_rtx")
    build.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                       help="reduced precision TensorRT may choose (TensorRT 10 only; TensorRT 11 and TensorRT-RTX "
                            "build strongly typed networks: export in that precision instead)")
    build.add_argument("--min-shapes", help="optimization profile, trtexec syntax: input:1x3x224x224,rois:1x5")
    build.add_argument("--opt-shapes", help="optimization profile: shapes to tune for (default: max)")
    build.add_argument("--max-shapes", help="optimization profile: largest shapes")
    build.add_argument("--timing-cache", type=Path, help="timing cache file to read and update")
    build.add_argument("--workspace-mib", type=int, default=1024, help="builder workspace limit (MiB)")
    build.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    build.set_defaults(run=cmd_build)

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
    except (TrtopsError, ValueError) as exc:
        print(f"trtops: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
