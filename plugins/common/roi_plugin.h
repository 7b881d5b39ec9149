//! \file roi_plugin.h
//! One IPluginV3 implementation for the four single-level RoI operators (RoIAlign, PSRoIAlign,
//! RoIPool, PSRoIPool): inputs (input [N, C, H, W], rois [K, 5]), output [K, C_out, ph, pw].
//! An operator plugs in through a traits struct `Op`:
//!
//!   static constexpr char const* kNAME;
//!   static constexpr bool kHAS_SAMPLING_RATIO, kHAS_ALIGNED, kPOSITION_SENSITIVE;
//!   static constexpr bool kCHANNELS_LAST;  // the kernel has an NHWC path (input and output)
//!   using Params = ...;  // the kernel's params struct (batch, channels, ..., layout)
//!   static Status validate(Params const&);
//!   static size_t workspaceSize(Params const&);
//!   static Status forward(Params const&, void const* input, void const* rois, void* output,
//!                         void* workspace, cudaStream_t stream);
//!
//! Position-sensitive operators output C / (ph * pw) channels and require C divisible by ph * pw.
#pragma once

#include "common/fields.h"
#include "common/plugin_base.h"

#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace trtops
{
namespace plugin
{

//! Fields of the RoI plugins, with torchvision's defaults where torchvision has one.
struct RoIFields
{
    int32_t outputHeight{0};   //!< required, in [1, kMAX_OUTPUT_SIZE]
    int32_t outputWidth{0};    //!< required, in [1, kMAX_OUTPUT_SIZE]
    float spatialScale{1.F};   //!< > 0
    int32_t samplingRatio{-1}; //!< align ops only; <= 0: adaptive ceil(roi_size / output_size)
    int32_t aligned{0};        //!< RoIAlign only; 0 or 1: half-pixel offset
};

template <typename Op>
class RoIPlugin : public PluginBase
{
public:
    static constexpr char const* kNAME = Op::kNAME;

    static std::vector<nvinfer1::PluginField> fieldNames()
    {
        std::vector<nvinfer1::PluginField> names{
            {"output_height", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
            {"output_width", nullptr, nvinfer1::PluginFieldType::kINT32, 1},
            {"spatial_scale", nullptr, nvinfer1::PluginFieldType::kFLOAT32, 1},
        };
        if (Op::kHAS_SAMPLING_RATIO)
        {
            names.emplace_back("sampling_ratio", nullptr, nvinfer1::PluginFieldType::kINT32, 1);
        }
        if (Op::kHAS_ALIGNED)
        {
            names.emplace_back("aligned", nullptr, nvinfer1::PluginFieldType::kINT32, 1);
        }
        return names;
    }

    static Status create(nvinfer1::PluginFieldCollection const* fields, std::unique_ptr<RoIPlugin>& plugin)
    {
        RoIFields values;
        FieldReader reader(fields);
        TRTOPS_RETURN_IF_ERROR(reader.readInt("output_height", values.outputHeight, true, 1, kMAX_OUTPUT_SIZE));
        TRTOPS_RETURN_IF_ERROR(reader.readInt("output_width", values.outputWidth, true, 1, kMAX_OUTPUT_SIZE));
        TRTOPS_RETURN_IF_ERROR(reader.readFloat("spatial_scale", values.spatialScale, false));
        if (Op::kHAS_SAMPLING_RATIO)
        {
            TRTOPS_RETURN_IF_ERROR(reader.readInt("sampling_ratio", values.samplingRatio, false,
                std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
        }
        if (Op::kHAS_ALIGNED)
        {
            TRTOPS_RETURN_IF_ERROR(reader.readInt("aligned", values.aligned, false, 0, 1));
        }
        TRTOPS_RETURN_IF_ERROR(reader.rejectUnknown());
        if (!(values.spatialScale > 0.F))
        {
            return invalidArgument("field 'spatial_scale' must be > 0, got ", values.spatialScale);
        }
        plugin = std::make_unique<RoIPlugin>(values);
        return Status::ok();
    }

    explicit RoIPlugin(RoIFields const& fields)
        : PluginBase(kNAME)
        , mFields(fields)
    {
    }

    nvinfer1::IPluginV3* clone() noexcept override
    {
        try
        {
            auto copy = std::make_unique<RoIPlugin>(mFields);
            copy->mParams = mParams;
            return copy.release();
        }
        catch (...)
        {
            logError(std::string(kNAME) + "::clone: out of memory");
            return nullptr;
        }
    }

    int32_t getNbOutputs() const noexcept override
    {
        return 1;
    }

    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
        nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override
    {
        bool const ok = guarded(kNAME, "getOutputDataTypes", [&]() -> Status {
            TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
            if (!isFeatureType(inputTypes[kINPUT]))
            {
                return invalidArgument(
                    "input must be float32, float16 or bfloat16, got ", typeName(inputTypes[kINPUT]));
            }
            outputTypes[0] = inputTypes[kINPUT];
            return Status::ok();
        });
        return ok ? 0 : -1;
    }

    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const*,
        int32_t, nvinfer1::DimsExprs* outputs, int32_t nbOutputs, nvinfer1::IExprBuilder& exprBuilder) noexcept override
    {
        bool const ok = guarded(kNAME, "getOutputShapes", [&]() -> Status {
            TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
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
            if (Op::kPOSITION_SENSITIVE)
            {
                int64_t const bins = static_cast<int64_t>(mFields.outputHeight) * mFields.outputWidth;
                if (input.d[1]->isConstant() && input.d[1]->getConstantValue() % bins != 0)
                {
                    return invalidArgument("input channels (", input.d[1]->getConstantValue(),
                        ") must be a multiple of output_height * output_width (", bins, ")");
                }
                outputs[0].d[1] = exprBuilder.operation(
                    nvinfer1::DimensionOperation::kFLOOR_DIV, *input.d[1], *exprBuilder.constant(bins));
            }
            outputs[0].d[2] = exprBuilder.constant(mFields.outputHeight);
            outputs[0].d[3] = exprBuilder.constant(mFields.outputWidth);
            return Status::ok();
        });
        return ok ? 0 : -1;
    }

    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override
    {
        if (nbInputs != 2 || nbOutputs != 1 || pos < 0 || pos >= 3)
        {
            return false;
        }
        nvinfer1::PluginTensorDesc const& desc = inOut[pos].desc;
        nvinfer1::PluginTensorDesc const& input = inOut[kINPUT].desc;
        bool const linear = desc.format == nvinfer1::TensorFormat::kLINEAR;
        switch (pos)
        {
        case kINPUT: return isFeatureType(desc.type) && (linear || (Op::kCHANNELS_LAST && isChannelsLastFeature(desc)));
        case kROIS: return linear && (desc.type == input.type || desc.type == nvinfer1::DataType::kFLOAT);
        default: return desc.type == input.type && desc.format == input.format; // output follows the input
        }
    }

    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const*, int32_t nbOutputs) noexcept override
    {
        typename Op::Params params{};
        return guarded(kNAME, "configurePlugin", [&] { return paramsAtLargest(in, nbInputs, nbOutputs, params); }) ? 0 : -1;
    }

    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const*, int32_t nbOutputs) const noexcept override
    {
        size_t size = 0;
        guarded(kNAME, "getWorkspaceSize", [&]() -> Status {
            typename Op::Params params{};
            TRTOPS_RETURN_IF_ERROR(paramsAtLargest(inputs, nbInputs, nbOutputs, params));
            size = Op::workspaceSize(params);
            return Status::ok();
        });
        return size;
    }

    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs, nvinfer1::PluginTensorDesc const*,
        int32_t nbOutputs) noexcept override
    {
        bool const ok = guarded(kNAME, "onShapeChange", [&]() -> Status {
            TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
            return makeParams(in[kINPUT], in[kROIS], mParams);
        });
        return ok ? 0 : -1;
    }

    int32_t enqueue(nvinfer1::PluginTensorDesc const*, nvinfer1::PluginTensorDesc const*, void const* const* inputs,
        void* const* outputs, void* workspace, cudaStream_t stream) noexcept override
    {
        bool const ok = guarded(kNAME, "enqueue",
            [&] { return Op::forward(mParams, inputs[kINPUT], inputs[kROIS], outputs[0], workspace, stream); });
        return ok ? 0 : -1;
    }

    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override
    {
        // Rebuilt on every call: the entries point at this object's members (clones have their own).
        mSerialized = FieldList{};
        mSerialized.addInt("output_height", &mFields.outputHeight);
        mSerialized.addInt("output_width", &mFields.outputWidth);
        mSerialized.addFloat("spatial_scale", &mFields.spatialScale);
        if (Op::kHAS_SAMPLING_RATIO)
        {
            mSerialized.addInt("sampling_ratio", &mFields.samplingRatio);
        }
        if (Op::kHAS_ALIGNED)
        {
            mSerialized.addInt("aligned", &mFields.aligned);
        }
        return mSerialized.collection();
    }

private:
    static constexpr int32_t kINPUT = 0;
    static constexpr int32_t kROIS = 1;

    static Status checkCounts(int32_t nbInputs, int32_t nbOutputs)
    {
        if (nbInputs != 2 || nbOutputs != 1)
        {
            return invalidArgument("expected 2 inputs (input, rois) and 1 output, got ", nbInputs, " and ", nbOutputs);
        }
        return Status::ok();
    }

    Status paramsAtLargest(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs, int32_t nbOutputs,
        typename Op::Params& params) const
    {
        TRTOPS_RETURN_IF_ERROR(checkCounts(nbInputs, nbOutputs));
        std::vector<nvinfer1::PluginTensorDesc> const largest = largestShapes(inputs, nbInputs);
        return makeParams(largest[kINPUT], largest[kROIS], params);
    }

    static Status checkRoisShape(nvinfer1::PluginTensorDesc const& input, nvinfer1::PluginTensorDesc const& rois)
    {
        if (input.dims.nbDims != 4)
        {
            return invalidArgument("input must be 4-D [N, C, H, W], got ", input.dims.nbDims, " dims");
        }
        if (rois.dims.nbDims != 2 || rois.dims.d[1] != 5)
        {
            return invalidArgument("rois must be [K, 5] (batch_index, x1, y1, x2, y2), got ", rois.dims.nbDims,
                " dims with ", rois.dims.nbDims == 2 ? rois.dims.d[1] : 0, " columns");
        }
        return Status::ok();
    }

    //! Kernel parameters for concrete input descriptions; validated by the kernel's own checks.
    Status makeParams(nvinfer1::PluginTensorDesc const& input, nvinfer1::PluginTensorDesc const& rois,
        typename Op::Params& params) const
    {
        std::optional<DataType> const featureType = kernelType(input.type);
        std::optional<DataType> const roiType = kernelType(rois.type);
        if (!featureType || !roiType)
        {
            return invalidArgument("unsupported tensor types ", typeName(input.type), " / ", typeName(rois.type));
        }
        // Dynamic dims pass getOutputShapes unchecked: the concrete shapes are checked here.
        TRTOPS_RETURN_IF_ERROR(checkRoisShape(input, rois));
        params.batch = input.dims.d[0];
        params.channels = input.dims.d[1];
        params.height = input.dims.d[2];
        params.width = input.dims.d[3];
        params.numRois = rois.dims.d[0];
        params.pooledHeight = mFields.outputHeight;
        params.pooledWidth = mFields.outputWidth;
        params.spatialScale = mFields.spatialScale;
        if constexpr (Op::kHAS_SAMPLING_RATIO)
        {
            params.samplingRatio = mFields.samplingRatio;
        }
        if constexpr (Op::kHAS_ALIGNED)
        {
            params.aligned = mFields.aligned != 0;
        }
        params.featureType = *featureType;
        params.roiType = *roiType;
        params.layout = featureLayout(input.format);
        return Op::validate(params);
    }

    RoIFields mFields;
    typename Op::Params mParams{}; //!< set by onShapeChange for enqueue
    FieldList mSerialized;
};

} // namespace plugin
} // namespace trtops
