"""Tier 1: the package's type annotations hold (mypy, configured in pyproject.toml), and the
package says it has them (PEP 561 ``py.typed``), so that users' type checkers read them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_package_is_marked_typed() -> None:
    assert (REPO / "trtops" / "py.typed").is_file()


def _wheel_layout(root: Path) -> Path:
    """``root/trtops``: the source tree as the wheel installs it (``converters/`` becomes
    ``trtops.converters``), made of links to the sources, so mypy reports real module names."""
    package = root / "trtops"
    package.mkdir()
    for entry in (REPO / "trtops").iterdir():
        if entry.name not in ("__pycache__", "lib"):
            (package / entry.name).symlink_to(entry)
    (package / "converters").symlink_to(REPO / "converters")
    return package


@pytest.mark.slow
def test_mypy_finds_no_errors(tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (scripts/setup.sh installs it from requirements/dev.txt)")
    _wheel_layout(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
         "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "trtops"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert run.returncode == 0, f"mypy found errors:\n{run.stdout}{run.stderr}"
    assert "no issues found" in run.stdout
