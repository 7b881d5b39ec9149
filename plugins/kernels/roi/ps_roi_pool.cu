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

Status checkPointers(PSRoIPoolParams const& p, void const* input, void const* rois, void* output)
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

Status validatePSRoIPool(PSRoIPoolParams const& p)
{
    TRTOPS_RETURN_IF_ERROR(roi::validateRoiCommon(kOP, p.batch, p.channels, p.height, p.width, p.numRois,
        p.pooledHeight, p.pooledWidth, p.spatialScale, p.featureType, p.roiType, p.layout));
    int64_t const bins = static_cast<int64_t>(p.pooledHeight) * p.pooledWidth;
    if (p.channels % bins != 0)
    {
        return invalidArgument(kOP, ": input channels must be a multiple of output_size[0] * output_size[1] = ", bins,
            ", got channels=", p.channels);
    }
    return Status::ok();
}

size_t psRoIPoolWorkspaceSize(PSRoIPoolParams const&)
{
    return 0;
}

Status psRoIPoolForward(PSRoIPoolParams const& p, void const* input, void const* rois, void* output, void*,
    cudaStream_t stream)
{
    TRTOPS_RETURN_IF_ERROR(validatePSRoIPool(p));
    TRTOPS_RETURN_IF_ERROR(checkPointers(p, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::launchPool(makeArgs<T, RoiT>(p, input, rois, output), stream, "ps_roi_pool kernel");
    });
}

Status psRoIPoolForwardHost(PSRoIPoolParams const& p, void const* input, void const* rois, void* output)
{
    TRTOPS_RETURN_IF_ERROR(validatePSRoIPool(p));
    TRTOPS_RETURN_IF_ERROR(checkPointers(p, input, rois, output));
    return roi::dispatchFeatureAndRoi(p.featureType, p.roiType, kOP, [&](auto t, auto r) -> Status {
        using T = decltype(t);
        using RoiT = decltype(r);
        return roi::runPoolOnHost(makeArgs<T, RoiT>(p, input, rois, output));
    });
}

} // namespace trtops
