//! \file MultiScaleRoIAlignPlugin.h
//! trtops::MultiScaleRoIAlign v1: torchvision.ops.MultiScaleRoIAlign (or mmdet's SingleRoIExtractor)
//! in one launch (fields and I/O in README.md beside this file). Inputs: the L feature levels [N, C, H_l, W_l], then rois [K, 5];
//! output [K, C, output_height, output_width].
#pragma once

#include "common/fields.h"
#include "common/plugin_base.h"
#include "roi/multi_scale_roi_align.h"

#include <memory>
#include <vector>

namespace trtops
{
namespace plugin
{

struct MultiScaleRoIAlignFields
{
    int32_t outputHeight{0};         //!< required
    int32_t outputWidth{0};          //!< required
    int32_t samplingRatio{-1};       //!< <= 0: adaptive
    std::vector<float> spatialScales; //!< required: one per level (torchvision: powers of two, finest first)
    int32_t canonicalScale{224};      //!< level_mapper 0
    int32_t canonicalLevel{4};        //!< level_mapper 0
    int32_t aligned{0};               //!< torchvision's module pools with aligned=False
    int32_t levelMapper{0};           //!< 0 torchvision's LevelMapper, 1 mmdet's SingleRoIExtractor
    int32_t finestScale{56};          //!< level_mapper 1
};

class MultiScaleRoIAlignPlugin : public PluginBase
{
public:
    static constexpr char const* kNAME = "MultiScaleRoIAlign";
    static std::vector<nvinfer1::PluginField> fieldNames();
    static Status create(
        nvinfer1::PluginFieldCollection const* fields, std::unique_ptr<MultiScaleRoIAlignPlugin>& plugin);

    explicit MultiScaleRoIAlignPlugin(MultiScaleRoIAlignFields fields);

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
    int32_t numLevels() const
    {
        return static_cast<int32_t>(mFields.spatialScales.size());
    }
    Status checkCounts(int32_t nbInputs, int32_t nbOutputs) const;
    Status paramsAtLargest(
        nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs, int32_t nbOutputs, MultiScaleRoIAlignParams& params) const;
    Status makeParams(nvinfer1::PluginTensorDesc const* inputs, MultiScaleRoIAlignParams& params) const;

    MultiScaleRoIAlignFields mFields;
    MultiScaleRoIAlignParams mParams{};
    FieldList mSerialized;
};

} // namespace plugin
} // namespace trtops
