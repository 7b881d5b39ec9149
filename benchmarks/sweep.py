#!/usr/bin/env python3
"""Times compile-time variants of the kernels against the default build, in one GPU call.

Device time is scarce (minutes per task), and a switch in the sources (``TRTOPS_NMS_FIRST_CHUNK``,
``TRTOPS_DCN_TAP_MINOR``, ...) can only be judged by timing the build it makes. This script
builds ``libtrtops_kernels`` once per variant (only the family it touches, only
``trtops_kernels``, with the variant's ``-D`` flags; all builds first, several at a time, so that
no compiler runs while the GPU is timed), then times the variants in order on the rows their
switch can change (``--only``, benchmarks/row_filter.py), each group's default build (the same
family built without flags) right before its first variant, and prints per row how much faster
each variant is than the default:

    python benchmarks/sweep.py --out sweep.json [--variants NAME,...] [--limit 420] [--archs native]
    python benchmarks/sweep.py --list

The builds take a minute or two of the GPU machine's time. They can be made beforehand on any
machine with nvcc, for the GPU's architecture, and carried along as one compressed file:

    python benchmarks/sweep.py --build-only --archs 90-real --pack .trt/sweep-libs.tar.xz
    python benchmarks/sweep.py --prebuilt .trt/sweep-libs.tar.xz --out sweep.json   # on the GPU

A bundle is used only where it fits: built from the same sources (a hash of CMakeLists.txt,
cmake/ and plugins/kernels/), for the GPU's architecture, and loadable there (its C++ runtime); the
builds it lacks, or all of them where it does not fit, are built as without it.

``--limit`` bounds the whole run in seconds: a variant is skipped when its timing would not fit
in what is left (the report says which). The JSON holds, per
build, its flags, build time and its benchmark's rows (each benchmark's own ``--json``) or why
there are none; ``compare_runs.py``'s row keys apply. Benchmarks import trtops from this tree
(``PYTHONPATH``) with each build's library (``TRTOPS_LIBRARY_DIR``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from compare_runs import fmt, ratio, row_key

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"


@dataclass(frozen=True)
class Group:
    """A benchmark and the rows of it the group's variants can change."""

    family: str  # the TRTOPS_KERNEL_FAMILIES entry the benchmark needs
    bench: str  # benchmarks/bench_<bench>.py
    only: str  # its --only patterns
    args: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Variant:
    name: str
    group: str  # key of GROUPS
    flags: str  # -D switches, as CMAKE_CUDA_FLAGS
    why: str
    #: A timing diagnostic: the build leaves a stage out, its results are wrong by design, and
    #: its speed-up over the default is that stage's exposed share of the time.
    diagnostic: bool = False


GROUPS: Dict[str, Group] = {
    "nms": Group("nms", "nms", "nms n=5000,nms n=20000,batched_nms n=20000"),
    "roi-adaptive": Group("roi", "roi", "roi_align sr=0 float32"),
    "ps": Group("roi", "roi", "ps_roi"),
    "dcn-16bit": Group("deform_conv", "deform_conv", "2x256x100x152 float16,8x64x128x128 float16", ("--batches", "9")),
    "dcn-float32": Group("deform_conv", "deform_conv", "float32$", ("--batches", "9")),
}

#: The variants that count on L1 holding the corners that pixels and taps share also ask for the
#: smallest shared-memory carveout (TRTOPS_DCN_PREFER_L1), so that the L1 they count on is there
#: whatever the driver would choose; dcn-prefer-l1 times that switch alone.
_L1 = " -DTRTOPS_DCN_PREFER_L1=1"

#: In the order they are timed, the furthest from its target first (a group's default build is
#: timed right before its first variant): where --limit cuts the sweep short, the last ones go.
VARIANTS: List[Variant] = [
    Variant("dcn-tiles-32x4-tap-minor-depth-1", "dcn-16bit",
            "-DTRTOPS_DCN_TILE_WIDTH=32 -DTRTOPS_DCN_TAP_MINOR=1 -DTRTOPS_DCN_ONE_CTA_GATHER_DEPTH=1" + _L1,
            "32 x 4 pixel blocks whose nine taps of a channel chunk run in a row: their corners "
            "(a ~40 x 14 pixel window, ~37 KB) stay in L1, instead of ~10x that for a 128-pixel strip"),
    Variant("dcn-tiles-16x8-tap-minor-depth-1", "dcn-16bit",
            "-DTRTOPS_DCN_TILE_WIDTH=16 -DTRTOPS_DCN_TAP_MINOR=1 -DTRTOPS_DCN_ONE_CTA_GATHER_DEPTH=1" + _L1,
            "as above with 16 x 8 blocks (a squarer window, shorter output rows)"),
    Variant("dcn-tiles-32x4-tap-minor", "dcn-16bit", "-DTRTOPS_DCN_TILE_WIDTH=32 -DTRTOPS_DCN_TAP_MINOR=1" + _L1,
            "32 x 4 blocks, tap-minor, corners two K tiles ahead (the window fits the L1 left beside "
            "the larger stage too)"),
    Variant("dcn-tiles-16x8-tap-minor", "dcn-16bit", "-DTRTOPS_DCN_TILE_WIDTH=16 -DTRTOPS_DCN_TAP_MINOR=1" + _L1,
            "16 x 8 blocks, tap-minor, corners two K tiles ahead: in benchmarks/dcn_traffic_model.py the "
            "blocks that need the least L1 (82% corner hits at 28 KB, 91% from 60 KB)"),
    Variant("dcn-prefer-l1", "dcn-16bit", _L1.strip(),
            "the default kernels with the smallest shared-memory carveout that holds their CTAs, the rest "
            "of the SM's 256 KB as L1, instead of the driver's choice (at its largest, 28 KB of L1)"),
    Variant("dcn-float32-split-at-store", "dcn-float32", "-DTRTOPS_DCN_SPLIT_COLUMNS_AT_STORE=1",
            "the 256-row split-TF32 kernel splits each column once when stored, not in every warp"),
    Variant("dcn-float32-tiles-16x8-tap-minor", "dcn-float32",
            "-DTRTOPS_DCN_TILE_WIDTH=16 -DTRTOPS_DCN_TAP_MINOR=1" + _L1,
            "float32 with 16 x 8 blocks and tap-minor K tiles: the same corner reuse (twice the K tiles "
            "of 64 bytes), with the L1 left beside the split kernel's larger shared memory"),
    Variant("dcn-float32-ffma", "dcn-float32", "-DTRTOPS_DCN_SPLIT_TF32=0",
            "float32 on the FFMA kernel instead of split TF32 on tensor cores"),
    Variant("dcn-tiles-32x4", "dcn-16bit", "-DTRTOPS_DCN_TILE_WIDTH=32",
            "32 x 4 pixel blocks in the default K order"),
    Variant("dcn-tap-minor-depth-1", "dcn-16bit",
            "-DTRTOPS_DCN_TAP_MINOR=1 -DTRTOPS_DCN_ONE_CTA_GATHER_DEPTH=1" + _L1,
            "both: the nine taps of a channel chunk in a row share corners, and the smaller stage leaves "
            "L1 room to hold them (~140 KB of corners per chunk at 2x256x100x152)"),
    Variant("dcn-128-row-tiles", "dcn-16bit", "-DTRTOPS_DCN_MAX_TILE_ROWS=128",
            "two 128-row CTAs per SM (each samples the columns) instead of one 256-row CTA"),
    Variant("dcn-diagnostic-no-multiply", "dcn-16bit", "-DTRTOPS_DCN_DIAGNOSTIC=1",
            "the tensor-core kernel without its mma (gather, blend, barriers left)", diagnostic=True),
    Variant("dcn-diagnostic-no-corner-copies", "dcn-16bit", "-DTRTOPS_DCN_DIAGNOSTIC=2",
            "the tensor-core kernel without its corner copies (no gather traffic)", diagnostic=True),
    Variant("dcn-diagnostic-no-blend", "dcn-16bit", "-DTRTOPS_DCN_DIAGNOSTIC=3",
            "the tensor-core kernel without its blend (copies land, columns are zeros)", diagnostic=True),
    Variant("dcn-default-again", "dcn-16bit", "",
            "the default build again (a library of its own), timed after the group's other variants: "
            "its speedup is the noise and drift of every comparison above"),
    Variant("nms-plain-launches", "nms", "-DTRTOPS_NMS_PROGRAMMATIC_LAUNCH=0",
            "every kernel launched plainly instead of as a programmatic dependent launch"),
    Variant("nms-in-place-chunks", "nms", "-DTRTOPS_NMS_COMPACT_CHUNKS=0",
            "chunks after the first resolved in place instead of compacted to their live boxes"),
    Variant("nms-first-chunk-512", "nms", "-DTRTOPS_NMS_FIRST_CHUNK=512", "a shorter first chunk"),
    Variant("nms-first-chunk-2048", "nms", "-DTRTOPS_NMS_FIRST_CHUNK=2048", "a longer first chunk"),
    Variant("nms-first-chunk-4096", "nms", "-DTRTOPS_NMS_FIRST_CHUNK=4096", "no short first chunk"),
    Variant("nms-no-one-cta-path", "nms", "-DTRTOPS_NMS_SMALL_BOXES=0",
            "up to 8192 boxes on the general path (CUB device sort, two compaction kernels)"),
    Variant("roi-adaptive-sample-by-sample", "roi-adaptive", "-DTRTOPS_ROI_SEPARABLE_ADAPTIVE=0",
            "adaptive grids summed sample by sample instead of by rows of columns"),
    Variant("roi-column-batch-2", "roi-adaptive", "-DTRTOPS_ROI_COLUMN_BATCH=2",
            "adaptive grids keep 2 columns' loads in flight instead of 4 (93 instead of 120 registers)"),
    Variant("ps-unbounded-registers", "ps",
            "-DTRTOPS_ROI_ALIGN_ONE_CHANNEL_MIN_BLOCKS=1 -DTRTOPS_ROI_POOL_ONE_CHANNEL_MIN_BLOCKS=1",
            "one-channel kernels without launch bounds (2 and 4 blocks per SM instead of 3 and 5)"),
    Variant("ps-more-blocks", "ps",
            "-DTRTOPS_ROI_ALIGN_ONE_CHANNEL_MIN_BLOCKS=4 -DTRTOPS_ROI_POOL_ONE_CHANNEL_MIN_BLOCKS=6",
            "one-channel kernels bounded to 4 and 6 blocks per SM (they spill)"),
    Variant("ps-pool-full-occupancy", "ps", "-DTRTOPS_ROI_POOL_ONE_CHANNEL_MIN_BLOCKS=8",
            "the one-channel pool kernel at 8 blocks per SM (2048 threads, 32 registers, ~100 B of spills) "
            "instead of 5 (1280 threads): 1.1 waves of PS-RoIPool's 1206 blocks, not 1.8; its "
            "PS-RoIAlign rows are a control"),
    Variant("ps-pool-cell-by-cell", "ps", "-DTRTOPS_ROI_POOL_PLANE_VECTORS=0",
            "PS-RoIPool reads a bin cell by cell instead of 16-byte vectors per row"),
    Variant("dcn-tap-minor", "dcn-16bit", "-DTRTOPS_DCN_TAP_MINOR=1" + _L1,
            "K tiles ordered channel chunk, then tap (L1 reuse of corners; a table per K tile)"),
    Variant("dcn-gather-depth-1", "dcn-16bit", "-DTRTOPS_DCN_ONE_CTA_GATHER_DEPTH=1" + _L1,
            "the 256-row kernel copies corners one K tile ahead instead of two (32 KiB more L1)"),
]

DEFAULT = "default"


@dataclass
class Build:
    """One library: a variant, or a family's default (no flags)."""

    name: str
    family: str
    flags: str
    folder: Path
    seconds: float = 0.0
    error: Optional[str] = None
    prebuilt: bool = False  # taken from a --prebuilt bundle, not built here

    @property
    def library_dir(self) -> Path:
        return self.folder / "lib"


def default_name(family: str) -> str:
    return f"{DEFAULT}-{family}"


def select_variants(names: Optional[str]) -> List[Variant]:
    """The variants named (comma-separated), in VARIANTS order; every one for None."""
    if names is None:
        return list(VARIANTS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {v.name for v in VARIANTS}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"sweep: unknown variant(s) {', '.join(unknown)}; --list shows them")
    return [v for v in VARIANTS if v.name in wanted]


def plan_builds(variants: Sequence[Variant], root: Path) -> List[Build]:
    """The default build of each family the variants touch, then one build per variant."""
    families = sorted({GROUPS[v.group].family for v in variants})
    builds = [Build(default_name(f), f, "", root / default_name(f)) for f in families]
    builds += [Build(v.name, GROUPS[v.group].family, v.flags, root / v.name) for v in variants]
    return builds


def build_commands(build: Build, archs: str, jobs: int) -> List[List[str]]:
    """CMake configure + build of trtops_kernels alone for one family, with the build's flags."""
    configure = [
        "cmake", "-S", str(REPO), "-B", str(build.folder), "-G", "Ninja",
        f"-DCMAKE_CUDA_ARCHITECTURES={archs}", "-DTRTOPS_BUILD_PLUGINS=OFF",
        f"-DTRTOPS_KERNEL_FAMILIES={build.family}",
        f"-DCMAKE_CUDA_FLAGS={build.flags}", f"-DCMAKE_CXX_FLAGS={build.flags}",
    ]
    return [configure, ["cmake", "--build", str(build.folder), "--target", "trtops_kernels", "-j", str(jobs)]]


def run_builds(builds: Sequence[Build], archs: str, parallel: int, jobs: int, timeout: float) -> None:
    """Runs every build, `parallel` at a time, each within `timeout` seconds; fills in seconds
    and error. A build's output goes to sweep-build.log in its folder."""

    @dataclass
    class Running:
        build: Build
        commands: List[List[str]]  # the ones after the running one
        process: subprocess.Popen
        began: float

    def start(build: Build, commands: List[List[str]]) -> Running:
        with (build.folder / "sweep-build.log").open("a") as log:
            process = subprocess.Popen(commands[0], stdout=log, stderr=subprocess.STDOUT)
        return Running(build, commands[1:], process, time.monotonic())

    pending = list(builds)
    running: List[Running] = []
    while pending or running:
        while pending and len(running) < parallel:
            build = pending.pop(0)
            shutil.rmtree(build.folder, ignore_errors=True)
            build.folder.mkdir(parents=True)
            running.append(start(build, build_commands(build, archs, jobs)))
        time.sleep(0.2)
        for entry in list(running):
            elapsed = time.monotonic() - entry.began
            code = entry.process.poll()
            if code is None and entry.build.seconds + elapsed > timeout:
                entry.process.kill()
                entry.process.wait()
                code = -9
            if code is None:
                continue
            running.remove(entry)
            build = entry.build
            build.seconds += elapsed
            if code != 0:
                tail = (build.folder / "sweep-build.log").read_text(errors="replace")[-3000:]
                reason = f"exit {code}" + (f", over the {timeout:.0f} s limit" if code == -9 else "")
                build.error = f"build failed ({reason}):\n{tail}"
            elif entry.commands:
                running.append(start(build, entry.commands))
            elif not (build.library_dir / "libtrtops_kernels.so").is_file():
                build.error = "the build produced no libtrtops_kernels.so"


#: The inputs of a kernels build (trtops_kernels alone: the plugin layer is not built), so that a
#: change to the plugins does not void a bundle; a bundle built from other inputs is not used.
FINGERPRINTED = ("CMakeLists.txt", "cmake", "plugins/kernels")
BUNDLE_MANIFEST = "sweep-bundle.json"
#: What a bundle holds of each build (under "<build name>/").
BUNDLE_FILES = ("lib/libtrtops_kernels.so", "lib/build_info.json")


def source_fingerprint(root: Path = REPO) -> str:
    """sha256 over the path and bytes of every file a kernels build reads (FINGERPRINTED)."""
    digest = hashlib.sha256()
    files: List[Path] = []
    for name in FINGERPRINTED:
        path = root / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def architecture_numbers(archs: str) -> List[str]:
    """The compute capabilities a CMAKE_CUDA_ARCHITECTURES value names ("90-real;80" -> 90, 80)."""
    numbers = []
    for entry in archs.replace(";", " ").replace(",", " ").split():
        digits = entry.split("-")[0]
        if digits.isdigit():
            numbers.append(digits)
    return numbers


def pack_builds(builds: Sequence[Build], archs: str, bundle: Path) -> int:
    """Writes the successful builds' libraries and a manifest (sources fingerprint, archs, each
    build's name, family and flags) into one xz-compressed tar file; returns how many builds."""
    done = [b for b in builds if b.error is None]
    manifest = {"fingerprint": source_fingerprint(), "archs": archs,
                "builds": [{"name": b.name, "family": b.family, "flags": b.flags} for b in done]}
    bundle.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(bundle, "w:xz") as tar:
        data = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(BUNDLE_MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for build in done:
            for member in BUNDLE_FILES:
                tar.add(build.folder / member, arcname=f"{build.name}/{member}")
    return len(done)


def _gpu_capability() -> Optional[str]:
    """"90" on an H100, None without a CUDA GPU (or torch)."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability()
    return f"{major}{minor}"


def _loads(library: Path, python: str) -> Optional[str]:
    """None when `library` loads in a fresh process, else why not (e.g. a C++ runtime older than
    the one it was built against)."""
    result = subprocess.run([python, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])", str(library)],
                            capture_output=True, text=True, timeout=120)
    return None if result.returncode == 0 else (result.stderr.strip().splitlines() or ["exit code"])[-1]


def take_prebuilt(builds: Sequence[Build], bundle: Path, capability: Optional[str], python: str,
                  log=print) -> int:
    """Extracts the builds `bundle` holds (same name and flags) into their folders and marks them
    prebuilt, when the bundle fits: built from these sources, for this GPU's architecture
    (`capability`, unchecked when None), and its libraries load here. Returns how many."""
    with tarfile.open(bundle, "r:xz") as tar:
        manifest = json.loads(tar.extractfile(BUNDLE_MANIFEST).read())
        numbers = architecture_numbers(manifest["archs"])
        if manifest["fingerprint"] != source_fingerprint():
            log(f"sweep: {bundle.name} not used: built from other sources than this tree's; building here")
            return 0
        if capability is not None and capability not in numbers:
            log(f"sweep: {bundle.name} not used: built for {manifest['archs']}, this GPU is sm_{capability}; "
                "building here")
            return 0
        held = {(entry["name"], entry["flags"]) for entry in manifest["builds"]}
        taken = [b for b in builds if (b.name, b.flags) in held]
        for build in taken:
            shutil.rmtree(build.folder, ignore_errors=True)
            for member in BUNDLE_FILES:
                # Written by name, not extractall: only the files this plan expects leave the archive.
                target = build.folder / member
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(f"{build.name}/{member}").read())
    if taken:
        why = _loads(taken[0].library_dir / "libtrtops_kernels.so", python)
        if why is not None:
            log(f"sweep: {bundle.name} not used: its libraries do not load here ({why}); building here")
            return 0
    for build in taken:
        build.prebuilt = True
    return len(taken)


def bench_command(group: Group, json_path: Path, python: str) -> List[str]:
    return [python, str(BENCHMARKS / f"bench_{group.bench}.py"), "--json", str(json_path), "--only", group.only,
            *group.args]


def run_bench(group: Group, build: Build, scratch: Path, python: str, timeout: float) -> dict:
    """Runs the group's benchmark on one build: {"rows", "seconds"} or {"error", "seconds"}."""
    json_path = scratch / f"{build.name}-{group.bench}.json"
    json_path.unlink(missing_ok=True)
    env = dict(os.environ, TRTOPS_LIBRARY_DIR=str(build.library_dir), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    began = time.monotonic()
    try:
        result = subprocess.run(bench_command(group, json_path, python), env=env, capture_output=True, text=True,
                                timeout=timeout, cwd=str(scratch))
    except subprocess.TimeoutExpired:
        return {"error": f"benchmark time limit ({timeout:.0f} s)", "seconds": time.monotonic() - began}
    seconds = time.monotonic() - began
    if result.returncode != 0 or not json_path.is_file():
        tail = (result.stdout + result.stderr)[-2000:]
        return {"error": f"bench_{group.bench}.py exit {result.returncode}:\n{tail}", "seconds": seconds}
    document = json.loads(json_path.read_text())
    return {"rows": document.get("rows", []), "device": document.get("device"), "seconds": seconds,
            "build_info": _build_info(build)}


def _build_info(build: Build) -> dict:
    path = build.library_dir / "build_info.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def comparison_lines(report: dict) -> List[str]:
    """Per variant and row: the default's and the variant's trtops ms, and default / variant
    (above 1: the variant is faster), also for GPU time where the benchmark records it.
    Diagnostic builds are marked "(diag.)": their results are wrong, only their time counts."""
    header = (f"{'variant':<30} {'op':<22} {'shape':<34} {'dtype':<13} {'layout':<6} {'default ms':>10} "
              f"{'variant ms':>10} {'speedup':>8} {'gpu speedup':>11}")
    lines = [header, "-" * len(header)]
    for variant in report["variants"]:
        name = variant["name"] + (" (diag.)" if variant.get("diagnostic") else "")
        default = report["defaults"].get(variant["group"], {})
        if "rows" not in variant or "rows" not in default:
            why = variant.get("error") or default.get("error") or "not timed"
            lines.append(f"{name:<30} {why.splitlines()[0]}")
            continue
        base = {row_key(r): r for r in default["rows"]}
        for row in variant["rows"]:
            b = base.get(row_key(row))
            op, shape, dtype, layout = row_key(row)
            prefix = f"{name:<30} {op:<22} {shape[:34]:<34} {dtype:<13} {layout:<6} "
            if b is None:
                lines.append(prefix + "not in the default's rows")
                continue
            speed = ratio(b.get("trtops_ms"), row.get("trtops_ms"))
            gpu = ratio(b.get("gpu_trtops_ms"), row.get("gpu_trtops_ms"))
            lines.append(prefix + f"{fmt(b.get('trtops_ms'), 4):>10} {fmt(row.get('trtops_ms'), 4):>10} "
                         f"{fmt(speed, 2, 'x'):>8} {fmt(gpu, 2, 'x'):>11}")
    return lines


#: Per benchmark row: the field that says how right trtops' result is, and whether it is an error
#: (smaller is better) or a verdict that must equal the default's.
CORRECTNESS_FIELDS = (("max_abs_err_vs_fp64", "error"), ("max_abs_diff_vs_tv_fp32", "error"),
                      ("same_result", "verdict"))
#: A variant's error may grow this much over the default's (other summation orders round
#: differently) before its rows are marked for a look; below ERROR_FLOOR nothing is marked.
ERROR_GROWTH = 4.0
ERROR_FLOOR = 1e-6


def _geomean(values: Sequence[float]) -> Optional[float]:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def _result_changes(base: dict, row: dict) -> List[str]:
    """How the variant's result on a row is worse than the default's (empty: it is not)."""
    changes = []
    for name, kind in CORRECTNESS_FIELDS:
        if name not in row or name not in base:
            continue
        if kind == "verdict" and row[name] != base[name]:
            changes.append(f"{name} {row[name]} (default {base[name]})")
        elif kind == "error" and row[name] > max(ERROR_GROWTH * base[name], ERROR_FLOOR):
            changes.append(f"{name} {row[name]:.2e} (default {base[name]:.2e})")
    return changes


def verdict_lines(report: dict) -> List[str]:
    """One line per timed variant: the geometric mean and the worst of its rows' speedups over the
    default (eager and GPU time), and whether its results match the default's (CORRECTNESS_FIELDS)
    or which rows to look at. A switch is worth turning on when its speedups are above 1 by more
    than the noise and its results are "same"; diagnostic builds only say where time goes."""
    lines = []
    for variant in report["variants"]:
        default = report["defaults"].get(variant["group"], {})
        if "rows" not in variant or "rows" not in default:
            continue
        base = {row_key(r): r for r in default["rows"]}
        pairs = [(base[row_key(r)], r) for r in variant["rows"] if row_key(r) in base]
        eager = [x for x in (ratio(b.get("trtops_ms"), r.get("trtops_ms")) for b, r in pairs) if x]
        gpu = [x for x in (ratio(b.get("gpu_trtops_ms"), r.get("gpu_trtops_ms")) for b, r in pairs) if x]
        changes = [f"{r['op']} {r['shape']} {r['dtype']}: " + "; ".join(c)
                   for b, r in pairs for c in [_result_changes(b, r)] if c]
        if variant.get("diagnostic"):
            results = "diagnostic (wrong by design)"
        else:
            results = "same as the default" if not changes else "LOOK: " + " | ".join(changes)
        speed = f"{fmt(_geomean(eager), 2, 'x')} (worst {fmt(min(eager) if eager else None, 2, 'x')})"
        if gpu:
            speed += f", GPU time {fmt(_geomean(gpu), 2, 'x')} (worst {fmt(min(gpu), 2, 'x')})"
        lines.append(f"{variant['name']:<34} {len(pairs)} rows, speedup {speed}; results {results}")
    return lines


def build_all(builds: Sequence[Build], archs: str, parallel: int, jobs: int, timeout: float, log=print) -> None:
    """Builds those of `builds` not taken prebuilt (run_builds) and logs each one's outcome."""
    to_build = [b for b in builds if not b.prebuilt]
    log(f"sweep: building {len(to_build)} libraries ({parallel} at a time, -j {jobs})")
    run_builds(to_build, archs, parallel, jobs, timeout)
    for build in builds:
        outcome = "prebuilt" if build.prebuilt else "ok" if build.error is None else "FAILED"
        log(f"  {build.name:<32} {build.seconds:6.1f} s  {outcome}")


def sweep(variants: Sequence[Variant], root: Path, archs: str, limit: float, parallel: int, jobs: int,
          python: str, log=print, prebuilt: Optional[Path] = None) -> dict:
    """Builds (or takes from the `prebuilt` bundle) and times `variants` (see the module
    docstring); returns the report."""
    started = time.monotonic()
    builds = plan_builds(variants, root)
    if prebuilt is not None:
        taken = take_prebuilt(builds, prebuilt, _gpu_capability(), python, log)
        log(f"sweep: {taken} of {len(builds)} libraries taken from {prebuilt}")
    build_all(builds, archs, parallel, jobs, max(limit * 0.6, 60.0), log)
    by_name = {b.name: b for b in builds}
    report: dict = {"archs": archs, "limit_s": limit, "builds": [
        {"name": b.name, "family": b.family, "flags": b.flags, "seconds": round(b.seconds, 1), "error": b.error,
         "prebuilt": b.prebuilt} for b in builds], "defaults": {}, "variants": []}
    scratch = Path(tempfile.mkdtemp(prefix="trtops-sweep-json-"))
    left = lambda: limit - (time.monotonic() - started)  # noqa: E731
    for variant in variants:  # in list order; a group's default is timed before its first variant
        group = GROUPS[variant.group]
        if variant.group not in report["defaults"]:
            default = by_name[default_name(group.family)]
            if default.error is not None:
                report["defaults"][variant.group] = {"error": default.error}
            elif left() < 30:
                report["defaults"][variant.group] = {"error": f"skipped: {left():.0f} s of the limit left"}
            else:
                log(f"sweep: {variant.group}: default build, bench_{group.bench}.py --only '{group.only}'")
                report["defaults"][variant.group] = run_bench(group, default, scratch, python, timeout=left())
        default_run = report["defaults"][variant.group]
        entry = {"name": variant.name, "group": variant.group, "flags": variant.flags, "why": variant.why,
                 "diagnostic": variant.diagnostic}
        build = by_name[variant.name]
        needed = default_run.get("seconds", 0.0) * 1.2 + 5
        if build.error is not None:
            entry["error"] = build.error
        elif "rows" not in default_run:
            why = default_run.get("error", "").splitlines()
            entry["error"] = "not timed, nor was the default: " + " / ".join(why[:2])
        elif left() < needed:
            entry["error"] = f"skipped: {left():.0f} s of the limit left, ~{needed:.0f} s needed"
        else:
            log(f"sweep: {variant.name} ({variant.flags})")
            entry.update(run_bench(group, build, scratch, python, timeout=max(left(), 1.0)))
        report["variants"].append(entry)
    shutil.rmtree(scratch, ignore_errors=True)
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the report (JSON) here")
    parser.add_argument("--variants", help="comma-separated variant names (default: all, in order)")
    parser.add_argument("--list", action="store_true", help="print the variants and exit")
    parser.add_argument("--limit", type=float, default=420.0, help="seconds for the whole sweep")
    parser.add_argument("--archs", default="native", help="CMAKE_CUDA_ARCHITECTURES of the builds")
    parser.add_argument("--build-root", type=Path, default=Path(tempfile.gettempdir()) / "trtops-sweep")
    # Most variants rebuild one large .cu file (a single compiler process): many builds at a
    # time, few jobs each.
    parser.add_argument("--parallel", type=int, default=max((os.cpu_count() or 2) // 2, 1), help="builds at a time")
    parser.add_argument("--jobs", type=int, default=2, help="ninja -j per build")
    parser.add_argument("--build-only", action="store_true",
                        help="build the libraries (no GPU needed), time nothing; with --pack, bundle them")
    parser.add_argument("--pack", type=Path, help="with --build-only: write the builds into this .tar.xz bundle")
    parser.add_argument("--prebuilt", type=Path, help="take the libraries from this bundle where it fits")
    args = parser.parse_args(argv)
    if args.pack is not None and not args.build_only:
        parser.error("--pack goes with --build-only")

    variants = select_variants(args.variants)
    if args.list:
        for v in variants:
            group = GROUPS[v.group]
            print(f"{v.name:<32} {v.flags:<70} bench_{group.bench}.py --only '{group.only}'\n{'':<32} {v.why}")
        return 0
    if args.build_only:
        builds = plan_builds(variants, args.build_root)
        build_all(builds, args.archs, args.parallel, args.jobs, args.limit)
        failed = [b for b in builds if b.error is not None]
        for build in failed:
            print(f"sweep: {build.name}: {build.error}")
        if args.pack is not None:
            packed = pack_builds(builds, args.archs, args.pack)
            print(f"sweep: {packed} libraries for {args.archs} in {args.pack} ({args.pack.stat().st_size} bytes)")
        return 1 if failed else 0
    report = sweep(variants, args.build_root, args.archs, args.limit, args.parallel, args.jobs, sys.executable,
                   prebuilt=args.prebuilt)
    print("\n".join(comparison_lines(report)))
    report["verdicts"] = verdict_lines(report)
    print("\nPer variant (geometric mean over its rows; above 1x: faster than the default build):")
    print("\n".join(report["verdicts"]))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    timed = sum(1 for v in report["variants"] if "rows" in v)
    print(f"sweep: {timed} of {len(report['variants'])} variants timed in {report['seconds']} s")
    return 0 if timed else 1


if __name__ == "__main__":
    sys.exit(main())
