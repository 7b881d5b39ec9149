//! \file RoIPoolPlugin.h
//! trtops::RoIPool v1: torchvision.ops.roi_pool as an IPluginV3 (fields and I/O in README.md beside this file).
#pragma once

#include "common/roi_plugin.h"
#include "roi/roi_pool.h"

namespace trtops
{
namespace plugin
{

struct RoIPoolOp
{
    static constexpr char const* kNAME = "RoIPool";
    static constexpr bool kHAS_SAMPLING_RATIO = false;
    static constexpr bool kHAS_ALIGNED = false;
    static constexpr bool kCHANNELS_LAST = false;
    static constexpr bool kPOSITION_SENSITIVE = false;
    using Params = RoIPoolParams;

    static Status validate(Params const& params)
    {
        return validateRoIPool(params);
    }
    static size_t workspaceSize(Params const& params)
    {
        return roiPoolWorkspaceSize(params);
    }
    static Status forward(Params const& params, void const* input, void const* rois, void* output, void* workspace,
        cudaStream_t stream)
    {
        return roiPoolForward(params, input, rois, output, workspace, stream);
    }
};

using RoIPoolPlugin = RoIPlugin<RoIPoolOp>;

} // namespace plugin
} // namespace trtops
