//! Prints the binary layout of the TensorRT interfaces the trtops plugin library implements or
//! calls, as the TensorRT headers it is compiled against lay them out, one "name value" line each:
//! the vtable slot of every virtual function (Itanium C++ ABI: a pointer to a virtual member
//! function holds 1 + the slot's byte offset), the size and member offsets of the structs passed
//! between TensorRT and plugins, and the enum values that cross that boundary.
//! tests/abi/test_tensorrt_versions.py compiles it against several releases' headers and compares.
//! "mirror" lines give the slots of the library's own declarations of TensorRT 10's layout
//! (plugins/common/tensorrt_abi.h), which must be TensorRT 10's.
#include "common/tensorrt_abi.h"

#include <NvInferRuntime.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace
{

template <typename Method>
long slotOf(Method method)
{
    static_assert(sizeof(Method) == 2 * sizeof(std::uintptr_t), "Itanium C++ ABI member function pointer");
    std::uintptr_t words[2];
    std::memcpy(words, &method, sizeof(words));
    return (words[0] & 1U) != 0 ? static_cast<long>((words[0] - 1) / sizeof(void*)) : -1;
}

template <typename Member>
long offsetOf(Member member)
{
    std::ptrdiff_t offset = 0;
    static_assert(sizeof(Member) == sizeof(offset), "Itanium C++ ABI data member pointer");
    std::memcpy(&offset, &member, sizeof(offset));
    return static_cast<long>(offset);
}

//! Reaches the protected implementation pointer of IExprBuilder / IDimensionExpr, through which
//! their inline methods call into TensorRT.
struct ExprBuilderImpl : nvinfer1::IExprBuilder
{
    static long offset()
    {
        return offsetOf(&ExprBuilderImpl::mImpl);
    }
};
struct DimensionExprImpl : nvinfer1::IDimensionExpr
{
    static long offset()
    {
        return offsetOf(&DimensionExprImpl::mImpl);
    }
};

} // namespace

#define SLOT(cls, method) std::printf("slot %s::%s %ld\n", #cls, #method, slotOf(&nvinfer1::cls::method))
#define SLOT_AS(cls, method, type) \
    std::printf("slot %s::%s %ld\n", #cls, #method, slotOf(static_cast<type>(&nvinfer1::cls::method)))
#define SIZE(type) std::printf("size %s %zu\n", #type, sizeof(nvinfer1::type))
#define OFFSET(type, member) std::printf("offset %s::%s %zu\n", #type, #member, offsetof(nvinfer1::type, member))
#define VALUE(name) std::printf("value %s %ld\n", #name, static_cast<long>(nvinfer1::name))

int main()
{
    // What a plugin implements (TensorRT calls these slots of trtops' objects).
    SLOT(IVersionedInterface, getInterfaceInfo);
    SLOT(IPluginV3, getCapabilityInterface);
    SLOT(IPluginV3, clone);
    SLOT(IPluginV3OneCore, getPluginName);
    SLOT(IPluginV3OneCore, getPluginVersion);
    SLOT(IPluginV3OneCore, getPluginNamespace);
    SLOT(IPluginV3OneBuild, configurePlugin);
    SLOT(IPluginV3OneBuild, getOutputDataTypes);
    SLOT(IPluginV3OneBuild, getOutputShapes);
    SLOT(IPluginV3OneBuild, supportsFormatCombination);
    SLOT(IPluginV3OneBuild, getNbOutputs);
    SLOT(IPluginV3OneBuild, getWorkspaceSize);
    SLOT(IPluginV3OneBuild, getValidTactics);
    SLOT(IPluginV3OneBuild, getNbTactics);
    SLOT(IPluginV3OneBuild, getTimingCacheID);
    SLOT(IPluginV3OneBuild, getFormatCombinationLimit);
    SLOT(IPluginV3OneBuild, getMetadataString);
    SLOT(IPluginV3OneRuntime, setTactic);
    SLOT(IPluginV3OneRuntime, onShapeChange);
    SLOT(IPluginV3OneRuntime, enqueue);
    SLOT(IPluginV3OneRuntime, attachToContext);
    SLOT(IPluginV3OneRuntime, getFieldsToSerialize);
    SLOT(IPluginCreatorV3One, createPlugin);
    SLOT(IPluginCreatorV3One, getFieldNames);
    SLOT(IPluginCreatorV3One, getPluginName);
    SLOT(IPluginCreatorV3One, getPluginVersion);
    SLOT(IPluginCreatorV3One, getPluginNamespace);

    // What trtops calls on TensorRT's objects.
    SLOT_AS(IPluginRegistry, registerCreator,
        bool (nvinfer1::IPluginRegistry::*)(nvinfer1::IPluginCreatorInterface&, nvinfer1::AsciiChar const*) noexcept);
    SLOT_AS(IPluginRegistry, deregisterCreator,
        bool (nvinfer1::IPluginRegistry::*)(nvinfer1::IPluginCreatorInterface const&) noexcept);
    SLOT(apiv::VExprBuilder, constant);
    SLOT(apiv::VExprBuilder, operation);
    SLOT(apiv::VExprBuilder, declareSizeTensor);
    SLOT(apiv::VDimensionExpr, isConstant);
    SLOT(apiv::VDimensionExpr, getConstantValue);
    SLOT(apiv::VDimensionExpr, isSizeTensor);
    std::printf("offset IExprBuilder::mImpl %ld\n", ExprBuilderImpl::offset());
    std::printf("offset IDimensionExpr::mImpl %ld\n", DimensionExprImpl::offset());
    // Different from TensorRT 11 on in TensorRT 10 (no IVersionedInterface base); the library
    // calls them through the layout of the runtime that hands it the finder (common/logging.h).
    SLOT(ILoggerFinder, findLogger);
    SLOT(ILogger, log);
    namespace mirror = trtops::plugin::tensorrt10;
    std::printf("mirror ILoggerFinder::findLogger %ld\n", slotOf(&mirror::LoggerFinder::findLogger));
    std::printf("mirror ILogger::log %ld\n", slotOf(&mirror::Logger::log));
    std::printf("mirror IPluginRegistry::registerCreator %ld\n", slotOf(&mirror::PluginRegistry::registerCreator));
    std::printf("mirror IPluginRegistry::deregisterCreator %ld\n", slotOf(&mirror::PluginRegistry::deregisterCreator));

    // Structs between TensorRT and the plugins.
    SIZE(Dims);
    OFFSET(Dims, nbDims);
    OFFSET(Dims, d);
    SIZE(DimsExprs);
    OFFSET(DimsExprs, nbDims);
    OFFSET(DimsExprs, d);
    SIZE(PluginTensorDesc);
    OFFSET(PluginTensorDesc, dims);
    OFFSET(PluginTensorDesc, type);
    OFFSET(PluginTensorDesc, format);
    OFFSET(PluginTensorDesc, scale);
    SIZE(DynamicPluginTensorDesc);
    OFFSET(DynamicPluginTensorDesc, desc);
    OFFSET(DynamicPluginTensorDesc, min);
    OFFSET(DynamicPluginTensorDesc, max);
    OFFSET(DynamicPluginTensorDesc, opt);
    SIZE(PluginField);
    OFFSET(PluginField, name);
    OFFSET(PluginField, data);
    OFFSET(PluginField, type);
    OFFSET(PluginField, length);
    SIZE(PluginFieldCollection);
    OFFSET(PluginFieldCollection, nbFields);
    OFFSET(PluginFieldCollection, fields);
    SIZE(InterfaceInfo);
    OFFSET(InterfaceInfo, kind);
    OFFSET(InterfaceInfo, major);
    OFFSET(InterfaceInfo, minor);

    // Enum values that cross the boundary.
    VALUE(DataType::kFLOAT);
    VALUE(DataType::kHALF);
    VALUE(DataType::kINT8);
    VALUE(DataType::kINT32);
    VALUE(DataType::kBOOL);
    VALUE(DataType::kUINT8);
    VALUE(DataType::kBF16);
    VALUE(DataType::kINT64);
    VALUE(TensorFormat::kLINEAR);
    VALUE(TensorFormat::kHWC8);
    VALUE(TensorFormat::kHWC);
    VALUE(PluginFieldType::kFLOAT16);
    VALUE(PluginFieldType::kFLOAT32);
    VALUE(PluginFieldType::kFLOAT64);
    VALUE(PluginFieldType::kINT8);
    VALUE(PluginFieldType::kINT16);
    VALUE(PluginFieldType::kINT32);
    VALUE(PluginFieldType::kCHAR);
    VALUE(PluginFieldType::kINT64);
    VALUE(DimensionOperation::kSUM);
    VALUE(DimensionOperation::kPROD);
    VALUE(DimensionOperation::kSUB);
    VALUE(DimensionOperation::kFLOOR_DIV);
    VALUE(DimensionOperation::kCEIL_DIV);
    VALUE(DimensionOperation::kMIN);
    VALUE(PluginCapabilityType::kCORE);
    VALUE(PluginCapabilityType::kBUILD);
    VALUE(PluginCapabilityType::kRUNTIME);
    VALUE(TensorRTPhase::kBUILD);
    VALUE(TensorRTPhase::kRUNTIME);
    VALUE(ILogger::Severity::kERROR);
    VALUE(ILogger::Severity::kWARNING);
    VALUE(ILogger::Severity::kVERBOSE);
    return 0;
}
