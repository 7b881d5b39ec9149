//! \file RoIAlignPlugin.h
//! trtops::RoIAlign v1: torchvision.ops.roi_align as an IPluginV3 (fields and I/O in README.md beside this file).
#pragma once

#include "common/roi_plugin.h"
#include "roi/roi_align.h"

namespace trtops
{
namespace plugin
{

struct RoIAlignOp
{
    static constexpr char const* kNAME = "RoIAlign";
    static constexpr bool kHAS_SAMPLING_RATIO = true;
    static constexpr bool kHAS_ALIGNED = true;
    static constexpr bool kCHANNELS_LAST = true;
    static constexpr bool kPOSITION_SENSITIVE = false;
    using Params = RoIAlignParams;

    static Status validate(Params const& params)
    {
        return validateRoIAlign(params);
    }
    static size_t workspaceSize(Params const& params)
    {
        return roiAlignWorkspaceSize(params);
    }
    static Status forward(Params const& params, void const* input, void const* rois, void* output, void* workspace,
        cudaStream_t stream)
    {
        return roiAlignForward(params, input, rois, output, workspace, stream);
    }
};

using RoIAlignPlugin = RoIPlugin<RoIAlignOp>;

} // namespace plugin
} // namespace trtops
