#include "core/status.h"
#include "core/types.h"

namespace trtops
{

char const* dataTypeName(DataType type)
{
    switch (type)
    {
    case DataType::kFLOAT32: return "float32";
    case DataType::kFLOAT16: return "float16";
    case DataType::kBFLOAT16: return "bfloat16";
    case DataType::kFLOAT64: return "float64";
    case DataType::kINT32: return "int32";
    case DataType::kINT64: return "int64";
    }
    return "unknown";
}

Status cudaStatus(cudaError_t result, char const* what)
{
    if (result == cudaSuccess)
    {
        return Status::ok();
    }
    std::ostringstream os;
    os << what << " failed: " << cudaGetErrorName(result) << " (" << cudaGetErrorString(result) << ")";
    return Status{StatusCode::kCUDA_ERROR, os.str()};
}

Status lastLaunchStatus(char const* kernelName)
{
    return cudaStatus(cudaGetLastError(), kernelName);
}

} // namespace trtops
