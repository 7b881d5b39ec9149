"""Building and running emulated CUDA sources (see README.md): toolchain lookup, g++ flags,
parallel compilation (with an object cache), linking, running a comparison program, checking its
summary, mutation runs, and running a module's builds ahead of its tests (RunsAhead). Shared by
the NMS, RoI and deform_conv2d emulation tests; no test lives here."""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

EMULATION_DIR = Path(__file__).resolve().parent
REPO_ROOT = EMULATION_DIR.parents[1]
KERNELS_DIR = REPO_ROOT / "plugins" / "kernels"

#: Headers the CUDA toolkit must provide for the emulated build.
CUDA_HEADERS = ("cuda_runtime_api.h", "cuda_fp16.h", "cuda_bf16.h")
RUN_TIMEOUT_S = 300

_SUMMARY = re.compile(r"^SUMMARY cases=(\d+) failed=(\d+) emulator_errors=(\d+)$", re.MULTILINE)


def load_rewriter():
    spec = importlib.util.spec_from_file_location("emulate_cuda_source", EMULATION_DIR / "emulate_cuda_source.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cuda_include_dir() -> Optional[Path]:
    """The CUDA toolkit's include folder (the one nvcc uses), if it has every header we need."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    nvcc = shutil.which("nvcc")
    if nvcc is not None:
        candidates.append(str(Path(os.path.realpath(nvcc)).parent.parent))
    candidates.append("/usr/local/cuda")
    for root in candidates:
        if root and all((Path(root) / "include" / header).is_file() for header in CUDA_HEADERS):
            return Path(root) / "include"
    return None


def toolchain_missing_reason() -> Optional[str]:
    if shutil.which("g++") is None:
        return "g++ not found on PATH (the CUDA emulation test builds device code for the host)"
    if cuda_include_dir() is None:
        return (
            "CUDA headers (" + ", ".join(CUDA_HEADERS) + ") not found under $CUDA_HOME, $CUDA_PATH, nvcc's "
            "toolkit or /usr/local/cuda; the emulated build needs the toolkit's include folder"
        )
    return None


def compile_flags(include_first: Sequence[Path] = ()) -> List[str]:
    """g++ flags; `include_first` folders are searched before the kernel sources (rewritten headers)."""
    return [
        "-std=c++17",
        # -O1: the emulated runs take as long as at -O2 (the coroutine switches dominate them), and
        # the compiles, most of these tests' time, take ~30% less.
        "-O1",
        "-Wall",
        # The CUDA headers mark host/device functions with attributes g++ does not know, and the
        # kernels' '#pragma unroll' means nothing to it: neither is a problem of the code.
        "-Wno-attributes",
        "-Wno-unknown-pragmas",
        # Every operation rounded on its own, as the kernels' __f*_rn intrinsics do (baseline
        # x86-64 has no FMA to fuse into; other hosts might, and would then round differently).
        "-ffp-contract=off",
        f"-I{EMULATION_DIR}",
        *(f"-I{folder}" for folder in include_first),
        f"-I{KERNELS_DIR}",
        "-isystem",
        str(cuda_include_dir()),
    ]


def usable_cpus() -> int:
    """The CPUs this process may use: its affinity mask, within a cgroup CPU quota where one is
    set (os.cpu_count() counts the host's CPUs, which a container may not have)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    quota_files = (("/sys/fs/cgroup/cpu.max", None),  # cgroup v2: "<quota> <period>" or "max ..."
                   ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"))  # v1
    for quota_file, period_file in quota_files:
        try:
            fields = Path(quota_file).read_text().split()
            quota = fields[0]
            period = Path(period_file).read_text().split()[0] if period_file else fields[1]
            if quota not in ("max", "-1"):
                cpus = min(cpus, max(1, int(quota) // int(period)))
            break
        except (OSError, ValueError, IndexError):
            continue
    return max(1, cpus)


def _flags_after_preprocessing(flags: Sequence[str]) -> List[str]:
    """The flags that still matter once a source is preprocessed: all but -I/-isystem/-D/-U."""
    kept: List[str] = []
    skip_next = False
    for flag in flags:
        if skip_next:
            skip_next = False
        elif flag == "-isystem":
            skip_next = True
        elif not flag.startswith(("-I", "-D", "-U")):
            kept.append(flag)
    return kept


_object_cache_dir: Optional[Path] = None


def _object_cache() -> Path:
    """This process's object cache: a temporary folder, removed at exit."""
    global _object_cache_dir
    if _object_cache_dir is None:
        _object_cache_dir = Path(tempfile.mkdtemp(prefix="trtops_emulated_objects_"))
        atexit.register(shutil.rmtree, _object_cache_dir, True)
    return _object_cache_dir


def _compile_one(source: Path, obj: Path, flags: List[str]) -> Optional[str]:
    """Compiles source into obj, reusing an object compiled from the same preprocessed text with
    the same code-generation flags; returns g++'s output on failure. The tests build each program
    several times (variants, mutations) and most translation units come out the same: compile time,
    not the emulated runs, was most of these tests' time."""
    preprocessed = subprocess.run(["g++", *flags, "-E", "-P", str(source)], capture_output=True)
    if preprocessed.returncode != 0:
        return f"g++ -E failed on {source}:\n{preprocessed.stderr.decode(errors='replace')[-6000:]}"
    key = hashlib.sha256("\0".join(_flags_after_preprocessing(flags)).encode() + b"\0" + preprocessed.stdout)
    cached = _object_cache() / f"{key.hexdigest()}.o"
    if not cached.is_file():
        # Compiled from the source, not the preprocessed text: g++'s messages keep their lines.
        result = subprocess.run(["g++", *flags, "-c", str(source), "-o", str(obj)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            return f"g++ failed on {source}:\n{result.stdout[-6000:]}"
        staged = cached.with_suffix(f".{threading.get_ident()}.tmp")
        shutil.copyfile(obj, staged)
        os.replace(staged, cached)  # atomic: a concurrent build sees the whole object or none
        return None
    shutil.copyfile(cached, obj)
    return None


def compile_all(jobs: Sequence[Tuple[Path, Path, List[str]]], include_first: Sequence[Path] = ()) -> None:
    """Compiles (source, object, extra flags) jobs, as many at a time as there are usable CPUs
    (objects whose preprocessed text an earlier compile of this process had are reused)."""
    with ThreadPoolExecutor(max_workers=usable_cpus()) as pool:
        outcomes = list(pool.map(
            lambda job: _compile_one(job[0], job[1], [*compile_flags(include_first), *job[2]]), jobs))
    errors = [message for message in outcomes if message is not None]
    if errors:
        raise AssertionError("\n\n".join(errors))


def link(objects: Sequence[Path], executable: Path) -> Path:
    result = subprocess.run(
        ["g++", *map(str, objects), "-o", str(executable)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if result.returncode != 0:
        raise AssertionError(f"linking {executable.name} failed:\n{result.stdout[-6000:]}")
    return executable


@dataclass
class RunResult:
    returncode: int
    output: str
    summary: Optional[Dict[str, int]]

    def tail(self, characters: int = 8000) -> str:
        return self.output[-characters:]


def run_program(executable: Path, arguments: Sequence[str] = ()) -> RunResult:
    result = subprocess.run(
        [str(executable), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    match = _SUMMARY.search(result.stdout)
    summary = None
    if match is not None:
        summary = dict(zip(("cases", "failed", "emulator_errors"), map(int, match.groups())))
    return RunResult(result.returncode, result.stdout, summary)


def assert_all_cases_match(result: RunResult, min_cases: int, what: str) -> None:
    """The comparison program ran at least `min_cases` cases, none failed, the emulator saw nothing."""
    assert result.summary is not None, f"the test program ended without a summary:\n{result.tail()}"
    assert result.returncode == 0 and result.summary["failed"] == 0 and result.summary["emulator_errors"] == 0, (
        f"emulated {what} differs from the host implementation:\n{result.tail()}"
    )
    assert result.summary["cases"] >= min_cases, f"fewer cases than expected ({min_cases}):\n{result.tail()}"


@dataclass(frozen=True)
class Mutation:
    """A one-place break of device code that a real GPU would punish (wrongly or unpredictably)."""

    name: str
    file: str  #: path under plugins/kernels
    original: str  #: must occur exactly once in the file
    broken: str
    expected_message: str = "FAIL"  #: in the program's output when the emulation catches it


def run_mutation(build: Callable[[str, Dict[str, str]], Path], mutation: Mutation) -> RunResult:
    """Builds the program with `mutation` applied (build(name, {file: text}) -> executable) and runs
    it, stopping at its first failure; assert_mutation_caught() judges the result."""
    source = (KERNELS_DIR / mutation.file).read_text()
    occurrences = source.count(mutation.original)
    assert occurrences == 1, (
        f"mutation {mutation.name!r} expects its snippet exactly once in {mutation.file}, found {occurrences}; "
        "the source changed: update the snippet in the test"
    )
    executable = build(f"mutant_{mutation.name}", {mutation.file: source.replace(mutation.original, mutation.broken)})
    return run_program(executable, ["--stop-at-first-failure"])


def assert_mutation_caught(result: RunResult, mutation: Mutation) -> None:
    """The broken program failed, with the expected message."""
    assert result.returncode != 0, f"broken device code ({mutation.name}) passed the emulated run:\n{result.tail()}"
    assert mutation.expected_message in result.output, result.tail()


class RunsAhead:
    """Builds and runs the programs of a test module's selected tests in the background, as many at
    a time as there are usable CPUs (at most MAX_AT_ONCE), in the order the tests come; each test
    (still run one by one, and the only one to judge its run) mostly finds its run done. A build
    is mostly one g++ process and a run one single-threaded program, so the tests alone keep one
    core busy: on CI's two cores this about halves their time.

    `work(test function name, its parameters)` returns the build-and-run of a test, or None for a
    test that has none. Use it from a module-scoped fixture (`request` is the fixture's) and call
    close() after the module."""

    #: Each build compiles several files at once (~300 MB of g++ each for deform_conv2d): a bound
    #: that keeps a many-core machine from starting every build of a module together.
    MAX_AT_ONCE = 4

    def __init__(self, request, work: Callable[[str, Dict[str, object]], Optional[Callable[[], RunResult]]]) -> None:
        self._work = work
        self._pool = ThreadPoolExecutor(max_workers=min(usable_cpus(), self.MAX_AT_ONCE))
        self._runs: Dict[str, Future] = {}
        for item in request.session.items:  # the selected tests, in the order they run
            if getattr(item, "module", None) is request.module:
                self._start(item)

    def _start(self, item) -> None:
        if item.nodeid in self._runs:
            return
        params = dict(item.callspec.params) if hasattr(item, "callspec") else {}
        work = self._work(item.originalname, params)
        if work is not None:
            self._runs[item.nodeid] = self._pool.submit(work)

    def result(self, item) -> RunResult:
        """The run of test `item` (request.node), started now if it was not; raises what it raised."""
        self._start(item)
        return self._runs[item.nodeid].result()

    def close(self) -> None:
        """Drops the runs not yet started and waits for the ones under way."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def script_main(build: Callable[[Path], Path], arguments: Sequence[str], prefix: str) -> int:
    """Entry point of a test file run as a script: builds into a temporary folder and runs the
    comparison program with `arguments`."""
    reason = toolchain_missing_reason()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix=prefix) as build_dir:
        return subprocess.run([str(build(Path(build_dir))), *arguments]).returncode
