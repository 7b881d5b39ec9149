//! \file transpose.cuh
//! NCHW -> NHWC copy of a feature map on the device, for kernels that read channels as 16-byte
//! vectors (the RoIAlign NCHW path and deform_conv2d copy their input into the workspace first).
//! Moves element bits, so one kernel serves every dtype of a size. Include from .cu files only.
#pragma once

#include "core/status.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace trtops
{
namespace transpose
{

constexpr int32_t kTILE = 32;
constexpr int32_t kROWS = 8; //!< threads per tile column: a block is kTILE x kROWS threads
static_assert(kTILE % kROWS == 0, "whole tile rows per thread");

//! [batch, channels, pixels] -> [batch, pixels, channels] through 32 x 33 shared-memory tiles:
//! reads coalesce along pixels, writes along channels. blockIdx.x enumerates (channel tile, pixel
//! tile) pairs; blockIdx.y strides over the batch. Launched with kTILE x kROWS threads.
template <typename Bits>
__global__ void __launch_bounds__(kTILE * kROWS) nchwToNhwcKernel(Bits const* __restrict__ in, Bits* __restrict__ out,
    int64_t batch, int64_t channels, int64_t pixels, int64_t pixelTiles)
{
    __shared__ Bits tile[kTILE][kTILE + 1];
    int64_t const p0 = (static_cast<int64_t>(blockIdx.x) % pixelTiles) * kTILE;
    int64_t const c0 = (static_cast<int64_t>(blockIdx.x) / pixelTiles) * kTILE;
    for (int64_t n = blockIdx.y; n < batch; n += gridDim.y)
    {
        Bits const* src = in + n * channels * pixels;
        Bits* dst = out + n * channels * pixels;
        // All kTILE / kROWS loads of a thread are issued before the first store to the tile, so
        // that several are in flight at once (the copy is bound by memory latency otherwise).
        // Elements past the map read as zero and are never written out.
        Bits values[kTILE / kROWS];
#pragma unroll
        for (int32_t i = 0; i < kTILE / kROWS; ++i)
        {
            int64_t const c = c0 + threadIdx.y + i * kROWS;
            int64_t const p = p0 + threadIdx.x;
            values[i] = (c < channels && p < pixels) ? src[c * pixels + p] : Bits(0);
        }
#pragma unroll
        for (int32_t i = 0; i < kTILE / kROWS; ++i)
        {
            tile[threadIdx.y + i * kROWS][threadIdx.x] = values[i];
        }
        __syncthreads();
        for (int32_t r = threadIdx.y; r < kTILE; r += blockDim.y)
        {
            int64_t const p = p0 + r;
            int64_t const c = c0 + threadIdx.x;
            if (c < channels && p < pixels)
            {
                dst[p * channels + c] = tile[threadIdx.x][r];
            }
        }
        __syncthreads(); // the tile is reused by the next batch item
    }
}

//! Queues the copy of `batch` images of `channels` x `pixels` elements of `elementBytes` (2, 4 or
//! 8) from `in` (NCHW) to `out` (NHWC) on `stream`. `op` names the caller in errors.
inline Status nchwToNhwc(void const* in, void* out, int64_t batch, int64_t channels, int64_t pixels,
    size_t elementBytes, cudaStream_t stream, char const* op)
{
    if (batch * channels * pixels == 0)
    {
        return Status::ok();
    }
    int64_t const pixelTiles = (pixels + kTILE - 1) / kTILE;
    int64_t const tiles = pixelTiles * ((channels + kTILE - 1) / kTILE);
    if (tiles > 0x7FFFFFFF)
    {
        return unsupported(op, ": the feature map (", channels, " channels x ", pixels,
            " pixels) is too large for the NCHW -> NHWC copy");
    }
    dim3 const grid(static_cast<unsigned int>(tiles), static_cast<unsigned int>(batch < 65535 ? batch : 65535));
    dim3 const block(kTILE, kROWS);
    switch (elementBytes)
    {
    case 2:
        nchwToNhwcKernel<uint16_t><<<grid, block, 0, stream>>>(
            static_cast<uint16_t const*>(in), static_cast<uint16_t*>(out), batch, channels, pixels, pixelTiles);
        break;
    case 4:
        nchwToNhwcKernel<uint32_t><<<grid, block, 0, stream>>>(
            static_cast<uint32_t const*>(in), static_cast<uint32_t*>(out), batch, channels, pixels, pixelTiles);
        break;
    case 8:
        nchwToNhwcKernel<uint64_t><<<grid, block, 0, stream>>>(
            static_cast<uint64_t const*>(in), static_cast<uint64_t*>(out), batch, channels, pixels, pixelTiles);
        break;
    default: return unsupported(op, ": no NCHW -> NHWC copy for ", elementBytes, "-byte elements");
    }
    return lastLaunchStatus(op);
}

} // namespace transpose
} // namespace trtops
