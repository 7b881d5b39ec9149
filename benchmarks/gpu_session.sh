#!/usr/bin/env bash
# Everything a lent GPU machine should run in one call (device time is scarce): build trtops for
# the visible GPU, run the GPU test tier (kernels and plugin runtime harness), one
# compute-sanitizer memcheck pass, and every benchmark against torchvision's CUDA ops.
# Results go to $OUT (or ./out): gpu_tests.log, sanitizer.log, bench_*.json, bench.log.
#
# The GPU machine has torch/torchvision/CMake/ninja/scikit-build-core but no network: the build
# runs without isolation, and TensorRT headers come from a git-ignored .trt/include carried along
# (copy them there first: cp -r /usr/local/TensorRT/include .trt/).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

if [ -d .trt/include ]; then export TENSORRT_ROOT=$PWD/.trt; fi
start=$(date +%s)
python3 -m pip install -q --no-build-isolation --no-deps . \
  -C cmake.define.CMAKE_CUDA_ARCHITECTURES=native -C build-dir=/tmp/trtops-build 2>&1 | tail -20
echo "build + install: $(( $(date +%s) - start )) s"
cd /tmp  # import the installed package, not the source tree
python3 -m trtops info | tee "$out/info.txt"
repo=$OLDPWD

python3 -m pytest "$repo/tests" -m gpu -q -p no:cacheprovider -x --timeout=300 2>&1 | tee "$out/gpu_tests.log" | tail -15

# One memcheck pass over a representative subset (each family, plugin runtime included).
compute-sanitizer --tool memcheck --error-exitcode 9 python3 -m pytest -q -p no:cacheprovider \
  "$repo/tests/kernels/test_roi_align.py" "$repo/tests/kernels/test_nms.py" \
  "$repo/tests/kernels/test_deform_conv2d.py" "$repo/tests/plugins/test_plugin_runtime_gpu.py" \
  -m gpu -k "not large and not benchmark" > "$out/sanitizer.log" 2>&1
echo "compute-sanitizer memcheck exit code: $? (0 = clean; log in sanitizer.log)"

for bench in roi nms deform_conv; do
  python3 "$repo/benchmarks/bench_$bench.py" --json "$out/bench_$bench.json" 2>&1 | tee -a "$out/bench.log"
done
