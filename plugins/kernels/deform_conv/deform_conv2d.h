//! \file deform_conv2d.h
//! Deformable convolution v1 (no mask) and v2 (mask), with torchvision.ops.deform_conv2d's
//! semantics: every kernel tap of every output pixel samples the input bilinearly at the tap's
//! regular position plus a learned (dy, dx) offset, optionally scaled by a mask, and the samples
//! are convolved with the weight like a dense convolution.
//!
//! Layouts (all linear NCHW, contiguous):
//!   input  [batch, inChannels, height, width]
//!   offset [batch, offsetGroups * kernelHeight * kernelWidth * 2, outHeight, outWidth]
//!          channel ((g * kernelHeight * kernelWidth) + tap) * 2 + {0: dy, 1: dx}, tap = i * kernelWidth + j
//!   mask   [batch, offsetGroups * kernelHeight * kernelWidth, outHeight, outWidth] (v2 only)
//!          channel g * kernelHeight * kernelWidth + tap
//!   weight [outChannels, inChannels / groups, kernelHeight, kernelWidth]
//!   bias   [outChannels]
//!   output [batch, outChannels, outHeight, outWidth]
//! Input channel c belongs to offset group c / (inChannels / offsetGroups).
#pragma once

#include "core/status.h"
#include "core/types.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace trtops
{

//! Every dimension and field of one deform_conv2d call.
struct DeformConv2dParams
{
    int64_t batch{0};
    int64_t inChannels{0};
    int64_t height{0};
    int64_t width{0};
    int64_t outChannels{0};
    int32_t kernelHeight{1};
    int32_t kernelWidth{1};
    int32_t strideH{1};
    int32_t strideW{1};
    int32_t padH{0};
    int32_t padW{0};
    int32_t dilationH{1};
    int32_t dilationW{1};
    int32_t groups{1};       //!< weight groups: inChannels and outChannels are split into `groups` parts
    int32_t offsetGroups{1}; //!< groups of input channels sharing one set of offsets (and mask)
    bool hasMask{false};     //!< v2 when true
    bool hasBias{false};
    int64_t outHeight{0}; //!< must equal (height + 2 padH - dilationH (kernelHeight - 1) - 1) / strideH + 1
    int64_t outWidth{0};  //!< must equal (width + 2 padW - dilationW (kernelWidth - 1) - 1) / strideW + 1
    DataType dataType{DataType::kFLOAT32}; //!< of every tensor: float32, float16, bfloat16 or float64
    bool allowTf32{false}; //!< float32 only: the CUDA kernel may round its operands to TF32 and
                           //!< multiply once per product (the host implementation always computes
                           //!< in float)
};

//! Output extent along one axis for the given input extent and convolution fields (may be <= 0).
int64_t deformConv2dOutputSize(int64_t inputSize, int32_t kernelSize, int32_t stride, int32_t pad, int32_t dilation);

//! Checks every field: positive kernel/stride/dilation, non-negative padding, divisibility of the
//! channels by groups and offset groups, the output size, the data type and the index limits of
//! the kernels. Messages name deform_conv2d, the field and its value.
Status validateDeformConv2d(DeformConv2dParams const& params);

//! Bytes of device workspace deformConv2dForward needs: the weights rearranged tap-major and
//! padded for the tiled kernels (float32 without allowTf32: twice, the two TF32 parts of each
//! weight), then a channels-last copy of the input (batch * inChannels * height * width
//! elements); 0 when nothing is computed.
size_t deformConv2dWorkspaceSize(DeformConv2dParams const& params);

//! Queues the CUDA kernels on `stream`: device pointers, no synchronization, no allocation
//! (graph-capturable). `mask` is read only when params.hasMask and `bias` only when
//! params.hasBias. `workspace` must hold deformConv2dWorkspaceSize(params) bytes, 256-byte
//! aligned. fp16/bf16 multiply on tensor cores with float accumulation. float32 on a GPU with
//! TF32 tensor cores (sm_80+) multiplies on them too, with float accumulation: each weight and
//! sampled value is split into two TF32 numbers and every product taken as three TF32 products,
//! which keeps float32 accuracy; with params.allowTf32 they are instead rounded to TF32 (10-bit
//! mantissa) and multiplied once. float32 before sm_80 uses FFMA; float64 accumulates in double.
Status deformConv2dForward(DeformConv2dParams const& params, void const* input, void const* offset, void const* mask,
    void const* weight, void const* bias, void* output, void* workspace, cudaStream_t stream);

//! Host implementation on host pointers; shares the per-sample bilinear math with the kernels.
Status deformConv2dForwardHost(DeformConv2dParams const& params, void const* input, void const* offset,
    void const* mask, void const* weight, void const* bias, void* output);

} // namespace trtops
