//! \file deform_conv2d_tiling.h
//! What the host code (deform_conv2d.cpp) and the kernels (deform_conv2d.cu) share: tiling
//! constants, the workspace layout and the argument checks of both entry points.
#pragma once

#include "core/status.h"
#include "core/types.h"
#include "deform_conv/deform_conv2d.h"

#include <cstdint>

namespace trtops
{
namespace deform
{

//! How float32 multiplies without allowTf32 on a GPU with TF32 tensor cores (sm_80+): 1 (the
//! default), on the tensor-core kernel with every operand split into two TF32 numbers and three
//! TF32 products per product (splitTf32 in core/numeric.cuh: float32 accuracy, not TF32's);
//! 0, on the FFMA kernel. Before sm_80 float32 always runs on FFMA. A compile-time switch so that
//! benchmarks/gpu_session.sh can time the FFMA kernel beside it (VARIANT_CUDA_FLAGS).
#ifndef TRTOPS_DCN_SPLIT_TF32
#define TRTOPS_DCN_SPLIT_TF32 1
#endif
constexpr bool kFLOAT32_ON_SPLIT_TF32 = TRTOPS_DCN_SPLIT_TF32 != 0;

//! The rearranged weights pad the input channels of a group to a multiple of this, so every
//! K tile of every kernel lies inside one tap and starts 16-byte aligned.
constexpr int64_t kCHANNEL_PAD = 32;
constexpr int64_t kWORKSPACE_ALIGNMENT = 256;

constexpr int64_t roundUp(int64_t value, int64_t multiple)
{
    return (value + multiple - 1) / multiple * multiple;
}

constexpr int64_t paddedChannels(int64_t channelsPerGroup)
{
    return roundUp(channelsPerGroup, kCHANNEL_PAD);
}

//! Elements of one plane of the rearranged weights: [outChannels][taps][padded channels].
inline int64_t packedWeightsPlane(DeformConv2dParams const& p)
{
    int64_t const taps = static_cast<int64_t>(p.kernelHeight) * p.kernelWidth;
    return p.outChannels * taps * paddedChannels(p.inChannels / p.groups);
}

//! Planes of rearranged weights: float32 without allowTf32 keeps two, the TF32 pairs of the
//! split-TF32 kernel (big, then small; the FFMA kernel reads only the first, which then holds
//! the weights unrounded). The workspace does not depend on the device, so the pair is reserved
//! wherever the split kernel may run.
inline int64_t packedWeightsPlanes(DeformConv2dParams const& p)
{
    return p.dataType == DataType::kFLOAT32 && !p.allowTf32 && kFLOAT32_ON_SPLIT_TF32 ? 2 : 1;
}

//! Bytes of the rearranged weights at the start of the workspace, rounded up to
//! kWORKSPACE_ALIGNMENT; the channels-last copy of the input follows them.
inline int64_t packedWeightsBytes(DeformConv2dParams const& p)
{
    return roundUp(packedWeightsPlanes(p) * packedWeightsPlane(p) * elementSize(p.dataType), kWORKSPACE_ALIGNMENT);
}

//! Null required pointers (input, offset, weight, output; mask and bias when used).
Status checkPointers(DeformConv2dParams const& p, void const* input, void const* offset, void const* mask,
    void const* weight, void const* bias, void const* output);

} // namespace deform
} // namespace trtops
