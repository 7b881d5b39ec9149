#include "roi/roi_align.h"
#include "roi/roi_align_family.cuh"

namespace trtops
{
namespace
{
char const* const kOP = "roi_align";


template <typename T, typename RoiT>
roi::AlignArgs<T, RoiT> makeArgs(RoIAlignParams const& p, void const* input, void const* rois, void* output)
{
    return roi::singleLevelArgs<T, RoiT>(input, rois, output, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, p.spatialScale, p.samplingRatio, p.aligned, /*positionSensitive=*/false,
        p.layout);
}

Status checkPointers(RoIAlignParams const& p, void const* input, void const* rois, void* output)
{
    int64_t const outElements = p.numRois * p.channels * p.pooledHeight * p.pooledWidth;
    if (outElements > 0 && (output == nullptr || rois == nullptr))
    {
        return invalidArgument(kOP, ": rois and output must not be null");
    }
    if (outElements > 0 && p.batch * p.channels * p.height * p.width > 0 && input == nullptr)
    {
        return invalidArgument(kOP, ": input must not be null");
    }
    return Status::ok();
}
} // namespace

Status validateRoIAlign(RoIAlignParams const& p)
{
    TRTOPS_RETURN_IF_ERROR(roi::validateRoiCommon(kOP, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, p.spatialScale, p.featureType, p.roiType, p.layout));
    if (p.samplingRatio > roi::kMAX_SAMPLING_GRID)
    {
        return invalidArgument(
            kOP, ": sampling_ratio must be at most ", roi::kMAX_SAMPLING_GRID, ", got ", p.samplingRatio);
    }
    return Status::ok();
}

size_t roiAlignWorkspaceSize(RoIAlignParams const&)
{
    return 0;
}

Status roiAlignForward(RoIAlignParams const& p, void const* input, void const* rois, void* output, void*,
    cudaStream_t stream)
{
    TRTOPS_RETURN_IF_ERROR(validateRoIAlign(p));
    TRTOPS_RETURN_IF_ERROR(checkPointers(p, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::launchAlign(makeArgs<T, RoiT>(p, input, rois, output), stream, "roi_align kernel");
    });
}

Status roiAlignForwardHost(RoIAlignParams const& p, void const* input, void const* rois, void* output)
{
    TRTOPS_RETURN_IF_ERROR(validateRoIAlign(p));
    TRTOPS_RETURN_IF_ERROR(checkPointers(p, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::runAlignOnHost(makeArgs<T, RoiT>(p, input, rois, output));
    });
}

} // namespace trtops
