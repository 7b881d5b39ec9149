//! CUDA kernels of deform_conv2d: a fused implicit GEMM. Each CTA computes one output tile
//! [output channels of one group x output pixels]; the K dimension (input channels of the group x
//! kernel taps, ordered tap-major) is produced on the fly by sampling the deformed input (times
//! the mask) into shared memory, next to a tile of the weights. Two pre-passes fill the workspace:
//! the weights rearranged as [outChannels][taps][channels padded to kCHANNEL_PAD], and a
//! channels-last (NHWC) copy of the input, so that a thread samples its run of channels at a
//! corner with 16-byte vector loads instead of one scalar load per channel plane.
//!   fp16/bf16: mma.sync m16n8k16 on tensor cores, float accumulation (sm_80+); sm_75 runs fp16 as
//!              pairs of m16n8k8 and bf16 on FFMA from the same shared-memory tiles.
//!   fp32/fp64: register-tiled FFMA/DFMA (exact, no TF32).
#include "deform_conv/deform_conv2d.h"
#include "deform_conv/deform_conv2d_math.cuh"
#include "deform_conv/deform_conv2d_tiling.h"

#include "core/numeric.cuh"
#include "core/transpose.cuh"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace trtops
{
namespace
{

constexpr int32_t kTHREADS = 256;
constexpr int32_t kTILE_PIXELS = 128; //!< output pixels per CTA (GEMM N tile), every kernel

//! The dimensions the kernels index with, narrowed to int32 after validation.
struct Geometry
{
    int32_t height;
    int32_t width;
    int32_t planeSize;
    int32_t kernelWidth;
    int32_t taps;
    int32_t strideH;
    int32_t strideW;
    int32_t padH;
    int32_t padW;
    int32_t dilationH;
    int32_t dilationW;
    int32_t offsetGroups;
    int32_t cinPerGroup;
    int32_t coutPerGroup;
    int32_t cinPerOffsetGroup;
    int32_t paddedCin;
    int32_t outWidth;
    int32_t outPlane;
    int32_t outChannels;
    int32_t inChannels; //!< element stride between pixels of the channels-last input copy
    int32_t pixels;     //!< batch * outPlane
    int32_t mTiles;
    bool hasMask;
    bool hasBias;
    int64_t inputImageStride;  //!< inChannels * planeSize
    int64_t offsetImageStride; //!< offsetGroups * taps * 2 * outPlane
    int64_t maskImageStride;   //!< offsetGroups * taps * outPlane
};

//! packed[co][tap][c] = weight[co][c][tap] for c < cinPerGroup, 0 for the padding channels.
template <typename T>
__global__ void packWeightsKernel(T const* __restrict__ weight, T* __restrict__ packed, int64_t total,
    int32_t cinPerGroup, int32_t taps, int32_t paddedCin)
{
    for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x)
    {
        int32_t const c = static_cast<int32_t>(idx % paddedCin);
        int64_t const rest = idx / paddedCin;
        int32_t const tap = static_cast<int32_t>(rest % taps);
        int64_t const co = rest / taps;
        packed[idx] = c < cinPerGroup ? weight[(co * cinPerGroup + c) * taps + tap] : convertTo<T>(0.0F);
    }
}

//! One thread's view of the column matrix: a single output pixel, runs of consecutive input
//! channels of one tap. The bilinear corners of (tap, offset group) are cached across K tiles.
template <typename T>
struct ColumnSampler
{
    using AccT = AccumulatorT<T>;

    bool mValid;
    int32_t mOutY;
    int32_t mOutX;
    T const* mInput;  //!< this pixel's image in the channels-last copy
    T const* mOffset; //!< this pixel's image, channel 0, at the pixel
    T const* mMask;
    int32_t mCachedTap;
    int32_t mCachedGroup;
    AccT mMaskValue;
    deform::BilinearPoint<AccT> mPoint;

    __device__ void init(Geometry const& geo, T const* input, T const* offset, T const* mask, int32_t pixel)
    {
        mValid = pixel < geo.pixels;
        int32_t const p = mValid ? pixel : 0;
        int32_t const n = p / geo.outPlane;
        int32_t const r = p - n * geo.outPlane;
        mOutY = r / geo.outWidth;
        mOutX = r - mOutY * geo.outWidth;
        mInput = input + n * geo.inputImageStride;
        mOffset = offset + n * geo.offsetImageStride + r;
        mMask = geo.hasMask ? mask + n * geo.maskImageStride + r : nullptr;
        mCachedTap = -1;
        mCachedGroup = -1;
    }

    __device__ void refresh(Geometry const& geo, int32_t tap, int32_t group)
    {
        int32_t const i = tap / geo.kernelWidth;
        int32_t const j = tap - i * geo.kernelWidth;
        int32_t const channel = group * geo.taps + tap;
        AccT const dy = convertTo<AccT>(mOffset[static_cast<int64_t>(2 * channel) * geo.outPlane]);
        AccT const dx = convertTo<AccT>(mOffset[static_cast<int64_t>(2 * channel + 1) * geo.outPlane]);
        mMaskValue = geo.hasMask ? convertTo<AccT>(mMask[static_cast<int64_t>(channel) * geo.outPlane]) : AccT(1);
        AccT const y = deform::samplePosition(deform::tapOrigin(mOutY, geo.strideH, geo.padH, i, geo.dilationH), dy);
        AccT const x = deform::samplePosition(deform::tapOrigin(mOutX, geo.strideW, geo.padW, j, geo.dilationW), dx);
        mPoint = deform::bilinearPoint(y, x, geo.height, geo.width);
        mCachedTap = tap;
        mCachedGroup = group;
    }

    //! One channel's sample at `tap`, without the cache: for runs that cross offset groups.
    __device__ __forceinline__ AccT sampleUncached(Geometry const& geo, int32_t tap, int32_t channel) const
    {
        int32_t const group = channel / geo.cinPerOffsetGroup;
        int32_t const i = tap / geo.kernelWidth;
        int32_t const j = tap - i * geo.kernelWidth;
        int32_t const offsetChannel = group * geo.taps + tap;
        AccT const dy = convertTo<AccT>(mOffset[static_cast<int64_t>(2 * offsetChannel) * geo.outPlane]);
        AccT const dx = convertTo<AccT>(mOffset[static_cast<int64_t>(2 * offsetChannel + 1) * geo.outPlane]);
        AccT const maskValue
            = geo.hasMask ? convertTo<AccT>(mMask[static_cast<int64_t>(offsetChannel) * geo.outPlane]) : AccT(1);
        AccT const y = deform::samplePosition(deform::tapOrigin(mOutY, geo.strideH, geo.padH, i, geo.dilationH), dy);
        AccT const x = deform::samplePosition(deform::tapOrigin(mOutX, geo.strideW, geo.padW, j, geo.dilationW), dx);
        deform::BilinearPoint<AccT> const point = deform::bilinearPoint(y, x, geo.height, geo.width);
        return deform::maskedSample(mInput + channel, point, maskValue, geo.inChannels);
    }

    //! values[c] = sample of input channel firstChannel + c at `tap`, for c < count; 0 beyond
    //! (padding channels) and for pixels past the end.
    template <int32_t kCOUNT>
    __device__ void sample(
        Geometry const& geo, int32_t tap, int32_t firstChannel, int32_t count, AccT (&values)[kCOUNT])
    {
        if (!mValid || count <= 0)
        {
#pragma unroll
            for (int32_t c = 0; c < kCOUNT; ++c)
            {
                values[c] = AccT(0);
            }
            return;
        }
        int32_t const group = firstChannel / geo.cinPerOffsetGroup;
        int32_t const last = firstChannel + min(count, kCOUNT) - 1;
        if (last >= (group + 1) * geo.cinPerOffsetGroup)
        {
            // The run crosses an offset group (offset groups narrower than a run): no caching.
#pragma unroll
            for (int32_t c = 0; c < kCOUNT; ++c)
            {
                values[c] = c < count ? sampleUncached(geo, tap, firstChannel + c) : AccT(0);
            }
            return;
        }
        if (tap != mCachedTap || group != mCachedGroup)
        {
            refresh(geo, tap, group);
        }
        T const* base = mInput + firstChannel;
        constexpr int32_t kVEC = static_cast<int32_t>(16 / sizeof(T));
        if constexpr (kCOUNT % kVEC == 0)
        {
            // A whole run of channels, 16-byte aligned (the copy starts 256-byte aligned): one
            // vector load per corner and kVEC channels.
            if (count >= kCOUNT && firstChannel % kVEC == 0 && geo.inChannels % kVEC == 0)
            {
#pragma unroll
                for (int32_t c = 0; c < kCOUNT; c += kVEC)
                {
                    deform::maskedSampleVec<kVEC>(base + c, mPoint, mMaskValue, geo.inChannels, values + c);
                }
                return;
            }
        }
#pragma unroll
        for (int32_t c = 0; c < kCOUNT; ++c)
        {
            values[c] = c < count ? deform::maskedSample(base + c, mPoint, mMaskValue, geo.inChannels) : AccT(0);
        }
    }
};

// ---------------------------------------------------------------------------------------------
// Tensor-core kernel (fp16 / bf16)
// ---------------------------------------------------------------------------------------------

__device__ inline uint32_t sharedAddress(void const* pointer)
{
    return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

//! 16-byte global -> shared copy, zero-filled when !valid (asynchronous on sm_80+).
__device__ inline void copy16(void* dst, void const* src, bool valid)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    int32_t const bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sharedAddress(dst)), "l"(src), "r"(bytes));
#else
    uint4 value = make_uint4(0, 0, 0, 0);
    if (valid)
    {
        value = *static_cast<uint4 const*>(src);
    }
    *static_cast<uint4*>(dst) = value;
#endif
}

__device__ inline void copyCommit()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

__device__ inline void copyWaitAll()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group 0;\n" ::);
#endif
}

__device__ inline void loadMatrixX4(uint32_t (&r)[4], void const* address)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(sharedAddress(address)));
}

template <typename T>
__device__ inline uint32_t packPair(float lo, float hi);
template <>
__device__ inline uint32_t packPair<__half>(float lo, float hi)
{
    return static_cast<uint32_t>(__half_as_ushort(__float2half_rn(lo)))
        | (static_cast<uint32_t>(__half_as_ushort(__float2half_rn(hi))) << 16);
}
template <>
__device__ inline uint32_t packPair<__nv_bfloat16>(float lo, float hi)
{
    return static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(lo)))
        | (static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}

//! D += A(16x16, row) * B(16x8, col) with float accumulation.
template <typename T>
__device__ inline void mma16816(float (&d)[4], uint32_t const (&a)[4], uint32_t const (&b)[2])
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (std::is_same_v<T, __half>)
    {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    else
    {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
#else
    // sm_75: fp16 as two k8 halves (bf16 never reaches here, see warpTileProduct).
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(b[0]));
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[2]), "r"(a[3]), "r"(b[1]));
#endif
}

template <typename T, int32_t kBM>
struct MmaConfig
{
    static constexpr int32_t kBN = kTILE_PIXELS;
    static constexpr int32_t kBK = 32;
    static constexpr int32_t kSTRIDE = kBK + 8;   //!< padded row (80 bytes): conflict-free ldmatrix
    static constexpr int32_t kWARP_M = kBM / 2;   //!< 8 warps as 2 (M) x 4 (N)
    static constexpr int32_t kWARP_N = kBN / 4;   //!< 32
    static constexpr int32_t kMT = kWARP_M / 16;  //!< m16 tiles per warp
    static constexpr int32_t kNT = kWARP_N / 8;   //!< n8 tiles per warp
    static constexpr int32_t kRUN = 16;           //!< channels one thread samples per K tile
    static_assert(kTHREADS == 2 * kBN && kBK == 2 * kRUN, "sampler layout: two threads per pixel");
    static_assert(kBM * kBK / 8 % kTHREADS == 0, "weight tile: whole 16-byte chunks per thread");
};

//! acc += A tile (warp's rows) x B tile (warp's columns) over one K tile held in shared memory.
template <typename T, int32_t kBM>
__device__ inline void warpTileProduct(float (&acc)[MmaConfig<T, kBM>::kMT][MmaConfig<T, kBM>::kNT][4],
    T const (*sA)[MmaConfig<T, kBM>::kSTRIDE], T const (*sB)[MmaConfig<T, kBM>::kSTRIDE], int32_t warpM,
    int32_t warpN, int32_t lane)
{
    using Cfg = MmaConfig<T, kBM>;
    int32_t const rowBase = warpM * Cfg::kWARP_M;
    int32_t const colBase = warpN * Cfg::kWARP_N;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    constexpr bool kTENSOR = true;
#elif defined(__CUDA_ARCH__)
    constexpr bool kTENSOR = std::is_same_v<T, __half>;
#else
    // A host build of this kernel (nvcc's host pass never runs it; the CUDA emulation tests do)
    // takes the FFMA path: the same fragments from the same shared-memory tiles, no inline PTX.
    constexpr bool kTENSOR = false;
#endif
    if constexpr (kTENSOR)
    {
#pragma unroll
        for (int32_t kk = 0; kk < Cfg::kBK; kk += 16)
        {
            uint32_t a[Cfg::kMT][4];
            uint32_t b[Cfg::kNT][2];
#pragma unroll
            for (int32_t mt = 0; mt < Cfg::kMT; ++mt)
            {
                loadMatrixX4(a[mt], &sA[rowBase + mt * 16 + (lane & 15)][kk + (lane >> 4) * 8]);
            }
#pragma unroll
            for (int32_t np = 0; np < Cfg::kNT / 2; ++np)
            {
                uint32_t r[4];
                loadMatrixX4(r, &sB[colBase + np * 16 + (lane >> 4) * 8 + (lane & 7)][kk + ((lane >> 3) & 1) * 8]);
                b[2 * np][0] = r[0];
                b[2 * np][1] = r[1];
                b[2 * np + 1][0] = r[2];
                b[2 * np + 1][1] = r[3];
            }
#pragma unroll
            for (int32_t mt = 0; mt < Cfg::kMT; ++mt)
            {
#pragma unroll
                for (int32_t nt = 0; nt < Cfg::kNT; ++nt)
                {
                    mma16816<T>(acc[mt][nt], a[mt], b[nt]);
                }
            }
        }
    }
    else
    {
        // bf16 before sm_80: the same fragments, computed on FFMA straight from shared memory.
        int32_t const gid = lane >> 2;
        int32_t const tq = lane & 3;
#pragma unroll
        for (int32_t mt = 0; mt < Cfg::kMT; ++mt)
        {
#pragma unroll
            for (int32_t nt = 0; nt < Cfg::kNT; ++nt)
            {
#pragma unroll
                for (int32_t e = 0; e < 4; ++e)
                {
                    int32_t const row = rowBase + mt * 16 + gid + (e >> 1) * 8;
                    int32_t const col = colBase + nt * 8 + tq * 2 + (e & 1);
                    float sum = acc[mt][nt][e];
                    for (int32_t k = 0; k < Cfg::kBK; ++k)
                    {
                        sum += convertTo<float>(sA[row][k]) * convertTo<float>(sB[col][k]);
                    }
                    acc[mt][nt][e] = sum;
                }
            }
        }
    }
}

template <typename T, int32_t kBM>
__global__ void __launch_bounds__(kTHREADS, 2) deformConvMmaKernel(Geometry const geo, T const* __restrict__ input,
    T const* __restrict__ offset, T const* __restrict__ mask, T const* __restrict__ packed, T const* __restrict__ bias,
    T* __restrict__ output)
{
    using Cfg = MmaConfig<T, kBM>;
    __shared__ __align__(16) T sA[2][kBM][Cfg::kSTRIDE];
    __shared__ __align__(16) T sB[2][Cfg::kBN][Cfg::kSTRIDE];

    int32_t const mTile = static_cast<int32_t>(blockIdx.x % geo.mTiles);
    int32_t const nTile = static_cast<int32_t>(blockIdx.x / geo.mTiles);
    int32_t const group = static_cast<int32_t>(blockIdx.z);
    int32_t const tid = static_cast<int32_t>(threadIdx.x);
    int32_t const lane = tid & 31;
    int32_t const warp = tid >> 5;
    int32_t const warpM = warp >> 2;
    int32_t const warpN = warp & 3;

    // Sampling role: one pixel, half of the K tile's channels.
    int32_t const samplePixel = tid % Cfg::kBN;
    int32_t const sampleHalf = tid / Cfg::kBN;
    ColumnSampler<T> sampler;
    sampler.init(geo, input, offset, mask, nTile * Cfg::kBN + samplePixel);

    int32_t const chunksPerTap = geo.paddedCin / Cfg::kBK;
    int32_t const kTiles = geo.taps * chunksPerTap;
    int64_t const packedRow = static_cast<int64_t>(geo.taps) * geo.paddedCin;
    int32_t const rowsLeft = geo.coutPerGroup - mTile * kBM;
    T const* packedTile = packed + (static_cast<int64_t>(group) * geo.coutPerGroup + mTile * kBM) * packedRow;

    auto loadWeights = [&](int32_t kTile, int32_t buffer) {
#pragma unroll
        for (int32_t it = 0; it < kBM * Cfg::kBK / 8 / kTHREADS; ++it)
        {
            int32_t const chunk = tid + it * kTHREADS;
            int32_t const row = chunk / (Cfg::kBK / 8);
            int32_t const col = (chunk % (Cfg::kBK / 8)) * 8;
            bool const valid = row < rowsLeft;
            T const* src = valid ? packedTile + row * packedRow + static_cast<int64_t>(kTile) * Cfg::kBK + col : packed;
            copy16(&sA[buffer][row][col], src, valid);
        }
        copyCommit();
    };
    auto sampleColumns = [&](int32_t kTile, int32_t buffer) {
        int32_t const tap = kTile / chunksPerTap;
        int32_t const first = (kTile - tap * chunksPerTap) * Cfg::kBK + sampleHalf * Cfg::kRUN;
        int32_t const channel = group * geo.cinPerGroup + first;
        int32_t const count = geo.cinPerGroup - first;
        T* dst = &sB[buffer][samplePixel][sampleHalf * Cfg::kRUN];
#pragma unroll
        for (int32_t part = 0; part < Cfg::kRUN; part += 8)
        {
            float v[8];
            sampler.sample(geo, tap, channel + part, count - part, v);
            uint4 const packedValues = make_uint4(
                packPair<T>(v[0], v[1]), packPair<T>(v[2], v[3]), packPair<T>(v[4], v[5]), packPair<T>(v[6], v[7]));
            *reinterpret_cast<uint4*>(dst + part) = packedValues;
        }
    };

    float acc[Cfg::kMT][Cfg::kNT][4];
#pragma unroll
    for (int32_t mt = 0; mt < Cfg::kMT; ++mt)
    {
#pragma unroll
        for (int32_t nt = 0; nt < Cfg::kNT; ++nt)
        {
#pragma unroll
            for (int32_t e = 0; e < 4; ++e)
            {
                acc[mt][nt][e] = 0.0F;
            }
        }
    }

    loadWeights(0, 0);
    sampleColumns(0, 0);
    copyWaitAll();
    __syncthreads();
    for (int32_t kTile = 0; kTile < kTiles; ++kTile)
    {
        int32_t const buffer = kTile & 1;
        bool const more = kTile + 1 < kTiles;
        if (more)
        {
            loadWeights(kTile + 1, buffer ^ 1);
        }
        // Tensor work first: it runs while this warp waits on the next tile's gathers.
        warpTileProduct<T, kBM>(acc, sA[buffer], sB[buffer], warpM, warpN, lane);
        if (more)
        {
            sampleColumns(kTile + 1, buffer ^ 1);
        }
        copyWaitAll();
        __syncthreads();
    }

    // Epilogue: fragment element e of (mt, nt) is row gid + 8 (e / 2), column 2 tq + e % 2.
    int32_t const gid = lane >> 2;
    int32_t const tq = lane & 3;
    int64_t columnBase[Cfg::kNT][2];
#pragma unroll
    for (int32_t nt = 0; nt < Cfg::kNT; ++nt)
    {
#pragma unroll
        for (int32_t e = 0; e < 2; ++e)
        {
            int32_t const pixel = nTile * Cfg::kBN + warpN * Cfg::kWARP_N + nt * 8 + tq * 2 + e;
            int32_t const n = pixel / geo.outPlane;
            int32_t const r = pixel - n * geo.outPlane;
            columnBase[nt][e] = pixel < geo.pixels ? static_cast<int64_t>(n) * geo.outChannels * geo.outPlane + r : -1;
        }
    }
#pragma unroll
    for (int32_t mt = 0; mt < Cfg::kMT; ++mt)
    {
#pragma unroll
        for (int32_t h = 0; h < 2; ++h)
        {
            int32_t const row = mTile * kBM + warpM * Cfg::kWARP_M + mt * 16 + gid + h * 8;
            if (row >= geo.coutPerGroup)
            {
                continue;
            }
            int32_t const outChannel = group * geo.coutPerGroup + row;
            float const biasValue = geo.hasBias ? convertTo<float>(bias[outChannel]) : 0.0F;
            T* outRow = output + static_cast<int64_t>(outChannel) * geo.outPlane;
#pragma unroll
            for (int32_t nt = 0; nt < Cfg::kNT; ++nt)
            {
#pragma unroll
                for (int32_t e = 0; e < 2; ++e)
                {
                    if (columnBase[nt][e] >= 0)
                    {
                        outRow[columnBase[nt][e]] = convertTo<T>(acc[mt][nt][h * 2 + e] + biasValue);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SIMT kernel (fp32 / fp64): register-tiled FMA
// ---------------------------------------------------------------------------------------------

template <typename T, int32_t kBM>
struct SimtConfig
{
    using AccT = AccumulatorT<T>;
    static constexpr int32_t kBN = kTILE_PIXELS;
    static constexpr int32_t kBK = sizeof(AccT) == 8 ? 8 : 16;
    static constexpr int32_t kRUN = kBK / 2; //!< channels one thread samples per K tile
    static constexpr int32_t kTM = kBM / 16; //!< rows per thread (16 x 16 threads)
    static constexpr int32_t kTN = 8;        //!< columns per thread: two runs of 4, 64 apart
    static constexpr int32_t kMIN_BLOCKS = sizeof(AccT) == 8 ? 1 : 2; //!< fp64 needs the registers
    static_assert(kTHREADS == 2 * kBN, "sampler layout: two threads per pixel");
    static_assert(deform::kCHANNEL_PAD % kBK == 0, "K tiles must divide the channel padding");
};

template <typename T, int32_t kBM>
__global__ void __launch_bounds__(kTHREADS, SimtConfig<T, kBM>::kMIN_BLOCKS)
    deformConvSimtKernel(Geometry const geo, T const* __restrict__ input, T const* __restrict__ offset,
        T const* __restrict__ mask, T const* __restrict__ packed, T const* __restrict__ bias, T* __restrict__ output)
{
    using Cfg = SimtConfig<T, kBM>;
    using AccT = typename Cfg::AccT;
    __shared__ __align__(16) AccT sA[2][Cfg::kBK][kBM];
    __shared__ __align__(16) AccT sB[2][Cfg::kBK][Cfg::kBN];

    int32_t const mTile = static_cast<int32_t>(blockIdx.x % geo.mTiles);
    int32_t const nTile = static_cast<int32_t>(blockIdx.x / geo.mTiles);
    int32_t const group = static_cast<int32_t>(blockIdx.z);
    int32_t const tid = static_cast<int32_t>(threadIdx.x);
    int32_t const tm = tid / 16;
    int32_t const tn = tid % 16;

    int32_t const samplePixel = tid % Cfg::kBN;
    int32_t const sampleHalf = tid / Cfg::kBN;
    ColumnSampler<T> sampler;
    sampler.init(geo, input, offset, mask, nTile * Cfg::kBN + samplePixel);

    int32_t const chunksPerTap = geo.paddedCin / Cfg::kBK;
    int32_t const kTiles = geo.taps * chunksPerTap;
    int64_t const packedRow = static_cast<int64_t>(geo.taps) * geo.paddedCin;
    int32_t const rowsLeft = geo.coutPerGroup - mTile * kBM;
    T const* packedTile = packed + (static_cast<int64_t>(group) * geo.coutPerGroup + mTile * kBM) * packedRow;

    auto loadWeights = [&](int32_t kTile, int32_t buffer) {
#pragma unroll
        for (int32_t it = 0; it < kBM * Cfg::kBK / kTHREADS; ++it)
        {
            int32_t const e = tid + it * kTHREADS;
            int32_t const row = e / Cfg::kBK;
            int32_t const k = e % Cfg::kBK;
            sA[buffer][k][row] = row < rowsLeft
                ? convertTo<AccT>(packedTile[row * packedRow + static_cast<int64_t>(kTile) * Cfg::kBK + k])
                : AccT(0);
        }
    };
    auto sampleColumns = [&](int32_t kTile, int32_t buffer) {
        int32_t const tap = kTile / chunksPerTap;
        int32_t const first = (kTile - tap * chunksPerTap) * Cfg::kBK + sampleHalf * Cfg::kRUN;
        AccT v[Cfg::kRUN];
        sampler.sample(geo, tap, group * geo.cinPerGroup + first, geo.cinPerGroup - first, v);
#pragma unroll
        for (int32_t c = 0; c < Cfg::kRUN; ++c)
        {
            sB[buffer][sampleHalf * Cfg::kRUN + c][samplePixel] = v[c];
        }
    };

    AccT acc[Cfg::kTM][Cfg::kTN];
#pragma unroll
    for (int32_t i = 0; i < Cfg::kTM; ++i)
    {
#pragma unroll
        for (int32_t j = 0; j < Cfg::kTN; ++j)
        {
            acc[i][j] = AccT(0);
        }
    }

    loadWeights(0, 0);
    sampleColumns(0, 0);
    __syncthreads();
    for (int32_t kTile = 0; kTile < kTiles; ++kTile)
    {
        int32_t const buffer = kTile & 1;
#pragma unroll
        for (int32_t k = 0; k < Cfg::kBK; ++k)
        {
            AccT a[Cfg::kTM];
            AccT b[Cfg::kTN];
#pragma unroll
            for (int32_t i = 0; i < Cfg::kTM; ++i)
            {
                a[i] = sA[buffer][k][tm * Cfg::kTM + i];
            }
#pragma unroll
            for (int32_t j = 0; j < 4; ++j)
            {
                b[j] = sB[buffer][k][tn * 4 + j];
                b[4 + j] = sB[buffer][k][Cfg::kBN / 2 + tn * 4 + j];
            }
#pragma unroll
            for (int32_t i = 0; i < Cfg::kTM; ++i)
            {
#pragma unroll
                for (int32_t j = 0; j < Cfg::kTN; ++j)
                {
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
                }
            }
        }
        if (kTile + 1 < kTiles)
        {
            loadWeights(kTile + 1, buffer ^ 1);
            sampleColumns(kTile + 1, buffer ^ 1);
        }
        __syncthreads();
    }

    int64_t columnBase[Cfg::kTN];
#pragma unroll
    for (int32_t j = 0; j < Cfg::kTN; ++j)
    {
        int32_t const pixel = nTile * Cfg::kBN + (j / 4) * (Cfg::kBN / 2) + tn * 4 + (j % 4);
        int32_t const n = pixel / geo.outPlane;
        int32_t const r = pixel - n * geo.outPlane;
        columnBase[j] = pixel < geo.pixels ? static_cast<int64_t>(n) * geo.outChannels * geo.outPlane + r : -1;
    }
#pragma unroll
    for (int32_t i = 0; i < Cfg::kTM; ++i)
    {
        int32_t const row = mTile * kBM + tm * Cfg::kTM + i;
        if (row >= geo.coutPerGroup)
        {
            continue;
        }
        int32_t const outChannel = group * geo.coutPerGroup + row;
        AccT const biasValue = geo.hasBias ? convertTo<AccT>(bias[outChannel]) : AccT(0);
        T* outRow = output + static_cast<int64_t>(outChannel) * geo.outPlane;
#pragma unroll
        for (int32_t j = 0; j < Cfg::kTN; ++j)
        {
            if (columnBase[j] >= 0)
            {
                outRow[columnBase[j]] = convertTo<T>(acc[i][j] + biasValue);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Launch
// ---------------------------------------------------------------------------------------------

Geometry makeGeometry(DeformConv2dParams const& p)
{
    Geometry geo{};
    geo.height = static_cast<int32_t>(p.height);
    geo.width = static_cast<int32_t>(p.width);
    geo.planeSize = static_cast<int32_t>(p.height * p.width);
    geo.kernelWidth = p.kernelWidth;
    geo.taps = p.kernelHeight * p.kernelWidth;
    geo.strideH = p.strideH;
    geo.strideW = p.strideW;
    geo.padH = p.padH;
    geo.padW = p.padW;
    geo.dilationH = p.dilationH;
    geo.dilationW = p.dilationW;
    geo.offsetGroups = p.offsetGroups;
    geo.cinPerGroup = static_cast<int32_t>(p.inChannels / p.groups);
    geo.coutPerGroup = static_cast<int32_t>(p.outChannels / p.groups);
    geo.cinPerOffsetGroup = static_cast<int32_t>(p.inChannels / p.offsetGroups);
    geo.paddedCin = static_cast<int32_t>(deform::paddedChannels(geo.cinPerGroup));
    geo.outWidth = static_cast<int32_t>(p.outWidth);
    geo.outPlane = static_cast<int32_t>(p.outHeight * p.outWidth);
    geo.outChannels = static_cast<int32_t>(p.outChannels);
    geo.inChannels = static_cast<int32_t>(p.inChannels);
    geo.pixels = static_cast<int32_t>(p.batch * p.outHeight * p.outWidth);
    geo.hasMask = p.hasMask;
    geo.hasBias = p.hasBias;
    geo.inputImageStride = p.inChannels * p.height * p.width;
    geo.offsetImageStride = static_cast<int64_t>(p.offsetGroups) * geo.taps * 2 * geo.outPlane;
    geo.maskImageStride = static_cast<int64_t>(p.offsetGroups) * geo.taps * geo.outPlane;
    return geo;
}

template <typename T, int32_t kBM, bool kTENSOR>
Status launchMain(Geometry geo, int32_t groups, T const* input, T const* offset, T const* mask, T const* packed,
    T const* bias, T* output, cudaStream_t stream)
{
    geo.mTiles = (geo.coutPerGroup + kBM - 1) / kBM;
    int64_t const nTiles = (static_cast<int64_t>(geo.pixels) + kTILE_PIXELS - 1) / kTILE_PIXELS;
    int64_t const blocks = nTiles * geo.mTiles;
    if (blocks > std::numeric_limits<int32_t>::max() || groups > 65535)
    {
        return unsupported("deform_conv2d: the launch grid is too large (", blocks, " tiles, groups=", groups, ")");
    }
    dim3 const grid(static_cast<uint32_t>(blocks), 1, static_cast<uint32_t>(groups));
    if constexpr (kTENSOR)
    {
        deformConvMmaKernel<T, kBM><<<grid, kTHREADS, 0, stream>>>(geo, input, offset, mask, packed, bias, output);
        return lastLaunchStatus("deformConvMmaKernel");
    }
    else
    {
        deformConvSimtKernel<T, kBM><<<grid, kTHREADS, 0, stream>>>(geo, input, offset, mask, packed, bias, output);
        return lastLaunchStatus("deformConvSimtKernel");
    }
}

template <typename T>
Status forwardTyped(DeformConv2dParams const& p, T const* input, T const* offset, T const* mask, T const* weight,
    T const* bias, T* output, void* workspace, cudaStream_t stream)
{
    Geometry const geo = makeGeometry(p);
    T* packed = static_cast<T*>(workspace);
    T* channelsLast = reinterpret_cast<T*>(static_cast<char*>(workspace) + deform::packedWeightsBytes(p));
    TRTOPS_RETURN_IF_ERROR(transpose::nchwToNhwc(
        input, channelsLast, p.batch, p.inChannels, p.height * p.width, sizeof(T), stream, "deform_conv2d"));
    input = channelsLast;
    int64_t const packedTotal = p.outChannels * geo.taps * static_cast<int64_t>(geo.paddedCin);
    int64_t const packBlocks = std::min<int64_t>((packedTotal + kTHREADS - 1) / kTHREADS, 4096);
    packWeightsKernel<T><<<static_cast<uint32_t>(packBlocks), kTHREADS, 0, stream>>>(
        weight, packed, packedTotal, geo.cinPerGroup, geo.taps, geo.paddedCin);
    TRTOPS_RETURN_IF_ERROR(lastLaunchStatus("packWeightsKernel"));

    constexpr bool kTENSOR = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
    // Narrow output-channel groups take the 64-row tile so that no sampled column is wasted. The
    // SIMT kernel always uses 64 rows: 128 would spill at two CTAs per SM.
    if constexpr (!kTENSOR)
    {
        return launchMain<T, 64, false>(geo, p.groups, input, offset, mask, packed, bias, output, stream);
    }
    else
    {
        if (geo.coutPerGroup <= 64)
        {
            return launchMain<T, 64, true>(geo, p.groups, input, offset, mask, packed, bias, output, stream);
        }
        return launchMain<T, 128, true>(geo, p.groups, input, offset, mask, packed, bias, output, stream);
    }
}

} // namespace

Status deformConv2dForward(DeformConv2dParams const& params, void const* input, void const* offset, void const* mask,
    void const* weight, void const* bias, void* output, void* workspace, cudaStream_t stream)
{
    TRTOPS_RETURN_IF_ERROR(validateDeformConv2d(params));
    if (params.batch == 0 || params.outChannels == 0)
    {
        return Status::ok();
    }
    TRTOPS_RETURN_IF_ERROR(deform::checkPointers(params, input, offset, mask, weight, bias, output));
    if (workspace == nullptr || reinterpret_cast<uintptr_t>(workspace) % 16 != 0)
    {
        return invalidArgument("deform_conv2d: workspace must be a 16-byte aligned buffer of ",
            deformConv2dWorkspaceSize(params), " bytes");
    }
    return dispatchFloating(params.dataType, "deform_conv2d", "dataType", [&](auto tag) {
        using T = decltype(tag);
        return forwardTyped<T>(params, static_cast<T const*>(input), static_cast<T const*>(offset),
            static_cast<T const*>(mask), static_cast<T const*>(weight), static_cast<T const*>(bias),
            static_cast<T*>(output), workspace, stream);
    });
}

} // namespace trtops
