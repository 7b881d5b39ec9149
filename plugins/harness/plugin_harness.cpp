//! \file plugin_harness.cpp
//! libtrtops_plugin_harness.so: drives the trtops plugins the way a TensorRT runtime does, without
//! TensorRT. It dlopens libtrtops_plugins.so, takes its creators from getCreators, and exposes a
//! small C ABI (used by trtops.testing.harness through ctypes) to
//!   - create a plugin from fields, read back getFieldsToSerialize, re-create it from those fields
//!     (the deserialization path) and clone it: serialization round trips on any machine;
//!   - run the runtime phase on real buffers: attachToContext, onShapeChange, getWorkspaceSize,
//!     enqueue on a CUDA stream (GPU machines).
//! Compiled against the TensorRT headers only, like the plugin library.
#include <NvInferRuntime.h>

#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <iomanip>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#define HARNESS_API extern "C" __attribute__((visibility("default")))

namespace
{

thread_local std::string tLastError;

//! Collects what the plugins log (TensorRT would show it in its own logger).
class CollectingLogger : public nvinfer1::ILogger
{
public:
    void log(Severity severity, char const* message) noexcept override
    {
        if (severity <= Severity::kWARNING)
        {
            std::lock_guard<std::mutex> lock(mMutex);
            mMessages += (mMessages.empty() ? "" : "\n") + std::string(message);
        }
    }
    std::string take()
    {
        std::lock_guard<std::mutex> lock(mMutex);
        std::string messages;
        messages.swap(mMessages);
        return messages;
    }

private:
    std::mutex mMutex;
    std::string mMessages;
};

class HarnessLoggerFinder : public nvinfer1::ILoggerFinder
{
public:
    nvinfer1::ILogger* findLogger() override
    {
        return &mLogger;
    }
    CollectingLogger mLogger;
};

HarnessLoggerFinder gLoggerFinder;

int32_t fail(std::string const& message)
{
    std::string logged = gLoggerFinder.mLogger.take();
    tLastError = message + (logged.empty() ? "" : ": " + logged);
    return -1;
}

struct Library
{
    void* handle{nullptr};
    std::vector<nvinfer1::IPluginCreatorV3One*> creators;
};

struct Plugin
{
    Library* library{nullptr};
    nvinfer1::IPluginCreatorV3One* creator{nullptr};
    std::unique_ptr<nvinfer1::IPluginV3> object;

    nvinfer1::IPluginV3OneBuild* build() const
    {
        return static_cast<nvinfer1::IPluginV3OneBuild*>(
            object->getCapabilityInterface(nvinfer1::PluginCapabilityType::kBUILD));
    }
    nvinfer1::IPluginV3OneRuntime* runtime() const
    {
        return static_cast<nvinfer1::IPluginV3OneRuntime*>(
            object->getCapabilityInterface(nvinfer1::PluginCapabilityType::kRUNTIME));
    }
};

//! Tensor descriptions passed from Python: per tensor a type (nvinfer1::DataType value), a
//! format (nvinfer1::TensorFormat value), a rank and 8 dims.
std::vector<nvinfer1::PluginTensorDesc> makeDescs(
    int32_t count, int32_t const* types, int32_t const* formats, int32_t const* ranks, int64_t const* dims)
{
    std::vector<nvinfer1::PluginTensorDesc> descs(static_cast<size_t>(count));
    for (int32_t i = 0; i < count; ++i)
    {
        descs[i].type = static_cast<nvinfer1::DataType>(types[i]);
        descs[i].format = static_cast<nvinfer1::TensorFormat>(formats[i]);
        descs[i].scale = 1.F;
        descs[i].dims.nbDims = ranks[i];
        for (int32_t d = 0; d < ranks[i]; ++d)
        {
            descs[i].dims.d[d] = dims[i * nvinfer1::Dims::MAX_DIMS + d];
        }
    }
    return descs;
}

std::vector<nvinfer1::DynamicPluginTensorDesc> makeDynamic(std::vector<nvinfer1::PluginTensorDesc> const& descs)
{
    std::vector<nvinfer1::DynamicPluginTensorDesc> dynamic(descs.size());
    for (size_t i = 0; i < descs.size(); ++i)
    {
        dynamic[i].desc = descs[i];
        dynamic[i].min = descs[i].dims;
        dynamic[i].opt = descs[i].dims;
        dynamic[i].max = descs[i].dims;
    }
    return dynamic;
}

void appendValues(std::ostringstream& os, nvinfer1::PluginField const& field)
{
    for (int32_t i = 0; i < field.length; ++i)
    {
        os << (i ? "," : "");
        switch (field.type)
        {
        case nvinfer1::PluginFieldType::kINT32: os << static_cast<int32_t const*>(field.data)[i]; break;
        case nvinfer1::PluginFieldType::kINT64: os << static_cast<int64_t const*>(field.data)[i]; break;
        // max_digits10: the text reads back as the same float (the default 6 digits would not)
        case nvinfer1::PluginFieldType::kFLOAT32:
            os << std::setprecision(std::numeric_limits<float>::max_digits10)
               << static_cast<float const*>(field.data)[i];
            break;
        case nvinfer1::PluginFieldType::kFLOAT64:
            os << std::setprecision(std::numeric_limits<double>::max_digits10)
               << static_cast<double const*>(field.data)[i];
            break;
        default: os << "?";
        }
    }
}

} // namespace

HARNESS_API char const* trtops_harness_last_error(void)
{
    return tLastError.c_str();
}

//! Loads a plugin library; returns a handle or nullptr.
HARNESS_API void* trtops_harness_open(char const* path)
{
    auto library = std::make_unique<Library>();
    library->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library->handle == nullptr)
    {
        fail(std::string("dlopen failed: ") + dlerror());
        return nullptr;
    }
    using GetCreators = nvinfer1::IPluginCreatorInterface* const* (*) (int32_t&);
    using SetLoggerFinder = void (*)(nvinfer1::ILoggerFinder*);
    auto getCreators = reinterpret_cast<GetCreators>(dlsym(library->handle, "getCreators"));
    auto setLoggerFinder = reinterpret_cast<SetLoggerFinder>(dlsym(library->handle, "setLoggerFinder"));
    if (getCreators == nullptr || setLoggerFinder == nullptr)
    {
        fail("the library does not export getCreators and setLoggerFinder");
        return nullptr;
    }
    setLoggerFinder(&gLoggerFinder);
    int32_t count = 0;
    nvinfer1::IPluginCreatorInterface* const* creators = getCreators(count);
    for (int32_t i = 0; i < count; ++i)
    {
        nvinfer1::InterfaceInfo const info = creators[i]->getInterfaceInfo();
        if (std::strcmp(info.kind, "PLUGIN CREATOR_V3ONE") == 0)
        {
            library->creators.push_back(static_cast<nvinfer1::IPluginCreatorV3One*>(creators[i]));
        }
    }
    return library.release();
}

//! Creates plugin `name` (namespace trtops) from fields; phase: 0 build, 1 runtime.
HARNESS_API void* trtops_harness_create(void* libraryHandle, char const* name, int32_t phase, int32_t nbFields,
    char const* const* fieldNames, int32_t const* fieldTypes, void const* const* fieldData, int32_t const* fieldLengths)
{
    auto* library = static_cast<Library*>(libraryHandle);
    for (nvinfer1::IPluginCreatorV3One* creator : library->creators)
    {
        if (std::strcmp(creator->getPluginName(), name) != 0)
        {
            continue;
        }
        std::vector<nvinfer1::PluginField> fields;
        for (int32_t i = 0; i < nbFields; ++i)
        {
            fields.emplace_back(fieldNames[i], fieldData[i], static_cast<nvinfer1::PluginFieldType>(fieldTypes[i]),
                fieldLengths[i]);
        }
        nvinfer1::PluginFieldCollection collection{static_cast<int32_t>(fields.size()), fields.data()};
        nvinfer1::IPluginV3* object = creator->createPlugin(
            name, &collection, phase == 0 ? nvinfer1::TensorRTPhase::kBUILD : nvinfer1::TensorRTPhase::kRUNTIME);
        if (object == nullptr)
        {
            fail(std::string(name) + ": createPlugin returned nullptr");
            return nullptr;
        }
        auto plugin = std::make_unique<Plugin>();
        plugin->library = library;
        plugin->creator = creator;
        plugin->object.reset(object);
        return plugin.release();
    }
    fail(std::string("no creator named ") + name);
    return nullptr;
}

HARNESS_API void trtops_harness_destroy(void* pluginHandle)
{
    delete static_cast<Plugin*>(pluginHandle);
}

//! The plugin's getFieldsToSerialize as text "name:type:length:v1,v2;..." into buffer.
HARNESS_API int32_t trtops_harness_fields(void* pluginHandle, char* buffer, int64_t capacity)
{
    auto* plugin = static_cast<Plugin*>(pluginHandle);
    nvinfer1::PluginFieldCollection const* fields = plugin->runtime()->getFieldsToSerialize();
    if (fields == nullptr)
    {
        return fail("getFieldsToSerialize returned nullptr");
    }
    std::ostringstream os;
    for (int32_t i = 0; i < fields->nbFields; ++i)
    {
        nvinfer1::PluginField const& field = fields->fields[i];
        os << field.name << ":" << static_cast<int32_t>(field.type) << ":" << field.length << ":";
        appendValues(os, field);
        os << ";";
    }
    std::string const text = os.str();
    if (static_cast<int64_t>(text.size()) + 1 > capacity)
    {
        return fail("buffer too small");
    }
    std::memcpy(buffer, text.c_str(), text.size() + 1);
    return 0;
}

//! A new plugin created by the creator, in the runtime phase, from this plugin's serialized fields.
HARNESS_API void* trtops_harness_recreate(void* pluginHandle)
{
    auto* plugin = static_cast<Plugin*>(pluginHandle);
    nvinfer1::PluginFieldCollection const* fields = plugin->runtime()->getFieldsToSerialize();
    nvinfer1::IPluginV3* object
        = plugin->creator->createPlugin(plugin->creator->getPluginName(), fields, nvinfer1::TensorRTPhase::kRUNTIME);
    if (object == nullptr)
    {
        fail("createPlugin from serialized fields returned nullptr");
        return nullptr;
    }
    auto copy = std::make_unique<Plugin>(Plugin{plugin->library, plugin->creator, nullptr});
    copy->object.reset(object);
    return copy.release();
}

//! clone() (build phase) or attachToContext(nullptr) (runtime: what an execution context gets).
HARNESS_API void* trtops_harness_clone(void* pluginHandle, int32_t attach)
{
    auto* plugin = static_cast<Plugin*>(pluginHandle);
    nvinfer1::IPluginV3* object
        = attach != 0 ? plugin->runtime()->attachToContext(nullptr) : plugin->object->clone();
    if (object == nullptr)
    {
        fail(attach != 0 ? "attachToContext returned nullptr" : "clone returned nullptr");
        return nullptr;
    }
    auto copy = std::make_unique<Plugin>(Plugin{plugin->library, plugin->creator, nullptr});
    copy->object.reset(object);
    return copy.release();
}

//! Build phase at concrete shapes: getOutputDataTypes check, configurePlugin, getWorkspaceSize.
//! Returns the workspace size, or -1.
HARNESS_API int64_t trtops_harness_configure(void* pluginHandle, int32_t nbInputs, int32_t const* inTypes,
    int32_t const* inFormats, int32_t const* inRanks, int64_t const* inDims, int32_t nbOutputs,
    int32_t const* outTypes, int32_t const* outFormats, int32_t const* outRanks, int64_t const* outDims)
{
    auto* plugin = static_cast<Plugin*>(pluginHandle);
    auto inputs = makeDynamic(makeDescs(nbInputs, inTypes, inFormats, inRanks, inDims));
    auto outputs = makeDynamic(makeDescs(nbOutputs, outTypes, outFormats, outRanks, outDims));
    std::vector<nvinfer1::DataType> inputTypes;
    for (auto const& input : inputs)
    {
        inputTypes.push_back(input.desc.type);
    }
    std::vector<nvinfer1::DataType> outputTypes(static_cast<size_t>(nbOutputs));
    if (plugin->build()->getOutputDataTypes(outputTypes.data(), nbOutputs, inputTypes.data(), nbInputs) != 0)
    {
        return fail("getOutputDataTypes failed");
    }
    for (int32_t i = 0; i < nbOutputs; ++i)
    {
        if (outputTypes[i] != outputs[i].desc.type)
        {
            return fail("output " + std::to_string(i) + " type differs from getOutputDataTypes");
        }
    }
    std::vector<nvinfer1::DynamicPluginTensorDesc> inOut(inputs);
    inOut.insert(inOut.end(), outputs.begin(), outputs.end());
    for (int32_t pos = 0; pos < nbInputs + nbOutputs; ++pos)
    {
        if (!plugin->build()->supportsFormatCombination(pos, inOut.data(), nbInputs, nbOutputs))
        {
            return fail("supportsFormatCombination rejects tensor " + std::to_string(pos));
        }
    }
    if (plugin->build()->configurePlugin(inputs.data(), nbInputs, outputs.data(), nbOutputs) != 0)
    {
        return fail("configurePlugin failed");
    }
    return static_cast<int64_t>(plugin->build()->getWorkspaceSize(inputs.data(), nbInputs, outputs.data(), nbOutputs));
}

//! Runtime phase: onShapeChange then enqueue on `stream` (a cudaStream_t).
HARNESS_API int32_t trtops_harness_enqueue(void* pluginHandle, int32_t nbInputs, int32_t const* inTypes,
    int32_t const* inFormats, int32_t const* inRanks, int64_t const* inDims, int32_t nbOutputs,
    int32_t const* outTypes, int32_t const* outFormats, int32_t const* outRanks, int64_t const* outDims,
    void const* const* inputs, void* const* outputs, void* workspace, void* stream)
{
    auto* plugin = static_cast<Plugin*>(pluginHandle);
    auto inDescs = makeDescs(nbInputs, inTypes, inFormats, inRanks, inDims);
    auto outDescs = makeDescs(nbOutputs, outTypes, outFormats, outRanks, outDims);
    if (plugin->runtime()->onShapeChange(inDescs.data(), nbInputs, outDescs.data(), nbOutputs) != 0)
    {
        return fail("onShapeChange failed");
    }
    if (plugin->runtime()->enqueue(inDescs.data(), outDescs.data(), inputs, outputs, workspace,
            static_cast<cudaStream_t>(stream))
        != 0)
    {
        return fail("enqueue failed");
    }
    return 0;
}
