#include "roi/roi_common.cuh"

#include <limits>

namespace trtops
{
namespace roi
{

Status validateRoiCommon(char const* op, int64_t batch, int64_t channels, int64_t height, int64_t width,
    int64_t numRois, int32_t pooledHeight, int32_t pooledWidth, float spatialScale, DataType featureType,
    DataType roiType, Layout layout)
{
    switch (featureType)
    {
    case DataType::kFLOAT32:
    case DataType::kFLOAT16:
    case DataType::kBFLOAT16:
    case DataType::kFLOAT64: break;
    default:
        return unsupported(op, ": input has dtype ", dataTypeName(featureType),
            "; supported: float32, float16, bfloat16, float64");
    }
    if (roiType != featureType && roiType != DataType::kFLOAT32)
    {
        return unsupported(op, ": rois has dtype ", dataTypeName(roiType), "; it must be float32 or the input dtype (",
            dataTypeName(featureType), ")");
    }
    if (layout != Layout::kNCHW && layout != Layout::kNHWC)
    {
        return invalidArgument(op, ": layout must be NCHW (0) or NHWC (1), got ", static_cast<int32_t>(layout));
    }
    if (batch < 0 || channels < 0 || height < 0 || width < 0)
    {
        return invalidArgument(op, ": input dimensions must be non-negative, got [batch=", batch,
            ", channels=", channels, ", height=", height, ", width=", width, "]");
    }
    int64_t constexpr kINT32_MAX = std::numeric_limits<int32_t>::max();
    if (height > kINT32_MAX || width > kINT32_MAX || (height > 0 && width > kINT32_MAX / height))
    {
        return invalidArgument(op, ": height * width must fit in int32, got height=", height, ", width=", width);
    }
    if (numRois < 0)
    {
        return invalidArgument(op, ": rois must have shape [K, 5] with K >= 0, got K=", numRois);
    }
    if (pooledHeight <= 0 || pooledWidth <= 0)
    {
        return invalidArgument(op, ": output_size must be positive, got (", pooledHeight, ", ", pooledWidth, ")");
    }
    if (static_cast<int64_t>(pooledHeight) * pooledWidth > kINT32_MAX)
    {
        return invalidArgument(op, ": output_size (", pooledHeight, ", ", pooledWidth, ") has too many bins");
    }
    if (!(spatialScale > 0.F) || !isFiniteValue(spatialScale))
    {
        return invalidArgument(op, ": spatial_scale must be finite and positive, got ", spatialScale);
    }
    return Status::ok();
}

Status checkRoiPointers(char const* op, int64_t batch, int64_t channels, int64_t height, int64_t width,
    int64_t numRois, void const* input, void const* rois, void const* output)
{
    bool const hasOutput = numRois * channels > 0;
    if (hasOutput && (output == nullptr || rois == nullptr))
    {
        return invalidArgument(op, ": rois and output must not be null");
    }
    if (hasOutput && batch * height * width > 0 && input == nullptr)
    {
        return invalidArgument(op, ": input must not be null");
    }
    return Status::ok();
}

Status validatePositionSensitiveChannels(char const* op, int64_t channels, int32_t pooledHeight, int32_t pooledWidth)
{
    int64_t const bins = static_cast<int64_t>(pooledHeight) * pooledWidth;
    if (channels % bins != 0)
    {
        return invalidArgument(op, ": input channels must be a multiple of output_size[0] * output_size[1] = ", bins,
            ", got channels=", channels);
    }
    return Status::ok();
}

} // namespace roi
} // namespace trtops
