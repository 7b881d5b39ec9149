//! \file tensorrt_abi.h
//! One plugin library for TensorRT 10.x, TensorRT 11.x and TensorRT-RTX: what differs between
//! their binary interfaces, and how the library tells which one a runtime has.
//!
//! The library is compiled against TensorRT 11 headers. Everything a plugin implements
//! (IPluginV3 and its capabilities, IPluginCreatorV3One) and the structs and enums passed to it
//! lay out the same in TensorRT 10 (tests/abi/layout_probe.cpp compares them), but three classes
//! whose methods the library calls on TensorRT's objects do not:
//! - ILoggerFinder and ILogger: from TensorRT 11 (and in TensorRT-RTX) both derive from
//!   IVersionedInterface, whose functions come first in the vtable; in TensorRT 10 they have no
//!   base, and findLogger() / log() sit in slot 0.
//! - IPluginRegistry: TensorRT 11 removed its IPluginCreator (IPluginV2) functions, which come
//!   first in TensorRT 10's vtable, so registerCreator / deregisterCreator moved from slots 12 /
//!   15 to 8 / 11.
//! A TensorRT 10 runtime's objects are called through the declarations below instead (an object
//! made by one runtime is only ever called through its own layout). Which runtime made an object
//! is asked of the runtime library itself (getInferLibVersion).
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>

namespace trtops
{
namespace plugin
{

//! getInferLibVersion() of the runtime library `handle` (a dlopen handle), or of the library
//! holding code address `address`: major * 10000 + minor * 100 + patch (TensorRT 10.3.0: 100300;
//! TensorRT-RTX counts its own versions, 1.7.1: 10701). -1 when the library exports none.
int32_t runtimeVersionOfHandle(void* handle) noexcept;
int32_t runtimeVersionAt(void const* address) noexcept;

//! Whether a runtime of this version (above) has TensorRT 10's layout of the classes above.
inline bool hasTensorRT10Layout(int32_t version) noexcept
{
    return version >= 100000 && version < 110000;
}

//! The classes as TensorRT 10.x lays them out (its NvInferRuntime.h / NvInferRuntimeCommon.h).
//! Only the order and kind of their virtual functions matter: types TensorRT 11 removed are
//! void pointers here. They have external linkage on purpose: for classes that nothing could
//! derive from outside one file, the compiler may conclude that their pure virtual functions are
//! all a call can reach (GCC then calls __cxa_pure_virtual instead of the vtable slot).
namespace tensorrt10
{

class Logger
{
public:
    virtual void log(nvinfer1::ILogger::Severity severity, char const* message) noexcept = 0;
    virtual ~Logger() = default;
};

class LoggerFinder
{
public:
    virtual Logger* findLogger() = 0;

protected:
    virtual ~LoggerFinder() = default;
};

class PluginRegistry
{
public:
    virtual bool registerPluginV2Creator(void* creator, char const* pluginNamespace) noexcept = 0;
    virtual void* const* getPluginCreatorList(int32_t* numCreators) const noexcept = 0;
    virtual void* getPluginCreator(
        char const* pluginName, char const* pluginVersion, char const* pluginNamespace) noexcept = 0;
    virtual ~PluginRegistry() noexcept = default;
    virtual void setErrorRecorder(void* recorder) noexcept = 0;
    virtual void* getErrorRecorder() const noexcept = 0;
    virtual bool deregisterPluginV2Creator(void const* creator) noexcept = 0;
    virtual bool isParentSearchEnabled() const = 0;
    virtual void setParentSearchEnabled(bool enabled) = 0;
    virtual void* loadLibrary(char const* pluginPath) noexcept = 0;
    virtual void deregisterLibrary(void* handle) noexcept = 0;
    virtual bool registerCreator(nvinfer1::IPluginCreatorInterface& creator, char const* pluginNamespace) noexcept
        = 0;
    virtual nvinfer1::IPluginCreatorInterface* const* getAllCreators(int32_t* numCreators) const noexcept = 0;
    virtual nvinfer1::IPluginCreatorInterface* getCreator(
        char const* pluginName, char const* pluginVersion, char const* pluginNamespace) noexcept = 0;
    virtual bool deregisterCreator(nvinfer1::IPluginCreatorInterface const& creator) noexcept = 0;
};

} // namespace tensorrt10

//! Logs `message` to the logger `finder` finds, calling both through TensorRT 10's layout when
//! `tensorrt10` (else through the headers'). False when the finder finds no logger.
bool logThroughFinder(void* finder, bool tensorrt10, nvinfer1::ILogger::Severity severity, char const* message) noexcept;

//! A runtime's plugin registry, called through its runtime's layout.
class RuntimeRegistry
{
public:
    RuntimeRegistry() = default;
    //! `registry` from getPluginRegistry() of a runtime library of `version` (see above).
    RuntimeRegistry(nvinfer1::IPluginRegistry* registry, int32_t version) noexcept
        : mRegistry(registry)
        , mTensorRT10(hasTensorRT10Layout(version))
    {
    }

    explicit operator bool() const noexcept
    {
        return mRegistry != nullptr;
    }
    bool registerCreator(nvinfer1::IPluginCreatorInterface& creator, char const* pluginNamespace) const noexcept;
    bool deregisterCreator(nvinfer1::IPluginCreatorInterface const& creator) const noexcept;

private:
    nvinfer1::IPluginRegistry* mRegistry{nullptr};
    bool mTensorRT10{false};
};

} // namespace plugin
} // namespace trtops
