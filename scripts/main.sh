#!/usr/bin/env bash
# Sets up the environment (scripts/setup.sh) and runs the main job: torchvision's Faster R-CNN
# exported with trtops plugins, built into a TensorRT engine, checked against PyTorch
# (samples/faster_rcnn). Results in out/faster_rcnn (report.json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
samples/faster_rcnn/run.sh out/faster_rcnn
