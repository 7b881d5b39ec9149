//! \file plugin_base.h
//! What every trtops IPluginV3 shares: the capability plumbing, name/version/namespace, and the
//! guard that turns a failed Status or an escaping exception into a logged error and a failure
//! code (no exception or abort ever crosses into TensorRT).
#pragma once

#include "common/logging.h"
#include "core/status.h"
#include "core/types.h"

#include <NvInferRuntime.h>

#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace trtops
{
namespace plugin
{

constexpr char const* kPLUGIN_NAMESPACE = "trtops";
constexpr char const* kPLUGIN_VERSION = "1";

//! Runs `body` (returning Status). On failure logs "<plugin>::<method>: <message>" and returns
//! false; never throws.
template <typename Body>
bool guarded(char const* plugin, char const* method, Body&& body) noexcept
{
    try
    {
        Status status = body();
        if (status.isOk())
        {
            return true;
        }
        logError(std::string(plugin) + "::" + method + ": " + status.message());
    }
    catch (std::exception const& e)
    {
        logError(std::string(plugin) + "::" + method + ": internal error: " + e.what());
    }
    catch (...)
    {
        logError(std::string(plugin) + "::" + method + ": internal error");
    }
    return false;
}

//! Largest output_height / output_width the RoI plugins accept.
constexpr int32_t kMAX_OUTPUT_SIZE = 4096;

//! Feature-map types every trtops kernel takes: float32, float16, bfloat16.
bool isFeatureType(nvinfer1::DataType type);

//! The kernel DataType for a TensorRT type, if trtops kernels handle it.
std::optional<DataType> kernelType(nvinfer1::DataType type);

//! Human-readable TensorRT type name for messages.
char const* typeName(nvinfer1::DataType type);

//! Formats of a 4-D feature map the RoI kernels read and write: linear NCHW, or channels-last
//! (kHWC for float32, kHWC8 for float16/bfloat16 when the channel count is a known multiple of 8,
//! so TensorRT's channel padding never applies and the kernel's NHWC path sees dense rows).
bool isChannelsLastFeature(nvinfer1::PluginTensorDesc const& desc);
Layout featureLayout(nvinfer1::TensorFormat format);

//! The descriptions of build-time tensors at the largest shapes of their optimization profile:
//! what configurePlugin validates (so a bad profile fails the build, not the first enqueue) and
//! what getWorkspaceSize sizes for.
std::vector<nvinfer1::PluginTensorDesc> largestShapes(nvinfer1::DynamicPluginTensorDesc const* descs, int32_t count);

//! Base class with the IPluginV3 boilerplate shared by all trtops plugins.
class PluginBase : public nvinfer1::IPluginV3,
                   public nvinfer1::IPluginV3OneCore,
                   public nvinfer1::IPluginV3OneBuild,
                   public nvinfer1::IPluginV3OneRuntime
{
public:
    explicit PluginBase(char const* name)
        : mName(name)
    {
    }

    // IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;

    // IPluginV3OneCore
    char const* getPluginName() const noexcept override
    {
        return mName;
    }
    char const* getPluginVersion() const noexcept override
    {
        return kPLUGIN_VERSION;
    }
    char const* getPluginNamespace() const noexcept override
    {
        return kPLUGIN_NAMESPACE;
    }

    // IPluginV3OneRuntime: plugins hold no per-context resources, so a context gets a clone.
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext*) noexcept override
    {
        return clone();
    }

protected:
    char const* mName;
};

} // namespace plugin
} // namespace trtops
