//! \file warp_mma.cuh
//! The warp-wide tensor-core instructions the kernels use, as thin wrappers over inline PTX:
//! `ldmatrix` (x4) and `mma.sync` m16n8 with float accumulation, on 16-bit (f16, bf16: k16) or
//! TF32 (k8) operands (roundToTf32 in numeric.cuh makes those). Include from .cu files only.
//!
//! Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16 / mma.m16n8k8"), for lane l with
//! g = l / 4 and q = l % 4; every register holds 4 bytes of a row, i.e. a pair of 16-bit
//! elements or one TF32 element:
//!   A (16 x 32 bytes, row-major)  a[0] = row g, bytes 4q..4q+3;   a[1] = row g + 8, same bytes;
//!                                 a[2] = row g, bytes 16 + 4q..;  a[3] = row g + 8, bytes 16 + 4q..
//!   B (8 columns x 32 bytes of K) b[0] = column g, bytes 4q..;    b[1] = column g, bytes 16 + 4q..
//!   C/D (16 x 8 floats)           d[0], d[1] = row g, columns 2q, 2q + 1; d[2], d[3] = row g + 8
//! So with K measured in bytes the two operand types share one layout, and one ldmatrix.x4 of
//! four 8 x 16-byte matrices fills an A fragment (matrices: rows 0-7 / 8-15 x bytes 0-15 /
//! 16-31) or the B fragments of two n8 tiles.
//!
//! The CUDA emulation tests (tests/emulation) cannot run inline PTX: they replace this header
//! with warp_mma_model.h, which computes the same functions from these layouts with warp
//! collectives. Keep the two in step (same names, same signatures).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace trtops
{
namespace mma
{

//! Whether mmaM16N8<T> exists on the architecture being compiled: f16 from sm_75 (as two k8
//! halves there), bf16 and TF32 from sm_80. Host passes answer true (nothing runs there).
template <typename T>
__host__ __device__ constexpr bool tensorCoresFor()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    return std::is_same_v<T, __half>;
#else
    return std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, float>;
#endif
}

//! ldmatrix.sync.aligned.m8n8.x4.shared.b16: lanes 8i .. 8i + 7 give the shared-memory addresses
//! of the 8 rows (16 bytes each) of matrix i; r[i] of lane l is 4-byte word l % 4 of row l / 4 of
//! matrix i.
__device__ inline void loadMatrixX4(uint32_t (&r)[4], void const* rowAddress)
{
#if defined(__CUDA_ARCH__)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(static_cast<uint32_t>(__cvta_generic_to_shared(rowAddress))));
#endif
}

//! d += A (16 x 32 bytes of K) * B (32 bytes of K x 8), float accumulation: m16n8k16 for
//! __half / __nv_bfloat16, m16n8k8 TF32 for float (operands already rounded to TF32, see
//! roundToTf32 in numeric.cuh; the hardware ignores the low 13 bits of a float operand).
template <typename T>
__device__ inline void mmaM16N8(float (&d)[4], uint32_t const (&a)[4], uint32_t const (&b)[2])
{
    static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, float>,
        "mmaM16N8: f16, bf16 or TF32 (float) operands");
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (std::is_same_v<T, __half>)
    {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
    else
    {
        asm volatile(
            "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
#elif defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, __half>)
    {
        // sm_75: the k16 product as two k8 halves (a[0], a[1], b[0] hold K bytes 0-15).
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, "
                     "{%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(b[0]));
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5}, {%6}, "
                     "{%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[2]), "r"(a[3]), "r"(b[1]));
    }
    else
    {
        // Callers check tensorCoresFor<T>() and never get here.
        __trap();
    }
#endif
}

} // namespace mma
} // namespace trtops
