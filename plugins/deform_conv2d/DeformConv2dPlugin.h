//! \file DeformConv2dPlugin.h
//! trtops::DeformConv2d v1: torchvision.ops.deform_conv2d (v1 without mask, v2 with mask) as an
//! IPluginV3 (fields and I/O in README.md beside this file). Inputs in torchvision's argument
//! order with absent optional ones left out: input, offset, weight, [bias], [mask].
#pragma once

#include "common/fields.h"
#include "common/plugin_base.h"
#include "deform_conv/deform_conv2d.h"

#include <memory>
#include <vector>

namespace trtops
{
namespace plugin
{

struct DeformConv2dFields
{
    std::vector<int32_t> stride{1, 1};
    std::vector<int32_t> padding{0, 0};
    std::vector<int32_t> dilation{1, 1};
    int32_t groups{1};
    int32_t offsetGroups{0}; //!< 0: inferred from the offset's channels, as torchvision does
    int32_t hasBias{0};
    int32_t hasMask{0};
    int32_t allowTf32{0}; //!< float32 only: allow TF32 tensor cores
};

class DeformConv2dPlugin : public PluginBase
{
public:
    static constexpr char const* kNAME = "DeformConv2d";
    static std::vector<nvinfer1::PluginField> fieldNames();
    static Status create(nvinfer1::PluginFieldCollection const* fields, std::unique_ptr<DeformConv2dPlugin>& plugin);

    explicit DeformConv2dPlugin(DeformConv2dFields fields);

    nvinfer1::IPluginV3* clone() noexcept override;
    int32_t getNbOutputs() const noexcept override
    {
        return 1;
    }
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
        nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
        int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
        nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override;
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

private:
    static constexpr int32_t kINPUT = 0;
    static constexpr int32_t kOFFSET = 1;
    static constexpr int32_t kWEIGHT = 2;
    int32_t numInputs() const
    {
        return 3 + mFields.hasBias + mFields.hasMask;
    }
    int32_t biasIndex() const
    {
        return mFields.hasBias != 0 ? 3 : -1;
    }
    int32_t maskIndex() const
    {
        return mFields.hasMask != 0 ? 3 + mFields.hasBias : -1;
    }
    Status checkCounts(int32_t nbInputs, int32_t nbOutputs) const;
    Status paramsAtLargest(
        nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs, int32_t nbOutputs, DeformConv2dParams& params) const;
    Status makeParams(nvinfer1::PluginTensorDesc const* inputs, DeformConv2dParams& params) const;

    DeformConv2dFields mFields;
    DeformConv2dParams mParams{};
    FieldList mSerialized;
};

} // namespace plugin
} // namespace trtops
