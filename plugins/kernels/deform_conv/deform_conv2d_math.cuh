//! \file deform_conv2d_math.cuh
//! Per-sample math of deform_conv2d shared by the CUDA kernels and the host implementation:
//! where a kernel tap samples, the bilinear corner indices and weights, and the masked sample.
//! Border rules are torchvision's: a point with y <= -1, y >= height, x <= -1 or x >= width
//! samples zero; inside that band, corners that fall outside the map contribute zero. A NaN
//! coordinate reads nothing and samples NaN.
#pragma once

#include "core/numeric.cuh"

#include <cmath>
#include <cstdint>

namespace trtops
{
namespace deform
{

//! Bilinear sampling of one point of a height x width plane: four corner indices into the plane
//! (-1 for a corner outside the map, which contributes zero) and their weights.
template <typename AccT>
struct alignas(16) BilinearPoint
{
    int32_t index[4]; //!< (low y, low x), (low y, high x), (high y, low x), (high y, high x)
    AccT weight[4];
};

//! Corners and weights of the point (y, x); an all-invalid point when it lies outside the band.
template <typename AccT>
__host__ __device__ inline BilinearPoint<AccT> bilinearPoint(AccT y, AccT x, int32_t height, int32_t width)
{
    BilinearPoint<AccT> point;
    // Written as "not inside" so that a NaN coordinate also lands here: converting NaN to int is
    // undefined (INT_MIN on x86 hosts, whose corner indices then overflow into arbitrary reads).
    // A NaN point reads nothing but keeps NaN weights, so the sample is NaN as in torchvision's
    // CUDA kernel; a point outside the band weighs exactly 0.
    if (!(y > AccT(-1) && y < AccT(height) && x > AccT(-1) && x < AccT(width)))
    {
        AccT const w = (y != y || x != x) ? y + x : AccT(0);
        for (int32_t k = 0; k < 4; ++k)
        {
            point.index[k] = -1;
            point.weight[k] = w;
        }
        return point;
    }
    // y > -1 here, so truncation after flooring is exact and yLow >= -1.
    int32_t const yLow = static_cast<int32_t>(floor(y));
    int32_t const xLow = static_cast<int32_t>(floor(x));
    int32_t const yHigh = yLow + 1;
    int32_t const xHigh = xLow + 1;
    AccT const ly = y - AccT(yLow);
    AccT const lx = x - AccT(xLow);
    AccT const hy = AccT(1) - ly;
    AccT const hx = AccT(1) - lx;
    bool const yLowIn = yLow >= 0;
    bool const yHighIn = yHigh <= height - 1;
    bool const xLowIn = xLow >= 0;
    bool const xHighIn = xHigh <= width - 1;
    point.index[0] = (yLowIn && xLowIn) ? yLow * width + xLow : -1;
    point.index[1] = (yLowIn && xHighIn) ? yLow * width + xHigh : -1;
    point.index[2] = (yHighIn && xLowIn) ? yHigh * width + xLow : -1;
    point.index[3] = (yHighIn && xHighIn) ? yHigh * width + xHigh : -1;
    point.weight[0] = hy * hx;
    point.weight[1] = hy * lx;
    point.weight[2] = ly * hx;
    point.weight[3] = ly * lx;
    return point;
}

//! Where tap (i, j) of output pixel (outY, outX) samples, before the learned offset is added:
//! the same integer expression as a dense convolution.
__host__ __device__ inline int32_t tapOrigin(
    int32_t outPos, int32_t stride, int32_t pad, int32_t tapIndex, int32_t dilation)
{
    return outPos * stride - pad + tapIndex * dilation;
}

//! The sampled point of one tap: integer origin plus the offset, rounded in AccT.
template <typename AccT>
__host__ __device__ inline AccT samplePosition(int32_t origin, AccT offset)
{
    return AccT(origin) + offset;
}

//! kVEC contiguous elements moved as one aligned load.
template <typename T, int32_t kVEC>
struct alignas(sizeof(T) * kVEC) Vec
{
    T v[kVEC];
};

//! The four corners of `point`, kVEC consecutive channels each: one kVEC-element load at
//! base + index * pixelStride per corner inside the map (which must be aligned to kVEC
//! elements), zeros for a corner outside it. Split from blendCorners so that a kernel can issue
//! the loads early and blend once they have arrived.
template <int32_t kVEC, typename T>
__host__ __device__ inline void loadCorners(
    T const* base, int32_t const (&index)[4], int64_t pixelStride, Vec<T, kVEC> (&corners)[4])
{
    for (int32_t k = 0; k < 4; ++k)
    {
        if (index[k] >= 0)
        {
            corners[k] = *reinterpret_cast<Vec<T, kVEC> const*>(base + index[k] * pixelStride);
        }
        else
        {
            for (int32_t j = 0; j < kVEC; ++j)
            {
                corners[k].v[j] = convertTo<T>(0.0F);
            }
        }
    }
}

//! values[j] = mask * bilinear blend of channel j of the corners, in torchvision's order of
//! operations (a corner outside the map holds zeros).
template <int32_t kVEC, typename T, typename AccT>
__host__ __device__ inline void blendCorners(
    Vec<T, kVEC> const (&corners)[4], AccT const (&weight)[4], AccT mask, AccT* values)
{
    for (int32_t j = 0; j < kVEC; ++j)
    {
        AccT const value = weight[0] * convertTo<AccT>(corners[0].v[j]) + weight[1] * convertTo<AccT>(corners[1].v[j])
            + weight[2] * convertTo<AccT>(corners[2].v[j]) + weight[3] * convertTo<AccT>(corners[3].v[j]);
        values[j] = mask * value;
    }
}

//! mask * bilinear sample of kVEC consecutive channels at once (see loadCorners, blendCorners).
template <int32_t kVEC, typename T, typename AccT>
__host__ __device__ inline void maskedSampleVec(
    T const* base, BilinearPoint<AccT> const& point, AccT mask, int64_t pixelStride, AccT* values)
{
    Vec<T, kVEC> corners[4];
    loadCorners<kVEC>(base, point.index, pixelStride, corners);
    blendCorners<kVEC>(corners, point.weight, mask, values);
}

//! mask * bilinear(plane, point), evaluated in AccT in torchvision's order. Corner index i reads
//! plane[i * pixelStride]: 1 for an NCHW plane, the channel count for one channel of an NHWC image.
template <typename T, typename AccT>
__host__ __device__ inline AccT maskedSample(
    T const* plane, BilinearPoint<AccT> const& point, AccT mask, int64_t pixelStride = 1)
{
    AccT value;
    maskedSampleVec<1>(plane, point, mask, pixelStride, &value);
    return value;
}

} // namespace deform
} // namespace trtops
