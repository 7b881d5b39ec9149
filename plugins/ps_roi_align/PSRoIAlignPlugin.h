//! \file PSRoIAlignPlugin.h
//! trtops::PSRoIAlign v1: torchvision.ops.ps_roi_align as an IPluginV3 (fields and I/O in README.md beside this file).
#pragma once

#include "common/roi_plugin.h"
#include "roi/ps_roi_align.h"

namespace trtops
{
namespace plugin
{

struct PSRoIAlignOp
{
    static constexpr char const* kNAME = "PSRoIAlign";
    static constexpr bool kHAS_SAMPLING_RATIO = true;
    static constexpr bool kHAS_ALIGNED = false;
    static constexpr bool kCHANNELS_LAST = false;
    static constexpr bool kPOSITION_SENSITIVE = true;
    using Params = PSRoIAlignParams;

    static Status validate(Params const& params)
    {
        return validatePSRoIAlign(params);
    }
    static size_t workspaceSize(Params const& params)
    {
        return psRoIAlignWorkspaceSize(params);
    }
    static Status forward(Params const& params, void const* input, void const* rois, void* output, void* workspace,
        cudaStream_t stream)
    {
        return psRoIAlignForward(params, input, rois, output, workspace, stream);
    }
};

using PSRoIAlignPlugin = RoIPlugin<PSRoIAlignOp>;

} // namespace plugin
} // namespace trtops
