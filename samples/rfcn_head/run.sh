#!/usr/bin/env bash
# R-FCN-style head: position-sensitive score maps from a conv over a feature map, PS-RoIAlign over
# given RoIs, average vote -> class scores and box deltas. Export with trtops PSRoIAlign nodes ->
# TensorRT engine -> accuracy report versus PyTorch.
#
#   samples/rfcn_head/run.sh [OUTPUT_DIR]     (default: out/rfcn_head)
#
# The model is the spec `rfcn_head:build` (samples/rfcn_head/rfcn_head.py), imported by module name: this
# script puts its folder on PYTHONPATH, for export and for check (which rebuilds the same model).
# Seed: TRTOPS_SEED (0).
set -euo pipefail
. "$(dirname "$0")/../common.sh"
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-out/rfcn_head}
trtops=${TRTOPS:-trtops}
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"

echo "== 1/3 export: rfcn_head:build -> $out/rfcn_head.onnx"
"$trtops" export rfcn_head:build -o "$out/rfcn_head.onnx" --seed "${TRTOPS_SEED:-0}"

echo "== 2/3 build: $out/rfcn_head.engine"
build_engine "rfcn_head"

echo "== 3/3 check against PyTorch"
"$trtops" check "$out/rfcn_head.onnx" "${engine_args[@]}" --json "$out/report.json"
