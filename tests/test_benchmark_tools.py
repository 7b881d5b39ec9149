"""The GPU session's helpers, on CPU (tier 1): compare_runs.py (merging benchmark JSON files and the
row-by-row A/B comparison), ncu_cases.py (the calls Nsight Compute profiles, run small on CPU),
row_filter.py (the benchmarks' --only), sweep.py (builds of compile-time variants) and the CPU models
(nms_chunk_model.py, dcn_traffic_model.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import compare_runs  # noqa: E402


def _row(op: str, shape: str, trtops_ms: float, torchvision_ms: float = 1.0, **extra) -> dict:
    return {"op": op, "shape": shape, "dtype": "float32", "layout": "NCHW", "trtops_ms": trtops_ms,
            "torchvision_ms": torchvision_ms, **extra}


def test_merge_keys_each_file_by_name(tmp_path: Path) -> None:
    (tmp_path / "bench_roi.json").write_text(json.dumps({"rows": [_row("roi_align", "a", 0.5)]}))
    (tmp_path / "bench_nms.json").write_text(json.dumps({"rows": [_row("nms", "n=5000", 0.2)]}))
    merged = compare_runs.merge(sorted(tmp_path.glob("*.json")))
    assert set(merged["runs"]) == {"bench_roi", "bench_nms"}
    assert merged["runs"]["bench_nms"]["rows"][0]["trtops_ms"] == 0.2


def test_compare_matches_rows_and_reports_the_speedup_of_new_over_base() -> None:
    base = {"runs": {"bench_roi_baseline": {"rows": [
        _row("roi_align", "sr=0", 0.90, gpu_trtops_ms=0.80),
        _row("ps_roi_pool", "K=300", 0.05),
        _row("gone", "x", 1.0),
    ]}}}
    new = {"runs": {"bench_roi": {"rows": [
        _row("roi_align", "sr=0", 0.45, gpu_trtops_ms=0.20),
        _row("ps_roi_pool", "K=300", 0.10),
        _row("added", "y", 1.0),
    ]}}}
    lines = compare_runs.compare(base, new)
    by_op = {line.split()[1]: line for line in lines[2:]}
    assert by_op["roi_align"].split()[-2:] == ["2.00x", "4.00x"]  # eager 0.90/0.45, GPU time 0.80/0.20
    assert by_op["ps_roi_pool"].split()[-2:] == ["0.50x", "-"]  # slower; no GPU times recorded
    assert by_op["gone"].endswith("only in BASE")
    assert by_op["added"].endswith("only in NEW")


def test_compare_takes_single_benchmark_files_too(tmp_path: Path) -> None:
    base = tmp_path / "bench_nms_baseline.json"
    new = tmp_path / "bench_nms.json"
    base.write_text(json.dumps({"rows": [_row("nms", "n=5000", 0.30)]}))
    new.write_text(json.dumps({"rows": [_row("nms", "n=5000", 0.20)]}))
    result = subprocess.run([sys.executable, str(BENCHMARKS / "compare_runs.py"), "compare", str(base), str(new)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "1.50x" in result.stdout


def test_compare_rejects_a_file_that_is_no_benchmark_output() -> None:
    with pytest.raises(ValueError, match="neither a merged file"):
        compare_runs.compare({"something": 1}, {"rows": []})


@pytest.mark.kernels
def test_ncu_cases_run_small_on_cpu() -> None:
    """Every call ncu_cases.py would profile on the GPU runs (at small shapes, host implementations)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(BENCHMARKS.parent), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, str(BENCHMARKS / "ncu_cases.py"), "--smoke"], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [line for line in result.stdout.splitlines() if line.startswith("ran ")]
    assert len(ran) == 9, result.stdout


def test_nms_chunk_model_counts_the_resolve_blocks_of_the_real_schedule() -> None:
    # The model's greedy is torchvision's nms (its block counts rest on it), its chunk bounds are
    # nms.cu's (a short first chunk only above 4096 boxes), and compaction never needs more
    # blocks than the chunk's live boxes fill nor more than in place.
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    import nms_chunk_model as model
    from bench_nms import clustered

    boxes, scores = clustered(4500, torch.Generator().manual_seed(3), torch)
    order = torch.argsort(scores, descending=True, stable=True)
    sorted_boxes = boxes[order].double()
    kept = model.greedy_keep(sorted_boxes.numpy(), 0.5)
    expected = torchvision.ops.nms(sorted_boxes, torch.arange(4500, 0, -1, dtype=torch.float64), 0.5)
    assert sorted(kept.nonzero()[0].tolist()) == sorted(expected.tolist())

    assert model.chunk_bounds(4000, 1024) == [0, 4000]
    assert model.chunk_bounds(4500, 1024) == [0, 1024, 4500]
    assert model.chunk_bounds(9000, 4096) == [0, 4096, 8192, 9000]
    m = model.model(sorted_boxes.numpy(), kept, 1024, 0.5)
    first, second = m["chunks"]
    assert (first["boxes"], first["live"], first["blocks"]) == (1024, 1024, 16)
    assert second["boxes"] == 3476 and 0 < second["live"] < 3476
    assert second["blocks"] == (second["live"] + 63) // 64 <= second["blocks_in_place"]
    assert m["serial_blocks"] == 16 + second["blocks"]


def test_dcn_traffic_model_tiles_and_caches_as_the_kernel_does() -> None:
    # Tiles number pixels as tilePixel does; K tiles follow the kernel's two orders; the L1 model
    # fetches each sector once while it is held, every time when nothing is held.
    import numpy as np

    import dcn_traffic_model as model

    layer = model.Layer(2, 64, 9, 70)
    strip, block = model.Tiling("strip", 0, False), model.Tiling("32x4", 32, True)
    n, y, x = model.tile_pixels(layer, strip, 4)  # pixels 512..639: image 0's last 118, image 1's first 10
    assert (n[0], y[0], x[0]) == (0, 7, 22) and (n[-1], y[-1], x[-1]) == (1, 0, 9) and len(n) == 128
    n, y, x = model.tile_pixels(layer, block, 11)  # 9 blocks per image: image 1, block row 0, column 2
    assert set(n) == {1} and sorted(set(x)) == list(range(64, 70)) and sorted(set(y)) == [0, 1, 2, 3]
    assert list(model.k_tiles(layer, strip))[:3] == [(0, 0), (0, 1), (1, 0)]
    assert list(model.k_tiles(layer, block))[:3] == [(0, 0), (1, 0), (2, 0)]

    cache = model.L1(1 << 20)
    for address in (0, 64, 0, 32, 128 * 1000):
        cache.read(address, 64)
    assert cache.missed_sectors == 2 + 2 + 0 + 0 + 2
    tiny = model.L1(model.LINE)
    for address in (0, 128, 0):
        tiny.read(address, 64)
    assert tiny.missed_sectors == 6

    # No offsets: a 32 x 4 block's taps of a channel run share nearly every corner, so with room
    # in L1 little comes from L2; a strip in tap-major order refetches them tap after tap.
    zero = np.zeros((layer.batch, 9, 2, layer.height, layer.width))
    big = 1 << 20
    blocked = model.cta_traffic(layer, block, 2, big, zero)
    stripped = model.cta_traffic(layer, strip, 2, 64 * 128, zero)
    assert blocked["corners_l2"] < 0.2 * blocked["requested"]
    assert stripped["corners_l2"] > 0.5 * stripped["requested"]
    assert blocked["weights_l2"] == stripped["weights_l2"] == 64 * model.RUN


def test_row_filter_matches_words_at_the_start_of_label_words() -> None:
    import row_filter

    patterns = row_filter.parse_patterns("ps_roi float16,roi_align NHWC sr=0")
    assert row_filter.selected(patterns, "ps_roi_pool", "1x1029x63x38 K=300 7x7", "float16", "NCHW")
    assert not row_filter.selected(patterns, "ps_roi_pool", "1x1029x63x38 K=300 7x7", "bfloat16", "NCHW")
    assert row_filter.selected(patterns, "roi_align", "2x256x200x304 K=1000 7x7 sr=0", "float32", "NHWC")
    assert not row_filter.selected(patterns, "roi_align", "2x256x200x304 K=1000 7x7 sr=2", "float32", "NHWC")
    exact = row_filter.parse_patterns("float32$")
    assert row_filter.selected(exact, "deform_conv2d_v2_3x3", "2x256x100x152", "float32", "NCHW")
    assert not row_filter.selected(exact, "deform_conv2d_v2_3x3", "2x256x100x152", "float32+tf32", "NCHW")
    assert row_filter.selected(row_filter.parse_patterns(None), "anything", "", "", "")
    with pytest.raises(ValueError, match="no pattern"):
        row_filter.parse_patterns(" , ")


def test_sweep_variants_name_switches_that_exist_and_rows_that_exist() -> None:
    # A renamed or removed switch would otherwise build the default again under the variant's
    # name; a group whose --only matches no row of its benchmark would time nothing.
    import re

    import row_filter
    import sweep

    sources = "\n".join(p.read_text() for p in (BENCHMARKS.parent / "plugins" / "kernels").rglob("*.[ch]*"))
    names = [v.name for v in sweep.VARIANTS]
    assert len(names) == len(set(names)) and sweep.DEFAULT not in names
    for variant in sweep.VARIANTS:
        assert variant.group in sweep.GROUPS, variant.name
        for macro in re.findall(r"-D(\w+)=", variant.flags):
            assert f"#ifndef {macro}\n#define {macro}" in sources, f"{variant.name}: no switch {macro}"
    rows = {
        "nms": [("nms", "n=5000", "float32", "-"), ("nms", "n=20000", "float32", "-"),
                ("batched_nms", "n=20000 classes=80", "float32", "-")],
        "roi": [("roi_align", "2x256x200x304 K=1000 7x7 sr=0", "float32", "NHWC"),
                ("ps_roi_align", "1x1029x63x38 K=300 7x7 sr=2", "float16", "NCHW")],
        "deform_conv": [("deform_conv2d_v2_3x3", "2x256x100x152", "float16", "NCHW"),
                        ("deform_conv2d_v2_3x3", "8x64x128x128", "float32", "NCHW")],
    }
    for name, group in sweep.GROUPS.items():
        patterns = row_filter.parse_patterns(group.only)
        assert any(row_filter.selected(patterns, *row) for row in rows[group.bench]), name
        assert (BENCHMARKS / f"bench_{group.bench}.py").is_file()


def test_sweep_compares_each_variant_with_its_groups_default() -> None:
    import sweep

    report = {
        "defaults": {"nms": {"rows": [_row("nms", "n=5000", 0.20, gpu_trtops_ms=0.10)]},
                     "ps": {"error": "bench_roi.py exit 2:\nno GPU"}},
        "variants": [
            {"name": "nms-a", "group": "nms", "rows": [_row("nms", "n=5000", 0.10, gpu_trtops_ms=0.20),
                                                        _row("nms", "n=7", 1.0)]},
            {"name": "nms-b", "group": "nms", "error": "skipped: 3 s of the limit left, ~20 s needed"},
            {"name": "ps-a", "group": "ps", "error": "not timed, nor was the default: bench_roi.py exit 2: / no GPU"},
            {"name": "nms-diag", "group": "nms", "diagnostic": True, "rows": [_row("nms", "n=5000", 0.05)]},
        ],
    }
    lines = sweep.comparison_lines(report)[2:]
    assert lines[0].split()[-2:] == ["2.00x", "0.50x"]  # 0.20 / 0.10 eager, 0.10 / 0.20 GPU time
    assert lines[1].endswith("not in the default's rows")
    assert lines[2].startswith("nms-b") and "skipped" in lines[2]
    assert lines[3].startswith("ps-a") and "no GPU" in lines[3]
    assert lines[4].startswith("nms-diag (diag.)") and lines[4].split()[-2] == "4.00x"
    assert sweep.select_variants("nms-first-chunk-512,dcn-tap-minor") == [
        v for v in sweep.VARIANTS if v.name in ("dcn-tap-minor", "nms-first-chunk-512")]
    with pytest.raises(SystemExit, match="unknown variant"):
        sweep.select_variants("no-such-variant")


def test_sweep_verdicts_weigh_speed_and_flag_changed_results() -> None:
    import sweep

    def dcn(shape: str, ms: float, err: float) -> dict:
        return _row("deform_conv2d_v2_3x3", shape, ms, max_abs_err_vs_fp64=err)

    default_rows = [dcn("a", 0.4, 1e-3), dcn("b", 0.2, 1e-3)]
    report = {
        "defaults": {"dcn": {"rows": default_rows},
                     "nms": {"rows": [_row("nms", "n=5000", 0.2, same_result="exact")]}},
        "variants": [
            {"name": "faster", "group": "dcn", "rows": [dcn("a", 0.2, 1.5e-3), dcn("b", 0.1, 1e-3)]},
            {"name": "wrong", "group": "dcn", "rows": [dcn("a", 0.2, 0.5), dcn("b", 0.4, 1e-3)]},
            {"name": "diag", "group": "dcn", "diagnostic": True, "rows": [dcn("a", 0.1, 9.0)]},
            {"name": "nms-diff", "group": "nms", "rows": [_row("nms", "n=5000", 0.1, same_result="DIFF")]},
            {"name": "untimed", "group": "nms", "error": "skipped"},
        ],
    }
    lines = sweep.verdict_lines(report)
    assert len(lines) == 4  # the untimed variant has no line
    assert lines[0].startswith("faster") and "speedup 2.00x (worst 2.00x)" in lines[0]
    assert lines[0].endswith("results same as the default")  # 1.5x the default's error is rounding
    assert "speedup 1.00x (worst 0.50x)" in lines[1] and "LOOK: deform_conv2d_v2_3x3 a float32" in lines[1]
    assert lines[2].endswith("diagnostic (wrong by design)")
    assert "same_result DIFF (default exact)" in lines[3]


def _fake_builds(sweep, root: Path) -> list:
    """The sweep's plan for one NMS variant, with stand-in files where the libraries go."""
    builds = sweep.plan_builds(sweep.select_variants("nms-first-chunk-512"), root)
    for build in builds:
        for member in sweep.BUNDLE_FILES:
            (build.folder / member).parent.mkdir(parents=True, exist_ok=True)
            (build.folder / member).write_text(f"{build.name} {member}")
    return builds


def test_sweep_takes_a_prebuilt_bundle_only_where_it_fits(tmp_path: Path, monkeypatch) -> None:
    # A bundle made elsewhere replaces the GPU machine's builds only when it was built from these
    # sources, for this GPU and loads there; otherwise every library is built as without it.
    import sweep

    bundle = tmp_path / "bundle.tar.xz"
    assert sweep.pack_builds(_fake_builds(sweep, tmp_path / "made"), "90-real", bundle) == 2
    assert sweep.architecture_numbers("90-real;80 86-virtual") == ["90", "80", "86"]

    def take(capability):
        messages = []
        builds = sweep.plan_builds(sweep.select_variants("nms-first-chunk-512"), tmp_path / "used")
        taken = sweep.take_prebuilt(builds, bundle, capability, sys.executable, log=messages.append)
        return taken, builds, " ".join(messages)

    taken, builds, said = take("80")
    assert taken == 0 and not any(b.prebuilt for b in builds) and "this GPU is sm_80" in said
    taken, builds, said = take("90")  # stand-in files are no libraries: they do not load
    assert taken == 0 and not any(b.prebuilt for b in builds) and "do not load" in said
    monkeypatch.setattr(sweep, "_loads", lambda library, python: None)
    taken, builds, said = take(None)
    assert taken == 2 and all(b.prebuilt for b in builds) and said == ""
    for build in builds:
        assert (build.folder / "lib" / "build_info.json").read_text() == f"{build.name} lib/build_info.json"
    monkeypatch.setattr(sweep, "source_fingerprint", lambda root=sweep.REPO: "other")
    taken, builds, said = take("90")
    assert taken == 0 and "other sources" in said


def test_sweep_fingerprint_follows_the_kernel_sources(tmp_path: Path) -> None:
    import sweep

    for name in ("CMakeLists.txt", "cmake/a.cmake", "plugins/kernels/x.cu"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1")
    first = sweep.source_fingerprint(tmp_path)
    (tmp_path / "README.md").write_text("not a build input")
    (tmp_path / "plugins/nms/NmsPlugin.cpp").parent.mkdir(parents=True)
    (tmp_path / "plugins/nms/NmsPlugin.cpp").write_text("the plugin layer, not built by the sweep")
    assert sweep.source_fingerprint(tmp_path) == first
    (tmp_path / "plugins/kernels/x.cu").write_text("2")
    assert sweep.source_fingerprint(tmp_path) != first


@pytest.mark.kernels
@pytest.mark.slow
def test_sweep_builds_each_variant_with_its_flags(tmp_path: Path) -> None:
    # The real builds (nvcc, one architecture, the NMS family only), bundled by --build-only
    # --pack and taken by a sweep from the bundle; the benchmarks then need a GPU, so on CPU both
    # timings report why they did not run.
    if shutil.which("nvcc") is None or shutil.which("cmake") is None or shutil.which("ninja") is None:
        pytest.skip("[kernels tier] nvcc, cmake and ninja are needed to build the sweep's libraries")
    import sweep
    import torch

    command = [sys.executable, str(BENCHMARKS / "sweep.py"), "--variants", "nms-first-chunk-512", "--archs", "80-real"]
    bundle = tmp_path / "libs.tar.xz"
    made = subprocess.run(
        [*command, "--build-only", "--pack", str(bundle), "--parallel", "2", "--jobs", "1", "--limit", "600",
         "--build-root", str(tmp_path / "made")],
        capture_output=True, text=True, timeout=900)
    assert made.returncode == 0 and "2 libraries for 80-real" in made.stdout, made.stdout + made.stderr
    out = tmp_path / "sweep.json"
    result = subprocess.run(
        [*command, "--prebuilt", str(bundle), "--limit", "600", "--build-root", str(tmp_path / "builds"),
         "--out", str(out)],
        capture_output=True, text=True, timeout=900)
    report = json.loads(out.read_text())
    assert [b["name"] for b in report["builds"]] == ["default-nms", "nms-first-chunk-512"], result.stdout
    assert all(b["error"] is None for b in report["builds"]), report["builds"]
    # Taken from the bundle, unless this machine's GPU is not the bundle's sm_80 (then built).
    fits = sweep._gpu_capability() in (None, "80")
    assert all(b["prebuilt"] == fits for b in report["builds"]), result.stdout
    for name, flags in (("default-nms", ""), ("nms-first-chunk-512", "-DTRTOPS_NMS_FIRST_CHUNK=512")):
        for root in ("made", "builds"):
            info = json.loads((tmp_path / root / name / "lib" / "build_info.json").read_text())
            assert info["cuda_flags"] == flags and info["kernel_families"] == ["nms"]
    if not torch.cuda.is_available():
        assert result.returncode == 1  # nothing was timed
        assert "no CUDA GPU" in report["defaults"]["nms"]["error"]
        assert "nor was the default" in report["variants"][0]["error"]
