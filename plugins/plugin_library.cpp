//! \file plugin_library.cpp
//! How the plugins reach a TensorRT plugin registry, and the one list of creators (per kernel
//! family built, see CMakeLists.txt).
//!
//! Two loading paths, one registration:
//! 1. IPluginRegistry::loadLibrary (trtops.load_plugins, `trtexec --dynamicPlugins`, C++
//!    applications) calls the exported getCreators + setLoggerFinder and registers the creators.
//! 2. A plain dlopen (polygraphy `--plugins`, `trtexec --staticPlugins`, ctypes.CDLL) runs this
//!    library's static initializer, which finds the process's TensorRT runtime without linking it
//!    (see findRegistry) and registers the creators with its getPluginRegistry().
//! When both happen (a dlopen'ed library later handed to loadLibrary, or loadLibrary's own dlopen
//! running the initializer), getCreators first takes back what the initializer registered, so
//! every creator is registered exactly once, by the path the caller asked for last.
#include "common/logging.h"
#include "common/plugin_creator.h"
#include "common/tensorrt_abi.h"

#if TRTOPS_WITH_ROI
#include "multi_scale_roi_align/MultiScaleRoIAlignPlugin.h"
#include "ps_roi_align/PSRoIAlignPlugin.h"
#include "ps_roi_pool/PSRoIPoolPlugin.h"
#include "roi_align/RoIAlignPlugin.h"
#include "roi_pool/RoIPoolPlugin.h"
#endif
#if TRTOPS_WITH_NMS
#include "nms/NmsPlugin.h"
#endif
#if TRTOPS_WITH_DEFORM_CONV
#include "deform_conv2d/DeformConv2dPlugin.h"
#endif

#include <NvInferRuntime.h>

#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
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
        std::vector<nvinfer1::IPluginCreatorInterface*> creators;
#if TRTOPS_WITH_NMS
        static PluginCreator<NmsSingleClassPlugin> sNms;
        static PluginCreator<BatchedNmsPlugin> sBatchedNms;
        creators.insert(creators.end(), {&sNms, &sBatchedNms});
#endif
#if TRTOPS_WITH_ROI
        static PluginCreator<RoIAlignPlugin> sRoIAlign;
        static PluginCreator<PSRoIAlignPlugin> sPSRoIAlign;
        static PluginCreator<RoIPoolPlugin> sRoIPool;
        static PluginCreator<PSRoIPoolPlugin> sPSRoIPool;
        static PluginCreator<MultiScaleRoIAlignPlugin> sMultiScaleRoIAlign;
        creators.insert(creators.end(), {&sRoIAlign, &sPSRoIAlign, &sRoIPool, &sPSRoIPool, &sMultiScaleRoIAlign});
#endif
#if TRTOPS_WITH_DEFORM_CONV
        static PluginCreator<DeformConv2dPlugin> sDeformConv2d;
        creators.push_back(&sDeformConv2d);
#endif
        return creators;
    }();
    return kCreators;
}

using GetRegistry = nvinfer1::IPluginRegistry* (*) ();

//! getPluginRegistry of a runtime library, with the runtime's version (its layout of
//! IPluginRegistry, common/tensorrt_abi.h); RTLD_NOLOAD only looks at libraries already loaded.
RuntimeRegistry registryOf(char const* library, int mode)
{
    void* handle = dlopen(library, mode);
    if (handle == nullptr)
    {
        return {};
    }
    auto getRegistry = reinterpret_cast<GetRegistry>(dlsym(handle, "getPluginRegistry"));
    nvinfer1::IPluginRegistry* registry = getRegistry != nullptr ? getRegistry() : nullptr;
    int32_t const version = runtimeVersionOfHandle(handle);
    if (registry == nullptr || (mode & RTLD_NOLOAD) != 0)
    {
        dlclose(handle); // keeps a library we loaded only when its registry is in use
    }
    return RuntimeRegistry(registry, version);
}

//! The plugin registry of the TensorRT runtime in this process. A runtime already loaded wins.
//! Otherwise (e.g. polygraphy dlopens plugin libraries before it imports TensorRT) the runtime is
//! loaded by its soname from the loader path: TensorRT-RTX first when
//! POLYGRAPHY_USE_TENSORRT_RTX=1 asks for it, else TensorRT 11, 10, then TensorRT-RTX (its
//! unversioned name is what trtops puts on LD_LIBRARY_PATH for the ONNX parser anyway).
//! None (false) when none is found: loadLibrary will come through getCreators later.
RuntimeRegistry findRegistry()
{
    std::vector<char const*> const loaded{"libnvinfer.so.11", "libnvinfer.so.10", "libtensorrt_rtx.so.1"};
    for (char const* library : loaded)
    {
        if (RuntimeRegistry registry = registryOf(library, RTLD_LAZY | RTLD_NOLOAD))
        {
            return registry;
        }
    }
    char const* wantsRtx = std::getenv("POLYGRAPHY_USE_TENSORRT_RTX");
    bool const rtxFirst = wantsRtx != nullptr && std::string(wantsRtx) == "1";
    std::vector<char const*> candidates{"libnvinfer.so.11", "libnvinfer.so.10"};
    std::vector<char const*> const rtx{"libtensorrt_rtx.so.1", "libtensorrt_rtx.so"};
    candidates.insert(rtxFirst ? candidates.begin() : candidates.end(), rtx.begin(), rtx.end());
    for (char const* library : candidates)
    {
        if (RuntimeRegistry registry = registryOf(library, RTLD_LAZY | RTLD_GLOBAL))
        {
            return registry;
        }
    }
    return {};
}

//! Creators the static initializer registered, and where.
struct AutoRegistration
{
    std::mutex mutex;
    RuntimeRegistry registry;
    std::vector<nvinfer1::IPluginCreatorInterface*> creators;
};

AutoRegistration& autoRegistration()
{
    static AutoRegistration sState;
    return sState;
}

void registerWithLoadedRuntime() noexcept
{
    try
    {
        RuntimeRegistry const registry = findRegistry();
        if (!registry)
        {
            return; // no runtime yet: loadLibrary will come through getCreators
        }
        AutoRegistration& state = autoRegistration();
        std::lock_guard<std::mutex> lock(state.mutex);
        for (nvinfer1::IPluginCreatorInterface* creator : allCreators())
        {
            // A creator already present (another copy of trtops, or an earlier registration) is
            // left alone; the registry reports the conflict itself.
            if (registry.registerCreator(*creator, kPLUGIN_NAMESPACE))
            {
                state.creators.push_back(creator);
            }
        }
        state.registry = registry;
    }
    catch (std::exception const& e)
    {
        logError(std::string("automatic plugin registration failed: ") + e.what());
    }
    catch (...)
    {
        logError("automatic plugin registration failed");
    }
}

//! Undoes registerWithLoadedRuntime so loadLibrary can register the creators itself.
void takeBackAutoRegistration() noexcept
{
    AutoRegistration& state = autoRegistration();
    std::lock_guard<std::mutex> lock(state.mutex);
    for (nvinfer1::IPluginCreatorInterface* creator : state.creators)
    {
        state.registry.deregisterCreator(*creator);
    }
    state.creators.clear();
    state.registry = RuntimeRegistry();
}

//! Runs registerWithLoadedRuntime when the library is dlopen'ed.
[[maybe_unused]] bool const kAUTO_REGISTERED = (registerWithLoadedRuntime(), true);

} // namespace
} // namespace plugin
} // namespace trtops

extern "C" __attribute__((visibility("default"))) nvinfer1::IPluginCreatorInterface* const* getCreators(
    int32_t& nbCreators)
{
    trtops::plugin::takeBackAutoRegistration();
    auto const& creators = trtops::plugin::allCreators();
    nbCreators = static_cast<int32_t>(creators.size());
    return creators.data();
}

// Called by the runtime's loadLibrary: the return address lies in that runtime's library, whose
// version tells the finder's layout (common/logging.h).
extern "C" __attribute__((visibility("default"))) void setLoggerFinder(nvinfer1::ILoggerFinder* finder)
{
    trtops::plugin::setLoggerFinder(finder, __builtin_return_address(0));
}
