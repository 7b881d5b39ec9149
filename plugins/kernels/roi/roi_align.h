//! \file roi_align.h
//! RoIAlign (torchvision.ops.roi_align): average of bilinearly interpolated samples in each bin of
//! a region of interest. C++ API over raw pointers; no TensorRT types.
#pragma once

#include "core/status.h"
#include "core/types.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace trtops
{

//! Every dimension and field of one RoIAlign call.
//!
//! - input: [batch, channels, height, width] (kNCHW) or [batch, height, width, channels] (kNHWC),
//!   of featureType (float32, float16, bfloat16 or float64).
//! - rois: [numRois, 5] rows (batch_index, x1, y1, x2, y2) in input-image coordinates, of roiType
//!   (featureType or float32).
//! - output: [numRois, channels, pooledHeight, pooledWidth] (kNCHW) or
//!   [numRois, pooledHeight, pooledWidth, channels] (kNHWC), of featureType.
//!
//! Semantics are torchvision's: coordinates are multiplied by spatialScale (minus 0.5 when
//! aligned), samplingRatio > 0 samples a fixed grid per bin, <= 0 an adaptive
//! ceil(roi_size / pooled_size) grid. A RoI whose batch index is outside [0, batch) (after
//! truncation toward zero, as torchvision converts it) or whose coordinates are not finite gives
//! zeros and reads nothing. With a fixed samplingRatio the additions happen in torchvision's order
//! (the host implementation is bit-exact to torchvision's CPU kernel). An adaptive grid, whose bins
//! of large RoIs hold hundreds of samples at most one pixel apart, is summed by map rows of
//! columns instead, so each pixel a bin touches is read once rather than up to four times per
//! sample: the same samples and weights, another order of additions (float32 results differ from
//! torchvision's in the last bits). A sample outside the map adds exactly 0, as in torchvision's
//! CUDA kernel; torchvision's CPU kernel multiplies a zero weight by the channel's first pixel
//! there, so a NaN in pixel (0, 0) turns such bins into NaN on its CPU only.
struct RoIAlignParams
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
    bool aligned{false};
    DataType featureType{DataType::kFLOAT32};
    DataType roiType{DataType::kFLOAT32};
    Layout layout{Layout::kNCHW};
};

//! Checks every field; the message names roi_align, the field and its value.
Status validateRoIAlign(RoIAlignParams const& params);

//! Scratch memory roiAlignForward can use, in bytes: for NCHW input with enough RoI samples per
//! map pixel to take the channels-last copy path, room for that copy (N * C * H * W elements);
//! else (NHWC, or few RoIs) 0. Non-decreasing in numRois, so the size for the largest RoI count
//! serves every smaller one.
size_t roiAlignWorkspaceSize(RoIAlignParams const& params);

//! Queues the CUDA kernels on `stream`. Device pointers; no allocation, no synchronization, safe
//! under CUDA graph capture. Nothing is launched when the output is empty.
//!
//! `workspace`: roiAlignWorkspaceSize bytes, 16-byte aligned, or null (an unaligned one is not
//! used). With NCHW input and many RoI samples per map pixel, the input is first copied to
//! channels-last in the workspace and read with vector loads (the fast path); with no usable
//! workspace, or few RoIs, the kernel gathers from NCHW directly. Both paths compute the same
//! per-element arithmetic.
Status roiAlignForward(RoIAlignParams const& params, void const* input, void const* rois, void* output,
    void* workspace, cudaStream_t stream);

//! The same computation on the host (host pointers), sharing the kernel's per-element math.
Status roiAlignForwardHost(RoIAlignParams const& params, void const* input, void const* rois, void* output);

} // namespace trtops
