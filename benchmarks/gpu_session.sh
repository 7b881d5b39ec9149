#!/usr/bin/env bash
# Everything a lent GPU machine should run in one call (device time is scarce): build trtops for
# the visible GPU, run the GPU test tier (kernels and plugin runtime harness), every benchmark
# against torchvision's CUDA ops, and one compute-sanitizer memcheck pass; optionally the same
# benchmarks for a baseline build of an earlier commit (an A/B in one call) and Nsight Compute's
# counters for the cases that miss their targets.
#
# Phases (PHASES, default "build tests bench sanitizer"; all: "build tests bench baseline ncu
# sanitizer"), each under its own time limit so that one slow or hung phase cannot eat the call:
#   build      pip-installs this tree for the visible GPU (no build isolation, no downloads)
#   tests      pytest -m gpu (PYTEST_ARGS narrows it, PYTEST_WORKERS sets xdist workers)
#   bench      benchmarks/bench_{BENCHES}.py (default "roi nms deform_conv"), then profile_kernels.py
#              (PROFILE=0 skips it)
#   baseline   builds a second libtrtops_kernels and benchmarks it, then prints compare_runs.py's
#              row-by-row comparison with this tree's bench phase (run bench first). With
#              VARIANT_CUDA_FLAGS (e.g. "-DTRTOPS_NMS_SMALL_BOXES=0 -DTRTOPS_ROI_SEPARABLE_ADAPTIVE=0
#              -DTRTOPS_ROI_POOL_PLANE_VECTORS=0 -DTRTOPS_NMS_COMPACT_CHUNKS=0
#              -DTRTOPS_DCN_SPLIT_TF32=0": switches that turn
#              single changes off, defined in nms.cu, roi_common.cuh and deform_conv2d_tiling.h;
#              or on: -DTRTOPS_DCN_TAP_MINOR=1, deform_conv2d.cu) it
#              is this tree built with those flags; otherwise
#              .trt/baseline.tar (made here with `git archive -o .trt/baseline.tar <commit>`),
#              run by that commit's own benchmark scripts and package
#   sweep      benchmarks/sweep.py: builds of compile-time variants (one family each, all built
#              first) timed against the default build on the rows each can change; SWEEP names
#              the variants (comma-separated; default all), SWEEP_LIMIT bounds it (seconds).
#              With .trt/sweep-libs.tar.xz the builds come from there where it fits (same
#              sources, this GPU's architecture): make it beforehand on any machine with nvcc,
#              `python benchmarks/sweep.py --build-only --archs 90-real --pack .trt/sweep-libs.tar.xz`
#              (32 builds: 13 min on 2 cores, 6.9 MB), and carry .trt
#   ncu        ncu --set detailed over benchmarks/ncu_cases.py: one call of each missed-target case
#              (NCU_CASES: comma-separated name substrings to narrow it)
#   sanitizer  compute-sanitizer memcheck over a representative subset of the GPU tests
#
# With about 15 minutes of device time for a session, start-up included, there is room for one
# call of ~9 minutes: carrying .trt with a fresh .trt/sweep-libs.tar.xz (made here before the
# call, see the sweep phase),
#   PHASES="build tests sweep" TESTS_LIMIT=180 SWEEP_LIMIT=180      (timeout ~590 s)
# First the GPU tier on this tree's defaults (several changed defaults have never run on a GPU:
# correctness before speed), then the sweep, whose default-build rows are the benchmark rows that
# miss their targets (with torchvision's time and a correctness check each) and whose variants,
# as many as fit, decide the switches (--limit skips the rest, in VARIANTS order). With more
# time: PHASES=sweep SWEEP_LIMIT=480 alone, then PHASES="build tests ncu"
# NCU_CASES="deform trtops,ps_roi_pool" NCU_LIMIT=120 (on Firecracker machines ncu reads counters).
#
# Results go to $OUT (or ./out), at most 8 files as the device tool returns no more: info.txt,
# gpu_tests.log, gpu_failures.log, bench.log (benchmark tables, profile, comparison, sweep),
# bench.json and bench_baseline.json (every benchmark's JSON merged by compare_runs.py merge),
# sweep.json, ncu.txt, sanitizer.log (with every phase that is 9: drop one).
#
# The GPU machine has torch/torchvision/CMake/ninja/scikit-build-core but no network: the build
# runs without isolation, and TensorRT headers come from a git-ignored .trt/include carried along
# (copy them there first: cp -r /usr/local/TensorRT/include .trt/).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${OUT:-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PYTHONUNBUFFERED=1
phases=${PHASES:-build tests bench sanitizer}
has_phase() { [[ " $phases " == *" $1 "* ]]; }
archs=${CUDA_ARCHITECTURES:-native}  # the GPU it runs on

if [ -d .trt/include ]; then export TENSORRT_ROOT=$PWD/.trt; fi
if has_phase build; then
  start=$(date +%s)
  timeout 300 python3 -m pip install -q --no-build-isolation --no-deps . \
    -C cmake.define.CMAKE_CUDA_ARCHITECTURES="$archs" -C build-dir=/tmp/trtops-build 2>&1 | tail -20
  echo "build + install: $(( $(date +%s) - start )) s"
fi
cd /tmp  # import the installed package, not the source tree
if ! python3 -m trtops info > "$out/info.txt" 2>&1; then
  # Only the sweep runs without the installed package (it builds and imports its own).
  [ "$(echo $phases)" = sweep ] || { cat "$out/info.txt"; exit 1; }
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv >> "$out/info.txt"

if has_phase tests; then
  start=$(date +%s)
  # Several workers share the GPU; each test has its own limit, the phase has one too.
  xdist=()
  python3 -c "import xdist" 2>/dev/null && xdist=(-n "${PYTEST_WORKERS:-8}")
  rm -f "$out/gpu_failures.log"
  TRTOPS_FAILURE_LOG="$out/gpu_failures.log" \
  timeout "${TESTS_LIMIT:-300}" python3 -m pytest "$repo/tests" -m gpu -q -p no:cacheprovider "${xdist[@]}" \
    --timeout=120 -rfE --durations=15 -p no:benchmark ${PYTEST_ARGS:-} > "$out/gpu_tests.log" 2>&1
  echo "gpu tests: exit $? in $(( $(date +%s) - start )) s"
  grep "^===" "$out/gpu_failures.log" 2>/dev/null | cut -c1-200 | head -60
  tail -3 "$out/gpu_tests.log"
fi

if has_phase bench; then
  rm -rf /tmp/bench-json && mkdir -p /tmp/bench-json  # nothing left from an earlier call on a warm machine
  for bench in ${BENCHES:-roi nms deform_conv}; do
    timeout "${BENCH_LIMIT:-240}" python3 "$repo/benchmarks/bench_$bench.py" --json "/tmp/bench-json/bench_$bench.json" \
      ${BENCH_ARGS:-} >> "$out/bench.log" 2>&1
    echo "bench_$bench: exit $?"
    python3 "$repo/benchmarks/compare_runs.py" merge "$out/bench.json" /tmp/bench-json/*.json
  done
  if [ "${PROFILE:-1}" = 1 ]; then
    timeout "${BENCH_LIMIT:-120}" python3 "$repo/benchmarks/profile_kernels.py" >> "$out/bench.log" 2>&1
    echo "profile_kernels: exit $?"
  fi
  cat "$out/bench.log"
fi

if has_phase baseline; then
  # BASE is either this tree built with VARIANT_CUDA_FLAGS (the switches in roi_common.cuh and
  # nms.cu turn single changes off), run by this tree's benchmarks, or .trt/baseline.tar (an
  # earlier commit), run by that commit's own benchmarks with its own package.
  base=/tmp/trtops-baseline
  base_build=/tmp/trtops-baseline-build
  base_python=""
  if [ -n "${VARIANT_CUDA_FLAGS:-}" ]; then
    base_source=$repo
    base_benchmarks=$repo/benchmarks
    echo "baseline: this tree built with $VARIANT_CUDA_FLAGS"
  elif [ -f "$repo/.trt/baseline.tar" ]; then
    rm -rf "$base" && mkdir -p "$base" && tar -xf "$repo/.trt/baseline.tar" -C "$base"
    base_source=$base
    base_benchmarks=$base/benchmarks
    base_python=$base
    echo "baseline: .trt/baseline.tar"
  else
    base_source=""
    echo "baseline: neither VARIANT_CUDA_FLAGS nor .trt/baseline.tar (git archive -o .trt/baseline.tar <commit>)"
  fi
  if [ -n "$base_source" ]; then
    start=$(date +%s)
    rm -rf "$base_build" /tmp/bench-json-baseline && mkdir -p "$base_build" /tmp/bench-json-baseline
    timeout "${BASELINE_BUILD_LIMIT:-240}" cmake -S "$base_source" -B "$base_build" -G Ninja \
        -DCMAKE_CUDA_ARCHITECTURES="$archs" -DTRTOPS_BUILD_PLUGINS=OFF \
        -DCMAKE_CUDA_FLAGS="${VARIANT_CUDA_FLAGS:-}" -DCMAKE_CXX_FLAGS="${VARIANT_CUDA_FLAGS:-}" \
        > "$base_build/configure.log" 2>&1 \
      && timeout "${BASELINE_BUILD_LIMIT:-240}" cmake --build "$base_build" --target trtops_kernels \
        > "$base_build/build.log" 2>&1 \
      || { echo "baseline build failed:"; tail -20 "$base_build/configure.log" "$base_build/build.log"; }
    echo "baseline build: $(( $(date +%s) - start )) s"
    base_benches=${BENCHES:-roi nms deform_conv}
    if [ -n "$base_python" ]; then
      # The baseline's package must win over the installed one (true for a regular, non-editable
      # install: PYTHONPATH comes before site-packages).
      imported=$(PYTHONPATH="$base_python" python3 -c "import trtops; print(trtops.__file__)" 2>&1)
      case "$imported" in
        "$base_python"/*) ;;
        *) echo "baseline: python imports trtops from $imported, not $base_python; no baseline benchmarks"
           base_benches="" ;;
      esac
    fi
    for bench in $base_benches; do
      [ -f "$base_benchmarks/bench_$bench.py" ] || continue
      echo "=== baseline bench_$bench" >> "$out/bench.log"
      PYTHONPATH="$base_python" TRTOPS_LIBRARY_DIR="$base_build/lib" timeout "${BENCH_LIMIT:-240}" \
        python3 "$base_benchmarks/bench_$bench.py" --json "/tmp/bench-json-baseline/bench_${bench}_baseline.json" \
        ${BENCH_ARGS:-} >> "$out/bench.log" 2>&1
      echo "baseline bench_$bench: exit $?"
      python3 "$repo/benchmarks/compare_runs.py" merge "$out/bench_baseline.json" /tmp/bench-json-baseline/*.json
    done
    if [ -f "$out/bench.json" ] && [ -f "$out/bench_baseline.json" ]; then
      python3 "$repo/benchmarks/compare_runs.py" compare "$out/bench_baseline.json" "$out/bench.json" \
        | tee -a "$out/bench.log"
    fi
  fi
fi

if has_phase sweep; then
  start=$(date +%s)
  prebuilt=()
  [ -f "$repo/.trt/sweep-libs.tar.xz" ] && prebuilt=(--prebuilt "$repo/.trt/sweep-libs.tar.xz")
  timeout $(( ${SWEEP_LIMIT:-420} + 60 )) python3 "$repo/benchmarks/sweep.py" --out "$out/sweep.json" \
    --limit "${SWEEP_LIMIT:-420}" --archs "$archs" ${SWEEP:+--variants "$SWEEP"} "${prebuilt[@]}" 2>&1 \
    | tee -a "$out/bench.log"
  echo "sweep: exit ${PIPESTATUS[0]} in $(( $(date +%s) - start )) s"
fi

if has_phase ncu; then
  start=$(date +%s)
  ncu_bin=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | tail -1)
  [ -n "$ncu_bin" ] || echo "ncu: not found on PATH, under /opt/nvidia/nsight-compute or /usr/local/cuda/bin"
  # Clocks left alone (--clock-control none), as the device notes ask.
  timeout "${NCU_LIMIT:-240}" "${ncu_bin:-ncu}" --clock-control none --profile-from-start off --nvtx --set detailed \
    python3 "$repo/benchmarks/ncu_cases.py" ${NCU_CASES:+--only "$NCU_CASES"} > "$out/ncu.txt" 2>&1
  echo "ncu: exit $? in $(( $(date +%s) - start )) s"
  # Per kernel: its name line, duration, the two throughputs, the cache hit rates and the
  # shared-memory carveout the driver chose (L1 = the SM's 256 KB less it; TRTOPS_DCN_PREFER_L1)
  # (the whole report is in ncu.txt).
  grep -E ", Context [0-9]+|^ +Duration|Compute \(SM\) Throughput|^ +Memory Throughput|L1/TEX Hit Rate|^ +L2 Hit Rate|Shared Memory Configuration Size|==ERROR==" \
    "$out/ncu.txt" | cut -c1-160 | head -240
fi

if has_phase sanitizer; then
  # One memcheck pass over a representative subset (each family, plugin runtime included).
  start=$(date +%s)
  timeout "${SANITIZER_LIMIT:-150}" compute-sanitizer --tool memcheck --error-exitcode 9 \
    python3 -m pytest -q -p no:cacheprovider \
    "$repo/tests/kernels/test_roi_align.py" "$repo/tests/kernels/test_roi_pool.py" "$repo/tests/kernels/test_nms.py" \
    "$repo/tests/kernels/test_deform_conv2d.py" "$repo/tests/plugins/test_plugin_runtime_gpu.py" \
    -m gpu -k "${SANITIZER_K:-plugin_runtime or edge_cases or optional_fields or adversarial or misaligned or rois_in_feature_dtype or paths or graph_capture or tiles_cout or matches_host and deform}" > "$out/sanitizer.log" 2>&1
  echo "compute-sanitizer memcheck: exit $? in $(( $(date +%s) - start )) s (0 = clean; 9 = errors; 124 = time limit)"
  grep -E "ERROR SUMMARY|passed|failed" "$out/sanitizer.log" | tail -3
fi
