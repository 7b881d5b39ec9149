//! \file logging.h
//! Messages from the plugins go to the logger of the TensorRT builder/runtime that called them,
//! found through the ILoggerFinder TensorRT hands the library (setLoggerFinder). Without one
//! (e.g. the library was dlopen'ed by hand), errors go to stderr so they are never lost.
#pragma once

#include <NvInferRuntime.h>

#include <string>

namespace trtops
{
namespace plugin
{

void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept;

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
