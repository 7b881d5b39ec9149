//! \file warp_mma_model.h
//! The emulated builds' stand-in for plugins/kernels/core/warp_mma.cuh (installed under that name
//! in the build's shadow folder): the same functions, computed on the CPU from the fragment
//! layouts that header documents (PTX ISA, "Matrix Fragments for mma.m16n8k16 / mma.m16n8k8" and
//! "ldmatrix"), so that the tensor-core kernels run their real fragment addressing here.
//!
//! Each function is a warp collective, as the instruction is: every lane publishes its operands
//! (registers, or its row address for ldmatrix) in a per-warp table, the warp meets at a
//! __syncwarp, and each lane computes its own result registers from the other lanes' entries. The
//! table has two slots used alternately: a lane can only reach the instruction after next (same
//! slot) once every lane has met at the next one, i.e. has finished reading this one. A lane that
//! skips the instruction, or calls it from a different place than its warp, is an emulator error
//! (a hang or undefined behaviour on a GPU). Blocks never run concurrently, so one table per warp
//! of a block suffices.
//!
//! Arithmetic: each 16-bit or TF32 product is exact in float, and the model adds the K products
//! to the accumulator one at a time in K order, in float: one valid order of the tensor core's
//! float accumulation. TF32 operands are read as the hardware reads a float: its low 13 bits are
//! ignored.
#pragma once

#include "cuda_emulator.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace trtops
{
namespace mma
{

//! As on a GPU of that capability: before sm_80 only f16 has an mma here, so the kernels take
//! their FFMA fallbacks for the other types (the sm_75 build runs those).
template <typename T>
constexpr bool tensorCoresFor()
{
    if constexpr (TRTOPS_EMULATED_COMPUTE_MAJOR < 8)
    {
        return std::is_same_v<T, __half>;
    }
    return std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, float>;
}

namespace model
{

constexpr int32_t kMAX_WARPS = 32; //!< 1024 threads per block

//! What one lane publishes for one instruction.
struct LaneOperands
{
    uint32_t a[4];
    uint32_t b[2];
    char const* rowAddress;
    uint64_t sequence; //!< how many model instructions this lane has issued before
};

//! The slot of this lane's next instruction in its warp's table, with the lane's sequence number
//! already stored in it.
inline LaneOperands (&nextSlot(int32_t warp, int32_t lane))[32]
{
    static LaneOperands table[kMAX_WARPS][2][32];
    static uint64_t issued[kMAX_WARPS][32];
    uint64_t const sequence = issued[warp][lane]++;
    LaneOperands(&slot)[32] = table[warp][sequence & 1];
    slot[lane].sequence = sequence;
    return slot;
}

//! After the warp has met: every lane must be at the same instruction (lanes of a warp issue the
//! same instructions in the same order, so their counts agree unless one skipped one).
inline void checkSequence(LaneOperands const (&slot)[32], int32_t lane)
{
    for (int32_t other = 0; other < 32; ++other)
    {
        if (slot[other].sequence != slot[lane].sequence)
        {
            emu::reportError("warp_mma_model: lane %d is at its instruction %llu, lane %d at %llu", lane,
                static_cast<unsigned long long>(slot[lane].sequence), other,
                static_cast<unsigned long long>(slot[other].sequence));
            return;
        }
    }
}

//! The calling thread's warp in its block and lane in its warp.
inline void warpAndLane(int32_t& warp, int32_t& lane)
{
    emu::Index3 const& t = emu::threadIndex();
    emu::Index3 const& b = emu::blockDimension();
    int32_t const linear = static_cast<int32_t>(t.x + b.x * (t.y + b.y * t.z));
    warp = linear / 32;
    lane = linear % 32;
}

//! The value of the element that byte `byteInRegister` (a multiple of the element size) of a
//! fragment register starts, as the tensor core reads it.
template <typename T>
float element(uint32_t reg, int32_t byteInRegister)
{
    if constexpr (std::is_same_v<T, float>)
    {
        uint32_t const bits = reg & 0xFFFFE000U; // TF32: the low 13 bits are ignored
        float value;
        std::memcpy(&value, &bits, sizeof(value));
        return value;
    }
    else
    {
        uint16_t const bits = static_cast<uint16_t>(reg >> (8 * byteInRegister));
        T value;
        std::memcpy(&value, &bits, sizeof(bits));
        return static_cast<float>(value);
    }
}

} // namespace model

inline void loadMatrixX4(uint32_t (&r)[4], void const* rowAddress)
{
    int32_t warp = 0;
    int32_t lane = 0;
    model::warpAndLane(warp, lane);
    model::LaneOperands(&table)[32] = model::nextSlot(warp, lane);
    table[lane].rowAddress = static_cast<char const*>(rowAddress);
    __syncwarp();
    model::checkSequence(table, lane);
    for (int32_t i = 0; i < 4; ++i)
    {
        // Matrix i's row lane / 4 comes from lane 8 i + lane / 4; this lane takes its word lane % 4.
        std::memcpy(&r[i], table[8 * i + lane / 4].rowAddress + 4 * (lane % 4), sizeof(uint32_t));
    }
}

template <typename T>
void mmaM16N8(float (&d)[4], uint32_t const (&a)[4], uint32_t const (&b)[2])
{
    static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, float>,
        "mmaM16N8: f16, bf16 or TF32 (float) operands");
    if (!tensorCoresFor<T>())
    {
        emu::reportError("mmaM16N8 on a type this compute capability has no mma for (the kernel should "
                         "have taken its fallback)");
    }
    constexpr int32_t kBYTES = static_cast<int32_t>(sizeof(T));
    constexpr int32_t kK = 32 / kBYTES; // K of the instruction: 32 bytes of every row
    int32_t warp = 0;
    int32_t lane = 0;
    model::warpAndLane(warp, lane);
    model::LaneOperands(&table)[32] = model::nextSlot(warp, lane);
    std::memcpy(table[lane].a, a, sizeof(table[lane].a));
    std::memcpy(table[lane].b, b, sizeof(table[lane].b));
    __syncwarp();
    model::checkSequence(table, lane);
    for (int32_t j = 0; j < 4; ++j)
    {
        int32_t const row = lane / 4 + 8 * (j / 2);
        int32_t const column = 2 * (lane % 4) + j % 2;
        float sum = d[j];
        for (int32_t k = 0; k < kK; ++k)
        {
            // Byte kb of the K dimension: register (row / 8) + 2 (kb / 16) of lane
            // (row % 8) * 4 + (kb % 16) / 4 holds A[row][k]; register kb / 16 of lane
            // column * 4 + (kb % 16) / 4 holds B[k][column].
            int32_t const kb = k * kBYTES;
            uint32_t const aReg = table[(row % 8) * 4 + (kb % 16) / 4].a[row / 8 + 2 * (kb / 16)];
            uint32_t const bReg = table[column * 4 + (kb % 16) / 4].b[kb / 16];
            sum += model::element<T>(aReg, kb % 4) * model::element<T>(bReg, kb % 4);
        }
        d[j] = sum;
    }
}

} // namespace mma
} // namespace trtops
