//! Validation, workspace size and the host implementation of deform_conv2d.
#include "deform_conv/deform_conv2d.h"
#include "deform_conv/deform_conv2d_math.cuh"
#include "deform_conv/deform_conv2d_tiling.h"

#include <cmath>
#include <limits>
#include <vector>

namespace trtops
{
namespace
{

constexpr int64_t kINT32_LIMIT = std::numeric_limits<int32_t>::max();

template <typename T>
Status forwardHostTyped(DeformConv2dParams const& p, T const* input, T const* offset, T const* mask, T const* weight,
    T const* bias, T* output)
{
    using AccT = AccumulatorT<T>;
    int32_t const height = static_cast<int32_t>(p.height);
    int32_t const width = static_cast<int32_t>(p.width);
    int32_t const outH = static_cast<int32_t>(p.outHeight);
    int32_t const outW = static_cast<int32_t>(p.outWidth);
    int64_t const planeSize = p.height * p.width;
    int64_t const outPlane = p.outHeight * p.outWidth;
    int32_t const taps = p.kernelHeight * p.kernelWidth;
    int64_t const cinPerGroup = p.inChannels / p.groups;
    int64_t const coutPerGroup = p.outChannels / p.groups;
    int64_t const cinPerOffsetGroup = p.inChannels / p.offsetGroups;
    int64_t const columnLength = cinPerGroup * taps;

    // One output pixel at a time: its column (torchvision's im2col order, channel-major then
    // tap) for one weight group, then a dot product per output channel of the group.
    std::vector<AccT> column(static_cast<size_t>(columnLength));
    std::vector<deform::BilinearPoint<AccT>> points(static_cast<size_t>(p.offsetGroups) * taps);
    std::vector<AccT> masks(points.size());
    for (int64_t n = 0; n < p.batch; ++n)
    {
        T const* inputImage = input + n * p.inChannels * planeSize;
        T const* offsetImage = offset + n * p.offsetGroups * taps * 2 * outPlane;
        T const* maskImage = p.hasMask ? mask + n * p.offsetGroups * taps * outPlane : nullptr;
        T* outputImage = output + n * p.outChannels * outPlane;
        for (int32_t oy = 0; oy < outH; ++oy)
        {
            for (int32_t ox = 0; ox < outW; ++ox)
            {
                int64_t const pixel = static_cast<int64_t>(oy) * outW + ox;
                for (int32_t og = 0; og < p.offsetGroups; ++og)
                {
                    for (int32_t tap = 0; tap < taps; ++tap)
                    {
                        int32_t const i = tap / p.kernelWidth;
                        int32_t const j = tap % p.kernelWidth;
                        int64_t const channel = static_cast<int64_t>(og) * taps + tap;
                        AccT const dy = convertTo<AccT>(offsetImage[(channel * 2) * outPlane + pixel]);
                        AccT const dx = convertTo<AccT>(offsetImage[(channel * 2 + 1) * outPlane + pixel]);
                        int32_t const originY = deform::tapOrigin(oy, p.strideH, p.padH, i, p.dilationH);
                        int32_t const originX = deform::tapOrigin(ox, p.strideW, p.padW, j, p.dilationW);
                        AccT const y = deform::samplePosition(originY, dy);
                        AccT const x = deform::samplePosition(originX, dx);
                        points[channel] = deform::bilinearPoint(y, x, height, width);
                        masks[channel] = p.hasMask ? convertTo<AccT>(maskImage[channel * outPlane + pixel]) : AccT(1);
                    }
                }
                for (int32_t g = 0; g < p.groups; ++g)
                {
                    for (int64_t c = 0; c < cinPerGroup; ++c)
                    {
                        int64_t const inChannel = g * cinPerGroup + c;
                        int64_t const og = inChannel / cinPerOffsetGroup;
                        T const* plane = inputImage + inChannel * planeSize;
                        for (int32_t tap = 0; tap < taps; ++tap)
                        {
                            int64_t const channel = og * taps + tap;
                            // Rounded to the storage type like the kernels' (and torchvision's) column tiles.
                            column[c * taps + tap] = convertTo<AccT>(
                                convertTo<T>(deform::maskedSample(plane, points[channel], masks[channel])));
                        }
                    }
                    for (int64_t m = 0; m < coutPerGroup; ++m)
                    {
                        int64_t const outChannel = g * coutPerGroup + m;
                        T const* weightRow = weight + outChannel * columnLength;
                        AccT sum = AccT(0);
                        for (int64_t k = 0; k < columnLength; ++k)
                        {
                            sum += convertTo<AccT>(weightRow[k]) * column[k];
                        }
                        if (p.hasBias)
                        {
                            sum += convertTo<AccT>(bias[outChannel]);
                        }
                        outputImage[outChannel * outPlane + pixel] = convertTo<T>(sum);
                    }
                }
            }
        }
    }
    return Status::ok();
}

} // namespace

int64_t deformConv2dOutputSize(int64_t inputSize, int32_t kernelSize, int32_t stride, int32_t pad, int32_t dilation)
{
    if (stride <= 0)
    {
        return 0;
    }
    int64_t const span
        = inputSize + 2 * static_cast<int64_t>(pad) - static_cast<int64_t>(dilation) * (kernelSize - 1) - 1;
    if (span < 0)
    {
        return 0;
    }
    return span / stride + 1;
}

Status validateDeformConv2d(DeformConv2dParams const& p)
{
    char const* op = "deform_conv2d";
    switch (p.dataType)
    {
    case DataType::kFLOAT32:
    case DataType::kFLOAT16:
    case DataType::kBFLOAT16:
    case DataType::kFLOAT64: break;
    default:
        return unsupported(op, ": dataType ", dataTypeName(p.dataType),
            " is not supported; supported: float32, float16, bfloat16, float64");
    }
    if (p.batch < 0)
    {
        return invalidArgument(op, ": batch must be >= 0, got ", p.batch);
    }
    if (p.inChannels <= 0)
    {
        return invalidArgument(op, ": inChannels must be > 0, got ", p.inChannels);
    }
    if (p.height < 0 || p.width < 0)
    {
        return invalidArgument(op, ": height and width must be >= 0, got height=", p.height, " width=", p.width);
    }
    if (p.outChannels < 0)
    {
        return invalidArgument(op, ": outChannels must be >= 0, got ", p.outChannels);
    }
    if (p.kernelHeight <= 0 || p.kernelWidth <= 0)
    {
        return invalidArgument(
            op, ": kernel size must be positive, got kernelHeight=", p.kernelHeight, " kernelWidth=", p.kernelWidth);
    }
    if (p.strideH <= 0 || p.strideW <= 0)
    {
        return invalidArgument(op, ": stride must be positive, got strideH=", p.strideH, " strideW=", p.strideW);
    }
    if (p.padH < 0 || p.padW < 0)
    {
        return invalidArgument(op, ": padding must be >= 0, got padH=", p.padH, " padW=", p.padW);
    }
    if (p.dilationH <= 0 || p.dilationW <= 0)
    {
        return invalidArgument(
            op, ": dilation must be positive, got dilationH=", p.dilationH, " dilationW=", p.dilationW);
    }
    if (p.groups <= 0 || p.inChannels % p.groups != 0)
    {
        return invalidArgument(
            op, ": groups must be positive and divide inChannels=", p.inChannels, ", got groups=", p.groups);
    }
    if (p.outChannels % p.groups != 0)
    {
        return invalidArgument(
            op, ": groups must divide outChannels=", p.outChannels, ", got groups=", p.groups);
    }
    if (p.offsetGroups <= 0 || p.inChannels % p.offsetGroups != 0)
    {
        return invalidArgument(op, ": offsetGroups must be positive and divide inChannels=", p.inChannels,
            ", got offsetGroups=", p.offsetGroups);
    }
    int64_t const expectedH = deformConv2dOutputSize(p.height, p.kernelHeight, p.strideH, p.padH, p.dilationH);
    int64_t const expectedW = deformConv2dOutputSize(p.width, p.kernelWidth, p.strideW, p.padW, p.dilationW);
    if (expectedH <= 0 || expectedW <= 0)
    {
        return invalidArgument(op, ": output size too small: (", expectedH, ", ", expectedW, ") for input (", p.height,
            ", ", p.width, "), kernel (", p.kernelHeight, ", ", p.kernelWidth, "), padding (", p.padH, ", ", p.padW,
            "), dilation (", p.dilationH, ", ", p.dilationW, ")");
    }
    if (p.outHeight != expectedH || p.outWidth != expectedW)
    {
        return invalidArgument(op, ": outHeight/outWidth must be (", expectedH, ", ", expectedW, "), got (",
            p.outHeight, ", ", p.outWidth, ")");
    }
    // Index limits of the kernels: plane offsets and the pixel count are int32.
    // Tap origins (out * stride - pad + tap * dilation) are int32; their intermediates are bounded
    // by the padded extent.
    int64_t const paddedHeight = p.height + 2 * static_cast<int64_t>(p.padH);
    int64_t const paddedWidth = p.width + 2 * static_cast<int64_t>(p.padW);
    if (paddedHeight > kINT32_LIMIT || paddedWidth > kINT32_LIMIT)
    {
        return unsupported(op, ": the padded input extent must be < 2^31, got height + 2 padH=", paddedHeight,
            " width + 2 padW=", paddedWidth);
    }
    if (p.height * p.width > kINT32_LIMIT)
    {
        return unsupported(op, ": height * width must be < 2^31, got ", p.height * p.width);
    }
    if (p.batch * p.outHeight * p.outWidth > kINT32_LIMIT)
    {
        return unsupported(
            op, ": batch * outHeight * outWidth must be < 2^31, got ", p.batch * p.outHeight * p.outWidth);
    }
    int64_t const taps = static_cast<int64_t>(p.kernelHeight) * p.kernelWidth;
    if (taps * (p.inChannels / p.groups + deform::kCHANNEL_PAD) > kINT32_LIMIT || p.outChannels > kINT32_LIMIT
        || p.inChannels > kINT32_LIMIT || 2 * taps * p.offsetGroups > kINT32_LIMIT)
    {
        return unsupported(op, ": channel or kernel extents exceed the int32 limits of the kernels (inChannels=",
            p.inChannels, ", outChannels=", p.outChannels, ", kernel ", p.kernelHeight, "x", p.kernelWidth, ")");
    }
    return Status::ok();
}

size_t deformConv2dWorkspaceSize(DeformConv2dParams const& p)
{
    if (!validateDeformConv2d(p).isOk() || p.batch == 0 || p.outChannels == 0)
    {
        return 0;
    }
    int64_t const channelsLastBytes = p.batch * p.inChannels * p.height * p.width * elementSize(p.dataType);
    return static_cast<size_t>(
        deform::packedWeightsBytes(p) + deform::roundUp(channelsLastBytes, deform::kWORKSPACE_ALIGNMENT));
}

namespace deform
{
Status checkPointers(DeformConv2dParams const& p, void const* input, void const* offset, void const* mask,
    void const* weight, void const* bias, void const* output)
{
    if (input == nullptr || offset == nullptr || weight == nullptr || output == nullptr
        || (p.hasMask && mask == nullptr) || (p.hasBias && bias == nullptr))
    {
        return invalidArgument("deform_conv2d: a required pointer (input, offset, weight, output, or mask/bias when "
                               "hasMask/hasBias) is null");
    }
    return Status::ok();
}
} // namespace deform

Status deformConv2dForwardHost(DeformConv2dParams const& params, void const* input, void const* offset,
    void const* mask, void const* weight, void const* bias, void* output)
{
    TRTOPS_RETURN_IF_ERROR(validateDeformConv2d(params));
    if (params.batch == 0 || params.outChannels == 0)
    {
        return Status::ok();
    }
    TRTOPS_RETURN_IF_ERROR(deform::checkPointers(params, input, offset, mask, weight, bias, output));
    return dispatchFloating(params.dataType, "deform_conv2d", "dataType", [&](auto tag) {
        using T = decltype(tag);
        return forwardHostTyped<T>(params, static_cast<T const*>(input), static_cast<T const*>(offset),
            static_cast<T const*>(mask), static_cast<T const*>(weight), static_cast<T const*>(bias),
            static_cast<T*>(output));
    });
}

} // namespace trtops
