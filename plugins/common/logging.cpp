#include "common/logging.h"

#include "common/tensorrt_abi.h"

#include <atomic>
#include <cstdint>
#include <cstdio>

namespace trtops
{
namespace plugin
{
namespace
{

//! The finder (nullptr: none) and whether it has TensorRT 10's layout. setLoggerFinder writes the
//! layout first and publishes the finder after it (release), so log() (acquire) never reads a
//! finder with the layout of the one before.
std::atomic<void*> gFinder{nullptr};
std::atomic<bool> gFinderIsTensorRT10{false};

} // namespace

void setLoggerFinder(nvinfer1::ILoggerFinder* finder, void const* caller) noexcept
{
    gFinder.store(nullptr, std::memory_order_release);
    gFinderIsTensorRT10.store(finder != nullptr && hasTensorRT10Layout(runtimeVersionAt(caller)));
    gFinder.store(finder, std::memory_order_release);
}

void log(nvinfer1::ILogger::Severity severity, std::string const& message) noexcept
{
    std::string const text = "[trtops] " + message;
    void* const finder = gFinder.load(std::memory_order_acquire);
    bool const logged
        = finder != nullptr && logThroughFinder(finder, gFinderIsTensorRT10.load(), severity, text.c_str());
    if (!logged && severity <= nvinfer1::ILogger::Severity::kWARNING)
    {
        std::fprintf(stderr, "%s\n", text.c_str());
    }
}

} // namespace plugin
} // namespace trtops
