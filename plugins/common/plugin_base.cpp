#include "common/plugin_base.h"

namespace trtops
{
namespace plugin
{

nvinfer1::IPluginCapability* PluginBase::getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept
{
    switch (type)
    {
    case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
    case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
    case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
    }
    return nullptr;
}

bool isFeatureType(nvinfer1::DataType type)
{
    return type == nvinfer1::DataType::kFLOAT || type == nvinfer1::DataType::kHALF
        || type == nvinfer1::DataType::kBF16;
}

std::optional<DataType> kernelType(nvinfer1::DataType type)
{
    switch (type)
    {
    case nvinfer1::DataType::kFLOAT: return DataType::kFLOAT32;
    case nvinfer1::DataType::kHALF: return DataType::kFLOAT16;
    case nvinfer1::DataType::kBF16: return DataType::kBFLOAT16;
    case nvinfer1::DataType::kINT32: return DataType::kINT32;
    case nvinfer1::DataType::kINT64: return DataType::kINT64;
    default: return std::nullopt;
    }
}

bool isChannelsLastFeature(nvinfer1::PluginTensorDesc const& desc)
{
    if (desc.dims.nbDims != 4)
    {
        return false;
    }
    if (desc.format == nvinfer1::TensorFormat::kHWC)
    {
        return desc.type == nvinfer1::DataType::kFLOAT;
    }
    if (desc.format == nvinfer1::TensorFormat::kHWC8)
    {
        bool const halfType = desc.type == nvinfer1::DataType::kHALF || desc.type == nvinfer1::DataType::kBF16;
        return halfType && desc.dims.d[1] > 0 && desc.dims.d[1] % 8 == 0;
    }
    return false;
}

Layout featureLayout(nvinfer1::TensorFormat format)
{
    return format == nvinfer1::TensorFormat::kLINEAR ? Layout::kNCHW : Layout::kNHWC;
}

std::vector<nvinfer1::PluginTensorDesc> largestShapes(nvinfer1::DynamicPluginTensorDesc const* descs, int32_t count)
{
    std::vector<nvinfer1::PluginTensorDesc> largest(static_cast<size_t>(count));
    for (int32_t i = 0; i < count; ++i)
    {
        largest[i] = descs[i].desc;
        largest[i].dims = descs[i].max;
    }
    return largest;
}

char const* typeName(nvinfer1::DataType type)
{
    switch (type)
    {
    case nvinfer1::DataType::kFLOAT: return "float32";
    case nvinfer1::DataType::kHALF: return "float16";
    case nvinfer1::DataType::kBF16: return "bfloat16";
    case nvinfer1::DataType::kINT8: return "int8";
    case nvinfer1::DataType::kINT32: return "int32";
    case nvinfer1::DataType::kINT64: return "int64";
    case nvinfer1::DataType::kBOOL: return "bool";
    case nvinfer1::DataType::kUINT8: return "uint8";
    default: return "other";
    }
}

} // namespace plugin
} // namespace trtops
