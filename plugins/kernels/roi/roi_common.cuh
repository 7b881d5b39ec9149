//! \file roi_common.cuh
//! Per-element math shared by the CUDA kernels and the host implementations of the RoI family
//! (every function here is __host__ __device__), plus validation and dispatch helpers.
//!
//! Arithmetic follows torchvision's kernels operation by operation (same formulas, same order of
//! additions), in the accumulator type (float for float32/float16/bfloat16, double for float64).
//! One exception: RoIAlign-family bins on an adaptive grid (sampling_ratio <= 0) are summed by map
//! rows of columns (sumBinSeparable), the same samples and weights added in another order.
#pragma once

#include "core/numeric.cuh"
#include "core/status.h"
#include "core/types.h"
#include "roi/multi_scale_roi_align.h"

#include <cuda_runtime_api.h>

#include <cfloat>
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define TRTOPS_HD __host__ __device__ __forceinline__
#else
#define TRTOPS_HD inline
#endif

// Switches for measuring a change against the code before it in one GPU session: build a variant
// with them off (benchmarks/gpu_session.sh, VARIANT_CUDA_FLAGS) and compare the benchmarks. The
// defaults are what ships; a variant is as correct as the default, only slower or faster.
//! 0: adaptive grids are summed sample by sample (torchvision's order) instead of sumBinSeparable.
#ifndef TRTOPS_ROI_SEPARABLE_ADAPTIVE
#define TRTOPS_ROI_SEPARABLE_ADAPTIVE 1
#endif
//! Columns whose loads sumBinSeparable keeps in flight together.
#ifndef TRTOPS_ROI_COLUMN_BATCH
#define TRTOPS_ROI_COLUMN_BATCH 4
#endif
//! 0: a one-channel NCHW pool bin (PS-RoIPool) is read cell by cell instead of as PlaneCells vectors.
#ifndef TRTOPS_ROI_POOL_PLANE_VECTORS
#define TRTOPS_ROI_POOL_PLANE_VECTORS 1
#endif
//! Resident 256-thread blocks per SM that the compiler must leave registers for in the
//! one-channel NCHW kernels: AlignChunkOp / PoolChunkOp with one channel per thread, which run
//! PS-RoIAlign, PS-RoIPool and small RoIAlign/RoIPool calls. Those kernels run a few hundred
//! thousand short threads that each wait on two or three dependent loads, so how many threads
//! an SM holds sets their speed. Registers are granted in steps of 8 per thread, so one register
//! over a step costs a whole block: without a bound the RoIAlign kernel took 87 registers
//! (2 blocks of 256 threads per SM) and the fp16 PS-RoIPool kernel 49 (4 blocks); bounded, they
//! take 80 (3 blocks) and 47 (5), without spilling (ptxas -v, sm_90). benchmarks/sweep.py times
//! other bounds; 1 is none.
#ifndef TRTOPS_ROI_ALIGN_ONE_CHANNEL_MIN_BLOCKS
#define TRTOPS_ROI_ALIGN_ONE_CHANNEL_MIN_BLOCKS 3
#endif
#ifndef TRTOPS_ROI_POOL_ONE_CHANNEL_MIN_BLOCKS
#define TRTOPS_ROI_POOL_ONE_CHANNEL_MIN_BLOCKS 5
#endif

//! Unrolls the next loop in device code; nothing in the host pass (g++ does not know the pragma).
#if defined(__CUDA_ARCH__)
#define TRTOPS_UNROLL _Pragma("unroll")
#else
#define TRTOPS_UNROLL
#endif

namespace trtops
{
namespace roi
{

//! Largest adaptive sampling grid (per bin and axis). torchvision uses ceil(roi_size / pooled) without
//! a bound; a bound keeps absurd RoIs (e.g. 1e9 pixels wide) from running for hours or overflowing
//! the int conversion. Exact for any RoI smaller than kMAX_SAMPLING_GRID * pooled cells.
constexpr int32_t kMAX_SAMPLING_GRID = 1024;

//! Channels each thread of the NCHW (channel-chunk) kernels handles.
constexpr int32_t kALIGN_CHANNELS_PER_THREAD = 8;
constexpr int32_t kPOOL_CHANNELS_PER_THREAD = 4;
constexpr int32_t kTHREADS_PER_BLOCK = 256;
constexpr int32_t kALIGN_ONE_CHANNEL_MIN_BLOCKS = TRTOPS_ROI_ALIGN_ONE_CHANNEL_MIN_BLOCKS;
constexpr int32_t kPOOL_ONE_CHANNEL_MIN_BLOCKS = TRTOPS_ROI_POOL_ONE_CHANNEL_MIN_BLOCKS;
static_assert(kALIGN_ONE_CHANNEL_MIN_BLOCKS >= 1 && kALIGN_ONE_CHANNEL_MIN_BLOCKS * kTHREADS_PER_BLOCK <= 2048
        && kPOOL_ONE_CHANNEL_MIN_BLOCKS >= 1 && kPOOL_ONE_CHANNEL_MIN_BLOCKS * kTHREADS_PER_BLOCK <= 2048,
    "TRTOPS_ROI_*_ONE_CHANNEL_MIN_BLOCKS: 1 to 8 blocks of 256 threads");
//! Below this many chunk work items a launch does not fill a large GPU (an H100 holds about 270k
//! resident threads), so the chunk kernels fall back to one channel per thread: R-FCN's PS ops
//! (300 RoIs x 49 bins x 21 channels) otherwise run on a third of the machine. The CUDA emulation
//! tests also build with TRTOPS_MIN_CHUNK_ITEMS=0, so that their small cases reach both widths.
#ifndef TRTOPS_MIN_CHUNK_ITEMS
#define TRTOPS_MIN_CHUNK_ITEMS (int64_t{1} << 20)
#endif
constexpr int64_t kMIN_CHUNK_ITEMS = TRTOPS_MIN_CHUNK_ITEMS;

//! Whether `preferred` channels per thread still leave kMIN_CHUNK_ITEMS work items (else use 1).
inline bool chunkPays(int64_t cellsTimesChannels, int32_t preferred)
{
    return cellsTimesChannels / preferred >= kMIN_CHUNK_ITEMS;
}

// ----- scalar helpers -------------------------------------------------------------------------

//! True for finite values (inf - inf and NaN - NaN are NaN); needs no <cmath> overloads on device.
template <typename A>
TRTOPS_HD bool isFiniteValue(A x)
{
    return (x - x) == static_cast<A>(0);
}

TRTOPS_HD float mathCeil(float x)
{
    return ceilf(x);
}
TRTOPS_HD double mathCeil(double x)
{
    return ceil(x);
}
TRTOPS_HD float mathFloor(float x)
{
    return floorf(x);
}
TRTOPS_HD double mathFloor(double x)
{
    return floor(x);
}
TRTOPS_HD float mathRound(float x)
{
    return roundf(x);
}
TRTOPS_HD double mathRound(double x)
{
    return round(x);
}
TRTOPS_HD float mathSqrt(float x)
{
    return sqrtf(x);
}
TRTOPS_HD double mathSqrt(double x)
{
    return sqrt(x);
}
TRTOPS_HD float mathLog2(float x)
{
    return log2f(x);
}
TRTOPS_HD double mathLog2(double x)
{
    return log2(x);
}

template <typename A>
TRTOPS_HD A maxOf(A a, A b)
{
    return a < b ? b : a;
}
template <typename A>
TRTOPS_HD A minOf(A a, A b)
{
    return b < a ? b : a;
}

//! Loads one element and widens it to the accumulator type (read-only cache path on device).
template <typename Acc, typename T>
TRTOPS_HD Acc loadAs(T const* p)
{
#if defined(__CUDA_ARCH__)
    return convertTo<Acc>(__ldg(p));
#else
    return convertTo<Acc>(*p);
#endif
}

// ----- RoI rows -------------------------------------------------------------------------------

//! One RoI row widened to the accumulator type; batchIndex < 0 when the row must give zeros.
template <typename Acc>
struct RoiRow
{
    int64_t batchIndex;
    Acc x1, y1, x2, y2;
};

//! Reads row n of rois [K, 5]. The batch index is truncated toward zero as torchvision's
//! `int roi_batch_ind = rois[0]` does; outside [0, batch) (or NaN) it becomes -1.
template <typename Acc, typename RoiT>
TRTOPS_HD RoiRow<Acc> readRoiRow(RoiT const* rois, int64_t n, int64_t batch)
{
    RoiT const* row = rois + n * 5;
    RoiRow<Acc> r;
    Acc const b = loadAs<Acc>(row);
    r.x1 = loadAs<Acc>(row + 1);
    r.y1 = loadAs<Acc>(row + 2);
    r.x2 = loadAs<Acc>(row + 3);
    r.y2 = loadAs<Acc>(row + 4);
    bool const inRange = b > static_cast<Acc>(-1) && b < static_cast<Acc>(batch);
    r.batchIndex = inRange ? static_cast<int64_t>(b) : -1;
    return r;
}

// ----- RoIAlign geometry ------------------------------------------------------------------------

//! Where the samples of one RoI lie (torchvision's roi_start, bin_size, roi_bin_grid, count).
template <typename Acc>
struct AlignBox
{
    bool valid;
    Acc startH, startW, binH, binW;
    int32_t gridH, gridW;
    Acc count;
};

//! Adaptive grid: ceil(size / pooled) as torchvision, bounded to +-kMAX_SAMPLING_GRID.
template <typename Acc>
TRTOPS_HD int32_t adaptiveGrid(Acc size, int32_t pooled)
{
    Acc g = mathCeil(size / static_cast<Acc>(pooled));
    g = minOf(maxOf(g, static_cast<Acc>(-kMAX_SAMPLING_GRID)), static_cast<Acc>(kMAX_SAMPLING_GRID));
    return static_cast<int32_t>(g);
}

//! RoIAlign (positionSensitive = false) or PS-RoIAlign (true: always offset 0.5, no minimum size,
//! count not clamped to 1, exactly as torchvision's ps_roi_align).
template <typename Acc>
TRTOPS_HD AlignBox<Acc> makeAlignBox(RoiRow<Acc> const& r, Acc scale, int32_t pooledH, int32_t pooledW,
    int32_t samplingRatio, bool aligned, bool positionSensitive)
{
    AlignBox<Acc> box{};
    Acc const offset = (aligned || positionSensitive) ? static_cast<Acc>(0.5) : static_cast<Acc>(0);
    box.startW = r.x1 * scale - offset;
    box.startH = r.y1 * scale - offset;
    Acc const endW = r.x2 * scale - offset;
    Acc const endH = r.y2 * scale - offset;
    Acc roiW = endW - box.startW;
    Acc roiH = endH - box.startH;
    box.valid = r.batchIndex >= 0 && isFiniteValue(box.startW) && isFiniteValue(box.startH) && isFiniteValue(roiW)
        && isFiniteValue(roiH);
    if (!box.valid)
    {
        return box;
    }
    if (!aligned && !positionSensitive)
    {
        roiW = maxOf(roiW, static_cast<Acc>(1));
        roiH = maxOf(roiH, static_cast<Acc>(1));
    }
    box.binH = roiH / static_cast<Acc>(pooledH);
    box.binW = roiW / static_cast<Acc>(pooledW);
    box.gridH = samplingRatio > 0 ? samplingRatio : adaptiveGrid(roiH, pooledH);
    box.gridW = samplingRatio > 0 ? samplingRatio : adaptiveGrid(roiW, pooledW);
    int32_t const n = box.gridH * box.gridW;
    box.count = positionSensitive ? static_cast<Acc>(n) : static_cast<Acc>(n > 1 ? n : 1);
    return box;
}

//! Sample coordinate of grid step `i` in bin `p`: start + p * bin + (i + .5) * bin / grid.
template <typename Acc>
TRTOPS_HD Acc sampleCoordinate(Acc start, Acc bin, int32_t p, int32_t i, int32_t grid)
{
    return start + static_cast<Acc>(p) * bin + static_cast<Acc>(i + .5F) * bin / static_cast<Acc>(grid);
}

//! One axis of a bilinear sample with torchvision's border rules: a coordinate outside
//! [-1, size] (or NaN) is not inside; below 0 it clamps to 0; from size - 1 on, both neighbours
//! are the last line and the high weight is 0.
template <typename Acc>
struct AxisTap
{
    bool inside;
    int32_t low, high;
    Acc lowWeight, highWeight;
};

template <typename Acc>
TRTOPS_HD bool insideAxis(Acc v, int32_t size)
{
    return v >= static_cast<Acc>(-1) && v <= static_cast<Acc>(size);
}

//! The neighbours and weights of a coordinate that is inside (insideAxis).
template <typename Acc>
TRTOPS_HD AxisTap<Acc> axisNeighbours(Acc v, int32_t size)
{
    AxisTap<Acc> t{};
    t.inside = true;
    if (v <= static_cast<Acc>(0))
    {
        v = 0;
    }
    t.low = static_cast<int32_t>(v);
    if (t.low >= size - 1)
    {
        t.high = t.low = size - 1;
        v = static_cast<Acc>(t.low);
    }
    else
    {
        t.high = t.low + 1;
    }
    t.highWeight = v - static_cast<Acc>(t.low);
    t.lowWeight = static_cast<Acc>(1) - t.highWeight;
    return t;
}

template <typename Acc>
TRTOPS_HD AxisTap<Acc> axisTap(Acc v, int32_t size)
{
    return insideAxis(v, size) ? axisNeighbours(v, size) : AxisTap<Acc>{};
}

//! The four neighbours (pixel indices y * width + x) and weights of one bilinear sample, with
//! torchvision's border rules: outside [-1, size] (or NaN) contributes exactly nothing.
template <typename Acc>
struct BilinearTap
{
    bool inside;
    int32_t p1, p2, p3, p4;
    Acc w1, w2, w3, w4;
};

template <typename Acc>
TRTOPS_HD BilinearTap<Acc> bilinearTap(Acc y, Acc x, int32_t height, int32_t width)
{
    BilinearTap<Acc> t{};
    t.inside = insideAxis(y, height) && insideAxis(x, width);
    if (!t.inside)
    {
        return t;
    }
    AxisTap<Acc> const ty = axisNeighbours(y, height);
    AxisTap<Acc> const tx = axisNeighbours(x, width);
    t.w1 = ty.lowWeight * tx.lowWeight;
    t.w2 = ty.lowWeight * tx.highWeight;
    t.w3 = ty.highWeight * tx.lowWeight;
    t.w4 = ty.highWeight * tx.highWeight;
    t.p1 = ty.low * width + tx.low;
    t.p2 = ty.low * width + tx.high;
    t.p3 = ty.high * width + tx.low;
    t.p4 = ty.high * width + tx.high;
    return t;
}

//! The map lines (rows or columns) that the samples of bin `p` touch along one axis, each once,
//! with the sum of the samples' bilinear weights on it: next(line, weight) returns them one by
//! one (false when done). The bilinear sum of a bin is separable, sum over samples (iy, ix) of
//! sum over corners wy * wx * f = sum over rows of Wy[row] * (sum over columns of Wx[col] * f),
//! and samples at most one cell apart share lines, so this reads each touched pixel once instead
//! of four times per sample. Lines with a zero weight are kept: torchvision reads them too (a NaN
//! there reaches the output in both). Used for adaptive grids (sampling_ratio <= 0), whose samples
//! lie at most one cell apart, so that neighbouring samples share lines. The sum is right for
//! samples in any order; adaptive grids have increasing coordinates (a negative RoI size gives a
//! grid <= 0, no samples), so each line comes out exactly once.
template <typename Acc>
class AxisLines
{
public:
    TRTOPS_HD AxisLines(Acc start, Acc bin, int32_t p, int32_t grid, int32_t size)
        : mStart(start)
        , mBin(bin)
        , mP(p)
        , mGrid(grid)
        , mSize(size)
    {
    }

    TRTOPS_HD bool next(int32_t& line, Acc& weight)
    {
        while (mSample < mGrid)
        {
            if (!mHaveTap)
            {
                mTap = axisTap(sampleCoordinate(mStart, mBin, mP, mSample, mGrid), mSize);
                mHaveTap = true;
            }
            AxisTap<Acc> const& t = mTap;
            if (t.inside && mPending && t.low != mFirst)
            {
                // The sample starts past the first pending line, so that line is complete (this
                // sample, kept in mTap, is looked at again on the next call).
                return emitFirst(line, weight);
            }
            ++mSample;
            mHaveTap = false;
            if (!t.inside)
            {
                continue;
            }
            if (!mPending)
            {
                mPending = true;
                mFirst = t.low;
                mFirstWeight = 0;
            }
            mFirstWeight += t.lowWeight;
            if (t.high != t.low)
            {
                mSecondWeight += t.highWeight;
                mHasSecond = true;
            }
        }
        return mPending && emitFirst(line, weight);
    }

private:
    //! Hands out the first pending line; the second (first + 1) becomes the first.
    TRTOPS_HD bool emitFirst(int32_t& line, Acc& weight)
    {
        line = mFirst;
        weight = mFirstWeight;
        mPending = mHasSecond;
        mFirst += 1;
        mFirstWeight = mSecondWeight;
        mSecondWeight = 0;
        mHasSecond = false;
        return true;
    }

    Acc mStart, mBin;
    int32_t mP, mGrid, mSize;
    int32_t mSample = 0;
    AxisTap<Acc> mTap{}; //!< of sample mSample, when mHaveTap
    bool mHaveTap = false;
    bool mPending = false;   //!< line mFirst holds weight mFirstWeight
    bool mHasSecond = false; //!< line mFirst + 1 holds weight mSecondWeight
    int32_t mFirst = 0;
    Acc mFirstWeight = 0;
    Acc mSecondWeight = 0;
};

//! Sum of the bilinear samples of bin (ph, pw) for kN channels by map lines (AxisLines):
//! acc[j] += sum over rows y of wy * (sum over columns x of wx * value_j(y, x)), where
//! load(pixel, values) reads the kN channels at pixel y * width + x. The columns are taken
//! kCOLUMN_BATCH at a time, and each batch walks the rows: the loads of a batch are in flight
//! together, and the column weights are worked out once per bin, the row weights once per batch.
//! The rounding differs from torchvision's per-sample order (it is not bit-exact); the host
//! implementation runs this same function, so host and device agree.
template <int32_t kN, typename Acc, typename Load>
TRTOPS_HD void sumBinSeparable(AlignBox<Acc> const& box, int32_t ph, int32_t pw, int32_t height, int32_t width,
    Load&& load, Acc (&acc)[kN])
{
    constexpr int32_t kCOLUMN_BATCH = TRTOPS_ROI_COLUMN_BATCH;
    AxisLines<Acc> columns(box.startW, box.binW, pw, box.gridW, width);
    for (int32_t count = kCOLUMN_BATCH; count == kCOLUMN_BATCH;)
    {
        int32_t x[kCOLUMN_BATCH] = {};
        Acc wx[kCOLUMN_BATCH] = {};
        count = 0;
TRTOPS_UNROLL
        for (int32_t b = 0; b < kCOLUMN_BATCH; ++b)
        {
            if (count == b && columns.next(x[b], wx[b]))
            {
                ++count;
            }
        }
        if (count == 0)
        {
            break;
        }
        AxisLines<Acc> rows(box.startH, box.binH, ph, box.gridH, height);
        int32_t y = 0;
        Acc wy = 0;
        while (rows.next(y, wy))
        {
            int64_t const rowPixel = static_cast<int64_t>(y) * width;
            Acc v[kCOLUMN_BATCH][kN] = {};
TRTOPS_UNROLL
            for (int32_t b = 0; b < kCOLUMN_BATCH; ++b)
            {
                if (b < count)
                {
                    load(rowPixel + x[b], v[b]);
                }
            }
            Acc part[kN];
TRTOPS_UNROLL
            for (int32_t j = 0; j < kN; ++j)
            {
                part[j] = wx[0] * v[0][j];
            }
TRTOPS_UNROLL
            for (int32_t b = 1; b < kCOLUMN_BATCH; ++b)
            {
                if (b < count)
                {
TRTOPS_UNROLL
                    for (int32_t j = 0; j < kN; ++j)
                    {
                        part[j] += wx[b] * v[b][j];
                    }
                }
            }
TRTOPS_UNROLL
            for (int32_t j = 0; j < kN; ++j)
            {
                acc[j] += wy * part[j];
            }
        }
    }
}

//! Interpolated value at one tap of the channel at `base` (pixelStride: 1 for NCHW, C for NHWC).
template <typename Acc, typename T>
TRTOPS_HD Acc interpolate(BilinearTap<Acc> const& t, T const* base, int64_t pixelStride)
{
    Acc const v1 = loadAs<Acc>(base + t.p1 * pixelStride);
    Acc const v2 = loadAs<Acc>(base + t.p2 * pixelStride);
    Acc const v3 = loadAs<Acc>(base + t.p3 * pixelStride);
    Acc const v4 = loadAs<Acc>(base + t.p4 * pixelStride);
    return t.w1 * v1 + t.w2 * v2 + t.w3 * v3 + t.w4 * v4;
}

//! Calls fn(tap) for each bilinear tap of bin (ph, pw) that lies on the map, in torchvision's
//! sample order (rows, then columns). Samples off the map are skipped: torchvision adds an exact 0
//! for them.
template <typename Acc, typename Fn>
TRTOPS_HD void forEachBinTap(AlignBox<Acc> const& box, int32_t ph, int32_t pw, int32_t height, int32_t width, Fn&& fn)
{
    for (int32_t iy = 0; iy < box.gridH; ++iy)
    {
        Acc const y = sampleCoordinate(box.startH, box.binH, ph, iy, box.gridH);
        for (int32_t ix = 0; ix < box.gridW; ++ix)
        {
            Acc const x = sampleCoordinate(box.startW, box.binW, pw, ix, box.gridW);
            BilinearTap<Acc> const t = bilinearTap(y, x, height, width);
            if (t.inside)
            {
                fn(t);
            }
        }
    }
}

//! Sums the samples of bin (ph, pw) for up to kCHANNELS channels at once: the sample positions and
//! weights are computed once and reused across the channels. Channel k lives at
//! `base + k * channelStep`. Per channel the additions happen in torchvision's order, except for
//! adaptive grids (kADAPTIVE: sampling_ratio <= 0), which sumBinSeparable sums by rows of columns.
template <int32_t kCHANNELS, bool kADAPTIVE, typename Acc, typename T>
TRTOPS_HD void sumBinSamples(AlignBox<Acc> const& box, int32_t ph, int32_t pw, int32_t height, int32_t width,
    T const* base, int64_t channelStep, int64_t pixelStride, int32_t numChannels, Acc (&acc)[kCHANNELS])
{
TRTOPS_UNROLL
    for (int32_t k = 0; k < kCHANNELS; ++k)
    {
        acc[k] = 0;
    }
    if constexpr (kADAPTIVE)
    {
        sumBinSeparable<kCHANNELS>(
            box, ph, pw, height, width,
            [&](int64_t pixel, Acc(&values)[kCHANNELS]) {
TRTOPS_UNROLL
                for (int32_t k = 0; k < kCHANNELS; ++k)
                {
                    values[k] = k < numChannels ? loadAs<Acc>(base + k * channelStep + pixel * pixelStride)
                                                : static_cast<Acc>(0);
                }
            },
            acc);
    }
    else if constexpr (kCHANNELS == 1)
    {
        // One channel per thread (PS-RoIAlign and other small launches): the samples are taken
        // kBATCH at a time in torchvision's order, so that the loads of all of them are in flight
        // together instead of one round trip per sample, and added one by one in that order.
        // Each group is computed from its first sample's grid position: nothing but the running
        // sum is carried from one group to the next (registers decide how many threads an SM
        // holds, and these kernels are latency-bound).
        constexpr int32_t kBATCH = 4;
        int32_t iy = 0;
        int32_t ix = 0;
        // An adaptive grid summed here (TRTOPS_ROI_SEPARABLE_ADAPTIVE=0) can have no columns
        // (an aligned RoI of no width): no samples, as in forEachBinTap.
        while (box.gridW > 0 && iy < box.gridH)
        {
            BilinearTap<Acc> taps[kBATCH];
TRTOPS_UNROLL
            for (int32_t i = 0; i < kBATCH; ++i)
            {
                taps[i].inside = false;
                if (iy < box.gridH)
                {
                    taps[i] = bilinearTap(sampleCoordinate(box.startH, box.binH, ph, iy, box.gridH),
                        sampleCoordinate(box.startW, box.binW, pw, ix, box.gridW), height, width);
                    if (++ix == box.gridW)
                    {
                        ix = 0;
                        ++iy;
                    }
                }
            }
            Acc values[kBATCH];
TRTOPS_UNROLL
            for (int32_t i = 0; i < kBATCH; ++i)
            {
                values[i] = taps[i].inside ? interpolate(taps[i], base, pixelStride) : Acc(0);
            }
TRTOPS_UNROLL
            for (int32_t i = 0; i < kBATCH; ++i)
            {
                if (taps[i].inside) // not `+= 0`: that would turn a -0.0 sum into +0.0
                {
                    acc[0] += values[i];
                }
            }
        }
        (void) channelStep;
        (void) numChannels; // a chunk item always holds at least one channel
    }
    else
    {
        forEachBinTap(box, ph, pw, height, width, [&](BilinearTap<Acc> const& t) {
TRTOPS_UNROLL
            for (int32_t k = 0; k < kCHANNELS; ++k)
            {
                if (k < numChannels)
                {
                    acc[k] += interpolate(t, base + k * channelStep, pixelStride);
                }
            }
        });
    }
}

// ----- FPN level mapping ------------------------------------------------------------------------

//! k_min / k_max of torchvision's _setup_scales: int(-log2(scale)) computed in float32.
inline int32_t levelOfScale(float scale)
{
    return static_cast<int32_t>(-std::log2(scale));
}

//! The constants of a level mapping (LevelMapper in multi_scale_roi_align.h).
struct LevelMapping
{
    LevelMapper mapper;
    int32_t kMin, kMax, canonicalScale, canonicalLevel; //!< kTorchvision
    int32_t finestScale;                                //!< kMmdet
};

//! The level of one box: an index in [0, numLevels), or -1 when the box area is NaN or negative
//! (the level torchvision's and mmdet's modules compute is then NaN, matches no level, and the
//! RoI's output stays zero). Each step is one float operation of the module's formula, in its
//! order, so that boxes near a level boundary round the same way.
template <typename Acc>
TRTOPS_HD int32_t mapLevel(RoiRow<Acc> const& r, LevelMapping const& m, int32_t numLevels)
{
    Acc const area = (r.x2 - r.x1) * (r.y2 - r.y1);
    if (!(area >= static_cast<Acc>(0)))
    {
        return -1;
    }
    Acc const eps = static_cast<Acc>(1e-6);
    if (m.mapper == LevelMapper::kMmdet)
    {
        // floor(log2(sqrt(A) / finest_scale + 1e-6)).clamp(0, num_levels - 1)
        Acc t = mathSqrt(area) / static_cast<Acc>(m.finestScale);
        t = mathFloor(mathLog2(t + eps));
        t = minOf(maxOf(t, static_cast<Acc>(0)), static_cast<Acc>(numLevels - 1));
        return static_cast<int32_t>(t);
    }
    // floor(canonical_level + log2(sqrt(A) / canonical_scale) + 1e-6).clamp(k_min, k_max) - k_min
    Acc t = mathLog2(mathSqrt(area) / static_cast<Acc>(m.canonicalScale));
    t = static_cast<Acc>(m.canonicalLevel) + t;
    t = t + eps;
    t = mathFloor(t);
    t = minOf(maxOf(t, static_cast<Acc>(m.kMin)), static_cast<Acc>(m.kMax));
    int32_t const level = static_cast<int32_t>(t) - m.kMin;
    return minOf(maxOf(level, 0), numLevels - 1);
}

// ----- RoIPool geometry -------------------------------------------------------------------------

//! Integer RoI of RoIPool / PS-RoIPool after torchvision's rounding.
template <typename Acc>
struct PoolBox
{
    bool valid;
    int64_t startH, startW;
    Acc binH, binW;
};

template <typename Acc>
TRTOPS_HD int64_t roundToIndex(Acc v)
{
    // |v| <= 2^31 keeps the conversion defined; torchvision's int conversion is undefined beyond.
    Acc const bound = static_cast<Acc>(2147483648.0);
    return static_cast<int64_t>(minOf(maxOf(mathRound(v), -bound), bound));
}

//! RoIPool (positionSensitive = false: size end - start + 1) or PS-RoIPool (size end - start);
//! both at least 1.
template <typename Acc>
TRTOPS_HD PoolBox<Acc> makePoolBox(
    RoiRow<Acc> const& r, Acc scale, int32_t pooledH, int32_t pooledW, bool positionSensitive)
{
    PoolBox<Acc> box{};
    Acc const sx1 = r.x1 * scale;
    Acc const sy1 = r.y1 * scale;
    Acc const sx2 = r.x2 * scale;
    Acc const sy2 = r.y2 * scale;
    box.valid = r.batchIndex >= 0 && isFiniteValue(sx1) && isFiniteValue(sy1) && isFiniteValue(sx2)
        && isFiniteValue(sy2);
    if (!box.valid)
    {
        return box;
    }
    box.startW = roundToIndex(sx1);
    box.startH = roundToIndex(sy1);
    int64_t const extra = positionSensitive ? 0 : 1;
    int64_t const roiW = maxOf(roundToIndex(sx2) - box.startW + extra, static_cast<int64_t>(1));
    int64_t const roiH = maxOf(roundToIndex(sy2) - box.startH + extra, static_cast<int64_t>(1));
    box.binH = static_cast<Acc>(roiH) / static_cast<Acc>(pooledH);
    box.binW = static_cast<Acc>(roiW) / static_cast<Acc>(pooledW);
    return box;
}

//! Cells [hStart, hEnd) x [wStart, wEnd) of bin (ph, pw), clipped to [0, limitH] x [0, limitW]
//! (RoIPool: limit = size; PS-RoIPool: limit = size - 1, as torchvision).
struct PoolBin
{
    int32_t hStart, hEnd, wStart, wEnd;
    bool empty;
};

template <typename Acc>
TRTOPS_HD PoolBin makePoolBin(PoolBox<Acc> const& box, int32_t ph, int32_t pw, int64_t limitH, int64_t limitW)
{
    int64_t hStart = static_cast<int64_t>(mathFloor(static_cast<Acc>(ph) * box.binH));
    int64_t wStart = static_cast<int64_t>(mathFloor(static_cast<Acc>(pw) * box.binW));
    int64_t hEnd = static_cast<int64_t>(mathCeil(static_cast<Acc>(ph + 1) * box.binH));
    int64_t wEnd = static_cast<int64_t>(mathCeil(static_cast<Acc>(pw + 1) * box.binW));
    int64_t const zero = 0;
    hStart = minOf(maxOf(hStart + box.startH, zero), limitH);
    hEnd = minOf(maxOf(hEnd + box.startH, zero), limitH);
    wStart = minOf(maxOf(wStart + box.startW, zero), limitW);
    wEnd = minOf(maxOf(wEnd + box.startW, zero), limitW);
    PoolBin bin;
    bin.hStart = static_cast<int32_t>(hStart);
    bin.hEnd = static_cast<int32_t>(hEnd);
    bin.wStart = static_cast<int32_t>(wStart);
    bin.wEnd = static_cast<int32_t>(wEnd);
    bin.empty = hEnd <= hStart || wEnd <= wStart;
    return bin;
}

// ----- host-side helpers ------------------------------------------------------------------------

//! Checks the fields every RoI operator shares; messages name `op` and the field.
Status validateRoiCommon(char const* op, int64_t batch, int64_t channels, int64_t height, int64_t width,
    int64_t numRois, int32_t pooledHeight, int32_t pooledWidth, float spatialScale, DataType featureType,
    DataType roiType, Layout layout);

//! Null pointers of a single-level RoI call: rois and output when there is output to write, the
//! input when the map is also non-empty (an empty map is never read).
Status checkRoiPointers(char const* op, int64_t batch, int64_t channels, int64_t height, int64_t width,
    int64_t numRois, void const* input, void const* rois, void const* output);

//! PS-RoIAlign / PS-RoIPool: the input channels split evenly over the pooled bins.
Status validatePositionSensitiveChannels(char const* op, int64_t channels, int32_t pooledHeight, int32_t pooledWidth);

//! Calls fn(T{}, RoiT{}) with the feature storage type and the RoI storage type (RoiT is T or float).
template <typename Fn>
Status dispatchFeatureAndRoi(DataType featureType, DataType roiType, char const* op, Fn&& fn)
{
    return dispatchFloating(featureType, op, "input", [&](auto feature) -> Status {
        using T = decltype(feature);
        if (roiType == featureType)
        {
            return fn(T{}, T{});
        }
        if (roiType == DataType::kFLOAT32)
        {
            return fn(T{}, float{});
        }
        return unsupported(op, ": rois has dtype ", dataTypeName(roiType), "; it must be float32 or the input dtype (",
            dataTypeName(featureType), ")");
    });
}

//! Blocks for a grid-stride loop over `total` items.
inline unsigned int gridFor(int64_t total, int32_t threads)
{
    int64_t const blocks = (total + threads - 1) / threads;
    int64_t const cap = int64_t{1} << 30;
    return static_cast<unsigned int>(blocks < cap ? blocks : cap);
}

inline int64_t ceilDiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

//! One work item of the channel-chunk kernels: a RoI's output cell for a run of up to kCHANNELS
//! output channels. Items vary fastest over the cell, then the channel chunk, then the RoI, so in
//! NCHW consecutive threads write consecutive output cells of one channel.
struct ChunkItem
{
    int64_t roi;
    int32_t bin; //!< ph * pooledW + pw
    int32_t ph;
    int32_t pw;
    int64_t c0;          //!< first output channel
    int32_t numChannels; //!< output channels of this item (the last chunk may hold fewer)
    int64_t outBase;     //!< output element of channel c0 + k: outBase + k * outStep
    int64_t outStep;
};

template <int32_t kCHANNELS>
TRTOPS_HD ChunkItem chunkItem(
    int64_t index, int32_t pooledH, int32_t pooledW, int64_t numChunks, int64_t outChannels, bool channelsLast)
{
    int32_t const bins = pooledH * pooledW;
    int64_t const perRoi = bins * numChunks;
    ChunkItem item;
    item.roi = index / perRoi;
    int64_t const rest = index - item.roi * perRoi;
    int64_t const chunk = rest / bins;
    item.bin = static_cast<int32_t>(rest - chunk * bins);
    item.ph = item.bin / pooledW;
    item.pw = item.bin - item.ph * pooledW;
    item.c0 = chunk * kCHANNELS;
    int64_t const left = outChannels - item.c0;
    item.numChannels = left < kCHANNELS ? static_cast<int32_t>(left) : kCHANNELS;
    item.outBase = channelsLast ? (item.roi * bins + item.bin) * outChannels + item.c0
                                : (item.roi * outChannels + item.c0) * bins + item.bin;
    item.outStep = channelsLast ? 1 : bins;
    return item;
}

//! Where a chunk item reads: input element of chunk channel k at pixel p (row-major index in the
//! map) is image[offset + k * channelStep + p * pixelStride], image being the input of the RoI's
//! map. The input channel of output channel c is c, or c * bins + bin for the position-sensitive ops.
struct ChunkInput
{
    int64_t offset;
    int64_t channelStep;
    int64_t pixelStride;
};

TRTOPS_HD ChunkInput chunkInput(ChunkItem const& item, int32_t bins, bool positionSensitive, bool channelsLast,
    int64_t channels, int64_t batchIndex, int64_t plane)
{
    int64_t const cIn0 = positionSensitive ? item.c0 * bins + item.bin : item.c0;
    int64_t const cStep = positionSensitive ? bins : 1;
    ChunkInput in;
    if (channelsLast)
    {
        in.offset = batchIndex * plane * channels + cIn0;
        in.channelStep = cStep;
        in.pixelStride = channels;
    }
    else
    {
        in.offset = (batchIndex * channels + cIn0) * plane;
        in.channelStep = cStep * plane;
        in.pixelStride = 1;
    }
    return in;
}

} // namespace roi
} // namespace trtops
