#!/usr/bin/env python3
"""Merge benchmark JSON files, and compare two runs row by row (an A/B of two trtops builds).

    python benchmarks/compare_runs.py merge OUT.json bench_roi.json bench_nms.json ...
    python benchmarks/compare_runs.py compare BASE.json NEW.json

``merge`` writes one file ``{"runs": {"bench_roi": <that file's JSON>, ...}}`` (keyed by file
name without ``.json``); a GPU session returns a limited number of files, so every benchmark's
output travels in one. ``compare`` takes two such merged files, or two files of one benchmark,
matches rows by (benchmark, op, shape, dtype, layout) and prints, for each row, trtops' time in
both runs and how much faster NEW is than BASE (above 1: NEW is faster). Where both runs hold
torch.profiler GPU times (``gpu_trtops_ms``), the GPU-time ratio is printed too: it leaves out
the Python overhead that bounds short calls. Rows present in one run only are listed as such.
torchvision's own time in both runs is shown as a check that the two runs are comparable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

RowKey = Tuple[str, str, str, str, str]


def merge(paths: Iterable[Path]) -> dict:
    """One document holding every benchmark file, keyed by the file's stem."""
    runs = {}
    for path in paths:
        runs[path.stem] = json.loads(path.read_text())
    return {"runs": runs}


def _runs(document: dict, name: str) -> Dict[str, dict]:
    if "runs" in document:
        return document["runs"]
    if "rows" in document:
        return {name: document}
    raise ValueError(f"{name}: neither a merged file ('runs') nor a benchmark file ('rows')")


def _benchmark_name(stem: str) -> str:
    """bench_roi_baseline and bench_roi name the same benchmark."""
    return stem[: -len("_baseline")] if stem.endswith("_baseline") else stem


def row_key(row: dict) -> Tuple[str, str, str, str]:
    """What names a benchmark row within its benchmark: (op, shape, dtype, layout)."""
    return (str(row.get("op")), str(row.get("shape")), str(row.get("dtype")), str(row.get("layout", "-")))


def rows_by_key(document: dict, name: str) -> Dict[RowKey, dict]:
    """Every row of a merged or single benchmark document, by (benchmark, op, shape, dtype, layout)."""
    table: Dict[RowKey, dict] = {}
    for stem, run in _runs(document, name).items():
        bench = _benchmark_name(stem)
        for row in run.get("rows", []):
            table[(bench, *row_key(row))] = row
    return table


def ratio(base: Optional[float], new: Optional[float]) -> Optional[float]:
    """base / new (above 1: new is faster), None where either is missing."""
    if base is None or new is None or new <= 0:
        return None
    return base / new


def fmt(value: Optional[float], digits: int = 3, suffix: str = "") -> str:
    """A table cell: "-" for a missing value."""
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def compare(base: dict, new: dict, base_name: str = "BASE", new_name: str = "NEW") -> List[str]:
    """Lines of the comparison table (see the module docstring)."""
    base_rows = rows_by_key(base, base_name)
    new_rows = rows_by_key(new, new_name)
    header = (
        f"{'benchmark':<18} {'op':<22} {'shape':<40} {'dtype':<13} {'layout':<6} "
        f"{'tv base':>8} {'tv new':>8} {'base ms':>8} {'new ms':>8} {'new/base':>9} {'gpu new/base':>12}"
    )
    lines = [header, "-" * len(header)]
    for key in sorted(set(base_rows) | set(new_rows)):
        bench, op, shape, dtype, layout = key
        b = base_rows.get(key)
        n = new_rows.get(key)
        prefix = f"{bench:<18} {op:<22} {shape[:40]:<40} {dtype:<13} {layout:<6} "
        if b is None or n is None:
            lines.append(prefix + ("only in NEW" if b is None else "only in BASE"))
            continue
        speed = ratio(b.get("trtops_ms"), n.get("trtops_ms"))
        gpu_speed = ratio(b.get("gpu_trtops_ms"), n.get("gpu_trtops_ms"))
        lines.append(
            prefix
            + f"{fmt(b.get('torchvision_ms')):>8} {fmt(n.get('torchvision_ms')):>8} "
            + f"{fmt(b.get('trtops_ms')):>8} {fmt(n.get('trtops_ms')):>8} "
            + f"{fmt(speed, 2, 'x'):>9} {fmt(gpu_speed, 2, 'x'):>12}"
        )
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    merge_parser = commands.add_parser("merge", help="merge benchmark JSON files into one")
    merge_parser.add_argument("out", type=Path)
    merge_parser.add_argument("inputs", type=Path, nargs="*")
    compare_parser = commands.add_parser("compare", help="compare two runs row by row")
    compare_parser.add_argument("base", type=Path)
    compare_parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)

    if args.command == "merge":
        present = [p for p in args.inputs if p.is_file()]
        args.out.write_text(json.dumps(merge(present), indent=1) + "\n")
        return 0
    base = json.loads(args.base.read_text())
    new = json.loads(args.new.read_text())
    print("\n".join(compare(base, new, args.base.stem, args.new.stem)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
