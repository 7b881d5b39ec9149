#include "multi_scale_roi_align/MultiScaleRoIAlignPlugin.h"

#include <cmath>
#include <limits>

namespace trtops
{
namespace plugin
{

std::vector<nvinfer1::PluginField> MultiScaleRoIAlignPlugin::fieldNames()
{
    return {
        {"output_height", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"output_width", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"sampling_ratio", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"spatial_scales", nullptr, nvinfer1::PluginFieldType::kFLOAT32, MultiScaleRoIAlignParams::kMaxLevels},
        {"canonical_scale", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"canonical_level", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"aligned", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"level_mapper", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"finest_scale", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
    };
}

Status MultiScaleRoIAlignPlugin::create(
    nvinfer1::PluginFieldCollection const* fields, std::unique_ptr<MultiScaleRoIAlignPlugin>& plugin)
{
    MultiScaleRoIAlignFields values;
    FieldReader reader(fields);
    TRTOPS_RETURN_IF_ERROR(reader.readInt("output_height", values.outputHeight, true, 1, kMAX_OUTPUT_SIZE));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("output_width", values.outputWidth, true, 1, kMAX_OUTPUT_SIZE));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("sampling_ratio", values.samplingRatio, false,
        std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
    TRTOPS_RETURN_IF_ERROR(reader.readFloatArray(
        "spatial_scales", values.spatialScales, true, 1, MultiScaleRoIAlignParams::kMaxLevels));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("canonical_scale", values.canonicalScale, false, 1, 1 << 20));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("canonical_level", values.canonicalLevel, false, 0, 64));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("aligned", values.aligned, false, 0, 1));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("level_mapper", values.levelMapper, false, 0, 1));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("finest_scale", values.finestScale, false, 1, 1 << 20));
    TRTOPS_RETURN_IF_ERROR(reader.rejectUnknown());
    bool const torchvisionLevels = values.levelMapper == static_cast<int32_t>(LevelMapper::kTorchvision);
    for (size_t i = 0; i < values.spatialScales.size(); ++i)
    {
        float const scale = values.spatialScales[i];
        if (!(scale > 0.F) || !std::isfinite(scale))
        {
            return invalidArgument("field 'spatial_scales'[", i, "] must be positive and finite, got ", scale);
        }
        // torchvision infers every scale as 2^round(log2(feature_size / image_size)) and derives
        // its level range from the first and last; mmdet's mapper uses the scales only to pool.
        int exponent = 0;
        if (torchvisionLevels && std::frexp(scale, &exponent) != 0.5F)
        {
            return invalidArgument("field 'spatial_scales'[", i, "] must be a power of two, got ", scale);
        }
        if (torchvisionLevels && i > 0 && !(scale < values.spatialScales[i - 1]))
        {
            return invalidArgument("field 'spatial_scales' must decrease from the finest level, got ",
                values.spatialScales[i - 1], " then ", scale);
        }
    }
    plugin = std::make_unique<MultiScaleRoIAlignPlugin>(std::move(values));
    return Status::ok();
}

MultiScaleRoIAlignPlugin::MultiScaleRoIAlignPlugin(MultiScaleRoIAlignFields fields)
    : PluginBase(kNAME)
    , mFields(std::move(fields))
{
}

nvinfer1::IPluginV3* MultiScaleRoIAlignPlugin::clone() noexcept
{
    try
    {
        auto copy = std::make_unique<MultiScaleRoIAlignPlugin>(mFields);
        copy->mParams = mParams;
        return copy.release();
    }
    catch (...)
    {
        logError(std::string(kNAME) + "::clone: out of memory");
        return nullptr;
    }
}

Status MultiScaleRoIAlignPlugin::checkCounts(int32_t nbInputs, int32_t nbOutputs) const
{
    if (nbInputs != numLevels() + 1 || nbOutputs != 1)
    {
        return invalidArgument("expected ", numLevels(), " feature levels (one per spatial_scales entry) + rois = ",
            numLevels() + 1, " inputs and 1 output, got ", nbInputs, " and ", nbOutputs);
    }
    return Status::ok();
}

int32_t MultiScaleRoIAlignPlugin::getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
    nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    bool const ok = guarded(kNAME, "getOutputDataTypes", [&]() -> Status {
        TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
        for (int32_t level = 0; level < numLevels(); ++level)
        {
            if (!isFeatureType(inputTypes[level]) || inputTypes[level] != inputTypes[0])
            {
                return invalidArgument("every feature level must have the same type (float32, float16 or "
                                       "bfloat16); level ",
                    level, " is ", typeName(inputTypes[level]), ", level 0 is ", typeName(inputTypes[0]));
            }
        }
        outputTypes[0] = inputTypes[0];
        return Status::ok();
    });
    return ok ? 0 : -1;
}

int32_t MultiScaleRoIAlignPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const*, int32_t, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
    nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    bool const ok = guarded(kNAME, "getOutputShapes", [&]() -> Status {
        TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
        for (int32_t level = 0; level < numLevels(); ++level)
        {
            nvinfer1::DimsExprs const& feature = inputs[level];
            if (feature.nbDims != 4)
            {
                return invalidArgument("feature level ", level, " must be 4-D [N, C, H, W], got ", feature.nbDims,
                    " dims");
            }
            for (int32_t d : {0, 1})
            {
                nvinfer1::IDimensionExpr const* a = feature.d[d];
                nvinfer1::IDimensionExpr const* b = inputs[0].d[d];
                if (a->isConstant() && b->isConstant() && a->getConstantValue() != b->getConstantValue())
                {
                    return invalidArgument("feature level ", level, " has ", d == 0 ? "batch " : "channels ",
                        a->getConstantValue(), " but level 0 has ", b->getConstantValue());
                }
            }
        }
        nvinfer1::DimsExprs const& rois = inputs[numLevels()];
        if (rois.nbDims != 2)
        {
            return invalidArgument("rois must be 2-D [K, 5], got ", rois.nbDims, " dims");
        }
        if (rois.d[1]->isConstant() && rois.d[1]->getConstantValue() != 5)
        {
            return invalidArgument(
                "rois must have 5 columns (batch_index, x1, y1, x2, y2), got ", rois.d[1]->getConstantValue());
        }
        outputs[0].nbDims = 4;
        outputs[0].d[0] = rois.d[0];
        outputs[0].d[1] = inputs[0].d[1];
        outputs[0].d[2] = exprBuilder.constant(mFields.outputHeight);
        outputs[0].d[3] = exprBuilder.constant(mFields.outputWidth);
        return Status::ok();
    });
    return ok ? 0 : -1;
}

bool MultiScaleRoIAlignPlugin::supportsFormatCombination(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbInputs != numLevels() + 1 || nbOutputs != 1 || pos < 0 || pos > nbInputs)
    {
        return false;
    }
    // Levels and output share level 0's type and format: linear, or channels-last (NHWC path).
    nvinfer1::PluginTensorDesc const& desc = inOut[pos].desc;
    nvinfer1::PluginTensorDesc const& first = inOut[0].desc;
    bool const linear = desc.format == nvinfer1::TensorFormat::kLINEAR;
    if (pos == 0)
    {
        return isFeatureType(desc.type) && (linear || isChannelsLastFeature(desc));
    }
    if (pos == numLevels())
    {
        return linear && (desc.type == first.type || desc.type == nvinfer1::DataType::kFLOAT);
    }
    return desc.type == first.type && desc.format == first.format;
}

Status MultiScaleRoIAlignPlugin::makeParams(
    nvinfer1::PluginTensorDesc const* inputs, MultiScaleRoIAlignParams& params) const
{
    nvinfer1::PluginTensorDesc const& rois = inputs[numLevels()];
    std::optional<DataType> const featureType = kernelType(inputs[0].type);
    std::optional<DataType> const roiType = kernelType(rois.type);
    if (!featureType || !roiType)
    {
        return invalidArgument("unsupported tensor types ", typeName(inputs[0].type), " / ", typeName(rois.type));
    }
    if (rois.dims.nbDims != 2 || rois.dims.d[1] != 5)
    {
        return invalidArgument("rois must be [K, 5] (batch_index, x1, y1, x2, y2)");
    }
    for (int32_t level = 0; level < numLevels(); ++level)
    {
        if (inputs[level].dims.nbDims != 4)
        {
            return invalidArgument("feature level ", level, " must be 4-D, got ", inputs[level].dims.nbDims, " dims");
        }
    }
    params.numLevels = numLevels();
    params.batch = inputs[0].dims.d[0];
    params.channels = inputs[0].dims.d[1];
    for (int32_t level = 0; level < numLevels(); ++level)
    {
        nvinfer1::Dims const& dims = inputs[level].dims;
        if (dims.d[0] != params.batch || dims.d[1] != params.channels)
        {
            return invalidArgument("feature level ", level, " is [", dims.d[0], ", ", dims.d[1],
                ", ...] but level 0 is [", params.batch, ", ", params.channels, ", ...]");
        }
        params.heights[level] = dims.d[2];
        params.widths[level] = dims.d[3];
        params.scales[level] = mFields.spatialScales[level];
    }
    params.numRois = rois.dims.d[0];
    params.pooledHeight = mFields.outputHeight;
    params.pooledWidth = mFields.outputWidth;
    params.samplingRatio = mFields.samplingRatio;
    params.aligned = mFields.aligned != 0;
    params.canonicalScale = mFields.canonicalScale;
    params.canonicalLevel = mFields.canonicalLevel;
    params.levelMapper = static_cast<LevelMapper>(mFields.levelMapper);
    params.finestScale = mFields.finestScale;
    params.featureType = *featureType;
    params.roiType = *roiType;
    params.layout = featureLayout(inputs[0].format);
    return validateMultiScaleRoIAlign(params);
}

Status MultiScaleRoIAlignPlugin::paramsAtLargest(
    nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs, int32_t nbOutputs, MultiScaleRoIAlignParams& params) const
{
    TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
    return makeParams(largestShapes(inputs, nbInputs).data(), params);
}

int32_t MultiScaleRoIAlignPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const*, int32_t nbOutputs) noexcept
{
    MultiScaleRoIAlignParams params{};
    return guarded(kNAME, "configurePlugin", [&] { return paramsAtLargest(in, nbInputs, nbOutputs, params); }) ? 0 : -1;
}

size_t MultiScaleRoIAlignPlugin::getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const*, int32_t nbOutputs) const noexcept
{
    size_t size = 0;
    guarded(kNAME, "getWorkspaceSize", [&]() -> Status {
        MultiScaleRoIAlignParams params{};
        TRTOPS_RETURN_IF_ERROR(paramsAtLargest(inputs, nbInputs, nbOutputs, params));
        size = multiScaleRoIAlignWorkspaceSize(params);
        return Status::ok();
    });
    return size;
}

int32_t MultiScaleRoIAlignPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const*, int32_t nbOutputs) noexcept
{
    bool const ok = guarded(kNAME, "onShapeChange", [&]() -> Status {
        TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
        return makeParams(in, mParams);
    });
    return ok ? 0 : -1;
}

int32_t MultiScaleRoIAlignPlugin::enqueue(nvinfer1::PluginTensorDesc const*, nvinfer1::PluginTensorDesc const*,
    void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept
{
    bool const ok = guarded(kNAME, "enqueue", [&] {
        return multiScaleRoIAlignForward(mParams, inputs, inputs[numLevels()], outputs[0], workspace, stream);
    });
    return ok ? 0 : -1;
}

nvinfer1::PluginFieldCollection const* MultiScaleRoIAlignPlugin::getFieldsToSerialize() noexcept
{
    mSerialized = FieldList{};
    mSerialized.addInt("output_height", &mFields.outputHeight);
    mSerialized.addInt("output_width", &mFields.outputWidth);
    mSerialized.addInt("sampling_ratio", &mFields.samplingRatio);
    mSerialized.addFloatArray("spatial_scales", &mFields.spatialScales);
    mSerialized.addInt("canonical_scale", &mFields.canonicalScale);
    mSerialized.addInt("canonical_level", &mFields.canonicalLevel);
    mSerialized.addInt("aligned", &mFields.aligned);
    mSerialized.addInt("level_mapper", &mFields.levelMapper);
    mSerialized.addInt("finest_scale", &mFields.finestScale);
    return mSerialized.collection();
}

} // namespace plugin
} // namespace trtops
