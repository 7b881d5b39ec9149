#include "core/c_api.h"
#include "core/c_api_support.h"

#include <cuda_runtime_api.h>

#include <string>

namespace trtops
{
namespace
{
thread_local std::string tLastErrorMessage;
} // namespace

int32_t reportStatus(Status const& status)
{
    if (status.isOk())
    {
        tLastErrorMessage.clear();
    }
    else
    {
        tLastErrorMessage = status.message();
    }
    return static_cast<int32_t>(status.code());
}

} // namespace trtops

char const* trtops_version(void)
{
    return TRTOPS_VERSION_STRING;
}

char const* trtops_last_error_message(void)
{
    return trtops::tLastErrorMessage.c_str();
}

int32_t trtops_cuda_runtime_version(void)
{
    return CUDART_VERSION;
}

int32_t trtops_cuda_device_count(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess)
    {
        cudaGetLastError(); // clear the sticky "no driver" error; the answer is simply 0
        return 0;
    }
    return count;
}
