#!/usr/bin/env bash
# A single-stage detector: RetinaNet, FCOS or SSD (torchvision, random weights: nothing is
# downloaded): export with a trtops BatchedNMS per image -> TensorRT engine -> accuracy report
# versus PyTorch.
#
#   samples/single_stage/run.sh [OUTPUT_DIR]     (default: out/single_stage)
#
# Uses the `trtops` command of the active environment (scripts/setup.sh makes .venv).
# TRTOPS_MODEL: retinanet_resnet50_fpn_v2 (default), retinanet_resnet50_fpn, fcos_resnet50_fpn or
# ssd300_vgg16. TRTOPS_SCORE_THRESH: the detection score threshold (default: one that keeps a few
# dozen to a hundred detections of the random-weight model at 320x320; RetinaNet's and FCOS's
# random scores sit near the classification prior, under torchvision's defaults of 0.05 / 0.2,
# while SSD's saturate near 1). Image size and seed: TRTOPS_IMAGE_SIZE (320x320),
# TRTOPS_SEED (0).
set -euo pipefail
. "$(dirname "$0")/../common.sh"
out=${1:-out/single_stage}
trtops=${TRTOPS:-trtops}
model=${TRTOPS_MODEL:-retinanet_resnet50_fpn_v2}
case "$model" in
  retinanet_resnet50_fpn) default_thresh=0.024 ;;
  retinanet_resnet50_fpn_v2) default_thresh=0.035 ;;
  fcos_resnet50_fpn) default_thresh=0.12 ;;
  ssd300_vgg16) default_thresh=0.985 ;;
  *) echo "TRTOPS_MODEL must be retinanet_resnet50_fpn, retinanet_resnet50_fpn_v2, fcos_resnet50_fpn or ssd300_vgg16" >&2
     exit 2 ;;
esac
mkdir -p "$out"

echo "== 1/3 export: $model -> $out/$model.onnx"
"$trtops" export "$model" -o "$out/$model.onnx" --score-thresh "${TRTOPS_SCORE_THRESH:-$default_thresh}" \
  --image-size "${TRTOPS_IMAGE_SIZE:-320x320}" --seed "${TRTOPS_SEED:-0}"

echo "== 2/3 build: $out/$model.engine"
build_engine "$model"

echo "== 3/3 check against PyTorch"
"$trtops" check "$out/$model.onnx" "${engine_args[@]}" --json "$out/report.json"
