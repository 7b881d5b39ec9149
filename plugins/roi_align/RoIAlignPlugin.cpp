#include "roi_align/RoIAlignPlugin.h"

#include <limits>

namespace trtops
{
namespace plugin
{
namespace
{

constexpr int32_t kINPUT = 0;
constexpr int32_t kROIS = 1;
constexpr int32_t kMAX_OUTPUT_SIZE = 4096;

bool isFeatureType(nvinfer1::DataType type)
{
    return type == nvinfer1::DataType::kFLOAT || type == nvinfer1::DataType::kHALF
        || type == nvinfer1::DataType::kBF16;
}

} // namespace

std::vector<nvinfer1::PluginField> RoIAlignPlugin::fieldNames()
{
    return {
        {"output_height", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"output_width", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"spatial_scale", nullptr, nvinfer1::PluginFieldType::kFLOAT32, 1},
        {"sampling_ratio", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"aligned", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
    };
}

Status RoIAlignPlugin::create(nvinfer1::PluginFieldCollection const* fields, std::unique_ptr<RoIAlignPlugin>& plugin)
{
    RoIAlignFields values;
    FieldReader reader(kNAME, fields);
    TRTOPS_RETURN_IF_ERROR(reader.readInt("output_height", values.outputHeight, true, 1, kMAX_OUTPUT_SIZE));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("output_width", values.outputWidth, true, 1, kMAX_OUTPUT_SIZE));
    TRTOPS_RETURN_IF_ERROR(reader.readFloat("spatial_scale", values.spatialScale, false));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("sampling_ratio", values.samplingRatio, false,
        std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("aligned", values.aligned, false, 0, 1));
    TRTOPS_RETURN_IF_ERROR(reader.rejectUnknown());
    if (!(values.spatialScale > 0.F))
    {
        return invalidArgument(kNAME, ": field 'spatial_scale' must be > 0, got ", values.spatialScale);
    }
    plugin = std::make_unique<RoIAlignPlugin>(values);
    return Status::ok();
}

RoIAlignPlugin::RoIAlignPlugin(RoIAlignFields const& fields)
    : PluginBase(kNAME)
    , mFields(fields)
{
}

nvinfer1::IPluginV3* RoIAlignPlugin::clone() noexcept
{
    try
    {
        auto copy = std::make_unique<RoIAlignPlugin>(mFields);
        copy->mParams = mParams;
        return copy.release();
    }
    catch (...)
    {
        logError(std::string(kNAME) + "::clone: out of memory");
        return nullptr;
    }
}

int32_t RoIAlignPlugin::getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
    nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    bool const ok = guarded(kNAME, "getOutputDataTypes", [&]() -> Status {
        if (nbInputs != 2 || nbOutputs != 1)
        {
            return invalidArgument("expected 2 inputs (input, rois) and 1 output, got ", nbInputs, " and ", nbOutputs);
        }
        if (!isFeatureType(inputTypes[kINPUT]))
        {
            return invalidArgument("input must be float32, float16 or bfloat16, got ", typeName(inputTypes[kINPUT]));
        }
        outputTypes[0] = inputTypes[kINPUT];
        return Status::ok();
    });
    return ok ? 0 : -1;
}

int32_t RoIAlignPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const*, int32_t, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
    nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    bool const ok = guarded(kNAME, "getOutputShapes", [&]() -> Status {
        if (nbInputs != 2 || nbOutputs != 1)
        {
            return invalidArgument("expected 2 inputs (input, rois) and 1 output, got ", nbInputs, " and ", nbOutputs);
        }
        nvinfer1::DimsExprs const& input = inputs[kINPUT];
        nvinfer1::DimsExprs const& rois = inputs[kROIS];
        if (input.nbDims != 4)
        {
            return invalidArgument("input must be 4-D [N, C, H, W], got ", input.nbDims, " dims");
        }
        if (rois.nbDims != 2)
        {
            return invalidArgument("rois must be 2-D [K, 5], got ", rois.nbDims, " dims");
        }
        if (rois.d[1]->isConstant() && rois.d[1]->getConstantValue() != 5)
        {
            return invalidArgument("rois must have 5 columns (batch_index, x1, y1, x2, y2), got ",
                rois.d[1]->getConstantValue());
        }
        outputs[0].nbDims = 4;
        outputs[0].d[0] = rois.d[0];
        outputs[0].d[1] = input.d[1];
        outputs[0].d[2] = exprBuilder.constant(mFields.outputHeight);
        outputs[0].d[3] = exprBuilder.constant(mFields.outputWidth);
        return Status::ok();
    });
    return ok ? 0 : -1;
}

bool RoIAlignPlugin::supportsFormatCombination(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbInputs != 2 || nbOutputs != 1 || pos < 0 || pos >= 3)
    {
        return false;
    }
    nvinfer1::PluginTensorDesc const& desc = inOut[pos].desc;
    if (desc.format != nvinfer1::TensorFormat::kLINEAR)
    {
        return false;
    }
    nvinfer1::DataType const featureType = inOut[kINPUT].desc.type;
    switch (pos)
    {
    case kINPUT: return isFeatureType(desc.type);
    case kROIS: return desc.type == featureType || desc.type == nvinfer1::DataType::kFLOAT;
    default: return desc.type == featureType;
    }
}

Status RoIAlignPlugin::makeParams(
    nvinfer1::PluginTensorDesc const& input, nvinfer1::PluginTensorDesc const& rois, RoIAlignParams& params) const
{
    std::optional<DataType> const featureType = kernelType(input.type);
    std::optional<DataType> const roiType = kernelType(rois.type);
    if (!featureType || !roiType)
    {
        return invalidArgument("unsupported tensor types ", typeName(input.type), " / ", typeName(rois.type));
    }
    params.batch = input.dims.d[0];
    params.channels = input.dims.d[1];
    params.height = input.dims.d[2];
    params.width = input.dims.d[3];
    params.numRois = rois.dims.d[0];
    params.pooledHeight = mFields.outputHeight;
    params.pooledWidth = mFields.outputWidth;
    params.spatialScale = mFields.spatialScale;
    params.samplingRatio = mFields.samplingRatio;
    params.aligned = mFields.aligned != 0;
    params.featureType = *featureType;
    params.roiType = *roiType;
    params.layout = Layout::kNCHW;
    return validateRoIAlign(params);
}

size_t RoIAlignPlugin::getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const*, int32_t) const noexcept
{
    size_t size = 0;
    guarded(kNAME, "getWorkspaceSize", [&]() -> Status {
        if (nbInputs != 2)
        {
            return invalidArgument("expected 2 inputs, got ", nbInputs);
        }
        nvinfer1::PluginTensorDesc input = inputs[kINPUT].desc;
        nvinfer1::PluginTensorDesc rois = inputs[kROIS].desc;
        input.dims = inputs[kINPUT].max;
        rois.dims = inputs[kROIS].max;
        RoIAlignParams params{};
        TRTOPS_RETURN_IF_ERROR(makeParams(input, rois, params));
        size = roiAlignWorkspaceSize(params);
        return Status::ok();
    });
    return size;
}

int32_t RoIAlignPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const*, int32_t nbOutputs) noexcept
{
    bool const ok = guarded(kNAME, "onShapeChange", [&]() -> Status {
        if (nbInputs != 2 || nbOutputs != 1)
        {
            return invalidArgument("expected 2 inputs and 1 output, got ", nbInputs, " and ", nbOutputs);
        }
        return makeParams(in[kINPUT], in[kROIS], mParams);
    });
    return ok ? 0 : -1;
}

int32_t RoIAlignPlugin::enqueue(nvinfer1::PluginTensorDesc const*, nvinfer1::PluginTensorDesc const*,
    void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept
{
    bool const ok = guarded(kNAME, "enqueue",
        [&] { return roiAlignForward(mParams, inputs[kINPUT], inputs[kROIS], outputs[0], workspace, stream); });
    return ok ? 0 : -1;
}

nvinfer1::PluginFieldCollection const* RoIAlignPlugin::getFieldsToSerialize() noexcept
{
    // Rebuilt on every call: the entries point at this object's members (clones have their own).
    mSerialized = FieldList{};
    mSerialized.addInt("output_height", &mFields.outputHeight);
    mSerialized.addInt("output_width", &mFields.outputWidth);
    mSerialized.addFloat("spatial_scale", &mFields.spatialScale);
    mSerialized.addInt("sampling_ratio", &mFields.samplingRatio);
    mSerialized.addInt("aligned", &mFields.aligned);
    return mSerialized.collection();
}

} // namespace plugin
} // namespace trtops
