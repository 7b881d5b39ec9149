/*! \file roi_c_api.h
 * C ABI of the RoI family (see core/c_api.h for the conventions). Dtypes and layouts are the
 * integer codes of trtops::DataType / trtops::Layout. `device` = 1 queues the CUDA kernel on
 * `stream` (device pointers), 0 runs the host implementation (host pointers). roi_align and
 * roi_pool take a workspace (optional: it speeds up NCHW input; see their *_workspace_size).
 */
#pragma once

#include "core/c_api.h"

/*! Bytes of the optional device workspace of trtops_roi_align for these arguments: a channels-last
 *  copy of an NCHW input when enough RoIs make that path pay, else 0. */
TRTOPS_C_API int32_t trtops_roi_align_workspace_size(int32_t feature_dtype, int32_t layout, int64_t batch,
    int64_t channels, int64_t height, int64_t width, int64_t num_rois, int32_t pooled_height, int32_t pooled_width,
    int32_t sampling_ratio, uint64_t* size);

/*! torchvision.ops.roi_align. input [N,C,H,W] (layout 0) or [N,H,W,C] (layout 1); rois [K,5];
 *  output [K,C,ph,pw] (layout 0) or [K,ph,pw,C] (layout 1). `workspace`: null, or (device = 1)
 *  16-byte-aligned device memory of trtops_roi_align_workspace_size bytes, which lets NCHW input
 *  with many RoIs take the faster channels-last path. */
TRTOPS_C_API int32_t trtops_roi_align(void const* input, void const* rois, void* output, int32_t feature_dtype,
    int32_t roi_dtype, int32_t layout, int64_t batch, int64_t channels, int64_t height, int64_t width,
    int64_t num_rois, int32_t pooled_height, int32_t pooled_width, float spatial_scale, int32_t sampling_ratio,
    int32_t aligned, void* workspace, int32_t device, void* stream);

/*! torchvision.ops.ps_roi_align; output channels = channels / (pooled_height * pooled_width). */
TRTOPS_C_API int32_t trtops_ps_roi_align(void const* input, void const* rois, void* output, int32_t feature_dtype,
    int32_t roi_dtype, int32_t layout, int64_t batch, int64_t channels, int64_t height, int64_t width,
    int64_t num_rois, int32_t pooled_height, int32_t pooled_width, float spatial_scale, int32_t sampling_ratio,
    int32_t device, void* stream);

/*! Bytes of the optional device workspace of trtops_roi_pool for these arguments: a channels-last
 *  copy of an NCHW input when enough RoIs make that path pay, else 0. */
TRTOPS_C_API int32_t trtops_roi_pool_workspace_size(int32_t feature_dtype, int32_t layout, int64_t batch,
    int64_t channels, int64_t height, int64_t width, int64_t num_rois, int32_t pooled_height, int32_t pooled_width,
    uint64_t* size);

/*! torchvision.ops.roi_pool (the pooled values only, no argmax). `workspace`: as for
 *  trtops_roi_align, sized by trtops_roi_pool_workspace_size. */
TRTOPS_C_API int32_t trtops_roi_pool(void const* input, void const* rois, void* output, int32_t feature_dtype,
    int32_t roi_dtype, int32_t layout, int64_t batch, int64_t channels, int64_t height, int64_t width,
    int64_t num_rois, int32_t pooled_height, int32_t pooled_width, float spatial_scale, void* workspace,
    int32_t device, void* stream);

/*! torchvision.ops.ps_roi_pool; output channels = channels / (pooled_height * pooled_width). */
TRTOPS_C_API int32_t trtops_ps_roi_pool(void const* input, void const* rois, void* output, int32_t feature_dtype,
    int32_t roi_dtype, int32_t layout, int64_t batch, int64_t channels, int64_t height, int64_t width,
    int64_t num_rois, int32_t pooled_height, int32_t pooled_width, float spatial_scale, int32_t device,
    void* stream);

/*! torchvision.ops.MultiScaleRoIAlign in one launch. level_inputs, heights, widths and scales are
 *  host arrays of num_levels entries (level_inputs holds device pointers when device = 1).
 *  level_mapper: 0 torchvision's LevelMapper (canonical_scale, canonical_level), 1 mmdet's
 *  SingleRoIExtractor (finest_scale); see multi_scale_roi_align.h. */
TRTOPS_C_API int32_t trtops_multi_scale_roi_align(void const* const* level_inputs, int64_t const* heights,
    int64_t const* widths, float const* scales, int32_t num_levels, void const* rois, void* output,
    int32_t feature_dtype, int32_t roi_dtype, int32_t layout, int64_t batch, int64_t channels, int64_t num_rois,
    int32_t pooled_height, int32_t pooled_width, int32_t sampling_ratio, int32_t aligned, int32_t canonical_scale,
    int32_t canonical_level, int32_t level_mapper, int32_t finest_scale, int32_t device, void* stream);
