#include "roi/ps_roi_pool.h"
#include "roi/roi_pool_family.cuh"

namespace trtops
{
namespace
{
char const* const kOP = "ps_roi_pool";

template <typename T, typename RoiT>
roi::PoolArgs<T, RoiT> makeArgs(PSRoIPoolParams const& p, void const* input, void const* rois, void* output)
{
    return roi::poolArgs<T, RoiT>(input, rois, output, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, p.spatialScale, /*positionSensitive=*/true, p.layout);
}
} // namespace

Status validatePSRoIPool(PSRoIPoolParams const& p)
{
    TRTOPS_RETURN_IF_ERROR(roi::validateRoiCommon(kOP, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, p.spatialScale, p.featureType, p.roiType, p.layout));
    return roi::validatePositionSensitiveChannels(kOP, p.channels, p.pooledHeight, p.pooledWidth);
}

size_t psRoIPoolWorkspaceSize(PSRoIPoolParams const&)
{
    return 0;
}

Status psRoIPoolForward(PSRoIPoolParams const& p, void const* input, void const* rois, void* output, void*,
    cudaStream_t stream)
{
    TRTOPS_RETURN_IF_ERROR(validatePSRoIPool(p));
    TRTOPS_RETURN_IF_ERROR(
        roi::checkRoiPointers(kOP, p.batch, p.channels, p.height, p.width, p.numRois, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::launchPool(makeArgs<T, RoiT>(p, input, rois, output), stream, "ps_roi_pool kernel");
    });
}

Status psRoIPoolForwardHost(PSRoIPoolParams const& p, void const* input, void const* rois, void* output)
{
    TRTOPS_RETURN_IF_ERROR(validatePSRoIPool(p));
    TRTOPS_RETURN_IF_ERROR(
        roi::checkRoiPointers(kOP, p.batch, p.channels, p.height, p.width, p.numRois, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::runPoolOnHost(makeArgs<T, RoiT>(p, input, rois, output));
    });
}

} // namespace trtops
