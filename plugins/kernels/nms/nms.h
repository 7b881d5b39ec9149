//! \file nms.h
//! Non-maximum suppression (torchvision.ops.nms) and its class-aware form (torchvision.ops.batched_nms),
//! plus the optional fields TensorRT engines want: a score threshold, a cap on the number of kept
//! boxes and a padded (static-shape) output. C++ API over raw pointers; no TensorRT types.
//!
//! Semantics (shared bit for bit by the CUDA kernels and the host implementation):
//! - boxes [numBoxes, 4] rows (x1, y1, x2, y2) of boxType; scores [numBoxes] of scoreType; for the
//!   class-aware form classIdxs [numBoxes] of classType.
//! - Candidates are visited by decreasing score; equal scores by increasing box index. NaN scores
//!   sort before every other score (as torch.sort(descending=True), hence torchvision, orders them);
//!   -0.0 and +0.0 are equal.
//! - With hasScoreThreshold, only boxes with score >= scoreThreshold are candidates (a NaN score is
//!   never one).
//! - A candidate is kept unless a kept candidate visited before it (of the same class when batched)
//!   has IoU > iouThreshold with it. IoU is torchvision's arithmetic: for float32 and float64 boxes
//!   inter / ((areaA + areaB) - inter) in the box type, each operation correctly rounded (no FMA),
//!   compared as (double)iou > iouThreshold (torchvision's CPU kernel); for float16 boxes the
//!   coordinate differences are rounded to float16 as torchvision's CUDA kernel does, the rest is
//!   float32. A box with a NaN coordinate therefore never suppresses and is never suppressed (its
//!   area is NaN); infinite or inverted boxes follow the same formula (no special cases).
//! - Result: the indices of the kept boxes ordered by decreasing score (ties: lower index first),
//!   at most maxOutputBoxes of them when maxOutputBoxes >= 0. For batched, boxes of different
//!   classes never interact: the result is torchvision's per-class (`_batched_nms_vanilla`) result,
//!   without the rounding of its coordinate-offset trick.
#pragma once

#include "core/status.h"
#include "core/types.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace trtops
{

//! Every field of one NMS call.
//!
//! Outputs: keepIndices holds the kept indices (indexType) in order; keepCount (one int64) the
//! number kept. Capacity of keepIndices: maxOutputBoxes slots when maxOutputBoxes >= 0, else
//! numBoxes. With padded, the slots after the kept ones are filled with -1 (padded requires
//! maxOutputBoxes >= 0); otherwise slots after keepCount are left untouched.
struct NmsParams
{
    int64_t numBoxes{0};
    //! Suppress when IoU > iouThreshold (double: torchvision passes a Python float; a float32
    //! plugin field converts exactly). NaN is rejected.
    double iouThreshold{0.5};
    bool hasScoreThreshold{false};
    //! Candidates need score >= scoreThreshold (only when hasScoreThreshold). NaN is rejected.
    double scoreThreshold{0.0};
    //! At most this many kept boxes; < 0: unlimited.
    int64_t maxOutputBoxes{-1};
    //! keepIndices has exactly maxOutputBoxes slots; unused ones are -1.
    bool padded{false};
    //! Class-aware (batched_nms): classIdxs is given and classes never suppress each other.
    bool batched{false};
    DataType boxType{DataType::kFLOAT32};   //!< float32, float16 or float64
    DataType scoreType{DataType::kFLOAT32}; //!< float32, float16 or float64
    DataType classType{DataType::kINT64};   //!< int32 or int64 (only when batched)
    DataType indexType{DataType::kINT64};   //!< int32 or int64 (keepIndices)
};

//! Checks every field; the message names nms (or batched_nms), the field and its value.
Status validateNms(NmsParams const& params);

//! Scratch memory nmsForward needs, in bytes, computed from the fields alone (no data). Linear in
//! numBoxes: about 36 bytes per box for float32 boxes and scores (+25 when batched) plus a fixed
//! 2.1 MiB (the IoU bitmask of one 4096-box chunk), plus CUB's radix-sort temporary storage (tens
//! of KiB). 100k float32 boxes: 5.5 MiB (batched 7.9 MiB); 1,000,000 boxes: 37 MiB (batched
//! 61 MiB). CUB's part is queried for the current device; without a usable device (e.g. an engine
//! build on a CPU-only machine) an upper bound of 16 bytes per box + 8 MiB is used instead
//! (nmsForward re-queries and fails cleanly if the device needs more). 0 when numBoxes is 0.
size_t nmsWorkspaceSize(NmsParams const& params);

//! A workspace size that holds for any device: nmsWorkspaceSize with CUB's temporary storage
//! replaced by a device-independent upper bound. Monotone in numBoxes. For callers that size the
//! workspace on one machine and run on another (TensorRT engines built without a GPU or for a
//! different one): nmsForward needs at most this.
size_t nmsWorkspaceSizeBound(NmsParams const& params);

//! Queues the whole NMS on `stream`: score keys, CUB radix sort(s), blocked greedy suppression in
//! chunks of 4096 sorted boxes (IoU bitmask per chunk, one-CTA resolve, parallel suppression of
//! later boxes), ordered compaction, count. Device pointers; no allocation, no host synchronization,
//! safe under CUDA graph capture. keepCount is always written (0 for empty input); classIdxs is
//! only read when batched. workspaceSize must be at least nmsWorkspaceSize(params).
Status nmsForward(NmsParams const& params, void const* boxes, void const* scores, void const* classIdxs,
    void* keepIndices, void* keepCount, void* workspace, size_t workspaceSize, cudaStream_t stream);

//! The same computation on the host (host pointers), sharing the kernels' score keys and IoU math.
Status nmsForwardHost(NmsParams const& params, void const* boxes, void const* scores, void const* classIdxs,
    void* keepIndices, void* keepCount);

} // namespace trtops
