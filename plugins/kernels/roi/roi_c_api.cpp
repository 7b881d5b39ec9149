#include "roi/roi_c_api.h"

#include "core/c_api_support.h"
#include "roi/multi_scale_roi_align.h"
#include "roi/ps_roi_align.h"
#include "roi/ps_roi_pool.h"
#include "roi/roi_align.h"
#include "roi/roi_pool.h"

namespace
{
using trtops::DataType;
using trtops::Layout;

//! Fills the fields every single-level RoI params struct shares.
template <typename Params>
Params commonParams(int32_t featureDtype, int32_t roiDtype, int32_t layout, int64_t batch, int64_t channels,
    int64_t height, int64_t width, int64_t numRois, int32_t pooledHeight, int32_t pooledWidth, float spatialScale)
{
    Params p{};
    p.batch = batch;
    p.channels = channels;
    p.height = height;
    p.width = width;
    p.numRois = numRois;
    p.pooledHeight = pooledHeight;
    p.pooledWidth = pooledWidth;
    p.spatialScale = spatialScale;
    p.featureType = static_cast<DataType>(featureDtype);
    p.roiType = static_cast<DataType>(roiDtype);
    p.layout = static_cast<Layout>(layout);
    return p;
}
} // namespace

int32_t trtops_roi_align_workspace_size(int32_t feature_dtype, int32_t layout, int64_t batch, int64_t channels,
    int64_t height, int64_t width, int64_t num_rois, int32_t pooled_height, int32_t pooled_width,
    int32_t sampling_ratio, uint64_t* size)
{
    return trtops::runCApi("roi_align", [&]() -> trtops::Status {
        if (size == nullptr)
        {
            return trtops::invalidArgument("roi_align: size must not be null");
        }
        auto p = commonParams<trtops::RoIAlignParams>(feature_dtype, static_cast<int32_t>(trtops::DataType::kFLOAT32),
            layout, batch, channels, height, width, num_rois, pooled_height, pooled_width, 1.F);
        p.samplingRatio = sampling_ratio;
        TRTOPS_RETURN_IF_ERROR(trtops::validateRoIAlign(p));
        *size = trtops::roiAlignWorkspaceSize(p);
        return trtops::Status::ok();
    });
}

int32_t trtops_roi_align(void const* input, void const* rois, void* output, int32_t feature_dtype, int32_t roi_dtype,
    int32_t layout, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t num_rois,
    int32_t pooled_height, int32_t pooled_width, float spatial_scale, int32_t sampling_ratio, int32_t aligned,
    void* workspace, int32_t device, void* stream)
{
    return trtops::runCApi("roi_align", [&] {
        auto p = commonParams<trtops::RoIAlignParams>(feature_dtype, roi_dtype, layout, batch, channels, height, width,
            num_rois, pooled_height, pooled_width, spatial_scale);
        p.samplingRatio = sampling_ratio;
        p.aligned = aligned != 0;
        return device != 0
            ? trtops::roiAlignForward(p, input, rois, output, workspace, static_cast<cudaStream_t>(stream))
            : trtops::roiAlignForwardHost(p, input, rois, output);
    });
}

int32_t trtops_ps_roi_align(void const* input, void const* rois, void* output, int32_t feature_dtype,
    int32_t roi_dtype, int32_t layout, int64_t batch, int64_t channels, int64_t height, int64_t width,
    int64_t num_rois, int32_t pooled_height, int32_t pooled_width, float spatial_scale, int32_t sampling_ratio,
    int32_t device, void* stream)
{
    return trtops::runCApi("ps_roi_align", [&] {
        auto p = commonParams<trtops::PSRoIAlignParams>(feature_dtype, roi_dtype, layout, batch, channels, height,
            width, num_rois, pooled_height, pooled_width, spatial_scale);
        p.samplingRatio = sampling_ratio;
        return device != 0
            ? trtops::psRoIAlignForward(p, input, rois, output, nullptr, static_cast<cudaStream_t>(stream))
            : trtops::psRoIAlignForwardHost(p, input, rois, output);
    });
}

int32_t trtops_roi_pool_workspace_size(int32_t feature_dtype, int32_t layout, int64_t batch, int64_t channels,
    int64_t height, int64_t width, int64_t num_rois, int32_t pooled_height, int32_t pooled_width, uint64_t* size)
{
    return trtops::runCApi("roi_pool", [&]() -> trtops::Status {
        if (size == nullptr)
        {
            return trtops::invalidArgument("roi_pool: size must not be null");
        }
        auto const p = commonParams<trtops::RoIPoolParams>(feature_dtype,
            static_cast<int32_t>(trtops::DataType::kFLOAT32), layout, batch, channels, height, width, num_rois,
            pooled_height, pooled_width, 1.F);
        TRTOPS_RETURN_IF_ERROR(trtops::validateRoIPool(p));
        *size = trtops::roiPoolWorkspaceSize(p);
        return trtops::Status::ok();
    });
}

int32_t trtops_roi_pool(void const* input, void const* rois, void* output, int32_t feature_dtype, int32_t roi_dtype,
    int32_t layout, int64_t batch, int64_t channels, int64_t height, int64_t width, int64_t num_rois,
    int32_t pooled_height, int32_t pooled_width, float spatial_scale, void* workspace, int32_t device, void* stream)
{
    return trtops::runCApi("roi_pool", [&] {
        auto const p = commonParams<trtops::RoIPoolParams>(feature_dtype, roi_dtype, layout, batch, channels, height,
            width, num_rois, pooled_height, pooled_width, spatial_scale);
        return device != 0
            ? trtops::roiPoolForward(p, input, rois, output, workspace, static_cast<cudaStream_t>(stream))
            : trtops::roiPoolForwardHost(p, input, rois, output);
    });
}

int32_t trtops_ps_roi_pool(void const* input, void const* rois, void* output, int32_t feature_dtype,
    int32_t roi_dtype, int32_t layout, int64_t batch, int64_t channels, int64_t height, int64_t width,
    int64_t num_rois, int32_t pooled_height, int32_t pooled_width, float spatial_scale, int32_t device, void* stream)
{
    return trtops::runCApi("ps_roi_pool", [&] {
        auto const p = commonParams<trtops::PSRoIPoolParams>(feature_dtype, roi_dtype, layout, batch, channels, height,
            width, num_rois, pooled_height, pooled_width, spatial_scale);
        return device != 0
            ? trtops::psRoIPoolForward(p, input, rois, output, nullptr, static_cast<cudaStream_t>(stream))
            : trtops::psRoIPoolForwardHost(p, input, rois, output);
    });
}

int32_t trtops_multi_scale_roi_align(void const* const* level_inputs, int64_t const* heights, int64_t const* widths,
    float const* scales, int32_t num_levels, void const* rois, void* output, int32_t feature_dtype, int32_t roi_dtype,
    int32_t layout, int64_t batch, int64_t channels, int64_t num_rois, int32_t pooled_height, int32_t pooled_width,
    int32_t sampling_ratio, int32_t aligned, int32_t canonical_scale, int32_t canonical_level, int32_t level_mapper,
    int32_t finest_scale, int32_t device, void* stream)
{
    return trtops::runCApi("multi_scale_roi_align", [&]() -> trtops::Status {
        trtops::MultiScaleRoIAlignParams p{};
        if (num_levels < 1 || num_levels > trtops::MultiScaleRoIAlignParams::kMaxLevels)
        {
            return trtops::invalidArgument("multi_scale_roi_align: the number of levels must be in [1, ",
                trtops::MultiScaleRoIAlignParams::kMaxLevels, "], got ", num_levels);
        }
        if (heights == nullptr || widths == nullptr || scales == nullptr)
        {
            return trtops::invalidArgument("multi_scale_roi_align: heights, widths and scales must not be null");
        }
        p.numLevels = num_levels;
        for (int32_t l = 0; l < num_levels; ++l)
        {
            p.heights[l] = heights[l];
            p.widths[l] = widths[l];
            p.scales[l] = scales[l];
        }
        p.batch = batch;
        p.channels = channels;
        p.numRois = num_rois;
        p.pooledHeight = pooled_height;
        p.pooledWidth = pooled_width;
        p.samplingRatio = sampling_ratio;
        p.aligned = aligned != 0;
        p.canonicalScale = canonical_scale;
        p.canonicalLevel = canonical_level;
        p.levelMapper = static_cast<trtops::LevelMapper>(level_mapper);
        p.finestScale = finest_scale;
        p.featureType = static_cast<DataType>(feature_dtype);
        p.roiType = static_cast<DataType>(roi_dtype);
        p.layout = static_cast<Layout>(layout);
        return device != 0 ? trtops::multiScaleRoIAlignForward(
                   p, level_inputs, rois, output, nullptr, static_cast<cudaStream_t>(stream))
                           : trtops::multiScaleRoIAlignForwardHost(p, level_inputs, rois, output);
    });
}
