//! \file logging.h
//! Messages from the plugins go to the logger of the TensorRT builder/runtime that called them,
//! found through the ILoggerFinder TensorRT hands the library (setLoggerFinder). Without one
//! (e.g. the library was dlopen'ed by hand), errors go to stderr so they are never lost.
//!
//! TensorRT 10's ILoggerFinder and ILogger lay out differently from TensorRT 11's (and
//! TensorRT-RTX's), see common/tensorrt_abi.h: setLoggerFinder asks the runtime library that
//! calls it for its version, and the finder and its loggers are called through that layout.
#pragma once

#include <NvInferRuntime.h>

#include <string>

namespace trtops
{
namespace plugin
{

//! Keeps `finder` for log(). `caller`: a code address in the library that handed the finder over
//! (TensorRT's loadLibrary); its getInferLibVersion tells the finder's layout. When the caller
//! exports no version (an application calling setLoggerFinder itself), the finder is taken to
//! have the layout of the headers this library was compiled with.
void setLoggerFinder(nvinfer1::ILoggerFinder* finder, void const* caller) noexcept;

void log(nvinfer1::ILogger::Severity severity, std::string const& message) noexcept;

inline void logError(std::string const& message) noexcept
{
    log(nvinfer1::ILogger::Severity::kERROR, message);
}
inline void logWarning(std::string const& message) noexcept
{
    log(nvinfer1::ILogger::Severity::kWARNING, message);
}
inline void logVerbose(std::string const& message) noexcept
{
    log(nvinfer1::ILogger::Severity::kVERBOSE, message);
}

} // namespace plugin
} // namespace trtops
