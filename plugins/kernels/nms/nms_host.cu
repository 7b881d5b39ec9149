//! \file nms_host.cu
//! Field validation and the host implementation of NMS. The host walks the same candidate order
//! (same keys, stable sorts) and applies the same IoU predicate (nms_math.cuh) as the kernels, with
//! the plain greedy loop, so CPU tests of this file prove the kernels' semantics.
#include "core/numeric.cuh"
#include "core/status.h"
#include "nms/nms.h"
#include "nms/nms_math.cuh"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

namespace trtops
{
namespace
{

char const* opName(NmsParams const& params)
{
    return params.batched ? "batched_nms" : "nms";
}

bool isBoxType(DataType type)
{
    return type == DataType::kFLOAT32 || type == DataType::kFLOAT16 || type == DataType::kFLOAT64;
}

bool isIndexType(DataType type)
{
    return type == DataType::kINT32 || type == DataType::kINT64;
}

template <typename S>
void computeScoreKeys(void const* scores, int64_t n, NmsParams const& params, std::vector<uint64_t>& keys)
{
    S const* typed = static_cast<S const*>(scores);
    for (int64_t i = 0; i < n; ++i)
    {
        // 32-bit keys widen to 64 bits without changing their order (invalid stays the largest).
        keys[static_cast<size_t>(i)]
            = static_cast<uint64_t>(nms::scoreKey(typed[i], params.hasScoreThreshold, params.scoreThreshold));
    }
}

template <typename I>
uint64_t classKeyAt(void const* classIdxs, int64_t index)
{
    return nms::classKey(static_cast<I const*>(classIdxs)[index]);
}

//! Greedy NMS over `order` (processing order, candidates first); `classes` (batched) holds the
//! class key of each processing position and is sorted, so a class is a contiguous run.
template <typename T>
void greedy(NmsParams const& params, void const* boxes, std::vector<int32_t> const& order, int64_t numValid,
    std::vector<uint64_t> const& classes, std::vector<uint8_t>& keptByIndex)
{
    using C = typename nms::BoxTraits<T>::Compute;
    constexpr bool kHALF = nms::BoxTraits<T>::kHALF_ROUNDING;
    T const* typed = static_cast<T const*>(boxes);
    C const threshold = nms::computeThreshold<C>(params.iouThreshold);
    size_t const live = static_cast<size_t>(numValid);
    std::vector<nms::Box<C>> sorted(live);
    std::vector<C> areas(live);
    for (size_t q = 0; q < live; ++q)
    {
        sorted[q] = nms::loadBox(typed, order[q]);
        areas[q] = nms::boxArea<C, kHALF>(sorted[q]);
    }
    std::vector<uint8_t> removed(live, 0);
    int64_t kept = 0;
    for (size_t q = 0; q < live; ++q)
    {
        if (removed[q])
        {
            continue;
        }
        if (!params.batched && params.maxOutputBoxes >= 0 && kept >= params.maxOutputBoxes)
        {
            break;
        }
        keptByIndex[static_cast<size_t>(order[q])] = 1;
        ++kept;
        for (size_t r = q + 1; r < live; ++r)
        {
            if (params.batched && classes[r] != classes[q])
            {
                break;
            }
            if (!removed[r] && nms::iouAbove<C, kHALF>(sorted[q], areas[q], sorted[r], areas[r], threshold))
            {
                removed[r] = 1;
            }
        }
    }
}

template <typename I>
void writeOutputs(NmsParams const& params, std::vector<int32_t> const& scoreOrder,
    std::vector<uint8_t> const& keptByIndex, void* keepIndices, void* keepCount)
{
    int64_t const capacity = params.maxOutputBoxes >= 0 ? params.maxOutputBoxes : params.numBoxes;
    I* out = static_cast<I*>(keepIndices);
    int64_t count = 0;
    for (int32_t index : scoreOrder)
    {
        if (count >= capacity)
        {
            break;
        }
        if (keptByIndex[static_cast<size_t>(index)])
        {
            out[count++] = static_cast<I>(index);
        }
    }
    *static_cast<int64_t*>(keepCount) = count;
    if (params.padded)
    {
        for (int64_t pos = count; pos < capacity; ++pos)
        {
            out[pos] = static_cast<I>(-1);
        }
    }
}

} // namespace

Status validateNms(NmsParams const& params)
{
    char const* op = opName(params);
    // 32-bit positions with headroom for whole blocks past the end.
    constexpr int64_t kMAX_BOXES = (int64_t{1} << 31) - (int64_t{1} << 16);
    if (params.numBoxes < 0 || params.numBoxes > kMAX_BOXES)
    {
        return invalidArgument(op, ": numBoxes must be in [0, ", kMAX_BOXES, "], got ", params.numBoxes);
    }
    if (std::isnan(params.iouThreshold))
    {
        return invalidArgument(op, ": iou_threshold must not be NaN");
    }
    if (params.hasScoreThreshold && std::isnan(params.scoreThreshold))
    {
        return invalidArgument(op, ": score_threshold must not be NaN");
    }
    if (params.padded && params.maxOutputBoxes < 0)
    {
        return invalidArgument(
            op, ": padded output needs max_output_boxes >= 0, got max_output_boxes=", params.maxOutputBoxes);
    }
    if (!isBoxType(params.boxType))
    {
        return unsupported(
            op, ": boxes has dtype ", dataTypeName(params.boxType), "; supported: float32, float16, float64");
    }
    if (!isBoxType(params.scoreType))
    {
        return unsupported(
            op, ": scores has dtype ", dataTypeName(params.scoreType), "; supported: float32, float16, float64");
    }
    if (params.batched && !isIndexType(params.classType))
    {
        return unsupported(op, ": idxs has dtype ", dataTypeName(params.classType), "; supported: int32, int64");
    }
    if (!isIndexType(params.indexType))
    {
        return unsupported(
            op, ": output index dtype ", dataTypeName(params.indexType), " is not supported; supported: int32, int64");
    }
    return Status::ok();
}

Status nmsForwardHost(NmsParams const& params, void const* boxes, void const* scores, void const* classIdxs,
    void* keepIndices, void* keepCount)
{
    TRTOPS_RETURN_IF_ERROR(validateNms(params));
    char const* op = opName(params);
    int64_t const n = params.numBoxes;
    int64_t const capacity = params.maxOutputBoxes >= 0 ? params.maxOutputBoxes : n;
    if (keepCount == nullptr)
    {
        return invalidArgument(op, ": keepCount is null");
    }
    if (capacity > 0 && keepIndices == nullptr)
    {
        return invalidArgument(op, ": keepIndices is null but has capacity ", capacity);
    }
    if (n > 0 && (boxes == nullptr || scores == nullptr))
    {
        return invalidArgument(op, ": boxes or scores is null for ", n, " boxes");
    }
    if (n > 0 && params.batched && classIdxs == nullptr)
    {
        return invalidArgument(op, ": idxs (classIdxs) is null");
    }
    size_t const count = static_cast<size_t>(n);

    std::vector<uint64_t> keys(count);
    switch (params.scoreType)
    {
    case DataType::kFLOAT32: computeScoreKeys<float>(scores, n, params, keys); break;
    case DataType::kFLOAT16: computeScoreKeys<__half>(scores, n, params, keys); break;
    default: computeScoreKeys<double>(scores, n, params, keys); break;
    }
    uint64_t const invalid = params.scoreType == DataType::kFLOAT64 ? nms::invalidKey<uint64_t>()
                                                                    : uint64_t{nms::invalidKey<uint32_t>()};
    std::vector<int32_t> scoreOrder(count);
    std::iota(scoreOrder.begin(), scoreOrder.end(), 0);
    std::stable_sort(scoreOrder.begin(), scoreOrder.end(),
        [&](int32_t a, int32_t b) { return keys[static_cast<size_t>(a)] < keys[static_cast<size_t>(b)]; });
    int64_t const numValid = std::count_if(keys.begin(), keys.end(), [&](uint64_t k) { return k != invalid; });

    std::vector<int32_t> order = scoreOrder;
    std::vector<uint64_t> classes;
    if (params.batched)
    {
        std::vector<uint64_t> byPosition(count);
        for (size_t p = 0; p < count; ++p)
        {
            byPosition[p] = params.classType == DataType::kINT32 ? classKeyAt<int32_t>(classIdxs, scoreOrder[p])
                                                                 : classKeyAt<int64_t>(classIdxs, scoreOrder[p]);
        }
        // Only candidates take part; they are the prefix of scoreOrder.
        std::vector<int32_t> positions(static_cast<size_t>(numValid));
        std::iota(positions.begin(), positions.end(), 0);
        std::stable_sort(positions.begin(), positions.end(),
            [&](int32_t a, int32_t b) { return byPosition[static_cast<size_t>(a)] < byPosition[static_cast<size_t>(b)]; });
        classes.resize(positions.size());
        for (size_t q = 0; q < positions.size(); ++q)
        {
            order[q] = scoreOrder[static_cast<size_t>(positions[q])];
            classes[q] = byPosition[static_cast<size_t>(positions[q])];
        }
    }

    std::vector<uint8_t> keptByIndex(count, 0);
    switch (params.boxType)
    {
    case DataType::kFLOAT32: greedy<float>(params, boxes, order, numValid, classes, keptByIndex); break;
    case DataType::kFLOAT16: greedy<__half>(params, boxes, order, numValid, classes, keptByIndex); break;
    default: greedy<double>(params, boxes, order, numValid, classes, keptByIndex); break;
    }
    if (params.indexType == DataType::kINT32)
    {
        writeOutputs<int32_t>(params, scoreOrder, keptByIndex, keepIndices, keepCount);
    }
    else
    {
        writeOutputs<int64_t>(params, scoreOrder, keptByIndex, keepIndices, keepCount);
    }
    return Status::ok();
}

} // namespace trtops
