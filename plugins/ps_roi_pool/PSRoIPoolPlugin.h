//! \file PSRoIPoolPlugin.h
//! trtops::PSRoIPool v1: torchvision.ops.ps_roi_pool as an IPluginV3 (fields and I/O in README.md beside this file).
#pragma once

#include "common/roi_plugin.h"
#include "roi/ps_roi_pool.h"

namespace trtops
{
namespace plugin
{

struct PSRoIPoolOp
{
    static constexpr char const* kNAME = "PSRoIPool";
    static constexpr bool kHAS_SAMPLING_RATIO = false;
    static constexpr bool kHAS_ALIGNED = false;
    static constexpr bool kCHANNELS_LAST = false;
    static constexpr bool kPOSITION_SENSITIVE = true;
    using Params = PSRoIPoolParams;

    static Status validate(Params const& params)
    {
        return validatePSRoIPool(params);
    }
    static size_t workspaceSize(Params const& params)
    {
        return psRoIPoolWorkspaceSize(params);
    }
    static Status forward(Params const& params, void const* input, void const* rois, void* output, void* workspace,
        cudaStream_t stream)
    {
        return psRoIPoolForward(params, input, rois, output, workspace, stream);
    }
};

using PSRoIPoolPlugin = RoIPlugin<PSRoIPoolOp>;

} // namespace plugin
} // namespace trtops
