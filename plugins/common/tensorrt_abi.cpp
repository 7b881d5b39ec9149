#include "common/tensorrt_abi.h"

#include <dlfcn.h>

namespace trtops
{
namespace plugin
{

int32_t runtimeVersionOfHandle(void* handle) noexcept
{
    using GetVersion = int32_t (*)();
    auto getVersion = handle != nullptr ? reinterpret_cast<GetVersion>(dlsym(handle, "getInferLibVersion")) : nullptr;
    return getVersion != nullptr ? getVersion() : -1;
}

int32_t runtimeVersionAt(void const* address) noexcept
{
    Dl_info info{};
    if (address == nullptr || dladdr(address, &info) == 0 || info.dli_fname == nullptr)
    {
        return -1;
    }
    void* handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    int32_t const version = runtimeVersionOfHandle(handle);
    if (handle != nullptr)
    {
        dlclose(handle); // RTLD_NOLOAD only took a reference
    }
    return version;
}

bool logThroughFinder(void* finder, bool tensorrt10, nvinfer1::ILogger::Severity severity, char const* message) noexcept
{
    if (tensorrt10)
    {
        tensorrt10::Logger* logger = static_cast<tensorrt10::LoggerFinder*>(finder)->findLogger();
        if (logger != nullptr)
        {
            logger->log(severity, message);
        }
        return logger != nullptr;
    }
    nvinfer1::ILogger* logger = static_cast<nvinfer1::ILoggerFinder*>(finder)->findLogger();
    if (logger != nullptr)
    {
        logger->log(severity, message);
    }
    return logger != nullptr;
}

bool RuntimeRegistry::registerCreator(
    nvinfer1::IPluginCreatorInterface& creator, char const* pluginNamespace) const noexcept
{
    if (mTensorRT10)
    {
        return reinterpret_cast<tensorrt10::PluginRegistry*>(mRegistry)->registerCreator(creator, pluginNamespace);
    }
    return mRegistry->registerCreator(creator, pluginNamespace);
}

bool RuntimeRegistry::deregisterCreator(nvinfer1::IPluginCreatorInterface const& creator) const noexcept
{
    if (mTensorRT10)
    {
        return reinterpret_cast<tensorrt10::PluginRegistry*>(mRegistry)->deregisterCreator(creator);
    }
    return mRegistry->deregisterCreator(creator);
}

} // namespace plugin
} // namespace trtops
