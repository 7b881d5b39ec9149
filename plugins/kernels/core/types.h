//! \file types.h
//! Element types and layouts understood by every trtops kernel. The numeric values are part of the
//! C ABI (trtops/_native.py mirrors them): never renumber, only append.
#pragma once

#include <cstdint>

namespace trtops
{

enum class DataType : int32_t
{
    kFLOAT32 = 0,
    kFLOAT16 = 1,
    kBFLOAT16 = 2,
    kFLOAT64 = 3,
    kINT32 = 4,
    kINT64 = 5,
};

//! Memory layout of a 4-D feature map.
enum class Layout : int32_t
{
    kNCHW = 0, //!< linear, channels outermost after batch
    kNHWC = 1, //!< channels-last (TensorRT kHWC / kHWC8 with C padded to the vector width)
};

//! Size in bytes of one element, 0 for an unknown type.
constexpr int64_t elementSize(DataType type)
{
    switch (type)
    {
    case DataType::kFLOAT32: return 4;
    case DataType::kFLOAT16: return 2;
    case DataType::kBFLOAT16: return 2;
    case DataType::kFLOAT64: return 8;
    case DataType::kINT32: return 4;
    case DataType::kINT64: return 8;
    }
    return 0;
}

char const* dataTypeName(DataType type);

} // namespace trtops
