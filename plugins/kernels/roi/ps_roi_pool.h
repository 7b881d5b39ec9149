//! \file ps_roi_pool.h
//! Position-sensitive RoIPool (torchvision.ops.ps_roi_pool): average over the integer cells of
//! each bin, one input channel group per bin. C++ API over raw pointers; no TensorRT types.
#pragma once

#include "core/status.h"
#include "core/types.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace trtops
{

//! Every dimension and field of one PS-RoIPool call. Shapes, layouts and channel mapping as
//! PSRoIAlignParams.
//!
//! As torchvision: RoI corners are rounded after scaling, the RoI is at least 1x1, bins are
//! clipped to [0, height - 1] x [0, width - 1] (so the last row/column is never pooled), and an
//! empty bin gives 0. Bad batch index or non-finite coordinates give zeros and read nothing.
struct PSRoIPoolParams
{
    int64_t batch{0};
    int64_t channels{0};
    int64_t height{0};
    int64_t width{0};
    int64_t numRois{0};
    int32_t pooledHeight{1};
    int32_t pooledWidth{1};
    float spatialScale{1.F};
    DataType featureType{DataType::kFLOAT32};
    DataType roiType{DataType::kFLOAT32};
    Layout layout{Layout::kNCHW};
};

//! Checks every field; the message names ps_roi_pool, the field and its value.
Status validatePSRoIPool(PSRoIPoolParams const& params);

//! Scratch memory psRoIPoolForward needs, in bytes (always 0).
size_t psRoIPoolWorkspaceSize(PSRoIPoolParams const& params);

//! Queues the CUDA kernel on `stream` (device pointers; no allocation or synchronization).
Status psRoIPoolForward(PSRoIPoolParams const& params, void const* input, void const* rois, void* output,
    void* workspace, cudaStream_t stream);

//! The same computation on the host (host pointers), sharing the kernel's per-element math.
Status psRoIPoolForwardHost(PSRoIPoolParams const& params, void const* input, void const* rois, void* output);

} // namespace trtops
