//! \file deform_conv2d_tiling.h
//! Tiling constants shared by the workspace size (host) and the kernels (device).
#pragma once

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

} // namespace deform
} // namespace trtops
