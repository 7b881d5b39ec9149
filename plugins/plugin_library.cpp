//! \file plugin_library.cpp
//! The library's entry points for TensorRT's IPluginRegistry::loadLibrary (also used by
//! `trtexec --dynamicPlugins` and trtops.load_plugins): getCreators + setLoggerFinder.
//! The one list of creators lives here (per kernel family built, see CMakeLists.txt).
#include "common/logging.h"
#include "common/plugin_creator.h"

#if TRTOPS_WITH_ROI
#include "multi_scale_roi_align/MultiScaleRoIAlignPlugin.h"
#include "ps_roi_align/PSRoIAlignPlugin.h"
#include "ps_roi_pool/PSRoIPoolPlugin.h"
#include "roi_align/RoIAlignPlugin.h"
#include "roi_pool/RoIPoolPlugin.h"
#endif
#if TRTOPS_WITH_NMS
#include "nms/NmsPlugin.h"
#endif
#if TRTOPS_WITH_DEFORM_CONV
#include "deform_conv2d/DeformConv2dPlugin.h"
#endif

#include <NvInferRuntime.h>

#include <cstdint>
#include <vector>

namespace trtops
{
namespace plugin
{
namespace
{

//! Every creator of the library, in a stable order. Constructed once, on first use.
std::vector<nvinfer1::IPluginCreatorInterface*> const& allCreators()
{
    static std::vector<nvinfer1::IPluginCreatorInterface*> const kCreators = [] {
        std::vector<nvinfer1::IPluginCreatorInterface*> creators;
#if TRTOPS_WITH_NMS
        static PluginCreator<NmsSingleClassPlugin> sNms;
        static PluginCreator<BatchedNmsPlugin> sBatchedNms;
        creators.insert(creators.end(), {&sNms, &sBatchedNms});
#endif
#if TRTOPS_WITH_ROI
        static PluginCreator<RoIAlignPlugin> sRoIAlign;
        static PluginCreator<PSRoIAlignPlugin> sPSRoIAlign;
        static PluginCreator<RoIPoolPlugin> sRoIPool;
        static PluginCreator<PSRoIPoolPlugin> sPSRoIPool;
        static PluginCreator<MultiScaleRoIAlignPlugin> sMultiScaleRoIAlign;
        creators.insert(creators.end(), {&sRoIAlign, &sPSRoIAlign, &sRoIPool, &sPSRoIPool, &sMultiScaleRoIAlign});
#endif
#if TRTOPS_WITH_DEFORM_CONV
        static PluginCreator<DeformConv2dPlugin> sDeformConv2d;
        creators.push_back(&sDeformConv2d);
#endif
        return creators;
    }();
    return kCreators;
}

} // namespace
} // namespace plugin
} // namespace trtops

extern "C" __attribute__((visibility("default"))) nvinfer1::IPluginCreatorInterface* const* getCreators(
    int32_t& nbCreators)
{
    auto const& creators = trtops::plugin::allCreators();
    nbCreators = static_cast<int32_t>(creators.size());
    return creators.data();
}

extern "C" __attribute__((visibility("default"))) void setLoggerFinder(nvinfer1::ILoggerFinder* finder)
{
    trtops::plugin::setLoggerFinder(finder);
}
