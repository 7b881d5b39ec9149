#include "nms/NmsPlugin.h"

#include <cmath>
#include <limits>

namespace trtops
{
namespace plugin
{
namespace
{

constexpr int32_t kBOXES = 0;
constexpr int32_t kSCORES = 1;
constexpr int32_t kIDXS = 2;

bool isBoxType(nvinfer1::DataType type)
{
    return type == nvinfer1::DataType::kFLOAT || type == nvinfer1::DataType::kHALF;
}

bool isIndexType(nvinfer1::DataType type)
{
    return type == nvinfer1::DataType::kINT32 || type == nvinfer1::DataType::kINT64;
}

} // namespace

template <bool kBATCHED>
std::vector<nvinfer1::PluginField> NmsPlugin<kBATCHED>::fieldNames()
{
    return {
        {"iou_threshold", nullptr, nvinfer1::PluginFieldType::kFLOAT32, 1},
        {"score_threshold", nullptr, nvinfer1::PluginFieldType::kFLOAT32, 1},
        {"max_output_boxes", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"padded", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
        {"index_int32", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
    };
}

template <bool kBATCHED>
Status NmsPlugin<kBATCHED>::create(nvinfer1::PluginFieldCollection const* fields, std::unique_ptr<NmsPlugin>& plugin)
{
    NmsFields values;
    FieldReader reader(fields);
    TRTOPS_RETURN_IF_ERROR(reader.readFloat("iou_threshold", values.iouThreshold, true));
    float scoreThreshold = std::numeric_limits<float>::quiet_NaN();
    TRTOPS_RETURN_IF_ERROR(reader.readFloat("score_threshold", scoreThreshold, false));
    if (!std::isnan(scoreThreshold))
    {
        values.scoreThreshold = scoreThreshold;
        values.hasScoreThreshold = 1;
    }
    TRTOPS_RETURN_IF_ERROR(
        reader.readInt("max_output_boxes", values.maxOutputBoxes, false, -1, std::numeric_limits<int32_t>::max()));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("padded", values.padded, false, 0, 1));
    TRTOPS_RETURN_IF_ERROR(reader.readInt("index_int32", values.indexInt32, false, 0, 1));
    TRTOPS_RETURN_IF_ERROR(reader.rejectUnknown());
    if (values.padded != 0 && values.maxOutputBoxes < 1)
    {
        return invalidArgument("field 'padded' needs 'max_output_boxes' >= 1 (the static output size), got ",
            values.maxOutputBoxes);
    }
    plugin = std::make_unique<NmsPlugin>(values);
    return Status::ok();
}

template <bool kBATCHED>
NmsPlugin<kBATCHED>::NmsPlugin(NmsFields const& fields)
    : PluginBase(kNAME)
    , mFields(fields)
{
}

template <bool kBATCHED>
nvinfer1::IPluginV3* NmsPlugin<kBATCHED>::clone() noexcept
{
    try
    {
        auto copy = std::make_unique<NmsPlugin>(mFields);
        copy->mParams = mParams;
        copy->mWorkspaceSize = mWorkspaceSize;
        return copy.release();
    }
    catch (...)
    {
        logError(std::string(kNAME) + "::clone: out of memory");
        return nullptr;
    }
}

template <bool kBATCHED>
Status NmsPlugin<kBATCHED>::checkCounts(int32_t nbInputs, int32_t nbOutputs)
{
    if (nbInputs != kNB_INPUTS || nbOutputs != 2)
    {
        return invalidArgument("expected ", kNB_INPUTS, kBATCHED ? " inputs (boxes, scores, idxs)" : " inputs (boxes, scores)",
            " and 2 outputs (indices, count), got ", nbInputs, " and ", nbOutputs);
    }
    return Status::ok();
}

template <bool kBATCHED>
int32_t NmsPlugin<kBATCHED>::getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
    nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    bool const ok = guarded(kNAME, "getOutputDataTypes", [&]() -> Status {
        TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
        if (!isBoxType(inputTypes[kBOXES]) || !isBoxType(inputTypes[kSCORES]))
        {
            return invalidArgument("boxes and scores must be float32 or float16, got ", typeName(inputTypes[kBOXES]),
                " and ", typeName(inputTypes[kSCORES]));
        }
        if (kBATCHED && !isIndexType(inputTypes[kIDXS]))
        {
            return invalidArgument("idxs must be int32 or int64, got ", typeName(inputTypes[kIDXS]));
        }
        outputTypes[0] = mFields.indexInt32 != 0 ? nvinfer1::DataType::kINT32 : nvinfer1::DataType::kINT64;
        outputTypes[1] = nvinfer1::DataType::kINT64;
        return Status::ok();
    });
    return ok ? 0 : -1;
}

template <bool kBATCHED>
int32_t NmsPlugin<kBATCHED>::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const*, int32_t, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
    nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    bool const ok = guarded(kNAME, "getOutputShapes", [&]() -> Status {
        TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
        nvinfer1::DimsExprs const& boxes = inputs[kBOXES];
        if (boxes.nbDims != 2 || (boxes.d[1]->isConstant() && boxes.d[1]->getConstantValue() != 4))
        {
            return invalidArgument("boxes must be [N, 4]");
        }
        for (int32_t i = 1; i < nbInputs; ++i)
        {
            if (inputs[i].nbDims != 1)
            {
                return invalidArgument(i == kSCORES ? "scores" : "idxs", " must be 1-D [N], got ", inputs[i].nbDims,
                    " dims");
            }
            if (inputs[i].d[0]->isConstant() && boxes.d[0]->isConstant()
                && inputs[i].d[0]->getConstantValue() != boxes.d[0]->getConstantValue())
            {
                return invalidArgument(i == kSCORES ? "scores" : "idxs", " has ", inputs[i].d[0]->getConstantValue(),
                    " entries but boxes has ", boxes.d[0]->getConstantValue());
            }
        }
        outputs[1].nbDims = 0; // the count
        outputs[0].nbDims = 1;
        if (mFields.padded != 0)
        {
            outputs[0].d[0] = exprBuilder.constant(mFields.maxOutputBoxes);
            return Status::ok();
        }
        nvinfer1::IDimensionExpr const* upper = boxes.d[0];
        if (mFields.maxOutputBoxes >= 0)
        {
            upper = exprBuilder.operation(
                nvinfer1::DimensionOperation::kMIN, *upper, *exprBuilder.constant(mFields.maxOutputBoxes));
        }
        // Auto-tuning guess: half the candidates survive.
        auto const* opt = exprBuilder.operation(nvinfer1::DimensionOperation::kCEIL_DIV, *upper, *exprBuilder.constant(2));
        outputs[0].d[0] = exprBuilder.declareSizeTensor(1, *opt, *upper);
        return outputs[0].d[0] != nullptr ? Status::ok() : invalidArgument("declareSizeTensor failed");
    });
    return ok ? 0 : -1;
}

template <bool kBATCHED>
bool NmsPlugin<kBATCHED>::supportsFormatCombination(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNB_INPUTS || nbOutputs != 2 || pos < 0 || pos >= nbInputs + nbOutputs)
    {
        return false;
    }
    nvinfer1::PluginTensorDesc const& desc = inOut[pos].desc;
    if (desc.format != nvinfer1::TensorFormat::kLINEAR)
    {
        return false;
    }
    if (pos == kBOXES || pos == kSCORES)
    {
        return isBoxType(desc.type);
    }
    if (pos < nbInputs)
    {
        return isIndexType(desc.type); // idxs
    }
    if (pos == nbInputs)
    {
        return desc.type == (mFields.indexInt32 != 0 ? nvinfer1::DataType::kINT32 : nvinfer1::DataType::kINT64);
    }
    return desc.type == nvinfer1::DataType::kINT64;
}

template <bool kBATCHED>
Status NmsPlugin<kBATCHED>::makeParams(int64_t numBoxes, nvinfer1::DataType boxType, nvinfer1::DataType scoreType,
    nvinfer1::DataType classType, NmsParams& params) const
{
    std::optional<DataType> const boxes = kernelType(boxType);
    std::optional<DataType> const scores = kernelType(scoreType);
    std::optional<DataType> const classes = kernelType(classType);
    if (!boxes || !scores || !classes)
    {
        return invalidArgument("unsupported input types");
    }
    params.numBoxes = numBoxes;
    params.iouThreshold = mFields.iouThreshold;
    params.hasScoreThreshold = mFields.hasScoreThreshold != 0;
    params.scoreThreshold = mFields.scoreThreshold;
    params.maxOutputBoxes = mFields.maxOutputBoxes;
    params.padded = mFields.padded != 0;
    params.batched = kBATCHED;
    params.boxType = *boxes;
    params.scoreType = *scores;
    params.classType = kBATCHED ? *classes : DataType::kINT64;
    params.indexType = mFields.indexInt32 != 0 ? DataType::kINT32 : DataType::kINT64;
    return validateNms(params);
}

template <bool kBATCHED>
Status NmsPlugin<kBATCHED>::makeParams(nvinfer1::PluginTensorDesc const* inputs, NmsParams& params) const
{
    if (inputs[kBOXES].dims.nbDims != 2 || inputs[kBOXES].dims.d[1] != 4)
    {
        return invalidArgument("boxes must be [N, 4]");
    }
    int64_t const numBoxes = inputs[kBOXES].dims.d[0];
    for (int32_t i = 1; i < kNB_INPUTS; ++i)
    {
        if (inputs[i].dims.nbDims != 1 || inputs[i].dims.d[0] != numBoxes)
        {
            return invalidArgument(
                i == kSCORES ? "scores" : "idxs", " has ", inputs[i].dims.d[0], " entries but boxes has ", numBoxes);
        }
    }
    nvinfer1::DataType const classType = kBATCHED ? inputs[kIDXS].type : nvinfer1::DataType::kINT64;
    return makeParams(numBoxes, inputs[kBOXES].type, inputs[kSCORES].type, classType, params);
}

template <bool kBATCHED>
Status NmsPlugin<kBATCHED>::paramsAtLargest(
    nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs, int32_t nbOutputs, NmsParams& params) const
{
    TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
    return makeParams(largestShapes(inputs, nbInputs).data(), params);
}

template <bool kBATCHED>
int32_t NmsPlugin<kBATCHED>::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const*, int32_t nbOutputs) noexcept
{
    NmsParams params{};
    return guarded(kNAME, "configurePlugin", [&] { return paramsAtLargest(in, nbInputs, nbOutputs, params); }) ? 0 : -1;
}

template <bool kBATCHED>
size_t NmsPlugin<kBATCHED>::getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const*, int32_t nbOutputs) const noexcept
{
    size_t size = 0;
    guarded(kNAME, "getWorkspaceSize", [&]() -> Status {
        NmsParams params{};
        TRTOPS_RETURN_IF_ERROR(paramsAtLargest(inputs, nbInputs, nbOutputs, params));
        // Device-independent: the engine may run on another GPU than the one (if any) it was built on.
        size = nmsWorkspaceSizeBound(params);
        return Status::ok();
    });
    return size;
}

template <bool kBATCHED>
int32_t NmsPlugin<kBATCHED>::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const*, int32_t nbOutputs) noexcept
{
    bool const ok = guarded(kNAME, "onShapeChange", [&]() -> Status {
        TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
        TRTOPS_RETURN_IF_ERROR(makeParams(in, mParams));
        // What getWorkspaceSize promised for these shapes (monotone in the box count, so TensorRT's
        // workspace, sized for the profile's largest shapes, holds at least this much).
        mWorkspaceSize = nmsWorkspaceSizeBound(mParams);
        return Status::ok();
    });
    return ok ? 0 : -1;
}

template <bool kBATCHED>
int32_t NmsPlugin<kBATCHED>::enqueue(nvinfer1::PluginTensorDesc const*, nvinfer1::PluginTensorDesc const*,
    void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept
{
    bool const ok = guarded(kNAME, "enqueue", [&] {
        void const* classes = kBATCHED ? inputs[kIDXS] : nullptr;
        return nmsForward(
            mParams, inputs[kBOXES], inputs[kSCORES], classes, outputs[0], outputs[1], workspace, mWorkspaceSize, stream);
    });
    return ok ? 0 : -1;
}

template <bool kBATCHED>
nvinfer1::PluginFieldCollection const* NmsPlugin<kBATCHED>::getFieldsToSerialize() noexcept
{
    mSerialized = FieldList{};
    mSerialized.addFloat("iou_threshold", &mFields.iouThreshold);
    if (mFields.hasScoreThreshold != 0)
    {
        mSerialized.addFloat("score_threshold", &mFields.scoreThreshold);
    }
    mSerialized.addInt("max_output_boxes", &mFields.maxOutputBoxes);
    mSerialized.addInt("padded", &mFields.padded);
    mSerialized.addInt("index_int32", &mFields.indexInt32);
    return mSerialized.collection();
}

template class NmsPlugin<false>;
template class NmsPlugin<true>;

} // namespace plugin
} // namespace trtops
