//! \file nms_math.cuh
//! Math shared by the NMS CUDA kernels and the host implementation: score sort keys, class keys,
//! box areas and the IoU > threshold predicate. Every floating operation is written with explicit
//! round-to-nearest intrinsics on the device so that nvcc cannot contract it into an FMA: the
//! device then computes exactly what the host computes.
#pragma once

#include "core/numeric.cuh"
#include "nms/nms.h"

#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace trtops
{
namespace nms
{

//! Sorted boxes are stored converted to their compute type: float for float32/float16 boxes,
//! double for float64 boxes.
template <typename C>
struct alignas(4 * sizeof(C)) Box
{
    C x1;
    C y1;
    C x2;
    C y2;
};

//! Compute type and float16 rounding of each supported box storage type.
template <typename T>
struct BoxTraits
{
    using Compute = float;
    static constexpr bool kHALF_ROUNDING = false;
};
template <>
struct BoxTraits<__half>
{
    using Compute = float;
    static constexpr bool kHALF_ROUNDING = true;
};
template <>
struct BoxTraits<double>
{
    using Compute = double;
    static constexpr bool kHALF_ROUNDING = false;
};

__host__ __device__ inline float addRn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
__host__ __device__ inline float subRn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}
__host__ __device__ inline float mulRn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
__host__ __device__ inline float divRn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}
__host__ __device__ inline double addRn(double a, double b)
{
#ifdef __CUDA_ARCH__
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}
__host__ __device__ inline double subRn(double a, double b)
{
#ifdef __CUDA_ARCH__
    return __dsub_rn(a, b);
#else
    return a - b;
#endif
}
__host__ __device__ inline double mulRn(double a, double b)
{
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}
__host__ __device__ inline double divRn(double a, double b)
{
#ifdef __CUDA_ARCH__
    return __ddiv_rn(a, b);
#else
    return a / b;
#endif
}

//! Rounds a float to float16 and back (torchvision's CUDA kernel subtracts float16 coordinates in
//! c10::Half, i.e. in float then rounded to half).
__host__ __device__ inline float roundToHalf(float value)
{
    return __half2float(__float2half_rn(value));
}

template <typename C>
__host__ __device__ inline C maxOf(C a, C b)
{
    return a > b ? a : b;
}
template <typename C>
__host__ __device__ inline C minOf(C a, C b)
{
    return a < b ? a : b;
}

//! Loads box `index` of the input (storage T) in compute type.
template <typename T>
__host__ __device__ inline Box<typename BoxTraits<T>::Compute> loadBox(T const* boxes, int64_t index)
{
    using C = typename BoxTraits<T>::Compute;
    T const* row = boxes + 4 * index;
    return Box<C>{convertTo<C>(row[0]), convertTo<C>(row[1]), convertTo<C>(row[2]), convertTo<C>(row[3])};
}

//! Area as torchvision computes it: (x2 - x1) * (y2 - y1); for float16 boxes the height is rounded
//! to float16 first (torchvision's CUDA kernel: (float)x2 - x1 in float, y2 - y1 in c10::Half).
template <typename C, bool kHALF_ROUNDING>
__host__ __device__ inline C boxArea(Box<C> const& b)
{
    C const w = subRn(b.x2, b.x1);
    C h = subRn(b.y2, b.y1);
    if (kHALF_ROUNDING)
    {
        h = roundToHalf(h);
    }
    return mulRn(w, h);
}

//! True when IoU(a, b) > threshold. `threshold` is the compute-type threshold from
//! computeThreshold(): for float it is the largest float <= the double threshold, so that
//! `iou > threshold` in float equals `(double)iou > doubleThreshold`. Symmetric in (a, b).
template <typename C, bool kHALF_ROUNDING>
__host__ __device__ inline bool iouAbove(Box<C> const& a, C areaA, Box<C> const& b, C areaB, C threshold)
{
    C w = subRn(minOf(a.x2, b.x2), maxOf(a.x1, b.x1));
    C h = subRn(minOf(a.y2, b.y2), maxOf(a.y1, b.y1));
    if (kHALF_ROUNDING)
    {
        w = roundToHalf(w);
        h = roundToHalf(h);
    }
    // max(d, 0) with NaN -> 0, as both torchvision kernels clamp.
    w = w > C(0) ? w : C(0);
    h = h > C(0) ? h : C(0);
    C const inter = mulRn(w, h);
    if (inter == C(0) && threshold >= C(0))
    {
        // iou is +-0 or NaN: never above a non-negative threshold (saves the division).
        return false;
    }
    C const iou = divRn(inter, subRn(addRn(areaA, areaB), inter));
    return iou > threshold;
}

//! Threshold in compute type, so that `iou > result` equals `(double)iou > threshold` exactly.
template <typename C>
inline C computeThreshold(double threshold);
template <>
inline double computeThreshold<double>(double threshold)
{
    return threshold;
}
template <>
inline float computeThreshold<float>(double threshold)
{
    float rounded = static_cast<float>(threshold);
    if (static_cast<double>(rounded) > threshold)
    {
        rounded = std::nextafter(rounded, -std::numeric_limits<float>::infinity());
    }
    return rounded;
}

//! Sort key type of a score type: 32 bits for float32/float16 scores, 64 for float64.
template <typename S>
struct ScoreKeyOf
{
    using type = uint32_t;
};
template <>
struct ScoreKeyOf<double>
{
    using type = uint64_t;
};

template <typename K>
__host__ __device__ constexpr K invalidKey()
{
    return ~K(0);
}

__host__ __device__ inline uint32_t floatBits(float value)
{
#ifdef __CUDA_ARCH__
    return __float_as_uint(value);
#else
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    return bits;
#endif
}
__host__ __device__ inline uint64_t floatBits(double value)
{
#ifdef __CUDA_ARCH__
    return static_cast<uint64_t>(__double_as_longlong(value));
#else
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    return bits;
#endif
}

//! Key whose ascending (stable) order is the candidate order: NaN first, then decreasing score,
//! -0.0 equal to +0.0. Never equals invalidKey(), which marks a box that is not a candidate.
template <typename F>
__host__ __device__ inline auto descendingScoreKey(F score) -> decltype(floatBits(score))
{
    using K = decltype(floatBits(score));
    constexpr K kSIGN = K(1) << (8 * sizeof(K) - 1);
    if (score != score)
    {
        return K(0);
    }
    K const bits = score == F(0) ? K(0) : floatBits(score);
    K const ascending = (bits & kSIGN) ? ~bits : (bits | kSIGN);
    return ~ascending;
}

//! Candidate test and key of one score (stored as S).
template <typename S>
__host__ __device__ inline typename ScoreKeyOf<S>::type scoreKey(
    S stored, bool hasScoreThreshold, double scoreThreshold)
{
    using F = typename BoxTraits<S>::Compute; // float for float32/float16, double for float64
    using K = typename ScoreKeyOf<S>::type;
    F const score = convertTo<F>(stored);
    if (hasScoreThreshold && !(static_cast<double>(score) >= scoreThreshold))
    {
        return invalidKey<K>();
    }
    return static_cast<K>(descendingScoreKey(score));
}

//! Class key whose ascending order is the class order (sign bit flipped). Only equality and order
//! matter; int32 keys occupy the low 32 bits.
__host__ __device__ inline uint64_t classKey(int32_t value)
{
    return static_cast<uint64_t>(static_cast<uint32_t>(value) ^ 0x80000000U);
}
__host__ __device__ inline uint64_t classKey(int64_t value)
{
    return static_cast<uint64_t>(value) ^ 0x8000000000000000ULL;
}

} // namespace nms
} // namespace trtops
