#!/usr/bin/env bash
# Sets up the environment (scripts/setup.sh) and runs the test suite, CPU tiers by default.
# Extra arguments go to pytest (e.g. `scripts/test.sh -m gpu` on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# TensorRT-RTX's ONNX parser needs the unversioned libtensorrt_rtx.so on the loader path from
# process start (see trtops/rtx.py).
rtx_dir=$(.venv/bin/trtops rtx-libdir 2>/dev/null || true)
if [ -n "$rtx_dir" ]; then
  export LD_LIBRARY_PATH="$rtx_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

if [ $# -eq 0 ]; then
  set -- -m "not gpu"
fi
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$status"
