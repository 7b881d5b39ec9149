//! \file numeric.cuh
//! Element conversions shared by the CUDA kernels and the host implementations. Kernels load
//! fp16/bf16 storage, compute in float (or double for float64 inputs) and store back.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/status.h"
#include "core/types.h"

namespace trtops
{

//! Accumulation type: float for every storage type except double.
template <typename T>
struct AccumulatorOf
{
    using type = float;
};
template <>
struct AccumulatorOf<double>
{
    using type = double;
};
template <typename T>
using AccumulatorT = typename AccumulatorOf<T>::type;

template <typename To, typename From>
__host__ __device__ inline To convertTo(From value)
{
    return static_cast<To>(value);
}
template <>
__host__ __device__ inline float convertTo<float, __half>(__half value)
{
    return __half2float(value);
}
template <>
__host__ __device__ inline float convertTo<float, __nv_bfloat16>(__nv_bfloat16 value)
{
    return __bfloat162float(value);
}
template <>
__host__ __device__ inline __half convertTo<__half, float>(float value)
{
    return __float2half_rn(value);
}
template <>
__host__ __device__ inline __nv_bfloat16 convertTo<__nv_bfloat16, float>(float value)
{
    return __float2bfloat16_rn(value);
}

//! `value` rounded to TF32 (10 explicit mantissa bits; nearest, ties away from zero, as
//! cvt.rna.tf32.f32), returned as a float whose low 13 bits are zero.
__host__ __device__ inline float roundToTf32(float value)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    uint32_t bits;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(bits) : "f"(value));
    return __uint_as_float(bits);
#else
    uint32_t bits;
#if defined(__CUDA_ARCH__)
    bits = __float_as_uint(value);
#else
    static_assert(sizeof(bits) == sizeof(value), "float is 32 bits");
    __builtin_memcpy(&bits, &value, sizeof(bits));
#endif
    if ((bits & 0x7F800000U) != 0x7F800000U)
    {
        // Adding half a TF32 unit to the magnitude rounds ties away from zero; a carry into the
        // exponent is the correct next binade (or infinity).
        bits = (bits + 0x1000U) & 0xFFFFE000U;
    }
    else if ((bits & 0x007FFFFFU) != 0U)
    {
        // NaN: a quiet NaN whose payload survives dropping the low 13 bits (a tensor core reading
        // a NaN with a low payload only would see infinity). Infinity keeps its bits.
        bits = (bits & 0x80000000U) | 0x7FFFE000U;
    }
#if defined(__CUDA_ARCH__)
    return __uint_as_float(bits);
#else
    float rounded;
    __builtin_memcpy(&rounded, &bits, sizeof(bits));
    return rounded;
#endif
#endif
}

//! `value` as the sum of two TF32 numbers, for float32 products on TF32 tensor cores that keep
//! float32 accuracy ("3xTF32"): big = value rounded to TF32, small = the remainder (exact in
//! float) rounded to TF32. big + small is within 2^-22 of |value|, and a product a b is taken as
//! big_a big_b + big_a small_b + small_a big_b, which drops small_a small_b (<= 2^-22 |a b|).
//! A non-finite big (value infinite or NaN, or so large that rounding overflows) gets small = 0,
//! so that infinity times a weight stays infinite instead of becoming inf - inf = NaN.
__host__ __device__ inline void splitTf32(float value, float& big, float& small)
{
    big = roundToTf32(value);
    float const remainder = value - big;
    small = remainder - remainder == 0.0F ? roundToTf32(remainder) : 0.0F;
}

//! splitTf32 on the bits of a float as a tensor-core fragment register holds them.
__host__ __device__ inline void splitTf32Bits(uint32_t bits, uint32_t& big, uint32_t& small)
{
    float value;
    __builtin_memcpy(&value, &bits, sizeof(bits));
    float high;
    float low;
    splitTf32(value, high, low);
    __builtin_memcpy(&big, &high, sizeof(big));
    __builtin_memcpy(&small, &low, sizeof(small));
}

//! Storage type for a DataType, for compile-time dispatch.
template <DataType kType>
struct StorageOf;
template <>
struct StorageOf<DataType::kFLOAT32>
{
    using type = float;
};
template <>
struct StorageOf<DataType::kFLOAT16>
{
    using type = __half;
};
template <>
struct StorageOf<DataType::kBFLOAT16>
{
    using type = __nv_bfloat16;
};
template <>
struct StorageOf<DataType::kFLOAT64>
{
    using type = double;
};

//! Calls `fn(T{})` with the storage type of a floating DataType; returns what fn returns.
//! Unsupported types produce an error Status naming the operator and the field.
template <typename Fn>
auto dispatchFloating(DataType type, char const* op, char const* field, Fn&& fn) -> decltype(fn(float{}))
{
    switch (type)
    {
    case DataType::kFLOAT32: return fn(float{});
    case DataType::kFLOAT16: return fn(__half{});
    case DataType::kBFLOAT16: return fn(__nv_bfloat16{});
    case DataType::kFLOAT64: return fn(double{});
    default: break;
    }
    return unsupported(op, ": ", field, " has dtype ", dataTypeName(type),
        "; supported: float32, float16, bfloat16, float64");
}

} // namespace trtops
