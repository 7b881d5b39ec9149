/*! \file nms_c_api.h
 * C ABI of the nms family (see core/c_api.h for the conventions). Dtypes are trtops::DataType
 * codes; flags are 0/1; `device` 1 runs the CUDA kernels on `stream` (device pointers), 0 the host
 * implementation (host pointers; workspace ignored).
 */
#pragma once

#include "core/c_api.h"

/*! Bytes of workspace trtops_nms needs on the current CUDA device (see trtops::nmsWorkspaceSize). */
TRTOPS_C_API int32_t trtops_nms_workspace_size(int64_t num_boxes, int32_t batched, int32_t box_dtype,
    int32_t score_dtype, int32_t class_dtype, int32_t index_dtype, uint64_t* workspace_size);

/*! torchvision.ops.nms (batched = 0, class_idxs ignored) or torchvision.ops.batched_nms
 *  (batched = 1), with the optional score threshold, output cap and padded output of
 *  trtops::NmsParams. keep_indices: capacity max_output_boxes when >= 0, else num_boxes (index_dtype);
 *  keep_count: one int64. */
TRTOPS_C_API int32_t trtops_nms(void const* boxes, void const* scores, void const* class_idxs, void* keep_indices,
    void* keep_count, int64_t num_boxes, double iou_threshold, int32_t has_score_threshold, double score_threshold,
    int64_t max_output_boxes, int32_t padded, int32_t batched, int32_t box_dtype, int32_t score_dtype,
    int32_t class_dtype, int32_t index_dtype, void* workspace, uint64_t workspace_size, int32_t device,
    void* stream);
