#include "roi/ps_roi_align.h"
#include "roi/roi_align_family.cuh"

namespace trtops
{
namespace
{
char const* const kOP = "ps_roi_align";

template <typename T, typename RoiT>
roi::AlignArgs<T, RoiT> makeArgs(PSRoIAlignParams const& p, void const* input, void const* rois, void* output)
{
    return roi::singleLevelArgs<T, RoiT>(input, rois, output, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, p.spatialScale, p.samplingRatio, /*aligned=*/true,
        /*positionSensitive=*/true, p.layout);
}
} // namespace

Status validatePSRoIAlign(PSRoIAlignParams const& p)
{
    TRTOPS_RETURN_IF_ERROR(roi::validateRoiCommon(kOP, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, p.spatialScale, p.featureType, p.roiType, p.layout));
    if (p.samplingRatio > roi::kMAX_SAMPLING_GRID)
    {
        return invalidArgument(
            kOP, ": sampling_ratio must be at most ", roi::kMAX_SAMPLING_GRID, ", got ", p.samplingRatio);
    }
    return roi::validatePositionSensitiveChannels(kOP, p.channels, p.pooledHeight, p.pooledWidth);
}

size_t psRoIAlignWorkspaceSize(PSRoIAlignParams const&)
{
    return 0;
}

Status psRoIAlignForward(PSRoIAlignParams const& p, void const* input, void const* rois, void* output, void*,
    cudaStream_t stream)
{
    TRTOPS_RETURN_IF_ERROR(validatePSRoIAlign(p));
    TRTOPS_RETURN_IF_ERROR(
        roi::checkRoiPointers(kOP, p.batch, p.channels, p.height, p.width, p.numRois, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::launchAlign(makeArgs<T, RoiT>(p, input, rois, output), stream, "ps_roi_align kernel");
    });
}

Status psRoIAlignForwardHost(PSRoIAlignParams const& p, void const* input, void const* rois, void* output)
{
    TRTOPS_RETURN_IF_ERROR(validatePSRoIAlign(p));
    TRTOPS_RETURN_IF_ERROR(
        roi::checkRoiPointers(kOP, p.batch, p.channels, p.height, p.width, p.numRois, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::runAlignOnHost(makeArgs<T, RoiT>(p, input, rois, output));
    });
}

} // namespace trtops
