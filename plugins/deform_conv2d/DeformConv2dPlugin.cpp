#include "deform_conv2d/DeformConv2dPlugin.h"

namespace trtops
{
namespace plugin
{
namespace
{

constexpr int32_t kMAX_GEOMETRY = 1 << 16;

//! (size + 2 pad - (dilation (kernel - 1) + 1)) / stride + 1 as a shape expression.
nvinfer1::IDimensionExpr const* outputExtent(nvinfer1::IExprBuilder& b, nvinfer1::IDimensionExpr const& size,
    nvinfer1::IDimensionExpr const& kernel, int32_t stride, int32_t pad, int32_t dilation)
{
    using Op = nvinfer1::DimensionOperation;
    auto const* span = b.operation(Op::kSUB, *b.operation(Op::kPROD, kernel, *b.constant(dilation)),
        *b.constant(dilation - 1));
    auto const* room = b.operation(Op::kSUB, *b.operation(Op::kSUM, size, *b.constant(2 * pad)), *span);
    return b.operation(Op::kSUM, *b.operation(Op::kFLOOR_DIV, *room, *b.constant(stride)), *b.constant(1));
}

} // namespace

std::vector<nvinfer1::PluginField> DeformConv2dPlugin::fieldNames()
{
    return {
        {"stride", nullptr, nvinfer1::PluginFieldType::kINT32, 2},
        {"padding", nullptr, nvinfer1::PluginFieldType::kINT32, 2},
        {"dilation", nullptr, nvinfer1::PluginFieldType::kINT32, 2},
        {"groups", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"offset_groups", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"has_bias", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"has_mask", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"allow_tf32", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
    };
}

Status DeformConv2dPlugin::create(
    nvinfer1::PluginFieldCollection const* fields, std::unique_ptr<DeformConv2dPlugin>& plugin)
{
    DeformConv2dFields values;
    FieldReader reader(fields);
    TRTOPS_RETURN_IF_ERROR(reader.readIntArray("stride", values.stride, false, 2, 1, kMAX_GEOMETRY));
    TRTOPS_RETURN_IF_ERROR(reader.readIntArray("padding", values.padding, false, 2, 0, kMAX_GEOMETRY));
    TRTOPS_RETURN_IF_ERROR(reader.readIntArray("dilation", values.dilation, false, 2, 1, kMAX_GEOMETRY));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("groups", values.groups, false, 1, kMAX_GEOMETRY));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("offset_groups", values.offsetGroups, false, 0, kMAX_GEOMETRY));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("has_bias", values.hasBias, false, 0, 1));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("has_mask", values.hasMask, false, 0, 1));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("allow_tf32", values.allowTf32, false, 0, 1));
    TRTOPS_RETURN_IF_ERROR(reader.rejectUnknown());
    plugin = std::make_unique<DeformConv2dPlugin>(std::move(values));
    return Status::ok();
}

DeformConv2dPlugin::DeformConv2dPlugin(DeformConv2dFields fields)
    : PluginBase(kNAME)
    , mFields(std::move(fields))
{
}

nvinfer1::IPluginV3* DeformConv2dPlugin::clone() noexcept
{
    try
    {
        auto copy = std::make_unique<DeformConv2dPlugin>(mFields);
        copy->mParams = mParams;
        return copy.release();
    }
    catch (...)
    {
        logError(std::string(kNAME) + "::clone: out of memory");
        return nullptr;
    }
}

Status DeformConv2dPlugin::checkCounts(int32_t nbInputs, int32_t nbOutputs) const
{
    if (nbInputs != numInputs() || nbOutputs != 1)
    {
        return invalidArgument("expected ", numInputs(), " inputs (input, offset, weight",
            mFields.hasBias != 0 ? ", bias" : "", mFields.hasMask != 0 ? ", mask" : "", ") and 1 output, got ",
            nbInputs, " and ", nbOutputs, " (check the has_bias / has_mask fields)");
    }
    return Status::ok();
}

int32_t DeformConv2dPlugin::getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
    nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    bool const ok = guarded(kNAME, "getOutputDataTypes", [&]() -> Status {
        TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
        for (int32_t i = 0; i < nbInputs; ++i)
        {
            if (!isFeatureType(inputTypes[i]) || inputTypes[i] != inputTypes[kINPUT])
            {
                return invalidArgument("every input must have the input's type (float32, float16 or bfloat16); "
                                       "input ",
                    i, " is ", typeName(inputTypes[i]), ", input 0 is ", typeName(inputTypes[kINPUT]));
            }
        }
        outputTypes[0] = inputTypes[kINPUT];
        return Status::ok();
    });
    return ok ? 0 : -1;
}

int32_t DeformConv2dPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const*, int32_t, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
    nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    bool const ok = guarded(kNAME, "getOutputShapes", [&]() -> Status {
        TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
        char const* const names[] = {"input", "offset", "weight"};
        for (int32_t i = 0; i < 3; ++i)
        {
            if (inputs[i].nbDims != 4)
            {
                return invalidArgument(names[i], " must be 4-D, got ", inputs[i].nbDims, " dims");
            }
        }
        if (biasIndex() >= 0 && inputs[biasIndex()].nbDims != 1)
        {
            return invalidArgument("bias must be 1-D [C_out], got ", inputs[biasIndex()].nbDims, " dims");
        }
        if (maskIndex() >= 0 && inputs[maskIndex()].nbDims != 4)
        {
            return invalidArgument("mask must be 4-D, got ", inputs[maskIndex()].nbDims, " dims");
        }
        nvinfer1::DimsExprs const& input = inputs[kINPUT];
        nvinfer1::DimsExprs const& weight = inputs[kWEIGHT];
        outputs[0].nbDims = 4;
        outputs[0].d[0] = input.d[0];
        outputs[0].d[1] = weight.d[0];
        outputs[0].d[2]
            = outputExtent(exprBuilder, *input.d[2], *weight.d[2], mFields.stride[0], mFields.padding[0], mFields.dilation[0]);
        outputs[0].d[3]
            = outputExtent(exprBuilder, *input.d[3], *weight.d[3], mFields.stride[1], mFields.padding[1], mFields.dilation[1]);
        return Status::ok();
    });
    return ok ? 0 : -1;
}

bool DeformConv2dPlugin::supportsFormatCombination(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbInputs != numInputs() || nbOutputs != 1 || pos < 0 || pos > nbInputs)
    {
        return false;
    }
    nvinfer1::PluginTensorDesc const& desc = inOut[pos].desc;
    if (desc.format != nvinfer1::TensorFormat::kLINEAR)
    {
        return false;
    }
    return pos == kINPUT ? isFeatureType(desc.type) : desc.type == inOut[kINPUT].desc.type;
}

Status DeformConv2dPlugin::makeParams(nvinfer1::PluginTensorDesc const* inputs, DeformConv2dParams& params) const
{
    std::optional<DataType> const type = kernelType(inputs[kINPUT].type);
    if (!type)
    {
        return invalidArgument("unsupported input type ", typeName(inputs[kINPUT].type));
    }
    nvinfer1::Dims const& input = inputs[kINPUT].dims;
    nvinfer1::Dims const& offset = inputs[kOFFSET].dims;
    nvinfer1::Dims const& weight = inputs[kWEIGHT].dims;
    if (input.nbDims != 4 || offset.nbDims != 4 || weight.nbDims != 4
        || (maskIndex() >= 0 && inputs[maskIndex()].dims.nbDims != 4)
        || (biasIndex() >= 0 && inputs[biasIndex()].dims.nbDims != 1))
    {
        return invalidArgument("input, offset, weight and mask must be 4-D and bias 1-D");
    }
    params.batch = input.d[0];
    params.inChannels = input.d[1];
    params.height = input.d[2];
    params.width = input.d[3];
    params.outChannels = weight.d[0];
    params.kernelHeight = static_cast<int32_t>(weight.d[2]);
    params.kernelWidth = static_cast<int32_t>(weight.d[3]);
    params.strideH = mFields.stride[0];
    params.strideW = mFields.stride[1];
    params.padH = mFields.padding[0];
    params.padW = mFields.padding[1];
    params.dilationH = mFields.dilation[0];
    params.dilationW = mFields.dilation[1];
    params.groups = mFields.groups;
    params.hasBias = mFields.hasBias != 0;
    params.hasMask = mFields.hasMask != 0;
    params.outHeight = deformConv2dOutputSize(
        params.height, params.kernelHeight, params.strideH, params.padH, params.dilationH);
    params.outWidth
        = deformConv2dOutputSize(params.width, params.kernelWidth, params.strideW, params.padW, params.dilationW);
    params.dataType = *type;
    params.allowTf32 = mFields.allowTf32 != 0;

    int64_t const taps = static_cast<int64_t>(params.kernelHeight) * params.kernelWidth;
    if (taps <= 0 || offset.d[1] % (2 * taps) != 0)
    {
        return invalidArgument("offset channels (", offset.d[1], ") must be a multiple of 2 * kernel taps (",
            2 * taps, ")");
    }
    int64_t const inferredGroups = offset.d[1] / (2 * taps);
    if (mFields.offsetGroups != 0 && mFields.offsetGroups != inferredGroups)
    {
        return invalidArgument("field 'offset_groups' is ", mFields.offsetGroups, " but the offset has ",
            offset.d[1], " channels = 2 * ", inferredGroups, " groups * ", taps, " taps");
    }
    params.offsetGroups = static_cast<int32_t>(inferredGroups);
    if (weight.d[1] * params.groups != params.inChannels)
    {
        return invalidArgument("weight is [", weight.d[0], ", ", weight.d[1], ", ...] but input has ",
            params.inChannels, " channels and groups is ", params.groups, " (need weight.shape[1] * groups == C_in)");
    }
    if (offset.d[0] != params.batch || offset.d[2] != params.outHeight || offset.d[3] != params.outWidth)
    {
        return invalidArgument("offset must be [", params.batch, ", ", offset.d[1], ", ", params.outHeight, ", ",
            params.outWidth, "], got [", offset.d[0], ", ", offset.d[1], ", ", offset.d[2], ", ", offset.d[3], "]");
    }
    if (params.hasMask)
    {
        nvinfer1::Dims const& mask = inputs[maskIndex()].dims;
        if (mask.d[0] != params.batch || mask.d[1] != inferredGroups * taps || mask.d[2] != params.outHeight
            || mask.d[3] != params.outWidth)
        {
            return invalidArgument("mask must be [", params.batch, ", ", inferredGroups * taps, ", ",
                params.outHeight, ", ", params.outWidth, "], got [", mask.d[0], ", ", mask.d[1], ", ", mask.d[2],
                ", ", mask.d[3], "]");
        }
    }
    if (params.hasBias && inputs[biasIndex()].dims.d[0] != params.outChannels)
    {
        return invalidArgument(
            "bias must have ", params.outChannels, " elements, got ", inputs[biasIndex()].dims.d[0]);
    }
    return validateDeformConv2d(params);
}

Status DeformConv2dPlugin::paramsAtLargest(
    nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs, int32_t nbOutputs, DeformConv2dParams& params) const
{
    TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
    return makeParams(largestShapes(inputs, nbInputs).data(), params);
}

int32_t DeformConv2dPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const*, int32_t nbOutputs) noexcept
{
    DeformConv2dParams params{};
    return guarded(kNAME, "configurePlugin", [&] { return paramsAtLargest(in, nbInputs, nbOutputs, params); }) ? 0 : -1;
}

size_t DeformConv2dPlugin::getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const*, int32_t nbOutputs) const noexcept
{
    size_t size = 0;
    guarded(kNAME, "getWorkspaceSize", [&]() -> Status {
        DeformConv2dParams params{};
        TRTOPS_RETURN_IF_ERROR(paramsAtLargest(inputs, nbInputs, nbOutputs, params));
        size = deformConv2dWorkspaceSize(params);
        return Status::ok();
    });
    return size;
}

int32_t DeformConv2dPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const*, int32_t nbOutputs) noexcept
{
    bool const ok = guarded(kNAME, "onShapeChange", [&]() -> Status {
        TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
        return makeParams(in, mParams);
    });
    return ok ? 0 : -1;
}

int32_t DeformConv2dPlugin::enqueue(nvinfer1::PluginTensorDesc const*, nvinfer1::PluginTensorDesc const*,
    void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept
{
    bool const ok = guarded(kNAME, "enqueue", [&] {
        void const* bias = biasIndex() >= 0 ? inputs[biasIndex()] : nullptr;
        void const* mask = maskIndex() >= 0 ? inputs[maskIndex()] : nullptr;
        return deformConv2dForward(
            mParams, inputs[kINPUT], inputs[kOFFSET], mask, inputs[kWEIGHT], bias, outputs[0], workspace, stream);
    });
    return ok ? 0 : -1;
}

nvinfer1::PluginFieldCollection const* DeformConv2dPlugin::getFieldsToSerialize() noexcept
{
    mSerialized = FieldList{};
    mSerialized.addIntArray("stride", &mFields.stride);
    mSerialized.addIntArray("padding", &mFields.padding);
    mSerialized.addIntArray("dilation", &mFields.dilation);
    mSerialized.addInt("groups", &mFields.groups);
    mSerialized.addInt("offset_groups", &mFields.offsetGroups);
    mSerialized.addInt("has_bias", &mFields.hasBias);
    mSerialized.addInt("has_mask", &mFields.hasMask);
    mSerialized.addInt("allow_tf32", &mFields.allowTf32);
    return mSerialized.collection();
}

} // namespace plugin
} // namespace trtops
