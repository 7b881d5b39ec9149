//! \file roi_align_family.cuh
//! The RoIAlign family (RoIAlign, PS-RoIAlign, MultiScaleRoIAlign): one argument block, two thread
//! mappings, each usable from a CUDA kernel and from the host loop.
//!
//! - AlignChunkOp: one thread per (roi, ph, pw, chunk of kALIGN_CHANNELS_PER_THREAD channels),
//!   any layout. The bilinear taps of a bin are computed once and reused across the chunk; in
//!   NCHW consecutive threads cover consecutive bins of a channel, so output stores coalesce and
//!   the taps of neighbouring bins share cache lines.
//! - ChannelsLastOp<AlignBins, kVEC>: channels-last only; one thread per (roi, ph, pw, run of
//!   kVEC channels), runs fastest, so a warp reads each tap as contiguous 16-byte vectors and
//!   writes the output row of the bin fully coalesced. kVEC = 8 (withThreadChannels) when
//!   channels allow; kVEC = 1 is the scalar fallback (and the host path).
//! - stagedNhwcToNchwKernel: NCHW input through a channels-last copy in the workspace, NCHW
//!   output staged through shared memory (shared with RoIPool).
#pragma once

#include "roi/multi_scale_roi_align.h"
#include "roi/roi_common.cuh"

#include <type_traits>

#if defined(__CUDACC__)
#include "core/transpose.cuh" // device code: nvcc builds only
#endif

namespace trtops
{
namespace roi
{

constexpr int32_t kMAX_LEVELS = MultiScaleRoIAlignParams::kMaxLevels;

template <typename T, typename RoiT>
struct AlignArgs
{
    T const* inputs[kMAX_LEVELS];
    int32_t heights[kMAX_LEVELS];
    int32_t widths[kMAX_LEVELS];
    float scales[kMAX_LEVELS];
    int32_t numLevels;
    bool mapLevels; //!< multi-scale with more than one level
    LevelMapping mapping;
    RoiT const* rois;
    T* output;
    int64_t batch;
    int64_t channels;    //!< input channels
    int64_t outChannels; //!< channels (RoIAlign) or channels / (ph * pw) (PS-RoIAlign)
    int64_t numRois;
    int32_t pooledH, pooledW, samplingRatio;
    bool aligned;
    bool positionSensitive;
    bool channelsLast;
};

//! The level, map size and sampling geometry of RoI n.
template <typename Acc>
struct ResolvedRoi
{
    AlignBox<Acc> box;
    int32_t level;
    int64_t batchIndex;
};

template <typename T, typename RoiT>
TRTOPS_HD ResolvedRoi<AccumulatorT<T>> resolveRoi(AlignArgs<T, RoiT> const& a, int64_t n)
{
    using Acc = AccumulatorT<T>;
    RoiRow<Acc> const r = readRoiRow<Acc>(a.rois, n, a.batch);
    ResolvedRoi<Acc> out;
    out.level = a.mapLevels ? mapLevel(r, a.mapping, a.numLevels) : 0;
    out.batchIndex = r.batchIndex;
    int32_t const level = out.level < 0 ? 0 : out.level;
    out.box = makeAlignBox(r, static_cast<Acc>(a.scales[level]), a.pooledH, a.pooledW, a.samplingRatio, a.aligned,
        a.positionSensitive);
    out.box.valid = out.box.valid && out.level >= 0 && a.heights[level] > 0 && a.widths[level] > 0;
    out.level = level;
    return out;
}

//! The bin sums come in two kinds, chosen per launch from sampling_ratio: kADAPTIVE (<= 0) sums a
//! bin by rows of columns (sumBinSeparable), a fixed ratio sample by sample as torchvision. They
//! are separate kernels so that the separable sum's registers do not cost the fixed-ratio
//! kernels occupancy.
template <typename Fn>
Status withGridKind(int32_t samplingRatio, Fn&& fn)
{
    if (samplingRatio > 0 || !TRTOPS_ROI_SEPARABLE_ADAPTIVE)
    {
        return fn(std::false_type{});
    }
    return fn(std::true_type{});
}

template <typename T, typename RoiT, int32_t kCHANNELS, bool kADAPTIVE>
struct AlignChunkOp
{
    //! roiGridStrideKernel's launch bound (TRTOPS_ROI_ALIGN_ONE_CHANNEL_MIN_BLOCKS); none for
    //! float64, whose wider values would spill under it.
    static constexpr int32_t kMIN_BLOCKS = kCHANNELS == 1 && sizeof(T) <= 4 ? kALIGN_ONE_CHANNEL_MIN_BLOCKS : 1;
    AlignArgs<T, RoiT> a;
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
        ResolvedRoi<Acc> const roi = resolveRoi(a, item.roi);
        Acc acc[kCHANNELS];
        if (roi.box.valid)
        {
            int32_t const height = a.heights[roi.level];
            int32_t const width = a.widths[roi.level];
            ChunkInput const in = chunkInput(item, bins, a.positionSensitive, a.channelsLast, a.channels,
                roi.batchIndex, static_cast<int64_t>(height) * width);
            sumBinSamples<kCHANNELS, kADAPTIVE>(roi.box, item.ph, item.pw, height, width,
                a.inputs[roi.level] + in.offset, in.channelStep, in.pixelStride, item.numChannels, acc);
TRTOPS_UNROLL
            for (int32_t k = 0; k < kCHANNELS; ++k)
            {
                acc[k] = acc[k] / roi.box.count;
            }
        }
        else
        {
TRTOPS_UNROLL
            for (int32_t k = 0; k < kCHANNELS; ++k)
            {
                acc[k] = 0;
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

//! kVEC contiguous elements moved as aligned loads/stores of at most 16 bytes each (the widest
//! the GPU has): one access up to 16 bytes, several above.
template <typename T, int32_t kVEC>
struct alignas(sizeof(T) * kVEC < 16 ? sizeof(T) * kVEC : 16) Vec
{
    T v[kVEC];
};

//! Average of bin (ph, pw) of a resolved RoI for channels [c0, c0 + kVEC) of a channels-last
//! input, read as kVEC-element vectors (kVEC = 1: scalars). Zeros for an invalid RoI.
template <int32_t kVEC, bool kADAPTIVE, typename T, typename RoiT, typename Acc>
TRTOPS_HD void averageBinVec(AlignArgs<T, RoiT> const& a, ResolvedRoi<Acc> const& roi, int32_t ph, int32_t pw,
    int64_t c0, Acc (&acc)[kVEC])
{
    using V = Vec<T, kVEC>;
TRTOPS_UNROLL
    for (int32_t j = 0; j < kVEC; ++j)
    {
        acc[j] = 0;
    }
    if (!roi.box.valid)
    {
        return;
    }
    int32_t const height = a.heights[roi.level];
    int32_t const width = a.widths[roi.level];
    int64_t const plane = static_cast<int64_t>(height) * width;
    T const* base = a.inputs[roi.level] + roi.batchIndex * plane * a.channels + c0;
    int64_t const pixelStride = a.channels;
    AlignBox<Acc> const& box = roi.box;
    if constexpr (kADAPTIVE)
    {
        sumBinSeparable<kVEC>(
            box, ph, pw, height, width,
            [&](int64_t pixel, Acc(&values)[kVEC]) {
                V const v = *reinterpret_cast<V const*>(base + pixel * pixelStride);
TRTOPS_UNROLL
                for (int32_t j = 0; j < kVEC; ++j)
                {
                    values[j] = convertTo<Acc>(v.v[j]);
                }
            },
            acc);
    }
    else
    {
        forEachBinTap(box, ph, pw, height, width, [&](BilinearTap<Acc> const& t) {
            V const v1 = *reinterpret_cast<V const*>(base + t.p1 * pixelStride);
            V const v2 = *reinterpret_cast<V const*>(base + t.p2 * pixelStride);
            V const v3 = *reinterpret_cast<V const*>(base + t.p3 * pixelStride);
            V const v4 = *reinterpret_cast<V const*>(base + t.p4 * pixelStride);
TRTOPS_UNROLL
            for (int32_t j = 0; j < kVEC; ++j)
            {
                acc[j] += t.w1 * convertTo<Acc>(v1.v[j]) + t.w2 * convertTo<Acc>(v2.v[j])
                    + t.w3 * convertTo<Acc>(v3.v[j]) + t.w4 * convertTo<Acc>(v4.v[j]);
            }
        });
    }
TRTOPS_UNROLL
    for (int32_t j = 0; j < kVEC; ++j)
    {
        acc[j] = acc[j] / box.count;
    }
}

//! RoIAlign's bins for the channels-last kernels (ChannelsLastOp, stagedNhwcToNchwKernel): per-RoI
//! state `roi(n)` and the averages of one bin for kVEC consecutive channels `bin<kVEC>(...)`.
template <typename T, typename RoiT, bool kADAPTIVE>
struct AlignBins
{
    AlignArgs<T, RoiT> a; //!< inputs channels-last, not position-sensitive

    TRTOPS_HD ResolvedRoi<AccumulatorT<T>> roi(int64_t n) const
    {
        return resolveRoi(a, n);
    }
    template <int32_t kVEC>
    TRTOPS_HD void bin(ResolvedRoi<AccumulatorT<T>> const& roi, int32_t ph, int32_t pw, int64_t c0,
        AccumulatorT<T> (&acc)[kVEC]) const
    {
        averageBinVec<kVEC, kADAPTIVE>(a, roi, ph, pw, c0, acc);
    }
};

//! One thread per (roi, ph, pw, run of kVEC channels) from a channels-last input into a
//! channels-last output [numRois, pooledH, pooledW, channels]; runs vary fastest, so a warp reads
//! each tap or cell as contiguous 16-byte vectors and writes the bin's output row coalesced.
//! `Bins` (AlignBins, PoolBins) computes the values; channels % kVEC == 0.
template <typename T, typename Bins, int32_t kVEC>
struct ChannelsLastOp
{
    Bins op;
    T* output;
    int64_t numRois;
    int64_t channels;
    int32_t pooledH, pooledW;

    int64_t total() const
    {
        return numRois * pooledH * pooledW * (channels / kVEC);
    }

    TRTOPS_HD void run(int64_t index) const
    {
        using V = Vec<T, kVEC>;
        int64_t const numVecs = channels / kVEC;
        int32_t const bins = pooledH * pooledW;
        int64_t const nBin = index / numVecs;
        int64_t const c0 = (index - nBin * numVecs) * kVEC;
        int64_t const n = nBin / bins;
        int32_t const bin = static_cast<int32_t>(nBin - n * bins);
        int32_t const ph = bin / pooledW;
        AccumulatorT<T> acc[kVEC];
        op.template bin<kVEC>(op.roi(n), ph, bin - ph * pooledW, c0, acc);
        V out;
TRTOPS_UNROLL
        for (int32_t j = 0; j < kVEC; ++j)
        {
            out.v[j] = convertTo<T>(acc[j]);
        }
        *reinterpret_cast<V*>(output + nBin * channels + c0) = out;
    }
};

template <int32_t kVEC, bool kADAPTIVE, typename T, typename RoiT>
ChannelsLastOp<T, AlignBins<T, RoiT, kADAPTIVE>, kVEC> alignChannelsLastOp(AlignArgs<T, RoiT> const& a)
{
    return {AlignBins<T, RoiT, kADAPTIVE>{a}, a.output, a.numRois, a.channels, a.pooledH, a.pooledW};
}

//! A resident-block bound that the GPU being compiled for can honour: sm_75 holds 1024 threads
//! per SM (4 blocks of 256; ptxas ignores a larger bound with a warning), later GPUs 1536 or 2048.
constexpr int32_t residentBlocksBound(int32_t blocks)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 750
    return blocks < 4 ? blocks : 4;
#else
    return blocks;
#endif
}

//! Op::kMIN_BLOCKS where the op defines it, else 1 (no bound beyond the block size).
template <typename Op, typename = void>
struct MinBlocksOf
{
    static constexpr int32_t value = 1;
};
template <typename Op>
struct MinBlocksOf<Op, std::void_t<decltype(Op::kMIN_BLOCKS)>>
{
    static constexpr int32_t value = residentBlocksBound(Op::kMIN_BLOCKS);
};

#if defined(__CUDACC__)
template <typename Op>
__global__ void __launch_bounds__(kTHREADS_PER_BLOCK, MinBlocksOf<Op>::value) roiGridStrideKernel(
    __grid_constant__ Op const op, int64_t total)
{
    int64_t const stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    {
        op.run(i);
    }
}

template <typename Op>
Status launchOp(Op const& op, cudaStream_t stream, char const* name)
{
    int64_t const total = op.total();
    if (total == 0)
    {
        return Status::ok();
    }
    roiGridStrideKernel<Op><<<gridFor(total, kTHREADS_PER_BLOCK), kTHREADS_PER_BLOCK, 0, stream>>>(op, total);
    return lastLaunchStatus(name);
}
#endif

template <typename Op>
void runOpOnHost(Op const& op)
{
    int64_t const total = op.total();
    for (int64_t i = 0; i < total; ++i)
    {
        op.run(i);
    }
}

//! Elements of one 16-byte vector.
template <typename T>
constexpr int32_t vecWidth()
{
    return static_cast<int32_t>(16 / sizeof(T));
}

//! Channels one thread of the channels-last-output kernels (ChannelsLastOp) takes when the
//! channel count allows: 8, i.e. one 16-byte vector of fp16/bf16 and two of fp32, so the bin
//! geometry each thread works out is shared by 8 channels in every dtype.
constexpr int32_t kVEC_THREAD_CHANNELS = 8;

//! Runs fn(std::integral_constant<int32_t, kCH>) with the most channels per thread (8, one
//! 16-byte vector, or 1) that `channels` and the 16-byte alignment of `pointersAligned` allow.
template <typename T, typename Fn>
Status withThreadChannels(int64_t channels, bool pointersAligned, Fn&& fn)
{
    constexpr int32_t kV = vecWidth<T>();
    if (pointersAligned && channels % kVEC_THREAD_CHANNELS == 0)
    {
        return fn(std::integral_constant<int32_t, kVEC_THREAD_CHANNELS>{});
    }
    if (pointersAligned && channels % kV == 0)
    {
        return fn(std::integral_constant<int32_t, kV>{});
    }
    return fn(std::integral_constant<int32_t, 1>{});
}

inline bool isAligned16(void const* p)
{
    return (reinterpret_cast<uintptr_t>(p) & 15U) == 0;
}

#if defined(__CUDACC__)
//! Launches the fastest mapping for these arguments: 16-byte vectors for channels-last RoIAlign
//! when channels and pointers allow, else the channel-chunk mapping.
template <typename T, typename RoiT>
Status launchAlign(AlignArgs<T, RoiT> const& a, cudaStream_t stream, char const* name)
{
    return withGridKind(a.samplingRatio, [&](auto adaptive) {
        constexpr bool kADAPTIVE = decltype(adaptive)::value;
        if (a.channelsLast && !a.positionSensitive)
        {
            bool aligned = isAligned16(a.output);
            for (int32_t l = 0; l < a.numLevels; ++l)
            {
                aligned = aligned && isAligned16(a.inputs[l]);
            }
            return withThreadChannels<T>(a.channels, aligned, [&](auto channels) {
                constexpr int32_t kCH = decltype(channels)::value;
                return launchOp(alignChannelsLastOp<kCH, kADAPTIVE>(a), stream, name);
            });
        }
        if (!chunkPays(a.numRois * a.pooledH * a.pooledW * a.outChannels, kALIGN_CHANNELS_PER_THREAD))
        {
            return launchOp(AlignChunkOp<T, RoiT, 1, kADAPTIVE>{a, a.outChannels}, stream, name);
        }
        return launchOp(AlignChunkOp<T, RoiT, kALIGN_CHANNELS_PER_THREAD, kADAPTIVE>{
                            a, ceilDiv(a.outChannels, kALIGN_CHANNELS_PER_THREAD)},
            stream, name);
    });
}
#endif

#if defined(__CUDACC__)
//! Most bins one block of stagedNhwcToNchwKernel stages (a 7x7 RoI fits one block).
constexpr int32_t kMAX_STAGE_BINS = 64;

//! Bins per block: with few samples per bin (sampling_ratio 1 or 2) a warp takes several bins so
//! the per-block work (RoI decode, staging, barrier) is amortized; otherwise (larger or adaptive
//! grids, where a bin can hold hundreds of samples) one bin per warp keeps blocks short and
//! balanced. Measured on an H100 (2x256x200x304, 1000 RoIs, 7x7, fp32): sampling_ratio 2 took
//! 0.257 ms with a whole RoI per block, 0.286 ms with 32 bins and 0.361 ms with 8; adaptive
//! sampling took 1.84 ms with a whole RoI per block and 1.18 ms with 8 bins.
inline int32_t alignStageBins(int32_t samplingRatio)
{
    return samplingRatio > 0 && samplingRatio <= 2 ? kMAX_STAGE_BINS : kTHREADS_PER_BLOCK / 32;
}

//! Geometry of a staged launch: the NCHW output [numRois, channels, pooledH, pooledW].
struct StageShape
{
    int64_t channels;
    int32_t pooledW;
    int32_t bins;      //!< pooledH * pooledW
    int32_t stageBins; //!< bins per block, at most kMAX_STAGE_BINS
};

//! RoI op from a channels-last input into an NCHW output. One block per (RoI, tile of 32 * kVEC
//! channels, group of `stageBins` bins): warps take bins, lanes take kVEC-channel vectors, so each
//! read is one coalesced 16-byte-per-lane access across channels. Results are staged in shared
//! memory as [channel][bin] and written out bin-contiguous per channel, so the NCHW stores
//! coalesce too.
template <typename T, int32_t kVEC, typename Bins>
__global__ void __launch_bounds__(kTHREADS_PER_BLOCK) stagedNhwcToNchwKernel(
    __grid_constant__ Bins const op, T* __restrict__ output, StageShape const s)
{
    using Acc = AccumulatorT<T>;
    constexpr int32_t kTILE = 32 * kVEC; // channels per block
    constexpr int32_t kWARPS = kTHREADS_PER_BLOCK / 32;
    constexpr int32_t kROW = kMAX_STAGE_BINS + 1; // staged bins per channel, padded against bank conflicts
    __shared__ alignas(16) unsigned char stageBytes[kTILE * kROW * sizeof(T)];
    T* stage = reinterpret_cast<T*>(stageBytes);

    int64_t const n = blockIdx.x;
    int64_t const cTile = static_cast<int64_t>(blockIdx.y) * kTILE;
    int32_t const b0 = static_cast<int32_t>(blockIdx.z) * s.stageBins;
    int32_t const groupBins = s.bins - b0 < s.stageBins ? s.bins - b0 : s.stageBins;
    int32_t const lane = threadIdx.x % 32;
    int32_t const warp = threadIdx.x / 32;
    // This lane's channels; channels % kVEC == 0, so a vector is all inside or all outside.
    int64_t const c0 = cTile + lane * kVEC;
    if (c0 < s.channels)
    {
        auto const roi = op.roi(n);
        for (int32_t local = warp; local < groupBins; local += kWARPS)
        {
            int32_t const bin = b0 + local;
            int32_t const ph = bin / s.pooledW;
            int32_t const pw = bin - ph * s.pooledW;
            Acc acc[kVEC];
            op.template bin<kVEC>(roi, ph, pw, c0, acc);
TRTOPS_UNROLL
            for (int32_t j = 0; j < kVEC; ++j)
            {
                stage[(lane * kVEC + j) * kROW + local] = convertTo<T>(acc[j]);
            }
        }
    }
    __syncthreads();
    int32_t const tileChannels = static_cast<int32_t>(s.channels - cTile < kTILE ? s.channels - cTile : kTILE);
    T* out = output + (n * s.channels + cTile) * s.bins + b0;
    int32_t const items = tileChannels * groupBins;
    for (int32_t i = threadIdx.x; i < items; i += kTHREADS_PER_BLOCK)
    {
        int32_t const c = i / groupBins;
        int32_t const local = i - c * groupBins;
        out[static_cast<int64_t>(c) * s.bins + local] = stage[c * kROW + local];
    }
}

//! Whether stagedNhwcToNchwKernel's grid fits CUDA's limits for this shape.
inline bool stagedGridFits(int64_t numRois, int64_t channels, int32_t bins, int32_t stageBins)
{
    return numRois <= 0x7fffffff && ceilDiv(channels, 32) <= 65535 && ceilDiv(bins, stageBins) <= 65535;
}

//! Launches stagedNhwcToNchwKernel: 16-byte vectors when the channel count allows (the
//! channels-last input is the workspace copy, 16-byte aligned), scalars otherwise.
template <typename T, typename Bins>
Status launchStagedNhwcToNchw(
    Bins const& op, T* output, int64_t numRois, StageShape const& s, cudaStream_t stream, char const* name)
{
    constexpr int32_t kV = vecWidth<T>();
    bool const vectors = s.channels % kV == 0;
    dim3 const blocks(static_cast<unsigned int>(numRois),
        static_cast<unsigned int>(ceilDiv(s.channels, 32 * (vectors ? kV : 1))),
        static_cast<unsigned int>(ceilDiv(s.bins, s.stageBins)));
    if (vectors)
    {
        stagedNhwcToNchwKernel<T, kV><<<blocks, kTHREADS_PER_BLOCK, 0, stream>>>(op, output, s);
    }
    else
    {
        stagedNhwcToNchwKernel<T, 1><<<blocks, kTHREADS_PER_BLOCK, 0, stream>>>(op, output, s);
    }
    return lastLaunchStatus(name);
}

//! NCHW RoIAlign through a channels-last copy of the input in `workspace`
//! (roiAlignWorkspaceSize bytes): transpose, then stagedNhwcToNchwKernel.
template <typename T, typename RoiT>
Status launchAlignViaChannelsLast(AlignArgs<T, RoiT> a, void* workspace, cudaStream_t stream, char const* name)
{
    int64_t const pixels = static_cast<int64_t>(a.heights[0]) * a.widths[0];
    StageShape const shape{a.channels, a.pooledW, a.pooledH * a.pooledW, alignStageBins(a.samplingRatio)};
    if (!stagedGridFits(a.numRois, a.channels, shape.bins, shape.stageBins))
    {
        return launchAlign(a, stream, name); // beyond the grid's limits: the direct path
    }
    TRTOPS_RETURN_IF_ERROR(
        transpose::nchwToNhwc(a.inputs[0], workspace, a.batch, a.channels, pixels, sizeof(T), stream, name));
    a.inputs[0] = static_cast<T const*>(workspace);
    a.channelsLast = true; // input only: the kernel writes NCHW
    return withGridKind(a.samplingRatio, [&](auto adaptive) {
        return launchStagedNhwcToNchw(
            AlignBins<T, RoiT, decltype(adaptive)::value>{a}, a.output, a.numRois, shape, stream, name);
    });
}
#endif

//! Workspace of the channels-last copy path: one channels-last copy of an NCHW map when
//! transposing it once beats gathering from NCHW directly, else 0. The direct gather costs about
//! one 32-byte sector per channel and map read; the copy costs two passes over the map.
//! `tapsPerBin`: map reads per bin and channel (RoIAlign: alignTapsPerBin; RoIPool: 4 cells). Never
//! decreases as numRois grows, so TensorRT's size at the largest RoI count covers smaller calls.
inline size_t channelsLastCopyBytes(Layout layout, DataType featureType, int64_t batch, int64_t channels,
    int64_t height, int64_t width, int64_t numRois, int32_t pooledH, int32_t pooledW, int64_t tapsPerBin)
{
    if (layout != Layout::kNCHW || numRois * pooledH * pooledW * tapsPerBin < batch * height * width)
    {
        return 0;
    }
    return static_cast<size_t>(batch * channels * height * width * elementSize(featureType));
}

//! Whether a launcher takes the copy path: it asked for a workspace (`asked` > 0) and got one. A
//! workspace that is not 16-byte aligned (TensorRT's and torch's always are) is not used rather
//! than risking misaligned vector stores; the direct gather gives the same results.
inline bool useChannelsLastCopy(void const* workspace, size_t asked)
{
    return asked > 0 && workspace != nullptr && isAligned16(workspace);
}

//! RoIAlign's map reads per bin and channel for channelsLastCopyBytes.
inline int64_t alignTapsPerBin(int32_t samplingRatio)
{
    int64_t const grid = samplingRatio > 0 ? samplingRatio : 2;
    return grid * grid * 4;
}

//! Host implementation: same per-element math, one output element per step.
template <typename T, typename RoiT>
Status runAlignOnHost(AlignArgs<T, RoiT> const& a)
{
    return withGridKind(a.samplingRatio, [&](auto adaptive) {
        constexpr bool kADAPTIVE = decltype(adaptive)::value;
        if (a.channelsLast && !a.positionSensitive)
        {
            runOpOnHost(alignChannelsLastOp<1, kADAPTIVE>(a));
        }
        else
        {
            runOpOnHost(AlignChunkOp<T, RoiT, 1, kADAPTIVE>{a, a.outChannels});
        }
        return Status::ok();
    });
}

//! Arguments for a single-level call (RoIAlign, PS-RoIAlign).
template <typename T, typename RoiT>
AlignArgs<T, RoiT> singleLevelArgs(void const* input, void const* rois, void* output, int64_t batch, int64_t channels,
    int64_t height, int64_t width, int64_t numRois, int32_t pooledH, int32_t pooledW, float scale,
    int32_t samplingRatio, bool aligned, bool positionSensitive, Layout layout)
{
    AlignArgs<T, RoiT> a{};
    a.inputs[0] = static_cast<T const*>(input);
    a.heights[0] = static_cast<int32_t>(height);
    a.widths[0] = static_cast<int32_t>(width);
    a.scales[0] = scale;
    a.numLevels = 1;
    a.mapLevels = false;
    a.rois = static_cast<RoiT const*>(rois);
    a.output = static_cast<T*>(output);
    a.batch = batch;
    a.channels = channels;
    a.outChannels = positionSensitive ? channels / (static_cast<int64_t>(pooledH) * pooledW) : channels;
    a.numRois = numRois;
    a.pooledH = pooledH;
    a.pooledW = pooledW;
    a.samplingRatio = samplingRatio;
    a.aligned = aligned;
    a.positionSensitive = positionSensitive;
    a.channelsLast = layout == Layout::kNHWC;
    return a;
}

} // namespace roi
} // namespace trtops
