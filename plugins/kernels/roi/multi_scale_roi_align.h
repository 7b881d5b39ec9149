//! \file multi_scale_roi_align.h
//! MultiScaleRoIAlign (torchvision.ops.MultiScaleRoIAlign) fused into one launch: each RoI is
//! mapped to its FPN level and pooled from that level with RoIAlign. C++ API over raw pointers; no
//! TensorRT types.
#pragma once

#include "core/status.h"
#include "core/types.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace trtops
{

//! Every dimension and field of one MultiScaleRoIAlign call.
//!
//! - levelInputs[l]: [batch, channels, heights[l], widths[l]] (kNCHW) or
//!   [batch, heights[l], widths[l], channels] (kNHWC), of featureType; scales[l] is its spatial
//!   scale (torchvision infers 2^-k from the image size).
//! - rois: [numRois, 5] rows (batch_index, x1, y1, x2, y2) in image coordinates, of roiType
//!   (featureType or float32).
//! - output: [numRois, channels, pooledHeight, pooledWidth] (kNCHW) or
//!   [numRois, pooledHeight, pooledWidth, channels] (kNHWC), of featureType.
//!
//! Level mapping (levelMapper), for a RoI of area A = (x2 - x1) * (y2 - y1):
//! - kTorchvision, torchvision's LevelMapper: with k_min = int(-log2(scales[0])) and
//!   k_max = int(-log2(scales[numLevels - 1])), level
//!   clamp(floor(canonicalLevel + log2(sqrt(A) / canonicalScale) + 1e-6), k_min, k_max) - k_min
//!   (further clamped to [0, numLevels)); the scales are powers of two, finest first.
//! - kMmdet, mmdet's SingleRoIExtractor.map_roi_levels: level
//!   clamp(floor(log2(sqrt(A) / finestScale + 1e-6)), 0, numLevels - 1); the scales are any
//!   positive numbers (1 / featmap_stride).
//! The two differ only in where the 1e-6 sits, which decides boxes within ~1e-6 (relative) below
//! a level boundary. A RoI whose area is NaN or negative gets zeros, as in both modules (whose
//! level then matches none); with one level every RoI uses level 0. Pooling on the chosen level
//! is RoIAlign with `aligned` as given (torchvision's module uses false, mmdet's configs true),
//! adaptive grids included (roi_align.h).
enum class LevelMapper : int32_t
{
    kTorchvision = 0,
    kMmdet = 1,
};

struct MultiScaleRoIAlignParams
{
    static constexpr int32_t kMaxLevels = 8;

    int32_t numLevels{0};
    int64_t batch{0};
    int64_t channels{0};
    int64_t heights[kMaxLevels]{};
    int64_t widths[kMaxLevels]{};
    float scales[kMaxLevels]{};
    int64_t numRois{0};
    int32_t pooledHeight{1};
    int32_t pooledWidth{1};
    int32_t samplingRatio{-1};
    bool aligned{false};
    int32_t canonicalScale{224};
    int32_t canonicalLevel{4};
    LevelMapper levelMapper{LevelMapper::kTorchvision};
    int32_t finestScale{56};
    DataType featureType{DataType::kFLOAT32};
    DataType roiType{DataType::kFLOAT32};
    Layout layout{Layout::kNCHW};
};

//! Checks every field; the message names multi_scale_roi_align, the field and its value.
Status validateMultiScaleRoIAlign(MultiScaleRoIAlignParams const& params);

//! Scratch memory multiScaleRoIAlignForward needs, in bytes (always 0).
size_t multiScaleRoIAlignWorkspaceSize(MultiScaleRoIAlignParams const& params);

//! Queues one CUDA kernel on `stream`. levelInputs is a HOST array of numLevels device pointers
//! (passed to the kernel by value); rois and output are device pointers.
Status multiScaleRoIAlignForward(MultiScaleRoIAlignParams const& params, void const* const* levelInputs,
    void const* rois, void* output, void* workspace, cudaStream_t stream);

//! The same computation on the host (host pointers), sharing the kernel's per-element math.
Status multiScaleRoIAlignForwardHost(
    MultiScaleRoIAlignParams const& params, void const* const* levelInputs, void const* rois, void* output);

} // namespace trtops
