//! \file roi_pool.h
//! RoIPool (torchvision.ops.roi_pool): maximum over the integer-rounded cells of each bin. C++ API
//! over raw pointers; no TensorRT types.
#pragma once

#include "core/status.h"
#include "core/types.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace trtops
{

//! Every dimension and field of one RoIPool call. Shapes and layouts as RoIAlignParams.
//!
//! RoI corners are rounded (half away from zero) after scaling, a bin covers
//! [floor(i * bin), ceil((i + 1) * bin)) clipped to the map, and an empty bin gives 0.
//! Bad batch index or non-finite coordinates give zeros and read nothing.
struct RoIPoolParams
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

//! Checks every field; the message names roi_pool, the field and its value.
Status validateRoIPool(RoIPoolParams const& params);

//! Scratch memory roiPoolForward can use, in bytes: one channels-last copy of an NCHW input when
//! enough bins per map pixel make that faster, else 0. Never decreases as numRois grows.
size_t roiPoolWorkspaceSize(RoIPoolParams const& params);

//! Queues the CUDA kernel on `stream` (device pointers; no allocation or synchronization).
//! `workspace`: roiPoolWorkspaceSize bytes, 16-byte aligned, or null (then, as with an unaligned
//! one, the kernel gathers from NCHW directly; same results).
Status roiPoolForward(RoIPoolParams const& params, void const* input, void const* rois, void* output,
    void* workspace, cudaStream_t stream);

//! The same computation on the host (host pointers), sharing the kernel's per-element math.
Status roiPoolForwardHost(RoIPoolParams const& params, void const* input, void const* rois, void* output);

} // namespace trtops
