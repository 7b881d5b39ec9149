//! A TensorRT runtime of one version, as far as the trtops plugin library meets it, for
//! tests/abi/test_tensorrt_versions.py. Compiled against that version's headers, with
//! -DFAKE_RUNTIME_VERSION=<its getInferLibVersion()>, into a shared library with the runtime's
//! soname that exports getInferLibVersion and getPluginRegistry, as a runtime library does.
//!
//! fake_load(plugin library, out, size): dlopens the trtops plugin library (whose initializer
//! finds this "runtime" by its soname and registers its creators with the registry here), then
//! does what IPluginRegistry::loadLibrary does: hands it a logger finder (in this header set's
//! layout) through setLoggerFinder and takes its creators (getCreators, which takes back what
//! the initializer registered); then has the RoIAlign creator refuse a plugin with an invalid
//! field (output_height 0) and writes what its logger received into `out`. Returns 0 when the
//! creator refused and logged, else a code saying which step failed. fake_registrations() then
//! tells how many creators were registered with and taken back from the registry.
#include <NvInferRuntime.h>

#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <string>

#ifndef FAKE_RUNTIME_VERSION
#error "FAKE_RUNTIME_VERSION (getInferLibVersion() of the runtime it stands for) is required"
#endif

namespace
{
std::string gReceived;

class Logger : public nvinfer1::ILogger
{
public:
    void log(Severity, char const* message) noexcept override
    {
        gReceived += message;
        gReceived += '\n';
    }
};

class Finder : public nvinfer1::ILoggerFinder
{
public:
    nvinfer1::ILogger* findLogger() noexcept override
    {
        return &mLogger;
    }

private:
    Logger mLogger;
};

Finder gFinder;

int gRegistered = 0;
int gDeregistered = 0;

//! Records registrations; the rest of the interface is never called by trtops.
class Registry : public nvinfer1::IPluginRegistry
{
public:
#if NV_TENSORRT_MAJOR < 11 // TensorRT 11 removed the IPluginCreator (IPluginV2) functions
    bool registerCreator(nvinfer1::IPluginCreator&, nvinfer1::AsciiChar const* const) noexcept override
    {
        return false;
    }
    nvinfer1::IPluginCreator* const* getPluginCreatorList(int32_t* const) const noexcept override
    {
        return nullptr;
    }
    nvinfer1::IPluginCreator* getPluginCreator(
        nvinfer1::AsciiChar const* const, nvinfer1::AsciiChar const* const, nvinfer1::AsciiChar const* const) noexcept
        override
    {
        return nullptr;
    }
    bool deregisterCreator(nvinfer1::IPluginCreator const&) noexcept override
    {
        return false;
    }
#endif
    void setErrorRecorder(nvinfer1::IErrorRecorder* const) noexcept override {}
    nvinfer1::IErrorRecorder* getErrorRecorder() const noexcept override
    {
        return nullptr;
    }
    bool isParentSearchEnabled() const override
    {
        return false;
    }
    void setParentSearchEnabled(bool const) override {}
    PluginLibraryHandle loadLibrary(nvinfer1::AsciiChar const*) noexcept override
    {
        return nullptr;
    }
    void deregisterLibrary(PluginLibraryHandle) noexcept override {}
    bool registerCreator(nvinfer1::IPluginCreatorInterface&, nvinfer1::AsciiChar const* const) noexcept override
    {
        ++gRegistered;
        return true;
    }
    nvinfer1::IPluginCreatorInterface* const* getAllCreators(int32_t* const) const noexcept override
    {
        return nullptr;
    }
    nvinfer1::IPluginCreatorInterface* getCreator(
        nvinfer1::AsciiChar const* const, nvinfer1::AsciiChar const* const, nvinfer1::AsciiChar const* const) noexcept
        override
    {
        return nullptr;
    }
    bool deregisterCreator(nvinfer1::IPluginCreatorInterface const&) noexcept override
    {
        ++gDeregistered;
        return true;
    }
    nvinfer1::IPluginResource* acquirePluginResource(
        nvinfer1::AsciiChar const*, nvinfer1::IPluginResource*) noexcept override
    {
        return nullptr;
    }
    int32_t releasePluginResource(nvinfer1::AsciiChar const*) noexcept override
    {
        return 0;
    }
    // Not in every release (TensorRT 10.3 lacks it): overrides where the base declares it.
    virtual nvinfer1::IPluginCreatorInterface* const* getAllCreatorsRecursive(int32_t* const) noexcept
    {
        return nullptr;
    }
};

Registry gRegistry;

using SetLoggerFinder = void (*)(nvinfer1::ILoggerFinder*);
using GetCreators = nvinfer1::IPluginCreatorInterface* const* (*) (int32_t&);
} // namespace

extern "C" __attribute__((visibility("default"))) int32_t getInferLibVersion() noexcept
{
    return FAKE_RUNTIME_VERSION;
}

extern "C" __attribute__((visibility("default"))) nvinfer1::IPluginRegistry* getPluginRegistry() noexcept
{
    return &gRegistry;
}

extern "C" __attribute__((visibility("default"))) void fake_registrations(int* registered, int* deregistered)
{
    *registered = gRegistered;
    *deregistered = gDeregistered;
}

extern "C" __attribute__((visibility("default"))) int fake_load(char const* library, char* out, int size)
{
    void* handle = dlopen(library, RTLD_LAZY | RTLD_LOCAL);
    if (handle == nullptr)
    {
        std::strncpy(out, dlerror(), static_cast<size_t>(size) - 1);
        return 1;
    }
    auto setLoggerFinder = reinterpret_cast<SetLoggerFinder>(dlsym(handle, "setLoggerFinder"));
    auto getCreators = reinterpret_cast<GetCreators>(dlsym(handle, "getCreators"));
    if (setLoggerFinder == nullptr || getCreators == nullptr)
    {
        return 2;
    }
    setLoggerFinder(&gFinder);
    int32_t count = 0;
    nvinfer1::IPluginCreatorInterface* const* creators = getCreators(count);
    nvinfer1::IPluginCreatorV3One* roiAlign = nullptr;
    for (int32_t i = 0; i < count; ++i)
    {
        if (std::strcmp(creators[i]->getInterfaceInfo().kind, "PLUGIN CREATOR_V3ONE") != 0)
        {
            return 3;
        }
        auto* creator = static_cast<nvinfer1::IPluginCreatorV3One*>(creators[i]);
        if (std::strcmp(creator->getPluginName(), "RoIAlign") == 0)
        {
            roiAlign = creator;
        }
    }
    if (roiAlign == nullptr)
    {
        return 4;
    }
    int32_t const height = 0;
    int32_t const width = 7;
    nvinfer1::PluginField const fields[] = {
        {"output_height", &height, nvinfer1::PluginFieldType::kINT32, 1},
        {"output_width", &width, nvinfer1::PluginFieldType::kINT32, 1},
    };
    nvinfer1::PluginFieldCollection const collection{2, fields};
    nvinfer1::IPluginV3* plugin = roiAlign->createPlugin("roi_align", &collection, nvinfer1::TensorRTPhase::kBUILD);
    std::strncpy(out, gReceived.c_str(), static_cast<size_t>(size) - 1);
    return plugin == nullptr ? 0 : 5;
}
