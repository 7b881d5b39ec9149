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

Status checkPointers(PSRoIAlignParams const& p, void const* input, void const* rois, void* output)
{
    if (p.numRois * p.channels > 0 && (output == nullptr || rois == nullptr))
    {
        return invalidArgument(kOP, ": rois and output must not be null");
    }
    if (p.numRois * p.channels > 0 && p.batch * p.height * p.width > 0 && input == nullptr)
    {
        return invalidArgument(kOP, ": input must not be null");
    }
    return Status::ok();
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
    int64_t const bins = static_cast<int64_t>(p.pooledHeight) * p.pooledWidth;
    if (p.channels % bins != 0)
    {
        return invalidArgument(kOP, ": input channels must be a multiple of output_size[0] * output_size[1] = ", bins,
            ", got channels=", p.channels);
    }
    return Status::ok();
}

size_t psRoIAlignWorkspaceSize(PSRoIAlignParams const&)
{
    return 0;
}

Status psRoIAlignForward(PSRoIAlignParams const& p, void const* input, void const* rois, void* output, void*,
    cudaStream_t stream)
{
    TRTOPS_RETURN_IF_ERROR(validatePSRoIAlign(p));
    TRTOPS_RETURN_IF_ERROR(checkPointers(p, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::launchAlign(makeArgs<T, RoiT>(p, input, rois, output), stream, "ps_roi_align kernel");
    });
}

Status psRoIAlignForwardHost(PSRoIAlignParams const& p, void const* input, void const* rois, void* output)
{
    TRTOPS_RETURN_IF_ERROR(validatePSRoIAlign(p));
    TRTOPS_RETURN_IF_ERROR(checkPointers(p, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::runAlignOnHost(makeArgs<T, RoiT>(p, input, rois, output));
    });
}

} // namespace trtops
