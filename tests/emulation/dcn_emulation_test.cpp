//! \file dcn_emulation_test.cpp
//! Runs the CUDA path of deform_conv2d (weight packing, then the tiled implicit-GEMM kernel) under
//! the CUDA emulator and compares it with the host implementation, on poisoned outputs and
//! workspaces. The tensor-core kernel's ldmatrix / mma.sync come from warp_mma_model.h (the PTX
//! fragment layouts, computed with warp collectives), so its fragment addressing runs here too.
//!
//! The column values are rounded to the storage type on both sides, so the only difference is the
//! order of the K accumulation: every output must lie within a few units of rounding of the host
//! value, scaled by the sum of the magnitudes that produced it.
//!
//! float32 without allowTf32 runs on the tensor-core kernel with split TF32 operands where the
//! emulated device has TF32 (TRTOPS_EMULATED_COMPUTE_MAJOR >= 8, unless built with
//! TRTOPS_DCN_SPLIT_TF32=0), on the FFMA kernel otherwise. Its outputs are also held to a bound
//! tight enough to catch a lost low-order term: the worst-case bound above grows with K times the
//! sum of the terms' magnitudes and would let a split that drops a cross product (2^-12 of each
//! product) through; this one takes the actual magnitudes of each output (a host run on |input|
//! and |weight|) and a probabilistic bound on the accumulation (see checkFloat32Tight).
//!
//! float32 also runs with allowTf32 (the tensor-core kernel on TF32 where the emulated device has
//! it; the FFMA kernel otherwise), twice: on data whose sampled columns and weights are exact in
//! TF32 (values on coarse grids), held to the worst-case bound, and on random data, where the TF32
//! rounding of both operands adds up to 2^-10 of each product's magnitude. Every run also checks
//! which main kernel was launched.
//!
//! Prints one line per failed case and `SUMMARY cases=C failed=F emulator_errors=E`.
//! Options: --seed=N, --stop-at-first-failure, --verbose.

#include "core/numeric.cuh"
#include "core/status.h"
#include "core/types.h"
#include "deform_conv/deform_conv2d.h"
#include "deform_conv/deform_conv2d_tiling.h"

#include "cuda_emulator.h"
#include "emulation_harness.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace
{
using trtops::DataType;

//! Whether the emulated device has TF32 tensor cores (this build's compute capability).
constexpr bool kEMULATED_TF32 = TRTOPS_EMULATED_COMPUTE_MAJOR >= 8;
using trtops::DeformConv2dParams;
using trtops::Status;

using emutest::loadAs;
using emutest::Options;
using emutest::storeAs;

//! Unit roundoff of the accumulation (float for every storage type but float64).
double accumulationRoundoff(DataType type)
{
    return type == DataType::kFLOAT64 ? 0x1p-53 : 0x1p-24;
}

//! Unit roundoff of the storage type (the final conversion of each output).
double storageRoundoff(DataType type)
{
    switch (type)
    {
    case DataType::kFLOAT64: return 0x1p-53;
    case DataType::kFLOAT16: return 0x1p-11;
    case DataType::kBFLOAT16: return 0x1p-8;
    default: return 0x1p-24;
    }
}

//! 256-byte aligned storage (as deformConv2dForward requires of its workspace).
struct Buffer
{
    DataType type;
    int64_t count;
    std::vector<double> storage;

    Buffer(DataType t, int64_t n)
        : type(t)
        , count(n)
        , storage(static_cast<size_t>((n * trtops::elementSize(t) + 255) / 8 + 40))
    {
    }
    void* data()
    {
        return reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(storage.data()) + 255) & ~uintptr_t{255});
    }
    void const* data() const
    {
        return const_cast<Buffer*>(this)->data();
    }
    size_t bytes() const
    {
        return static_cast<size_t>(count * trtops::elementSize(type));
    }
};

struct Case
{
    char const* name;
    int64_t batch, inChannels, height, width, outChannels;
    int32_t kernel, stride, pad, dilation, groups, offsetGroups;
    bool mask, bias;
    double offsetScale; //!< offsets are uniform in +-offsetScale pixels
};

class Harness
{
public:
    explicit Harness(Options const& options)
        : mTally(options)
        , mRandom(options.seed)
    {
        emu::seed(options.seed * 6151 + 9);
    }

    emutest::Tally& tally()
    {
        return mTally;
    }

    //! Uniform in [lo, hi]; rounded to a multiple of `grid` when it is > 0.
    Buffer random(DataType type, int64_t count, double lo, double hi, double grid = 0.0)
    {
        Buffer b(type, count);
        std::uniform_real_distribution<double> u(lo, hi);
        for (int64_t i = 0; i < count; ++i)
        {
            double const value = u(mRandom);
            storeAs(type, b.data(), i, grid > 0.0 ? std::round(value / grid) * grid : value);
        }
        return b;
    }

    //! `tf32`: run with allowTf32. `tf32Exact`: inputs on grids that make every TF32 operand exact:
    //! input in 1/8 (|x| <= 1.5), offsets and mask in 1/4 (bilinear weights in 1/16), so a sampled
    //! column is a multiple of 1/512 below 1.5 (10 significant bits), weights in 1/64 (<= 0.5).
    void run(Case const& c, DataType type, bool tf32 = false, bool tf32Exact = false)
    {
        DeformConv2dParams p;
        p.batch = c.batch;
        p.inChannels = c.inChannels;
        p.height = c.height;
        p.width = c.width;
        p.outChannels = c.outChannels;
        p.kernelHeight = p.kernelWidth = c.kernel;
        p.strideH = p.strideW = c.stride;
        p.padH = p.padW = c.pad;
        p.dilationH = p.dilationW = c.dilation;
        p.groups = c.groups;
        p.offsetGroups = c.offsetGroups;
        p.hasMask = c.mask;
        p.hasBias = c.bias;
        p.outHeight = trtops::deformConv2dOutputSize(c.height, c.kernel, c.stride, c.pad, c.dilation);
        p.outWidth = trtops::deformConv2dOutputSize(c.width, c.kernel, c.stride, c.pad, c.dilation);
        p.dataType = type;
        p.allowTf32 = tf32;
        int64_t const taps = static_cast<int64_t>(c.kernel) * c.kernel;
        int64_t const outPlane = p.outHeight * p.outWidth;
        double const grid = tf32Exact ? 1.0 : 0.0;
        Buffer const input = random(type, c.batch * c.inChannels * c.height * c.width, -1.0, 1.5, grid / 8);
        Buffer const offset = random(
            type, c.batch * 2 * c.offsetGroups * taps * outPlane, -c.offsetScale, c.offsetScale, grid / 4);
        Buffer const mask = random(type, c.batch * c.offsetGroups * taps * outPlane, 0.0, 1.0, grid / 4);
        Buffer const weight = random(type, c.outChannels * (c.inChannels / c.groups) * taps, -0.5, 0.5, grid / 64);
        Buffer const bias = random(type, c.outChannels, -1.0, 1.0);
        int64_t const outCount = c.batch * c.outChannels * outPlane;
        Buffer devOut(type, outCount);
        Buffer hostOut(type, outCount);
        emu::poison(devOut.data(), devOut.bytes());
        emu::poison(hostOut.data(), hostOut.bytes());
        size_t const workspaceBytes = trtops::deformConv2dWorkspaceSize(p);
        Buffer workspace(DataType::kFLOAT64, static_cast<int64_t>((workspaceBytes + 7) / 8));
        emu::poison(workspace.data(), workspace.bytes());

        cudaStream_t const stream = reinterpret_cast<cudaStream_t>(uintptr_t{0xDC2});
        emu::setExpectedStream(stream);
        emu::clearLaunchLog();
        int64_t const errorsBefore = emu::errorCount();
        Status const d = trtops::deformConv2dForward(p, input.data(), offset.data(), c.mask ? mask.data() : nullptr,
            weight.data(), c.bias ? bias.data() : nullptr, devOut.data(), workspace.data(), stream);
        Status const h = trtops::deformConv2dForwardHost(p, input.data(), offset.data(),
            c.mask ? mask.data() : nullptr, weight.data(), c.bias ? bias.data() : nullptr, hostOut.data());

        char label[200];
        std::snprintf(label, sizeof(label), "%s %s%s", c.name, trtops::dataTypeName(type),
            tf32 ? (tf32Exact ? " tf32 (exact data)" : " tf32") : "");
        // Tensor cores for 16-bit types, and for float32 on a TF32 device: rounded to TF32 when
        // allowed, else split into TF32 pairs (unless this build keeps float32 on FFMA).
        bool const splitFloat32
            = type == DataType::kFLOAT32 && !tf32 && kEMULATED_TF32 && trtops::deform::kFLOAT32_ON_SPLIT_TF32;
        bool const tensorKernel = type == DataType::kFLOAT16 || type == DataType::kBFLOAT16
            || (tf32 && kEMULATED_TF32) || splitFloat32;
        std::string const expectedKernel = tensorKernel ? "deformConvMmaKernel" : "deformConvSimtKernel";
        bool launched = false;
        for (std::string const& name : emu::launchLog())
        {
            launched = launched || name.rfind(expectedKernel, 0) == 0;
        }
        std::string failure;
        if (!d.isOk() || !h.isOk())
        {
            failure = "status: device '" + d.message() + "' host '" + h.message() + "'";
        }
        else if (emu::errorCount() != errorsBefore)
        {
            failure = "emulator errors";
        }
        else if (!launched)
        {
            failure = "the launcher did not run " + expectedKernel;
        }
        else
        {
            // Both sides sum the same rounded products in a different order (at most
            // 2 K u_acc * sum |terms|, with sum |terms| <= K * 1.5 * 0.5 + |bias|), then round to
            // the storage type (each side within u_out of the exact sum: 2 u_out |result| apart).
            // TF32 on data that is not exact in it: each operand of a product rounded to 11
            // significant bits (relative error <= 2^-11 each), so each product moves by up to
            // ~2^-10 of its magnitude, and sum |products| <= K * 1.5 * 0.5.
            double const k = static_cast<double>(c.inChannels / c.groups * taps);
            double const accumulation = 2.0 * (k + 1.0) * accumulationRoundoff(type) * (k * 0.75 + 1.0)
                + (tf32 && !tf32Exact && kEMULATED_TF32 ? 0x1.01p-10 * k * 0.75 : 0.0);
            for (int64_t i = 0; i < outCount; ++i)
            {
                double const a = loadAs(type, devOut.data(), i);
                double const b = loadAs(type, hostOut.data(), i);
                double const bound = 2.0 * accumulation + 2.0 * storageRoundoff(type) * std::fabs(b) * 1.01;
                if (!(std::fabs(a - b) <= bound))
                {
                    char text[160];
                    std::snprintf(text, sizeof(text), "element %lld: device %.9g host %.9g (bound %.3g)",
                        static_cast<long long>(i), a, b, bound);
                    failure = text;
                    break;
                }
            }
        }
        if (failure.empty() && type == DataType::kFLOAT32 && !tf32)
        {
            failure = checkFloat32Tight(p, input, offset, mask, weight, bias, devOut, hostOut, splitFloat32);
        }
        mTally.record(label, failure);
    }

private:
    //! float32 without TF32: device and host sum the same float columns times float weights in
    //! different orders, the device (split) as three TF32 products per product. Per output i with
    //! S_i = sum over K of |column| |weight| (bounded by a host run on |input| and |weight|, same
    //! offsets and mask, no bias):
    //!   - split operands: x = big + small within 2^-22 |x| for both operands, and small_a small_b
    //!     (<= 2^-22 |a b|) is dropped, so each product moves by at most 3.01 * 2^-22 of itself;
    //!   - accumulation: n additions of rounded terms, with Higham and Mary's probabilistic bound
    //!     lambda sqrt(n) u S_i (rounding errors as independent zero-mean variables; lambda = 10
    //!     fails with probability below 1e-20 per output), n = 3K + 1 on the device with split
    //!     operands (K + 1 otherwise) and K + 1 on the host;
    //!   - the blend of a column (8 u S_i, in case the sides contract it differently);
    //!   - the final rounding of each side (u |result| each) and of the bias addition.
    //! A split that loses a cross product is off by ~2^-12 |a b| per product, which the emulated
    //! cases' K (<= 2304) keep far above this bound.
    std::string checkFloat32Tight(DeformConv2dParams const& p, Buffer const& input, Buffer const& offset,
        Buffer const& mask, Buffer const& weight, Buffer const& bias, Buffer const& devOut, Buffer const& hostOut,
        bool split)
    {
        Buffer absInput(DataType::kFLOAT32, input.count);
        Buffer absWeight(DataType::kFLOAT32, weight.count);
        for (int64_t i = 0; i < input.count; ++i)
        {
            storeAs(DataType::kFLOAT32, absInput.data(), i, std::fabs(loadAs(DataType::kFLOAT32, input.data(), i)));
        }
        for (int64_t i = 0; i < weight.count; ++i)
        {
            storeAs(
                DataType::kFLOAT32, absWeight.data(), i, std::fabs(loadAs(DataType::kFLOAT32, weight.data(), i)));
        }
        DeformConv2dParams q = p;
        q.hasBias = false;
        Buffer magnitude(DataType::kFLOAT32, devOut.count);
        Status const s = trtops::deformConv2dForwardHost(q, absInput.data(), offset.data(),
            p.hasMask ? mask.data() : nullptr, absWeight.data(), nullptr, magnitude.data());
        if (!s.isOk())
        {
            return "magnitude run: " + s.message();
        }
        double const u = 0x1p-24;
        double const k = static_cast<double>(p.inChannels / p.groups * p.kernelHeight * p.kernelWidth);
        double const deviceAdds = split ? 3.0 * k + 1.0 : k + 1.0;
        // (+ 8 u: the blend of a column, if the two sides' compilers contract it differently.)
        double const perMagnitude
            = (split ? 3.01 * 0x1p-22 : 0.0) + (10.0 * (std::sqrt(deviceAdds) + std::sqrt(k + 1.0)) + 8.0) * u;
        int64_t const outPlane = p.outHeight * p.outWidth;
        for (int64_t i = 0; i < devOut.count; ++i)
        {
            double const a = loadAs(DataType::kFLOAT32, devOut.data(), i);
            double const b = loadAs(DataType::kFLOAT32, hostOut.data(), i);
            double const biasValue
                = p.hasBias ? std::fabs(loadAs(DataType::kFLOAT32, bias.data(), (i / outPlane) % p.outChannels)) : 0.0;
            double const bound = perMagnitude * loadAs(DataType::kFLOAT32, magnitude.data(), i) * 1.01
                + 2.01 * u * (std::fabs(b) + biasValue) + 0x1p-140;
            if (!(std::fabs(a - b) <= bound))
            {
                char text[200];
                std::snprintf(text, sizeof(text), "element %lld: device %.9g host %.9g (tight bound %.3g%s)",
                    static_cast<long long>(i), a, b, bound, split ? ", split TF32" : "");
                return text;
            }
        }
        return "";
    }

    emutest::Tally mTally;
    std::mt19937_64 mRandom;
};

//! roundToTf32's host form (what the emulated kernels and packing use; cvt.rna.tf32.f32 on a GPU):
//! nearest with ties away from zero at 10 mantissa bits, the low 13 bits cleared, carries into the
//! exponent, infinity kept, NaN kept NaN even when the tensor core drops the low 13 bits.
std::string checkTf32Rounding()
{
    auto bitsOf = [](float v) { return static_cast<uint32_t>(emu::toBits(v)); };
    auto fromBits = [](uint32_t b) { return emu::fromBits<float>(b); };
    struct Expectation
    {
        float in;
        float out;
    };
    Expectation const cases[] = {
        {1.0F + 0x1p-11F, 1.0F + 0x1p-10F},         // a tie rounds away from zero
        {-(1.0F + 0x1p-11F), -(1.0F + 0x1p-10F)},   // on either side
        {1.0F + 0x1p-11F - 0x1p-23F, 1.0F},          // below the tie
        {1.0F + 0x1p-10F + 0x1p-11F, 1.0F + 0x1p-9F}, // tie away, not to even
        {2.0F - 0x1p-23F, 2.0F},                     // carry into the exponent
        {3.0F, 3.0F},
        {0x1.8p-130F, 0x1.8p-130F},                  // subnormal, exact in TF32 (units of 2^-136)
        {0x1p-140F, 0.0F},                           // subnormal below half a TF32 unit
        {std::numeric_limits<float>::max(), std::numeric_limits<float>::infinity()},
        {-std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()},
    };
    for (Expectation const& e : cases)
    {
        float const r = trtops::roundToTf32(e.in);
        if (bitsOf(r) != bitsOf(e.out) || (bitsOf(r) & 0x1FFFU) != 0U)
        {
            char text[120];
            std::snprintf(text, sizeof(text), "roundToTf32(%a) = %a, expected %a", e.in, r, e.out);
            return text;
        }
    }
    uint32_t const lowPayloadNaN = 0x7F800001U;
    uint32_t const rounded = bitsOf(trtops::roundToTf32(fromBits(lowPayloadNaN)));
    if (!std::isnan(fromBits(rounded & 0xFFFFE000U)))
    {
        return "roundToTf32 of a NaN with a low payload is not a NaN once the low 13 bits are dropped";
    }
    return "";
}

//! splitTf32 / splitTf32Bits (the float32 operands of the tensor-core kernel without allowTf32):
//! both parts are TF32 numbers, big + small is within 2^-22 of the value, a product of split
//! operands without the small x small term is within 3.01 * 2^-22 of the product, and infinity
//! splits into (infinity, 0) and NaN into (NaN, 0).
std::string checkTf32Split()
{
    auto bitsOf = [](float v) { return static_cast<uint32_t>(emu::toBits(v)); };
    std::mt19937_64 random(12345);
    std::uniform_real_distribution<double> mantissa(1.0, 2.0);
    std::uniform_int_distribution<int> exponent(-30, 30);
    for (int32_t i = 0; i < 100000; ++i)
    {
        float const a = static_cast<float>(std::ldexp(mantissa(random), exponent(random)) * (i % 2 ? -1.0 : 1.0));
        float const b = static_cast<float>(std::ldexp(mantissa(random), exponent(random)));
        uint32_t aBig;
        uint32_t aSmall;
        trtops::splitTf32Bits(bitsOf(a), aBig, aSmall);
        float bBig;
        float bSmall;
        trtops::splitTf32(b, bBig, bSmall);
        float const aBigValue = emu::fromBits<float>(aBig);
        float const aSmallValue = emu::fromBits<float>(aSmall);
        double const exact = static_cast<double>(a) * b;
        double const split = static_cast<double>(aSmallValue) * bBig + static_cast<double>(aBigValue) * bSmall
            + static_cast<double>(aBigValue) * bBig;
        if ((aBig & 0x1FFFU) != 0U || (aSmall & 0x1FFFU) != 0U || (bitsOf(bBig) & 0x1FFFU) != 0U
            || (bitsOf(bSmall) & 0x1FFFU) != 0U
            || !(std::fabs(static_cast<double>(aBigValue) + aSmallValue - a) <= 0x1p-22 * std::fabs(a))
            || !(std::fabs(split - exact) <= 3.01 * 0x1p-22 * std::fabs(exact)))
        {
            char text[160];
            std::snprintf(text, sizeof(text), "splitTf32(%a) = %a + %a, times %a: %a, exact %a", a, aBigValue,
                aSmallValue, b, split, exact);
            return text;
        }
    }
    float const infinity = std::numeric_limits<float>::infinity();
    float big;
    float small;
    trtops::splitTf32(-infinity, big, small);
    if (!(big == -infinity && small == 0.0F))
    {
        return "splitTf32(-inf) is not (-inf, 0)";
    }
    trtops::splitTf32(std::numeric_limits<float>::quiet_NaN(), big, small);
    if (!(std::isnan(big) && small == 0.0F))
    {
        return "splitTf32(NaN) is not (NaN, 0)";
    }
    return "";
}

} // namespace

int main(int argc, char** argv)
{
    Harness harness(emutest::parseOptions(argc, argv, 5));
    harness.tally().record("roundToTf32", checkTf32Rounding());
    harness.tally().record("splitTf32", checkTf32Split());
    // Each case reaches a corner of the tiling: several pixel tiles (128 pixels, partial), every
    // output-channel tile (64, 128 and 256 rows, partial, several per group), padded channel
    // runs, channel counts that are not whole 16-byte vectors, several K tiles per tap, offset
    // groups that change between K tiles or inside one (runs sampled with their own offsets),
    // weight groups, strides, dilation, 1x1 and 5x5 kernels, offsets that sample far outside the
    // map, v1 (no mask) and no bias.
    Case const cases[] = {
        {"v2 3x3", 2, 8, 7, 6, 12, 3, 1, 1, 1, 1, 1, true, true, 2.0},
        {"v2 3x3 three pixel tiles", 2, 16, 12, 12, 72, 3, 1, 1, 1, 1, 1, true, true, 1.5},
        {"v1 groups=2 no bias", 1, 12, 9, 8, 8, 3, 1, 1, 1, 2, 1, false, false, 1.0},
        {"offset groups=4 (runs cross them)", 1, 16, 6, 7, 10, 3, 1, 1, 1, 1, 4, true, true, 1.0},
        {"groups=2 offset groups=2", 1, 40, 5, 6, 6, 3, 1, 1, 1, 2, 2, true, false, 1.0},
        {"stride 2 dilation 2", 1, 8, 11, 13, 9, 3, 2, 2, 2, 1, 1, true, true, 1.0},
        {"1x1", 2, 5, 6, 5, 7, 1, 1, 0, 1, 1, 1, true, true, 0.7},
        {"5x5 pad 2", 1, 6, 8, 9, 5, 5, 1, 2, 1, 1, 1, true, true, 1.0},
        {"far offsets", 1, 8, 6, 6, 8, 3, 1, 1, 1, 1, 1, true, true, 12.0},
        {"130 output channels", 1, 4, 5, 4, 130, 3, 1, 1, 1, 1, 1, true, true, 1.0},
        {"300 output channels (two 256-row tiles)", 1, 40, 6, 5, 300, 3, 1, 1, 1, 1, 1, true, true, 1.0},
        {"200 output channels three pixel tiles", 2, 16, 13, 11, 200, 3, 1, 1, 1, 1, 1, true, true, 1.5},
        {"20 channels (not whole vectors) 140 outputs", 2, 20, 7, 9, 140, 3, 1, 1, 1, 1, 1, true, true, 1.0},
        {"96 channels offset groups=3 (a table per K tile)", 1, 96, 6, 7, 20, 3, 1, 1, 1, 1, 3, true, true, 1.0},
        {"96 channels offset groups=2 (inside a K tile)", 1, 96, 5, 6, 70, 3, 1, 1, 1, 1, 2, true, false, 1.0},
        {"1x1 groups=2 260 outputs per group", 1, 24, 5, 5, 520, 1, 1, 0, 1, 2, 1, true, true, 1.0},
        {"64 channels 64 outputs two pixel tiles", 1, 64, 9, 16, 64, 3, 1, 1, 1, 1, 1, true, true, 1.0},
        {"256 channels 256 outputs", 1, 256, 4, 5, 256, 3, 1, 1, 1, 1, 1, true, true, 1.0},
    };
    DataType const types[] = {DataType::kFLOAT32, DataType::kFLOAT16, DataType::kBFLOAT16, DataType::kFLOAT64};
    for (Case const& c : cases)
    {
        for (DataType type : types)
        {
            if (!harness.tally().stopped())
            {
                harness.run(c, type);
            }
        }
        for (bool const exact : {true, false})
        {
            if (!harness.tally().stopped())
            {
                harness.run(c, DataType::kFLOAT32, /*tf32=*/true, exact);
            }
        }
    }
    return harness.tally().finish();
}
