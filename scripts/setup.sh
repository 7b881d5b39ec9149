#!/usr/bin/env bash
# Sets up .venv with the pinned environment and builds + installs trtops into it (editable).
#
#   TRTOPS_CUDA_ARCHITECTURES  CUDA architectures to compile (default: the visible GPU's, or a
#                              single compile-check architecture on machines without a GPU;
#                              "release" builds the full release set)
#   TENSORRT_ROOT              folder with include/NvInfer.h; the plugin library is built only
#                              when TensorRT headers are found (also /usr/local/TensorRT)
#   PYTHON                     interpreter for the virtual environment (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
# The pinned environment (requirements/dev.txt) needs Python 3.11+: numpy 2.4 has no older wheels.
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "trtops setup: $("$python" --version 2>&1) is too old for the pinned environment of" \
       "requirements/dev.txt (numpy 2.4 needs Python 3.11+); set PYTHON to a Python 3.11+ interpreter" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements/dev.txt

archs=${TRTOPS_CUDA_ARCHITECTURES:-}
if [ -z "$archs" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    archs=native
  else
    archs=80-real  # no GPU: kernels only need to compile here
  fi
fi
cmake_args=()
if [ "$archs" != "release" ]; then
  cmake_args+=(-C "cmake.define.CMAKE_CUDA_ARCHITECTURES=$archs")
fi
echo "trtops setup: building native code for CUDA architectures: $archs"
start=$(date +%s)
.venv/bin/python -m pip install -q --no-build-isolation --no-deps -e . "${cmake_args[@]}"
echo "trtops setup: build + install took $(( $(date +%s) - start )) s"
.venv/bin/trtops info
