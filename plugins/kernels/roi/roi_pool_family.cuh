//! \file roi_pool_family.cuh
//! RoIPool (max over integer cells) and PS-RoIPool (mean over integer cells), usable from a CUDA
//! kernel and from the host loop:
//! - PoolChunkOp: one thread per (roi, ph, pw, chunk of kPOOL_CHANNELS_PER_THREAD channels), any
//!   layout; the bin's cell range is computed once and reused for the chunk. With one channel of
//!   an NCHW map (PS-RoIPool), a row's cells are read as 16-byte vectors (PlaneCells).
//! - ChannelsLastOp<PoolBins, kVEC> (roi_align_family.cuh): RoIPool on a channels-last input, one
//!   thread per (roi, ph, pw, run of kVEC channels), so a warp reads each cell as contiguous
//!   16-byte vectors.
//! - NCHW RoIPool with a workspace: the map is copied channels-last and stagedNhwcToNchwKernel
//!   (roi_align_family.cuh) pools it with PoolBins, writing NCHW through shared memory.
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

//! The cells of a pool bin in row-major order from one plane of an NCHW map, as pieces: an
//! aligned 16-byte vector holding several cells of a row wherever such a vector lies inside the
//! plane, else a single cell. A PS-RoIPool bin is a few cells wide, in a channel plane of its
//! own, so each lane of a warp reads its own sectors and the kernel is bound by how many loads
//! its lanes issue: a vector covers up to 4 (fp32) or 8 (fp16/bf16) cells of a row with one.
//! Pieces hand the cells out in the scalar loop's order, so sums do not change.
template <typename T>
class PlaneCells
{
public:
    static constexpr int32_t kVEC = static_cast<int32_t>(16 / sizeof(T));
    using V = Vec<T, kVEC>;

    //! Cells `cells` (not empty) of the plane [plane, plane + height * width).
    TRTOPS_HD PlaneCells(T const* plane, int64_t height, int64_t width, PoolBin const& cells)
        : mPlane(plane)
        , mPlaneEnd(plane + height * width)
        , mWidth(width)
        , mCells(cells)
        , mRow(cells.hStart)
        , mNext(plane + static_cast<int64_t>(cells.hStart) * width + cells.wStart)
        , mRowEnd(plane + static_cast<int64_t>(cells.hStart) * width + cells.wEnd)
    {
    }

    //! One piece: `values.v[skip, skip + take)` are the next `take` cells (0 when done).
    struct Piece
    {
        V values;
        int32_t skip;
        int32_t take;
    };

    //! Issues the load of the next piece (take = 0 when every cell was handed out).
    TRTOPS_HD Piece next()
    {
        Piece piece{};
        if (mNext == mRowEnd)
        {
            if (++mRow >= mCells.hEnd)
            {
                return piece;
            }
            mNext = mPlane + static_cast<int64_t>(mRow) * mWidth + mCells.wStart;
            mRowEnd = mNext + (mCells.wEnd - mCells.wStart);
        }
        T const* vector = reinterpret_cast<T const*>(reinterpret_cast<uintptr_t>(mNext) & ~uintptr_t{15});
        if (vector >= mPlane && vector + kVEC <= mPlaneEnd)
        {
            piece.values = *reinterpret_cast<V const*>(vector);
            piece.skip = static_cast<int32_t>(mNext - vector);
            int64_t const left = mRowEnd - mNext;
            piece.take = static_cast<int32_t>(left < kVEC - piece.skip ? left : kVEC - piece.skip);
        }
        else
        {
            piece.values.v[0] = *mNext;
            piece.skip = 0;
            piece.take = 1;
        }
        mNext += piece.take;
        return piece;
    }

private:
    T const* mPlane;
    T const* mPlaneEnd;
    int64_t mWidth;
    PoolBin mCells;
    int32_t mRow;
    T const* mNext;
    T const* mRowEnd;
};

template <typename T, typename RoiT, int32_t kCHANNELS>
struct PoolChunkOp
{
    //! roiGridStrideKernel's launch bound (TRTOPS_ROI_POOL_ONE_CHANNEL_MIN_BLOCKS); none for
    //! float64, whose wider values would spill under it.
    static constexpr int32_t kMIN_BLOCKS = kCHANNELS == 1 && sizeof(T) <= 4 ? kPOOL_ONE_CHANNEL_MIN_BLOCKS : 1;
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
                if (TRTOPS_ROI_POOL_PLANE_VECTORS && kCHANNELS == 1 && !a.channelsLast)
                {
                    combinePlane(base, cells, acc[0]);
                }
                else
                {
                    combineCells(base, in, cells, item.numChannels, acc);
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

    //! Adds a cell to the sum (PS-RoIPool) or keeps the larger (RoIPool).
    TRTOPS_HD void combine(AccumulatorT<T>& acc, AccumulatorT<T> value) const
    {
        if (a.positionSensitive)
        {
            acc += value;
        }
        else if (value > acc)
        {
            acc = value;
        }
    }

    //! One channel of an NCHW map: the bin's cells as PlaneCells pieces, kPIECES loads in flight.
    TRTOPS_HD void combinePlane(T const* plane, PoolBin const& cells, AccumulatorT<T>& acc) const
    {
        constexpr int32_t kPIECES = 2;
        using Cells = PlaneCells<T>;
        Cells reader(plane, a.height, a.width, cells);
        for (bool more = true; more;)
        {
            typename Cells::Piece pieces[kPIECES];
TRTOPS_UNROLL
            for (int32_t b = 0; b < kPIECES; ++b)
            {
                pieces[b] = reader.next();
            }
TRTOPS_UNROLL
            for (int32_t b = 0; b < kPIECES; ++b)
            {
TRTOPS_UNROLL
                for (int32_t j = 0; j < Cells::kVEC; ++j)
                {
                    if (j >= pieces[b].skip && j < pieces[b].skip + pieces[b].take)
                    {
                        combine(acc, convertTo<AccumulatorT<T>>(pieces[b].values.v[j]));
                    }
                }
            }
            more = pieces[kPIECES - 1].take > 0;
        }
    }

    //! Any layout and chunk width: cell by cell, kCELL_BATCH cells' loads in flight.
    TRTOPS_HD void combineCells(T const* base, ChunkInput const& in, PoolBin const& cells, int32_t numChannels,
        AccumulatorT<T> (&acc)[kCHANNELS]) const
    {
        using Acc = AccumulatorT<T>;
        // The cells are read kCELL_BATCH at a time before any is combined: a bin of a large
        // RoI holds dozens of cells, and one dependent round trip per cell makes those
        // threads the tail of these short kernels. They are still combined one by one in
        // row-major order, so the results do not change.
        constexpr int32_t kCELL_BATCH = kCHANNELS >= 4 ? 1 : 4 / kCHANNELS;
        int32_t const numCells = (cells.hEnd - cells.hStart) * (cells.wEnd - cells.wStart);
        int32_t h = cells.hStart;
        int32_t w = cells.wStart;
        for (int32_t first = 0; first < numCells; first += kCELL_BATCH)
        {
            Acc v[kCELL_BATCH][kCHANNELS];
TRTOPS_UNROLL
            for (int32_t b = 0; b < kCELL_BATCH; ++b)
            {
                if (first + b < numCells)
                {
                    int64_t const pixel = (static_cast<int64_t>(h) * a.width + w) * in.pixelStride;
TRTOPS_UNROLL
                    for (int32_t k = 0; k < kCHANNELS; ++k)
                    {
                        v[b][k] = k < numChannels ? loadAs<Acc>(base + k * in.channelStep + pixel)
                                                  : static_cast<Acc>(0);
                    }
                    if (++w == cells.wEnd)
                    {
                        w = cells.wStart;
                        ++h;
                    }
                }
            }
TRTOPS_UNROLL
            for (int32_t b = 0; b < kCELL_BATCH; ++b)
            {
TRTOPS_UNROLL
                for (int32_t k = 0; k < kCHANNELS; ++k)
                {
                    if (first + b < numCells && k < numChannels)
                    {
                        combine(acc[k], v[b][k]);
                    }
                }
            }
        }
    }
};

//! The RoI of RoIPool (not position-sensitive) with its rounding done.
template <typename Acc>
struct PoolRoi
{
    RoiRow<Acc> row;
    PoolBox<Acc> box;
};

template <typename T, typename RoiT>
TRTOPS_HD PoolRoi<AccumulatorT<T>> resolvePoolRoi(PoolArgs<T, RoiT> const& a, int64_t n)
{
    using Acc = AccumulatorT<T>;
    PoolRoi<Acc> roi;
    roi.row = readRoiRow<Acc>(a.rois, n, a.batch);
    roi.box = makePoolBox(roi.row, static_cast<Acc>(a.scale), a.pooledH, a.pooledW, /*positionSensitive=*/false);
    return roi;
}

//! Max of bin (ph, pw) for channels [c0, c0 + kVEC) of a channels-last input, read as kVEC-element
//! vectors; 0 for an empty bin or an invalid RoI (torchvision's rule).
template <int32_t kVEC, typename T, typename RoiT, typename Acc>
TRTOPS_HD void maxBinVec(
    PoolArgs<T, RoiT> const& a, PoolRoi<Acc> const& roi, int32_t ph, int32_t pw, int64_t c0, Acc (&acc)[kVEC])
{
    using V = Vec<T, kVEC>;
TRTOPS_UNROLL
    for (int32_t j = 0; j < kVEC; ++j)
    {
        acc[j] = 0;
    }
    if (!roi.box.valid || a.height <= 0 || a.width <= 0)
    {
        return;
    }
    PoolBin const cells = makePoolBin(roi.box, ph, pw, a.height, a.width);
    if (cells.empty)
    {
        return;
    }
TRTOPS_UNROLL
    for (int32_t j = 0; j < kVEC; ++j)
    {
        acc[j] = static_cast<Acc>(-FLT_MAX);
    }
    T const* base = a.input + roi.row.batchIndex * a.height * a.width * a.channels + c0;
    for (int32_t h = cells.hStart; h < cells.hEnd; ++h)
    {
        for (int32_t w = cells.wStart; w < cells.wEnd; ++w)
        {
            V const v = *reinterpret_cast<V const*>(base + (static_cast<int64_t>(h) * a.width + w) * a.channels);
TRTOPS_UNROLL
            for (int32_t j = 0; j < kVEC; ++j)
            {
                Acc const value = convertTo<Acc>(v.v[j]);
                if (value > acc[j])
                {
                    acc[j] = value;
                }
            }
        }
    }
}

//! RoIPool's bins for the channels-last kernels (ChannelsLastOp, stagedNhwcToNchwKernel): per-RoI
//! state `roi(n)` and the maxima of one bin for kVEC consecutive channels `bin<kVEC>(...)`.
template <typename T, typename RoiT>
struct PoolBins
{
    PoolArgs<T, RoiT> a;

    TRTOPS_HD PoolRoi<AccumulatorT<T>> roi(int64_t n) const
    {
        return resolvePoolRoi(a, n);
    }
    template <int32_t kVEC>
    TRTOPS_HD void bin(PoolRoi<AccumulatorT<T>> const& roi, int32_t ph, int32_t pw, int64_t c0,
        AccumulatorT<T> (&acc)[kVEC]) const
    {
        maxBinVec<kVEC>(a, roi, ph, pw, c0, acc);
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
    if (a.channelsLast && !a.positionSensitive)
    {
        return withThreadChannels<T>(a.channels, isAligned16(a.input) && isAligned16(a.output), [&](auto channels) {
            constexpr int32_t kCH = decltype(channels)::value;
            return launchOp(
                ChannelsLastOp<T, PoolBins<T, RoiT>, kCH>{PoolBins<T, RoiT>{a}, a.output, a.numRois, a.channels,
                    a.pooledH, a.pooledW},
                stream, name);
        });
    }
    if (!chunkPays(a.numRois * a.pooledH * a.pooledW * a.outChannels, kPOOL_CHANNELS_PER_THREAD))
    {
        return launchOp(PoolChunkOp<T, RoiT, 1>{a, a.outChannels}, stream, name);
    }
    return launchOp(
        PoolChunkOp<T, RoiT, kPOOL_CHANNELS_PER_THREAD>{a, ceilDiv(a.outChannels, kPOOL_CHANNELS_PER_THREAD)}, stream,
        name);
}

//! NCHW RoIPool through a channels-last copy of the input in `workspace` (roiPoolWorkspaceSize
//! bytes, 16-byte aligned): transpose, then stagedNhwcToNchwKernel with a whole RoI per block.
template <typename T, typename RoiT>
Status launchPoolViaChannelsLast(PoolArgs<T, RoiT> a, void* workspace, cudaStream_t stream, char const* name)
{
    int32_t const bins = a.pooledH * a.pooledW;
    StageShape const shape{a.channels, a.pooledW, bins, kMAX_STAGE_BINS};
    if (!stagedGridFits(a.numRois, a.channels, bins, shape.stageBins))
    {
        return launchPool(a, stream, name); // beyond the grid's limits: the direct path
    }
    TRTOPS_RETURN_IF_ERROR(transpose::nchwToNhwc(
        a.input, workspace, a.batch, a.channels, a.height * a.width, sizeof(T), stream, name));
    a.input = static_cast<T const*>(workspace);
    a.channelsLast = true; // input only: the kernel writes NCHW
    return launchStagedNhwcToNchw(PoolBins<T, RoiT>{a}, a.output, a.numRois, shape, stream, name);
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
