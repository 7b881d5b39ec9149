#!/usr/bin/env bash
# Everything a lent GPU machine should run in one call (device time is scarce): build trtops for
# the visible GPU, run the GPU test tier (kernels and plugin runtime harness), every benchmark
# against torchvision's CUDA ops, and one compute-sanitizer memcheck pass.
# Results go to $OUT (or ./out): info.txt, gpu_tests.log, gpu_failures.log, bench.log, bench_*.json,
# sanitizer.log (bench.log ends with the per-kernel profile). At most 8 files come back.
#
# Each phase runs under its own time limit so that one slow or hung phase cannot eat the whole
# call; set PHASES to a subset ("build tests bench sanitizer"), PYTEST_ARGS to narrow the tests,
# BENCHES to a subset of "roi nms deform_conv", PROFILE=0 to skip the per-kernel profile.
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

if [ -d .trt/include ]; then export TENSORRT_ROOT=$PWD/.trt; fi
if has_phase build; then
  start=$(date +%s)
  timeout 300 python3 -m pip install -q --no-build-isolation --no-deps . \
    -C cmake.define.CMAKE_CUDA_ARCHITECTURES=native -C build-dir=/tmp/trtops-build 2>&1 | tail -20
  echo "build + install: $(( $(date +%s) - start )) s"
fi
cd /tmp  # import the installed package, not the source tree
python3 -m trtops info > "$out/info.txt" 2>&1 || { cat "$out/info.txt"; exit 1; }
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
  for bench in ${BENCHES:-roi nms deform_conv}; do
    timeout "${BENCH_LIMIT:-240}" python3 "$repo/benchmarks/bench_$bench.py" --json "$out/bench_$bench.json" \
      ${BENCH_ARGS:-} >> "$out/bench.log" 2>&1
    echo "bench_$bench: exit $?"
  done
  if [ "${PROFILE:-1}" = 1 ]; then
    timeout "${BENCH_LIMIT:-120}" python3 "$repo/benchmarks/profile_kernels.py" >> "$out/bench.log" 2>&1
    echo "profile_kernels: exit $?"
  fi
  cat "$out/bench.log"
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
