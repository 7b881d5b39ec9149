#!/usr/bin/env bash
# Deformable ResNet bottleneck (DCNv2: DeformConv2d with offsets and mask predicted by a conv,
# BN, ReLU, residual) in fp16: export an fp16 graph with a trtops DeformConv2d node -> TensorRT
# engine -> accuracy report versus PyTorch in float64.
#
#   samples/dcn_block/run.sh [OUTPUT_DIR]     (default: out/dcn_block)
#
# The model is the spec `dcn_block:build` (samples/dcn_block/dcn_block.py), imported by module name: this
# script puts its folder on PYTHONPATH, for export and for check (which rebuilds the same model).
# Seed: TRTOPS_SEED (0).
set -euo pipefail
. "$(dirname "$0")/../common.sh"
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-out/dcn_block}
trtops=${TRTOPS:-trtops}
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"

echo "== 1/3 export (float16): dcn_block:build -> $out/dcn_block.onnx"
"$trtops" export dcn_block:build -o "$out/dcn_block.onnx" --dtype float16 --seed "${TRTOPS_SEED:-0}"

echo "== 2/3 build: $out/dcn_block.engine"
# The graph is fp16 throughout, which TensorRT-RTX and TensorRT 11 build as typed; TensorRT 10
# (weakly typed) must be allowed fp16.
build_flags=()
if trtops_info_says 'str((info["runtimes"].get("tensorrt") or {}).get("version") or "").startswith("10.")'; then
  build_flags=(--precision fp16)
fi
build_engine dcn_block "${build_flags[@]}"

echo "== 3/3 check against PyTorch (float64 reference, fp16 tolerance)"
"$trtops" check "$out/dcn_block.onnx" "${engine_args[@]}" --json "$out/report.json"
