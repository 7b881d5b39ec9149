"""The GPU session's helpers, on CPU (tier 1): compare_runs.py (merging benchmark JSON files and the
row-by-row A/B comparison) and ncu_cases.py (the calls Nsight Compute profiles, run small on CPU)."""

from __future__ import annotations

import json
import os
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
