#!/usr/bin/env bash
# Faster R-CNN (torchvision fasterrcnn_resnet50_fpn, random weights: nothing is downloaded):
# export with trtops plugins -> TensorRT engine -> accuracy report versus PyTorch.
#
#   samples/faster_rcnn/run.sh [OUTPUT_DIR]     (default: out/faster_rcnn)
#
# Uses the `trtops` command of the active environment (scripts/setup.sh makes .venv). Image size
# and seed: TRTOPS_IMAGE_SIZE (320x320), TRTOPS_SEED (0).
set -euo pipefail
. "$(dirname "$0")/../common.sh"
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-out/faster_rcnn}
trtops=${TRTOPS:-trtops}
mkdir -p "$out"

echo "== 1/3 export: fasterrcnn_resnet50_fpn -> $out/faster_rcnn.onnx"
"$trtops" export fasterrcnn_resnet50_fpn -o "$out/faster_rcnn.onnx" \
  --image-size "${TRTOPS_IMAGE_SIZE:-320x320}" --seed "${TRTOPS_SEED:-0}"

echo "== 2/3 build: $out/faster_rcnn.engine"
build_engine "faster_rcnn"

echo "== 3/3 check against PyTorch"
"$trtops" check "$out/faster_rcnn.onnx" "${engine_args[@]}" --json "$out/report.json"
