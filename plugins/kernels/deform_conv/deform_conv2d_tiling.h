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

//! Bytes of the rearranged weights at the start of the workspace, rounded up to
//! kWORKSPACE_ALIGNMENT; the channels-last copy of the input follows them.
inline int64_t packedWeightsBytes(DeformConv2dParams const& p)
{
    int64_t const taps = static_cast<int64_t>(p.kernelHeight) * p.kernelWidth;
    return roundUp(p.outChannels * taps * paddedChannels(p.inChannels / p.groups) * elementSize(p.dataType),
        kWORKSPACE_ALIGNMENT);
}

//! Null required pointers (input, offset, weight, output; mask and bias when used).
Status checkPointers(DeformConv2dParams const& p, void const* input, void const* offset, void const* mask,
    void const* weight, void const* bias, void const* output);

} // namespace deform
} // namespace trtops
