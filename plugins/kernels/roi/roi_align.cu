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

size_t roiAlignWorkspaceSize(RoIAlignParams const& p)
{
    if (!validateRoIAlign(p).isOk())
    {
        return 0;
    }
    return roi::channelsLastCopyBytes(p.layout, p.featureType, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, roi::alignTapsPerBin(p.samplingRatio));
}

Status roiAlignForward(RoIAlignParams const& p, void const* input, void const* rois, void* output, void* workspace,
    cudaStream_t stream)
{
    TRTOPS_RETURN_IF_ERROR(validateRoIAlign(p));
    TRTOPS_RETURN_IF_ERROR(
        roi::checkRoiPointers(kOP, p.batch, p.channels, p.height, p.width, p.numRois, input, rois, output));
    if (p.numRois * p.channels == 0)
    {
        return Status::ok(); // empty output: nothing to launch
    }
    // NCHW with many samples per map pixel (exactly when a workspace is asked for): a channels-last
    // copy read with 16-byte vectors beats gathering one 32-byte sector per channel and tap.
    bool const viaChannelsLast = roi::useChannelsLastCopy(workspace, roiAlignWorkspaceSize(p));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        auto const args = makeArgs<T, RoiT>(p, input, rois, output);
        if (viaChannelsLast)
        {
            return roi::launchAlignViaChannelsLast(args, workspace, stream, "roi_align kernel");
        }
        return roi::launchAlign(args, stream, "roi_align kernel");
    });
}

Status roiAlignForwardHost(RoIAlignParams const& p, void const* input, void const* rois, void* output)
{
    TRTOPS_RETURN_IF_ERROR(validateRoIAlign(p));
    TRTOPS_RETURN_IF_ERROR(
        roi::checkRoiPointers(kOP, p.batch, p.channels, p.height, p.width, p.numRois, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::runAlignOnHost(makeArgs<T, RoiT>(p, input, rois, output));
    });
}

} // namespace trtops
