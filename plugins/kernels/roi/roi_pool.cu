#include "roi/roi_pool.h"
#include "roi/roi_pool_family.cuh"

namespace trtops
{
namespace
{
char const* const kOP = "roi_pool";

template <typename T, typename RoiT>
roi::PoolArgs<T, RoiT> makeArgs(RoIPoolParams const& p, void const* input, void const* rois, void* output)
{
    return roi::poolArgs<T, RoiT>(input, rois, output, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, p.spatialScale, /*positionSensitive=*/false, p.layout);
}
} // namespace

Status validateRoIPool(RoIPoolParams const& p)
{
    TRTOPS_RETURN_IF_ERROR(roi::validateRoiCommon(kOP, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, p.spatialScale, p.featureType, p.roiType, p.layout));
    return Status::ok();
}

size_t roiPoolWorkspaceSize(RoIPoolParams const& p)
{
    if (!validateRoIPool(p).isOk())
    {
        return 0;
    }
    // A bin is counted as four cells.
    return roi::channelsLastCopyBytes(p.layout, p.featureType, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, 4);
}

Status roiPoolForward(RoIPoolParams const& p, void const* input, void const* rois, void* output, void* workspace,
    cudaStream_t stream)
{
    TRTOPS_RETURN_IF_ERROR(validateRoIPool(p));
    TRTOPS_RETURN_IF_ERROR(
        roi::checkRoiPointers(kOP, p.batch, p.channels, p.height, p.width, p.numRois, input, rois, output));
    if (p.numRois * p.channels == 0)
    {
        return Status::ok(); // empty output: nothing to launch
    }
    // NCHW with many bins per map pixel (exactly when a workspace is asked for): as for roi_align.
    bool const viaChannelsLast = roi::useChannelsLastCopy(workspace, roiPoolWorkspaceSize(p));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        auto const args = makeArgs<T, RoiT>(p, input, rois, output);
        if (viaChannelsLast)
        {
            return roi::launchPoolViaChannelsLast(args, workspace, stream, "roi_pool kernel");
        }
        return roi::launchPool(args, stream, "roi_pool kernel");
    });
}

Status roiPoolForwardHost(RoIPoolParams const& p, void const* input, void const* rois, void* output)
{
    TRTOPS_RETURN_IF_ERROR(validateRoIPool(p));
    TRTOPS_RETURN_IF_ERROR(
        roi::checkRoiPointers(kOP, p.batch, p.channels, p.height, p.width, p.numRois, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::runPoolOnHost(makeArgs<T, RoiT>(p, input, rois, output));
    });
}

} // namespace trtops
