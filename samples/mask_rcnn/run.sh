#!/usr/bin/env bash
# Mask R-CNN (torchvision maskrcnn_resnet50_fpn, random weights: nothing is downloaded):
# export with trtops plugins -> TensorRT engine -> accuracy report versus PyTorch, masks included.
#
#   samples/mask_rcnn/run.sh [OUTPUT_DIR]     (default: out/mask_rcnn)
#
# Uses the `trtops` command of the active environment (scripts/setup.sh makes .venv). Image size
# and seed: TRTOPS_IMAGE_SIZE (320x320), TRTOPS_SEED (0).
set -euo pipefail
. "$(dirname "$0")/../common.sh"
out=${1:-out/mask_rcnn}
trtops=${TRTOPS:-trtops}
mkdir -p "$out"

echo "== 1/3 export: maskrcnn_resnet50_fpn -> $out/mask_rcnn.onnx"
"$trtops" export maskrcnn_resnet50_fpn -o "$out/mask_rcnn.onnx" \
  --image-size "${TRTOPS_IMAGE_SIZE:-320x320}" --seed "${TRTOPS_SEED:-0}"

echo "== 2/3 build: $out/mask_rcnn.engine"
build_engine "mask_rcnn"

echo "== 3/3 check against PyTorch (boxes, scores, labels, masks)"
"$trtops" check "$out/mask_rcnn.onnx" "${engine_args[@]}" --json "$out/report.json"
