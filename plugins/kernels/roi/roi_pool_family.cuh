//! \file roi_pool_family.cuh
//! RoIPool (max over integer cells) and PS-RoIPool (mean over integer cells): one thread per
//! (roi, ph, pw, chunk of kPOOL_CHANNELS_PER_THREAD channels); the bin's cell range is computed once
//! and reused for the chunk. Usable from a CUDA kernel and from the host loop.
#pragma once

#include "roi/roi_align_family.cuh"
#include "roi/roi_common.cuh"

namespace trtops
{
namespace roi
{

template <typename T, typename RoiT>
struct PoolArgs
{
    T const* input;
    RoiT const* rois;
    T* output;
    int64_t batch, channels, outChannels, height, width, numRois;
    int32_t pooledH, pooledW;
    float scale;
    bool positionSensitive;
    bool channelsLast;
};

template <typename T, typename RoiT, int32_t kCHANNELS>
struct PoolChunkOp
{
    PoolArgs<T, RoiT> a;
    int64_t numChunks;

    int64_t total() const
    {
        return a.numRois * a.pooledH * a.pooledW * numChunks;
    }

    TRTOPS_HD void run(int64_t index) const
    {
        using Acc = AccumulatorT<T>;
        int32_t const bins = a.pooledH * a.pooledW;
        ChunkItem const item
            = chunkItem<kCHANNELS>(index, a.pooledH, a.pooledW, numChunks, a.outChannels, a.channelsLast);

        RoiRow<Acc> const r = readRoiRow<Acc>(a.rois, item.roi, a.batch);
        PoolBox<Acc> const box
            = makePoolBox(r, static_cast<Acc>(a.scale), a.pooledH, a.pooledW, a.positionSensitive);
        Acc acc[kCHANNELS];
TRTOPS_UNROLL
        for (int32_t k = 0; k < kCHANNELS; ++k)
        {
            acc[k] = 0;
        }
        if (box.valid && a.height > 0 && a.width > 0)
        {
            int64_t const limitH = a.positionSensitive ? a.height - 1 : a.height;
            int64_t const limitW = a.positionSensitive ? a.width - 1 : a.width;
            PoolBin const cells = makePoolBin(box, item.ph, item.pw, limitH, limitW);
            if (!cells.empty)
            {
                ChunkInput const in = chunkInput(
                    item, bins, a.positionSensitive, a.channelsLast, a.channels, r.batchIndex, a.height * a.width);
                T const* base = a.input + in.offset;
                if (!a.positionSensitive)
                {
TRTOPS_UNROLL
                    for (int32_t k = 0; k < kCHANNELS; ++k)
                    {
                        acc[k] = static_cast<Acc>(-FLT_MAX);
                    }
                }
                for (int32_t h = cells.hStart; h < cells.hEnd; ++h)
                {
                    for (int32_t w = cells.wStart; w < cells.wEnd; ++w)
                    {
                        int64_t const pixel = (static_cast<int64_t>(h) * a.width + w) * in.pixelStride;
TRTOPS_UNROLL
                        for (int32_t k = 0; k < kCHANNELS; ++k)
                        {
                            if (k < item.numChannels)
                            {
                                Acc const v = loadAs<Acc>(base + k * in.channelStep + pixel);
                                if (a.positionSensitive)
                                {
                                    acc[k] += v;
                                }
                                else if (v > acc[k])
                                {
                                    acc[k] = v;
                                }
                            }
                        }
                    }
                }
                if (a.positionSensitive)
                {
                    Acc const area
                        = static_cast<Acc>((cells.hEnd - cells.hStart) * (cells.wEnd - cells.wStart));
TRTOPS_UNROLL
                    for (int32_t k = 0; k < kCHANNELS; ++k)
                    {
                        acc[k] = acc[k] / area;
                    }
                }
            }
        }
TRTOPS_UNROLL
        for (int32_t k = 0; k < kCHANNELS; ++k)
        {
            if (k < item.numChannels)
            {
                a.output[item.outBase + k * item.outStep] = convertTo<T>(acc[k]);
            }
        }
    }
};

template <typename T, typename RoiT>
PoolArgs<T, RoiT> poolArgs(void const* input, void const* rois, void* output, int64_t batch, int64_t channels,
    int64_t height, int64_t width, int64_t numRois, int32_t pooledH, int32_t pooledW, float scale,
    bool positionSensitive, Layout layout)
{
    PoolArgs<T, RoiT> a{};
    a.input = static_cast<T const*>(input);
    a.rois = static_cast<RoiT const*>(rois);
    a.output = static_cast<T*>(output);
    a.batch = batch;
    a.channels = channels;
    a.outChannels = positionSensitive ? channels / (static_cast<int64_t>(pooledH) * pooledW) : channels;
    a.height = height;
    a.width = width;
    a.numRois = numRois;
    a.pooledH = pooledH;
    a.pooledW = pooledW;
    a.scale = scale;
    a.positionSensitive = positionSensitive;
    a.channelsLast = layout == Layout::kNHWC;
    return a;
}

#if defined(__CUDACC__)
template <typename T, typename RoiT>
Status launchPool(PoolArgs<T, RoiT> const& a, cudaStream_t stream, char const* name)
{
    if (!chunkPays(a.numRois * a.pooledH * a.pooledW * a.outChannels, kPOOL_CHANNELS_PER_THREAD))
    {
        return launchOp(PoolChunkOp<T, RoiT, 1>{a, a.outChannels}, stream, name);
    }
    return launchOp(
        PoolChunkOp<T, RoiT, kPOOL_CHANNELS_PER_THREAD>{a, ceilDiv(a.outChannels, kPOOL_CHANNELS_PER_THREAD)}, stream,
        name);
}
#endif

template <typename T, typename RoiT>
Status runPoolOnHost(PoolArgs<T, RoiT> const& a)
{
    runOpOnHost(PoolChunkOp<T, RoiT, 1>{a, a.outChannels});
    return Status::ok();
}

} // namespace roi
} // namespace trtops
