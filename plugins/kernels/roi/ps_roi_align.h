//! \file ps_roi_align.h
//! Position-sensitive RoIAlign (torchvision.ops.ps_roi_align). C++ API over raw pointers; no
//! TensorRT types.
#pragma once

#include "core/status.h"
#include "core/types.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace trtops
{

//! Every dimension and field of one PS-RoIAlign call.
//!
//! - input: [batch, channels, height, width] (kNCHW) or [batch, height, width, channels] (kNHWC);
//!   channels must be a multiple of pooledHeight * pooledWidth.
//! - rois: [numRois, 5] rows (batch_index, x1, y1, x2, y2), of roiType (featureType or float32).
//! - output: [numRois, channels / (pooledHeight * pooledWidth), pooledHeight, pooledWidth] (kNCHW)
//!   or [numRois, pooledHeight, pooledWidth, channels / (pooledHeight * pooledWidth)] (kNHWC).
//!
//! Output channel c_out of bin (i, j) pools input channel (c_out * pooledHeight + i) *
//! pooledWidth + j. Coordinates are always shifted by -0.5 (torchvision's ps_roi_align has no
//! `aligned` switch). Bad batch index or non-finite coordinates give zeros and read nothing.
//! Adaptive grids (samplingRatio <= 0) are summed by map rows of columns, as in RoIAlign
//! (roi_align.h).
struct PSRoIAlignParams
{
    int64_t batch{0};
    int64_t channels{0};
    int64_t height{0};
    int64_t width{0};
    int64_t numRois{0};
    int32_t pooledHeight{1};
    int32_t pooledWidth{1};
    float spatialScale{1.F};
    int32_t samplingRatio{-1};
    DataType featureType{DataType::kFLOAT32};
    DataType roiType{DataType::kFLOAT32};
    Layout layout{Layout::kNCHW};
};

//! Checks every field; the message names ps_roi_align, the field and its value.
Status validatePSRoIAlign(PSRoIAlignParams const& params);

//! Scratch memory psRoIAlignForward needs, in bytes (always 0).
size_t psRoIAlignWorkspaceSize(PSRoIAlignParams const& params);

//! Queues the CUDA kernel on `stream` (device pointers; no allocation or synchronization).
Status psRoIAlignForward(PSRoIAlignParams const& params, void const* input, void const* rois, void* output,
    void* workspace, cudaStream_t stream);

//! The same computation on the host (host pointers), sharing the kernel's per-element math.
Status psRoIAlignForwardHost(PSRoIAlignParams const& params, void const* input, void const* rois, void* output);

} // namespace trtops
