#include "nms/nms_c_api.h"

#include "core/c_api_support.h"
#include "nms/nms.h"

namespace
{
using trtops::DataType;

trtops::NmsParams makeParams(int64_t numBoxes, int32_t batched, int32_t boxDtype, int32_t scoreDtype,
    int32_t classDtype, int32_t indexDtype)
{
    trtops::NmsParams p{};
    p.numBoxes = numBoxes;
    p.batched = batched != 0;
    p.boxType = static_cast<DataType>(boxDtype);
    p.scoreType = static_cast<DataType>(scoreDtype);
    p.classType = static_cast<DataType>(classDtype);
    p.indexType = static_cast<DataType>(indexDtype);
    return p;
}
} // namespace

int32_t trtops_nms_workspace_size(int64_t num_boxes, int32_t batched, int32_t box_dtype, int32_t score_dtype,
    int32_t class_dtype, int32_t index_dtype, uint64_t* workspace_size)
{
    return trtops::runCApi(batched != 0 ? "batched_nms" : "nms", [&]() -> trtops::Status {
        auto const p = makeParams(num_boxes, batched, box_dtype, score_dtype, class_dtype, index_dtype);
        TRTOPS_RETURN_IF_ERROR(trtops::validateNms(p));
        if (workspace_size == nullptr)
        {
            return trtops::invalidArgument("nms: workspace_size is null");
        }
        *workspace_size = trtops::nmsWorkspaceSize(p);
        return trtops::Status::ok();
    });
}

int32_t trtops_nms(void const* boxes, void const* scores, void const* class_idxs, void* keep_indices, void* keep_count,
    int64_t num_boxes, double iou_threshold, int32_t has_score_threshold, double score_threshold,
    int64_t max_output_boxes, int32_t padded, int32_t batched, int32_t box_dtype, int32_t score_dtype,
    int32_t class_dtype, int32_t index_dtype, void* workspace, uint64_t workspace_size, int32_t device, void* stream)
{
    return trtops::runCApi(batched != 0 ? "batched_nms" : "nms", [&] {
        auto p = makeParams(num_boxes, batched, box_dtype, score_dtype, class_dtype, index_dtype);
        p.iouThreshold = iou_threshold;
        p.hasScoreThreshold = has_score_threshold != 0;
        p.scoreThreshold = score_threshold;
        p.maxOutputBoxes = max_output_boxes;
        p.padded = padded != 0;
        return device != 0 ? trtops::nmsForward(p, boxes, scores, class_idxs, keep_indices, keep_count, workspace,
                                 static_cast<size_t>(workspace_size), static_cast<cudaStream_t>(stream))
                           : trtops::nmsForwardHost(p, boxes, scores, class_idxs, keep_indices, keep_count);
    });
}
