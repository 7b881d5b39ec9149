//! \file plugin_library.cpp
//! The library's entry points for TensorRT's IPluginRegistry::loadLibrary (also used by
//! `trtexec --dynamicPlugins` and trtops.load_plugins): getCreators + setLoggerFinder.
//! The one list of creators lives here.
#include "common/logging.h"
#include "common/plugin_creator.h"
#include "roi_align/RoIAlignPlugin.h"

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
        static PluginCreator<RoIAlignPlugin> sRoIAlign;
        return std::vector<nvinfer1::IPluginCreatorInterface*>{&sRoIAlign};
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
