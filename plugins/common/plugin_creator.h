//! \file plugin_creator.h
//! One creator template for every trtops plugin: the plugin class provides its name, its field
//! table and a `create` function that validates the fields; the creator logs what is wrong and
//! returns nullptr instead of a plugin on bad input.
#pragma once

#include "common/plugin_base.h"

#include <NvInferRuntime.h>

#include <memory>
#include <vector>

namespace trtops
{
namespace plugin
{

//! Plugin must provide: static constexpr char const* kNAME; static std::vector<nvinfer1::PluginField>
//! fieldNames(); static Status create(nvinfer1::PluginFieldCollection const*, std::unique_ptr<Plugin>&).
template <typename Plugin>
class PluginCreator : public nvinfer1::IPluginCreatorV3One
{
public:
    PluginCreator()
        : mFieldNames(Plugin::fieldNames())
    {
        mCollection.nbFields = static_cast<int32_t>(mFieldNames.size());
        mCollection.fields = mFieldNames.data();
    }

    nvinfer1::IPluginV3* createPlugin(
        char const*, nvinfer1::PluginFieldCollection const* fields, nvinfer1::TensorRTPhase) noexcept override
    {
        std::unique_ptr<Plugin> plugin;
        bool const ok = guarded(Plugin::kNAME, "createPlugin", [&] { return Plugin::create(fields, plugin); });
        return ok ? plugin.release() : nullptr;
    }

    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override
    {
        return &mCollection;
    }
    char const* getPluginName() const noexcept override
    {
        return Plugin::kNAME;
    }
    char const* getPluginVersion() const noexcept override
    {
        return kPLUGIN_VERSION;
    }
    char const* getPluginNamespace() const noexcept override
    {
        return kPLUGIN_NAMESPACE;
    }

private:
    std::vector<nvinfer1::PluginField> mFieldNames;
    nvinfer1::PluginFieldCollection mCollection{};
};

} // namespace plugin
} // namespace trtops
