#include "roi/multi_scale_roi_align.h"
#include "roi/roi_align_family.cuh"

#include <string>

namespace trtops
{
namespace
{
char const* const kOP = "multi_scale_roi_align";

template <typename T, typename RoiT>
roi::AlignArgs<T, RoiT> makeArgs(
    MultiScaleRoIAlignParams const& p, void const* const* levelInputs, void const* rois, void* output)
{
    roi::AlignArgs<T, RoiT> a{};
    for (int32_t l = 0; l < p.numLevels; ++l)
    {
        a.inputs[l] = static_cast<T const*>(levelInputs[l]);
        a.heights[l] = static_cast<int32_t>(p.heights[l]);
        a.widths[l] = static_cast<int32_t>(p.widths[l]);
        a.scales[l] = p.scales[l];
    }
    a.numLevels = p.numLevels;
    a.mapLevels = p.numLevels > 1;
    a.mapping.mapper = p.levelMapper;
    a.mapping.kMin = roi::levelOfScale(p.scales[0]);
    a.mapping.kMax = roi::levelOfScale(p.scales[p.numLevels - 1]);
    a.mapping.canonicalScale = p.canonicalScale;
    a.mapping.canonicalLevel = p.canonicalLevel;
    a.mapping.finestScale = p.finestScale;
    a.rois = static_cast<RoiT const*>(rois);
    a.output = static_cast<T*>(output);
    a.batch = p.batch;
    a.channels = p.channels;
    a.outChannels = p.channels;
    a.numRois = p.numRois;
    a.pooledH = p.pooledHeight;
    a.pooledW = p.pooledWidth;
    a.samplingRatio = p.samplingRatio;
    a.aligned = p.aligned;
    a.positionSensitive = false;
    a.channelsLast = p.layout == Layout::kNHWC;
    return a;
}

Status checkPointers(MultiScaleRoIAlignParams const& p, void const* const* levelInputs, void const* rois, void* output)
{
    if (p.numRois * p.channels == 0)
    {
        return Status::ok();
    }
    if (output == nullptr || rois == nullptr || levelInputs == nullptr)
    {
        return invalidArgument(kOP, ": rois, output and the level input array must not be null");
    }
    for (int32_t l = 0; l < p.numLevels; ++l)
    {
        if (levelInputs[l] == nullptr && p.batch * p.heights[l] * p.widths[l] > 0)
        {
            return invalidArgument(kOP, ": input of level ", l, " must not be null");
        }
    }
    return Status::ok();
}
} // namespace

Status validateMultiScaleRoIAlign(MultiScaleRoIAlignParams const& p)
{
    if (p.numLevels < 1 || p.numLevels > MultiScaleRoIAlignParams::kMaxLevels)
    {
        return invalidArgument(kOP, ": numLevels must be in [1, ", MultiScaleRoIAlignParams::kMaxLevels, "], got ",
            p.numLevels);
    }
    for (int32_t l = 0; l < p.numLevels; ++l)
    {
        std::string const field = std::string(kOP) + " level " + std::to_string(l);
        TRTOPS_RETURN_IF_ERROR(roi::validateRoiCommon(field.c_str(), p.batch, p.channels, p.heights[l], p.widths[l],
            p.numRois, p.pooledHeight, p.pooledWidth, p.scales[l], p.featureType, p.roiType, p.layout));
    }
    if (p.samplingRatio > roi::kMAX_SAMPLING_GRID)
    {
        return invalidArgument(
            kOP, ": sampling_ratio must be at most ", roi::kMAX_SAMPLING_GRID, ", got ", p.samplingRatio);
    }
    if (p.levelMapper == LevelMapper::kTorchvision)
    {
        if (p.canonicalScale <= 0)
        {
            return invalidArgument(kOP, ": canonical_scale must be positive, got ", p.canonicalScale);
        }
    }
    else if (p.levelMapper == LevelMapper::kMmdet)
    {
        if (p.finestScale <= 0)
        {
            return invalidArgument(kOP, ": finest_scale must be positive, got ", p.finestScale);
        }
    }
    else
    {
        return invalidArgument(kOP, ": level_mapper must be 0 (torchvision) or 1 (mmdet), got ",
            static_cast<int32_t>(p.levelMapper));
    }
    return Status::ok();
}

size_t multiScaleRoIAlignWorkspaceSize(MultiScaleRoIAlignParams const&)
{
    return 0;
}

Status multiScaleRoIAlignForward(MultiScaleRoIAlignParams const& p, void const* const* levelInputs, void const* rois,
    void* output, void*, cudaStream_t stream)
{
    TRTOPS_RETURN_IF_ERROR(validateMultiScaleRoIAlign(p));
    TRTOPS_RETURN_IF_ERROR(checkPointers(p, levelInputs, rois, output));
    if (p.numRois * p.channels == 0)
    {
        return Status::ok();
    }
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::launchAlign(
            makeArgs<T, RoiT>(p, levelInputs, rois, output), stream, "multi_scale_roi_align kernel");
    });
}

Status multiScaleRoIAlignForwardHost(
    MultiScaleRoIAlignParams const& p, void const* const* levelInputs, void const* rois, void* output)
{
    TRTOPS_RETURN_IF_ERROR(validateMultiScaleRoIAlign(p));
    TRTOPS_RETURN_IF_ERROR(checkPointers(p, levelInputs, rois, output));
    if (p.numRois * p.channels == 0)
    {
        return Status::ok();
    }
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::runAlignOnHost(makeArgs<T, RoiT>(p, levelInputs, rois, output));
    });
}

} // namespace trtops
