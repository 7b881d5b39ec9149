//! \file NmsPlugin.h
//! trtops::NMS v1 and trtops::BatchedNMS v1: torchvision.ops.nms / batched_nms as IPluginV3s (fields
//! and I/O in README.md beside this file).
//!
//! Inputs: boxes [N, 4], scores [N] (+ idxs [N] for BatchedNMS). Outputs: the kept indices and
//! their count (0-D int64). Without `padded` the indices output is [K], K data-dependent: output 1
//! is its size tensor (IExprBuilder::declareSizeTensor). With `padded` it is
//! [max_output_boxes], filled with -1 after the kept ones, and output 1 is a plain output.
#pragma once

#include "common/fields.h"
#include "common/plugin_base.h"
#include "nms/nms.h"

#include <memory>
#include <vector>

namespace trtops
{
namespace plugin
{

struct NmsFields
{
    float iouThreshold{0.F};     //!< required, in [0, 1]... any finite value (torchvision accepts any)
    float scoreThreshold{0.F};   //!< used when hasScoreThreshold
    int32_t hasScoreThreshold{0}; //!< not a field: set when score_threshold is given
    int32_t maxOutputBoxes{-1};  //!< < 0: unlimited
    int32_t padded{0};           //!< 1: static [max_output_boxes] output filled with -1
    int32_t indexInt32{0};       //!< 1: int32 indices instead of torchvision's int64
};

template <bool kBATCHED>
class NmsPlugin : public PluginBase
{
public:
    static constexpr char const* kNAME = kBATCHED ? "BatchedNMS" : "NMS";
    static std::vector<nvinfer1::PluginField> fieldNames();
    static Status create(nvinfer1::PluginFieldCollection const* fields, std::unique_ptr<NmsPlugin>& plugin);

    explicit NmsPlugin(NmsFields const& fields);

    nvinfer1::IPluginV3* clone() noexcept override;
    int32_t getNbOutputs() const noexcept override
    {
        return 2;
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
    static constexpr int32_t kNB_INPUTS = kBATCHED ? 3 : 2;
    static Status checkCounts(int32_t nbInputs, int32_t nbOutputs);
    Status paramsAtLargest(
        nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs, int32_t nbOutputs, NmsParams& params) const;
    //! Checks that scores (and idxs) have one entry per box, then fills params.
    Status makeParams(nvinfer1::PluginTensorDesc const* inputs, NmsParams& params) const;
    Status makeParams(int64_t numBoxes, nvinfer1::DataType boxType, nvinfer1::DataType scoreType,
        nvinfer1::DataType classType, NmsParams& params) const;

    NmsFields mFields;
    NmsParams mParams{};
    size_t mWorkspaceSize{0}; //!< for mParams, computed in onShapeChange
    FieldList mSerialized;
};

using NmsSingleClassPlugin = NmsPlugin<false>;
using BatchedNmsPlugin = NmsPlugin<true>;

} // namespace plugin
} // namespace trtops
