/*! \file deform_conv_c_api.h
 * C ABI of the deform_conv family (conventions in core/c_api.h).
 *
 * `shape` holds 7 int64: batch, inChannels, height, width, outChannels, outHeight, outWidth.
 * `fields` holds 10 int32: kernelHeight, kernelWidth, strideH, strideW, padH, padW, dilationH,
 * dilationW, groups, offsetGroups. `dtype` is a trtops::DataType code shared by every tensor.
 * `mask` and `bias` may be NULL (v1 / no bias). Tensors are contiguous NCHW (see deform_conv2d.h).
 */
#pragma once

#include "core/c_api.h"

/*! Writes the bytes of device workspace trtops_deform_conv2d needs on a GPU to *size. */
TRTOPS_C_API int32_t trtops_deform_conv2d_workspace_size(int64_t const* shape, int32_t const* fields, int32_t dtype,
    int32_t has_mask, int32_t has_bias, int32_t allow_tf32, int64_t* size);

/*! output = deform_conv2d(input, offset, weight, bias, mask). On the device path `workspace`
 * must hold trtops_deform_conv2d_workspace_size bytes (16-byte aligned); the host path ignores it. */
TRTOPS_C_API int32_t trtops_deform_conv2d(void const* input, void const* offset, void const* mask,
    void const* weight, void const* bias, void* output, int64_t const* shape, int32_t const* fields, int32_t dtype,
    int32_t allow_tf32, void* workspace, int64_t workspace_size, int32_t device, void* stream);
