"""Tier 1: RunsAhead (emulated_build.py), which runs the emulation tests' programs ahead of them,
and the CPU count it and the compiles go by."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List

import pytest

import emulated_build
from emulated_build import RunResult, RunsAhead


@dataclass
class FakeItem:
    module: object
    nodeid: str
    originalname: str
    callspec: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(params={}))


def _request(module: object, items: List[FakeItem]) -> SimpleNamespace:
    return SimpleNamespace(module=module, session=SimpleNamespace(items=items))


def test_each_test_gets_its_own_run_and_what_it_raised() -> None:
    here, elsewhere = object(), object()
    started: List[str] = []
    lock = threading.Lock()

    def work(test: str, params: Dict[str, object]):
        if test == "test_without_a_program":
            return None

        def run() -> RunResult:
            with lock:
                started.append(str(params["name"]))
            time.sleep(0.05)
            if params["name"] == "broken":
                raise AssertionError("g++ failed on broken")
            return RunResult(0, f"ran {params['name']}", None)

        return run

    items = [FakeItem(here, f"t.py::test_run[{name}]", "test_run", SimpleNamespace(params={"name": name}))
             for name in ("a", "broken", "b")]
    items.append(FakeItem(here, "t.py::test_without_a_program", "test_without_a_program"))
    items.append(FakeItem(elsewhere, "other.py::test_run[c]", "test_run", SimpleNamespace(params={"name": "c"})))
    runs = RunsAhead(_request(here, items), work)
    try:
        # Started when the module's fixture is made, before any test asks: not the other module's.
        assert runs.result(items[2]).output == "ran b"
        assert runs.result(items[0]).output == "ran a"
        with pytest.raises(AssertionError, match="g\\+\\+ failed on broken"):
            runs.result(items[1])
        assert sorted(started) == ["a", "b", "broken"]
        # A test not selected up front (run on its own, say) is started when it asks.
        late = FakeItem(here, "t.py::test_run[late]", "test_run", SimpleNamespace(params={"name": "late"}))
        assert runs.result(late).output == "ran late"
    finally:
        runs.close()


def test_usable_cpus_follow_the_affinity_mask_and_a_cgroup_quota(monkeypatch) -> None:
    monkeypatch.setattr(emulated_build.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    files: Dict[str, str] = {}

    def read_text(path: Path, *args, **kwargs) -> str:
        if str(path) not in files:
            raise FileNotFoundError(str(path))
        return files[str(path)]

    monkeypatch.setattr(Path, "read_text", read_text)
    assert emulated_build.usable_cpus() == 8  # no cgroup files
    files["/sys/fs/cgroup/cpu.max"] = "max 100000\n"
    assert emulated_build.usable_cpus() == 8  # v2, no quota
    files["/sys/fs/cgroup/cpu.max"] = "250000 100000\n"
    assert emulated_build.usable_cpus() == 2  # v2: 2.5 CPUs of time
    del files["/sys/fs/cgroup/cpu.max"]
    files["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"] = "300000\n"
    files["/sys/fs/cgroup/cpu/cpu.cfs_period_us"] = "100000\n"
    assert emulated_build.usable_cpus() == 3  # v1
    files["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"] = "-1\n"
    assert emulated_build.usable_cpus() == 8
    files["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"] = "50000\n"
    assert emulated_build.usable_cpus() == 1  # half a CPU still runs one job
