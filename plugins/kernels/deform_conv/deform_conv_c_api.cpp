#include "deform_conv/deform_conv_c_api.h"
#include "core/c_api_support.h"
#include "deform_conv/deform_conv2d.h"

namespace trtops
{
namespace
{

Status makeParams(int64_t const* shape, int32_t const* fields, int32_t dtype, bool hasMask, bool hasBias,
    bool allowTf32, DeformConv2dParams& params)
{
    if (shape == nullptr || fields == nullptr)
    {
        return invalidArgument("deform_conv2d: shape and fields must not be null");
    }
    params.batch = shape[0];
    params.inChannels = shape[1];
    params.height = shape[2];
    params.width = shape[3];
    params.outChannels = shape[4];
    params.outHeight = shape[5];
    params.outWidth = shape[6];
    params.kernelHeight = fields[0];
    params.kernelWidth = fields[1];
    params.strideH = fields[2];
    params.strideW = fields[3];
    params.padH = fields[4];
    params.padW = fields[5];
    params.dilationH = fields[6];
    params.dilationW = fields[7];
    params.groups = fields[8];
    params.offsetGroups = fields[9];
    params.hasMask = hasMask;
    params.hasBias = hasBias;
    params.dataType = static_cast<DataType>(dtype);
    params.allowTf32 = allowTf32;
    return validateDeformConv2d(params);
}

} // namespace
} // namespace trtops

int32_t trtops_deform_conv2d_workspace_size(int64_t const* shape, int32_t const* fields, int32_t dtype,
    int32_t has_mask, int32_t has_bias, int32_t allow_tf32, int64_t* size)
{
    return trtops::runCApi("deform_conv2d", [&]() -> trtops::Status {
        trtops::DeformConv2dParams params;
        TRTOPS_RETURN_IF_ERROR(
            trtops::makeParams(shape, fields, dtype, has_mask != 0, has_bias != 0, allow_tf32 != 0, params));
        if (size == nullptr)
        {
            return trtops::invalidArgument("deform_conv2d: size must not be null");
        }
        *size = static_cast<int64_t>(trtops::deformConv2dWorkspaceSize(params));
        return trtops::Status::ok();
    });
}

int32_t trtops_deform_conv2d(void const* input, void const* offset, void const* mask, void const* weight,
    void const* bias, void* output, int64_t const* shape, int32_t const* fields, int32_t dtype, int32_t allow_tf32,
    void* workspace, int64_t workspace_size, int32_t device, void* stream)
{
    return trtops::runCApi("deform_conv2d", [&]() -> trtops::Status {
        trtops::DeformConv2dParams params;
        TRTOPS_RETURN_IF_ERROR(trtops::makeParams(
            shape, fields, dtype, mask != nullptr, bias != nullptr, allow_tf32 != 0, params));
        if (device == 0)
        {
            return trtops::deformConv2dForwardHost(params, input, offset, mask, weight, bias, output);
        }
        size_t const needed = trtops::deformConv2dWorkspaceSize(params);
        if (workspace_size < 0 || static_cast<size_t>(workspace_size) < needed)
        {
            return trtops::invalidArgument(
                "deform_conv2d: workspace holds ", workspace_size, " bytes, ", needed, " are needed");
        }
        return trtops::deformConv2dForward(
            params, input, offset, mask, weight, bias, output, workspace, static_cast<cudaStream_t>(stream));
    });
}
