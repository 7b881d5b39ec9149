//! \file RoIAlignPlugin.h
//! trtops::RoIAlign v1: torchvision.ops.roi_align as an IPluginV3 (see README.md beside this file).
#pragma once

#include "common/fields.h"
#include "common/plugin_base.h"
#include "roi/roi_align.h"

#include <memory>
#include <vector>

namespace trtops
{
namespace plugin
{

//! Fields, with torchvision's defaults where torchvision has one.
struct RoIAlignFields
{
    int32_t outputHeight{0}; //!< required, > 0
    int32_t outputWidth{0};  //!< required, > 0
    float spatialScale{1.F}; //!< > 0
    int32_t samplingRatio{-1}; //!< <= 0: adaptive ceil(roi_size / output_size)
    int32_t aligned{0};        //!< 0 or 1: subtract 0.5 from the scaled coordinates
};

class RoIAlignPlugin : public PluginBase
{
public:
    static constexpr char const* kNAME = "RoIAlign";
    static std::vector<nvinfer1::PluginField> fieldNames();
    static Status create(nvinfer1::PluginFieldCollection const* fields, std::unique_ptr<RoIAlignPlugin>& plugin);

    explicit RoIAlignPlugin(RoIAlignFields const& fields);

    nvinfer1::IPluginV3* clone() noexcept override;

    // Build phase
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
    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;

    // Runtime phase
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

private:
    //! Kernel parameters for the given input descriptions (dims, types, format).
    Status makeParams(nvinfer1::PluginTensorDesc const& input, nvinfer1::PluginTensorDesc const& rois,
        RoIAlignParams& params) const;

    RoIAlignFields mFields;
    RoIAlignParams mParams{}; //!< set by onShapeChange for enqueue
    FieldList mSerialized;
};

} // namespace plugin
} // namespace trtops
