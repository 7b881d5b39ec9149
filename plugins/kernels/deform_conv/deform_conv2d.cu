//! CUDA kernels of deform_conv2d: a fused implicit GEMM. Each CTA computes one output tile
//! [output channels of one group x 128 output pixels]; the K dimension (input channels of the
//! group x kernel taps, ordered tap-major) is produced on the fly by sampling the deformed input
//! (times the mask) into shared memory, next to a tile of the weights. Two pre-passes fill the
//! workspace: the weights rearranged as [outChannels][taps][channels padded to kCHANNEL_PAD], and
//! a channels-last (NHWC) copy of the input, so that the corners of a sample are runs of
//! contiguous channels.
//!
//! Sampling (ColumnGather, shared by both kernels): per (tap, offset group) one thread per pixel
//! computes the bilinear corners, weights and mask into a multi-slot shared-memory table;
//! 4 threads share a pixel, each copying a 16-byte run of channels per corner, so a warp reads
//! 8 pixels x 64 contiguous bytes per corner. The corner copies are cp.async'd into a
//! shared-memory stage ahead of the multiply and blended later (columnKLoop), so the gather
//! latency hides behind the math without holding registers. Kernels that run one CTA per SM
//! (256-row tensor-core, 128-row fp32, fp64) start the copies of tile k + 2 while they multiply
//! tile k (stage and table one slot deeper) and blend tile k + 1 between the two halves of that
//! multiply, so that the blend's ALU work overlaps the tensor cores / FMAs and the copies have a
//! whole iteration to land; kernels with two CTAs per SM copy one tile ahead and blend after
//! the multiply (the other CTA fills those gaps).
//!
//! The output-channel tile is the smallest of 64/128/256 rows that holds a group's channels (so
//! that each sampled column feeds all of them), as far as the device's shared memory allows.
//!   fp16/bf16: mma.sync m16n8k16 on tensor cores, float accumulation (sm_80+); 256 rows run 16
//!              warps, one CTA per SM. sm_75 runs fp16 as pairs of m16n8k8 and bf16 on FFMA from
//!              the same shared-memory tiles.
//!   fp32 on sm_80+: the same tensor-core kernel on mma.sync m16n8k8 TF32; a K tile is 64 bytes
//!              of a row for every operand type (16 float or 32 16-bit channels). By default
//!              (kSPLIT) weights and sampled columns stay float in shared memory and each
//!              fragment register is split into two TF32 numbers (splitTf32), three mmas per
//!              product: float32 accuracy. With allowTf32 both are rounded to TF32 (nearest,
//!              ties away) when stored, one mma per product.
//!   fp32 before sm_80 (or TRTOPS_DCN_SPLIT_TF32=0) and fp64: register-tiled FFMA/DFMA, 64 or
//!              (fp32) 128 rows.
#include "deform_conv/deform_conv2d.h"
#include "deform_conv/deform_conv2d_math.cuh"
#include "deform_conv/deform_conv2d_tiling.h"

#include "core/numeric.cuh"
#include "core/transpose.cuh"
#include "core/warp_mma.cuh"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace trtops
{
namespace
{

constexpr int32_t kPACK_THREADS = 256;
constexpr int32_t kTILE_PIXELS = 128; //!< output pixels per CTA (GEMM N tile), every kernel
//! A K tile is 64 bytes of channels of one tap in every kernel (32 f16/bf16, 16 f32, 8 f64).
constexpr int32_t kK_TILE_BYTES = 64;

//! Order of the K tiles. Tap-major (0, the default): the channel chunks of tap 0, then of tap 1,
//! ...; a CTA's bilinear table changes once per tap. Tap-minor (1): the taps of channel chunk 0,
//! then of chunk 1, ...; consecutive K tiles sample the same channels at neighbouring positions,
//! so the corners they share can come from L1, at the cost of a new bilinear table for every K
//! tile. An experiment switch (benchmarks/gpu_session.sh, VARIANT_CUDA_FLAGS) until a GPU has
//! timed both.
#ifndef TRTOPS_DCN_TAP_MINOR
#define TRTOPS_DCN_TAP_MINOR 0
#endif
constexpr bool kTAP_MINOR = TRTOPS_DCN_TAP_MINOR != 0;

//! The tallest output-channel tile the tensor-core kernels may use: 256 (the default), or 128
//! or 64 to time the smaller tiles on a layer with more output channels per group
//! (benchmarks/sweep.py). A smaller tile runs two CTAs per SM, which hide each other's gather
//! latency, but samples every column once per tile of rows instead of once.
#ifndef TRTOPS_DCN_MAX_TILE_ROWS
#define TRTOPS_DCN_MAX_TILE_ROWS 256
#endif
constexpr int32_t kMAX_TILE_ROWS = TRTOPS_DCN_MAX_TILE_ROWS;
static_assert(kMAX_TILE_ROWS == 64 || kMAX_TILE_ROWS == 128 || kMAX_TILE_ROWS == 256, "TRTOPS_DCN_MAX_TILE_ROWS");

//! How many K tiles ahead of the multiply the kernels that run one CTA per SM start their corner
//! copies: 2 (the default), or 1 (benchmarks/sweep.py), which halves their shared-memory stage
//! (64 KiB -> 32 KiB for the 256-row kernel) and leaves that much more to L1, where the corners
//! that neighbouring pixels share are cached.
#ifndef TRTOPS_DCN_ONE_CTA_GATHER_DEPTH
#define TRTOPS_DCN_ONE_CTA_GATHER_DEPTH 2
#endif
constexpr int32_t kONE_CTA_GATHER_DEPTH = TRTOPS_DCN_ONE_CTA_GATHER_DEPTH;
static_assert(kONE_CTA_GATHER_DEPTH == 1 || kONE_CTA_GATHER_DEPTH == 2, "TRTOPS_DCN_ONE_CTA_GATHER_DEPTH");

//! Which output pixels a CTA computes. 0 (the default): kTILE_PIXELS consecutive pixels in
//! (image, row, column) order, a strip of rows. 16 or 32: a block of 16 x 8 or 32 x 4 pixels of
//! one image. The samples of a block's pixels for all taps of a channel chunk lie in a small
//! window of the input (e.g. 42 x 14 pixels for 32 x 4 at 3x3, offsets of a few pixels), so the
//! corners they share stay in L1 between taps (with TRTOPS_DCN_TAP_MINOR, which takes a channel
//! chunk's taps one after another); a 128-pixel strip spreads the same samples over ~10 times
//! the area. An experiment switch until a GPU has timed it (benchmarks/sweep.py).
#ifndef TRTOPS_DCN_TILE_WIDTH
#define TRTOPS_DCN_TILE_WIDTH 0
#endif
constexpr int32_t kTILE_WIDTH = TRTOPS_DCN_TILE_WIDTH;
static_assert(kTILE_WIDTH == 0 || kTILE_WIDTH == 16 || kTILE_WIDTH == 32, "TRTOPS_DCN_TILE_WIDTH");
//! The block's sides when kTILE_WIDTH > 0 (1 otherwise: never used, but never a division by 0).
constexpr int32_t kBLOCK_WIDTH = kTILE_WIDTH > 0 ? kTILE_WIDTH : 1;
constexpr int32_t kBLOCK_HEIGHT = kTILE_PIXELS / kBLOCK_WIDTH;

//! Where the 256-row split-TF32 float32 kernel splits the sampled columns into their big and
//! small TF32 parts. 0 (the default): in registers, after each warp loads a B fragment; the 4
//! warps along M that share a column tile split it 4 times, and the split is most of the
//! non-mma instructions of the K loop (sm_90 SASS). 1: once, when the blend stores a column,
//! into a second shared-memory plane (20 KiB more) that the warps load as it is: ~136 fewer
//! instructions in the K loop, and no register spills (80 bytes before). The 128- and 64-row
//! kernels (2 warps along M; the plane would cost the 128-row one its second CTA per SM) keep
//! the register split. A switch until a GPU has timed both (benchmarks/sweep.py).
#ifndef TRTOPS_DCN_SPLIT_COLUMNS_AT_STORE
#define TRTOPS_DCN_SPLIT_COLUMNS_AT_STORE 0
#endif
constexpr bool kSPLIT_COLUMNS_AT_STORE = TRTOPS_DCN_SPLIT_COLUMNS_AT_STORE != 0;

//! The L1 / shared-memory split of an SM (its carveout). 0 (the default): no preference, the
//! driver's choice. 1: the launcher asks for the smallest carveout that holds the kernel's CTAs
//! per SM (kMIN_BLOCKS), which leaves the rest of the SM's 256 KB (sm_90) to L1, where the
//! gathered corners that neighbouring pixels and taps share are cached (cp.async.ca). The
//! driver's default for a kernel of ~140 KB of shared memory is not documented; at the largest
//! carveout (228 KB on sm_90) L1 keeps 28 KB, less than the ~37 KB window of corners a 32 x 4
//! pixel block's nine taps read (TRTOPS_DCN_TILE_WIDTH). A switch until a GPU has timed it
//! (benchmarks/sweep.py); the emulated build has no carveout.
#ifndef TRTOPS_DCN_PREFER_L1
#define TRTOPS_DCN_PREFER_L1 0
#endif
constexpr bool kPREFER_L1 = TRTOPS_DCN_PREFER_L1 != 0;

//! Timing diagnostics, never for results (the output is wrong by design): the tensor-core kernel
//! leaves one stage of its K loop out, so that a GPU without hardware counters still tells where
//! the time goes (benchmarks/sweep.py times each against the default; the differences are each
//! stage's exposed share). 1: no multiply; 2: no corner copies (the blend reads whatever the
//! stage holds); 3: no blend (the copies land, the columns are zeros).
#ifndef TRTOPS_DCN_DIAGNOSTIC
#define TRTOPS_DCN_DIAGNOSTIC 0
#endif
constexpr int32_t kDIAGNOSTIC = TRTOPS_DCN_DIAGNOSTIC;
static_assert(kDIAGNOSTIC >= 0 && kDIAGNOSTIC <= 3, "TRTOPS_DCN_DIAGNOSTIC");

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
    int32_t batch;
    int32_t outHeight;
    int32_t tilesX;     //!< pixel blocks per output row (kTILE_WIDTH > 0)
    int32_t tilesPerImage; //!< pixel blocks per image (kTILE_WIDTH > 0)
    int32_t mTiles;
    int32_t stagedPasses; //!< gather passes whose corners are copied through shared memory
    bool hasMask;
    bool hasBias;
    int64_t inputImageStride;  //!< inChannels * planeSize
    int64_t offsetImageStride; //!< offsetGroups * taps * 2 * outPlane
    int64_t maskImageStride;   //!< offsetGroups * taps * outPlane
};

//! What packWeightsKernel stores of a float32 weight.
enum class WeightForm : int32_t
{
    kAS_IS,     //!< the weight (FFMA kernel; every other type)
    kTF32,      //!< rounded to TF32 (tensor-core kernel with allowTf32)
    kSPLIT_TF32 //!< big part here, small part one plane (`total` elements) later (splitTf32)
};

//! The weights of output channel co in K order, so that K tile t of every row starts at
//! t * kBK: packed[co][tap][c] = weight[co][c][tap] (tap-major), or
//! packed[co][c / kBK][tap][c % kBK] (tap-minor, kTAP_MINOR), for c < cinPerGroup; 0 for the
//! padding channels; in the float32 `form` the tensor-core kernel multiplies.
template <typename T>
__global__ void packWeightsKernel(T const* __restrict__ weight, T* __restrict__ packed, int64_t total,
    int32_t cinPerGroup, int32_t taps, int32_t paddedCin, WeightForm form)
{
    constexpr int32_t kBK = kK_TILE_BYTES / static_cast<int32_t>(sizeof(T));
    for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x)
    {
        int32_t c;
        int32_t tap;
        int64_t co;
        if constexpr (kTAP_MINOR)
        {
            int64_t rest = idx / kBK;
            tap = static_cast<int32_t>(rest % taps);
            rest /= taps;
            int32_t const chunks = paddedCin / kBK;
            c = static_cast<int32_t>(rest % chunks) * kBK + static_cast<int32_t>(idx % kBK);
            co = rest / chunks;
        }
        else
        {
            c = static_cast<int32_t>(idx % paddedCin);
            int64_t const rest = idx / paddedCin;
            tap = static_cast<int32_t>(rest % taps);
            co = rest / taps;
        }
        T value = c < cinPerGroup ? weight[(co * cinPerGroup + c) * taps + tap] : convertTo<T>(0.0F);
        if constexpr (std::is_same_v<T, float>)
        {
            if (form == WeightForm::kSPLIT_TF32)
            {
                float small;
                splitTf32(value, value, small);
                packed[idx + total] = small;
            }
            else if (form == WeightForm::kTF32)
            {
                value = roundToTf32(value);
            }
        }
        packed[idx] = value;
    }
}

// ---------------------------------------------------------------------------------------------
// Column sampling (both kernels)
// ---------------------------------------------------------------------------------------------

__device__ inline uint32_t sharedAddress(void const* pointer)
{
    return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

//! 16-byte global -> shared copy, zero-filled when !valid (asynchronous on sm_80+). kKEEP_IN_L1:
//! the gathered corners, which neighbouring pixels and taps read again, are cached in L1; the
//! weight tiles, read once per CTA, only in L2.
template <bool kKEEP_IN_L1>
__device__ inline void copy16(void* dst, void const* src, bool valid)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    int32_t const bytes = valid ? 16 : 0;
    if constexpr (kKEEP_IN_L1)
    {
        asm volatile(
            "cp.async.ca.shared.global [%0], [%1], 16, %2;\n" ::"r"(sharedAddress(dst)), "l"(src), "r"(bytes));
    }
    else
    {
        asm volatile(
            "cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sharedAddress(dst)), "l"(src), "r"(bytes));
    }
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

//! Waits until at most kPENDING of this thread's most recently committed copy groups are still
//! in flight. The memory clobber keeps the compiler from moving the plain shared-memory reads of
//! the stage above the wait.
template <int32_t kPENDING>
__device__ inline void copyWait()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(kPENDING) : "memory");
#endif
}

//! Where one output pixel's column comes from: its image, output row and column, and its index
//! in the output plane.
struct PixelCoords
{
    int32_t n;
    int32_t y;
    int32_t x;
    int32_t r;
};

__device__ inline PixelCoords pixelCoords(Geometry const& geo, int32_t pixel)
{
    PixelCoords c;
    c.n = pixel / geo.outPlane;
    c.r = pixel - c.n * geo.outPlane;
    c.y = c.r / geo.outWidth;
    c.x = c.r - c.y * geo.outWidth;
    return c;
}

//! Output pixel `local` (0 .. kTILE_PIXELS - 1) of pixel tile `nTile`, as an index into the
//! batch's output pixels (image, row, column); -1 past the output (see kTILE_WIDTH).
__device__ inline int32_t tilePixel(Geometry const& geo, int32_t nTile, int32_t local)
{
    if constexpr (kTILE_WIDTH == 0)
    {
        int32_t const pixel = nTile * kTILE_PIXELS + local;
        return pixel < geo.pixels ? pixel : -1;
    }
    else
    {
        int32_t const n = nTile / geo.tilesPerImage;
        int32_t const t = nTile - n * geo.tilesPerImage;
        int32_t const ty = t / geo.tilesX;
        int32_t const y = ty * kBLOCK_HEIGHT + local / kBLOCK_WIDTH;
        int32_t const x = (t - ty * geo.tilesX) * kBLOCK_WIDTH + local % kBLOCK_WIDTH;
        return y < geo.outHeight && x < geo.outWidth ? (n * geo.outHeight + y) * geo.outWidth + x : -1;
    }
}

//! Pixel tiles of the launch grid (per group and output-channel tile).
inline int64_t pixelTiles(Geometry const& geo)
{
    if constexpr (kTILE_WIDTH == 0)
    {
        return (static_cast<int64_t>(geo.pixels) + kTILE_PIXELS - 1) / kTILE_PIXELS;
    }
    else
    {
        return static_cast<int64_t>(geo.batch) * geo.tilesPerImage;
    }
}

//! The learned inputs of one (tap, offset group) sample of a pixel: offset and mask.
template <typename AccT>
struct TapInputs
{
    AccT dy;
    AccT dx;
    AccT mask;
};

template <typename T>
__device__ inline TapInputs<AccumulatorT<T>> loadTapInputs(
    Geometry const& geo, T const* offset, T const* mask, PixelCoords const& pc, int32_t tap, int32_t offsetGroup)
{
    using AccT = AccumulatorT<T>;
    int64_t const channel = static_cast<int64_t>(offsetGroup) * geo.taps + tap;
    T const* offsetPixel = offset + pc.n * geo.offsetImageStride + pc.r;
    TapInputs<AccT> in;
    in.dy = convertTo<AccT>(offsetPixel[2 * channel * geo.outPlane]);
    in.dx = convertTo<AccT>(offsetPixel[(2 * channel + 1) * geo.outPlane]);
    in.mask = geo.hasMask ? convertTo<AccT>(mask[pc.n * geo.maskImageStride + channel * geo.outPlane + pc.r]) : AccT(1);
    return in;
}

template <typename AccT>
__device__ inline deform::BilinearPoint<AccT> tapPoint(
    Geometry const& geo, PixelCoords const& pc, int32_t tap, TapInputs<AccT> const& in)
{
    int32_t const i = tap / geo.kernelWidth;
    int32_t const j = tap - i * geo.kernelWidth;
    AccT const y = deform::samplePosition(deform::tapOrigin(pc.y, geo.strideH, geo.padH, i, geo.dilationH), in.dy);
    AccT const x = deform::samplePosition(deform::tapOrigin(pc.x, geo.strideW, geo.padW, j, geo.dilationW), in.dx);
    return deform::bilinearPoint(y, x, geo.height, geo.width);
}

//! What a K tile samples: one kernel tap, kBK channels of the weight group from `first`, and the
//! offset group of its first channel (whose bilinear points the CTA's table holds).
struct TileKey
{
    int32_t tap;
    int32_t first;
    int32_t offsetGroup;
};

//! The offset group of the K tile starting at channel `first` of weight group `group`. A tile of
//! padding channels only (K tiles narrower than kCHANNEL_PAD) may start past the last channel:
//! its table is never sampled, but its offsets must still be in bounds.
__device__ inline int32_t tileOffsetGroup(Geometry const& geo, int32_t group, int32_t first)
{
    if (geo.offsetGroups == 1)
    {
        return 0;
    }
    return min((group * geo.cinPerGroup + first) / geo.cinPerOffsetGroup, geo.offsetGroups - 1);
}

//! The key of K tile 0.
__device__ inline TileKey firstTileKey(Geometry const& geo, int32_t group)
{
    return TileKey{0, 0, tileOffsetGroup(geo, group, 0)};
}

//! The key of the K tile after `key`: tap-major, the channel chunks of a tap, then the next tap;
//! tap-minor (kTAP_MINOR), the taps of a channel chunk, then the next chunk.
__device__ inline TileKey nextTileKey(Geometry const& geo, int32_t group, TileKey key, int32_t kBK)
{
    if constexpr (kTAP_MINOR)
    {
        if (++key.tap == geo.taps)
        {
            key.tap = 0;
            key.first += kBK;
        }
    }
    else
    {
        key.first += kBK;
        if (key.first == geo.paddedCin)
        {
            key.first = 0;
            ++key.tap;
        }
    }
    key.offsetGroup = tileOffsetGroup(geo, group, key.first);
    return key;
}

//! Whether tile `key` needs other bilinear points than the tile before it (`previous`).
__device__ inline bool needsNewTable(TileKey const& key, TileKey const& previous)
{
    return key.tap != previous.tap || key.offsetGroup != previous.offsetGroup;
}

//! Samples the column tiles of a CTA: kBK channels (one tap) x kBN pixels per K tile, from the
//! channels-last copy of the input.
//!
//! Bilinear table: the corners, weights and mask of one (tap, offset group) for each pixel of the
//! tile are computed once, by one thread per pixel, into a shared-memory table of kDEPTH + 1
//! slots used round robin: the table of tile k + kDEPTH + 1 is written while tiles k + 1 ..
//! k + kDEPTH are being sampled from the other slots, and the barrier that ends each K tile
//! publishes it. Every thread then only reads its pixel's entry.
//!
//! Coalescing: kTPP threads share a pixel and each samples kRUN consecutive channels (16 bytes),
//! so a warp's load of a corner covers 32 / kTPP pixels with kBK * sizeof(T) contiguous bytes
//! each (64 bytes for every type) instead of 32 pixels 16 bytes each.
//!
//! Latency: gather() starts asynchronous copies of the corners of the first `stagedPasses`
//! passes into one of kDEPTH stage slots (cp.async, no registers held), the kernel multiplies,
//! and finish() blends them once they have been waited for (columnKLoop decides when). Passes
//! beyond the stage (when the device lacks the shared memory) load their corners in finish().
//!
//! Runs that leave the table's offset group (offset groups narrower than a K tile) sample each
//! channel with its own offsets; runs that are not whole aligned vectors (channel counts not a
//! multiple of kRUN) read scalars; runs past the group's channels are zero.
template <typename T, int32_t kBN, int32_t kBK, int32_t kTHREADS, int32_t kDEPTH_>
struct ColumnGather
{
    //! How many K tiles ahead of the multiply the corner copies start (1 or 2, see columnKLoop):
    //! the stage holds kDEPTH tiles, the table kDEPTH + 1 bilinear (tap, offset group) points.
    static constexpr int32_t kDEPTH = kDEPTH_;
    static constexpr int32_t kTABLE_SLOTS = kDEPTH + 1;
    static_assert(kDEPTH == 1 || kDEPTH == 2, "gather depth");
    using AccT = AccumulatorT<T>;
    using Point = deform::BilinearPoint<AccT>;
    static constexpr int32_t kRUN = static_cast<int32_t>(16 / sizeof(T));
    using Run = deform::Vec<T, kRUN>;
    static constexpr int32_t kTPP = kBK / kRUN; //!< threads per pixel
    static constexpr int32_t kPIXELS_PER_PASS = kTHREADS / kTPP;
    static constexpr int32_t kPASSES = kBN / kPIXELS_PER_PASS;
    //! Shared memory of one staged pass of one K tile: [corner][thread] runs, so that a warp's
    //! copies and reads of one corner are 512 contiguous bytes. Each thread copies and reads only
    //! its own runs.
    static constexpr int32_t kSTAGE_PASS_BYTES = 4 * kTHREADS * static_cast<int32_t>(sizeof(Run));
    static_assert(sizeof(Run) == 16, "a run is one 16-byte copy");
    static_assert(kBK % kRUN == 0 && kTHREADS % kTPP == 0 && kBN % kPIXELS_PER_PASS == 0, "gather layout");
    static_assert(kTHREADS >= kBN, "one thread per pixel fills the bilinear table");

    //! Shared memory: the bilinear points and masks of kTABLE_SLOTS (tap, offset group) pairs,
    //! and each pixel of the tile (tilePixel: -1 past the output) and its image (kept here rather
    //! than in registers).
    struct Table
    {
        Point point[kTABLE_SLOTS][kBN];
        AccT mask[kTABLE_SLOTS][kBN];
        int32_t pixel[kBN];
        int32_t image[kBN];
    };

    enum class Path : int32_t
    {
        kZERO,   //!< padding channels past the group
        kVECTOR, //!< a whole aligned run in the table's offset group: one load per corner
        kTABLE,  //!< in the table's offset group, scalar loads
        kDIRECT, //!< crosses into other offset groups: each channel computes its own point
    };

    //! How this thread samples a tile. Recomputed by gather() and finish() rather than kept
    //! across the multiply: registers are the scarce resource there.
    struct Plan
    {
        Path path;
        int32_t channel; //!< input channel of the run's first element
        int32_t count;   //!< channels of the group left from `channel`
    };

    T const* mInput;            //!< the channels-last copy
    int32_t mPixel;             //!< this thread's pixel of the first pass, in the tile
    int32_t mColumn;            //!< first channel of this thread's run in the K tile
    Run* mStage;                //!< this thread's first run of stage slot 0
    TapInputs<AccT> mOwnInputs; //!< threads < kBN: the next table entry's offsets and mask

    //! Sets up the thread and writes each pixel of tile `nTile` and its image into the table
    //! (published by the first barrier of columnKLoop).
    __device__ void init(Geometry const& geo, T const* input, Table& table, Run* stage, int32_t nTile, int32_t tid)
    {
        mInput = input;
        mPixel = tid / kTPP;
        mColumn = (tid % kTPP) * kRUN;
        mStage = stage + tid;
        if (tid < kBN)
        {
            // Read back by this thread only until the first barrier (prefetchTable, storeTable):
            // the table, not a register, holds it through the K loop.
            int32_t const pixel = tilePixel(geo, nTile, tid);
            table.pixel[tid] = pixel;
            // Past the end: the table entries read nothing, so any image will do.
            table.image[tid] = pixel >= 0 ? pixel / geo.outPlane : 0;
        }
    }

    //! The channels-last image of a pixel of the tile.
    __device__ T const* image(Geometry const& geo, Table const& table, int32_t pixel) const
    {
        return mInput + table.image[pixel] * geo.inputImageStride;
    }

    //! Loads the offsets and mask of the table of `key` (the first half of refreshing it).
    __device__ void prefetchTable(
        Geometry const& geo, T const* offset, T const* mask, Table const& table, TileKey const& key, int32_t tid)
    {
        if (tid < kBN && table.pixel[tid] >= 0)
        {
            mOwnInputs
                = loadTapInputs(geo, offset, mask, pixelCoords(geo, table.pixel[tid]), key.tap, key.offsetGroup);
        }
    }

    //! Writes the table of `key` into `slot` (after prefetchTable).
    __device__ void storeTable(Geometry const& geo, Table& table, int32_t slot, TileKey const& key, int32_t tid) const
    {
        if (tid >= kBN)
        {
            return;
        }
        if (table.pixel[tid] >= 0)
        {
            table.point[slot][tid] = tapPoint(geo, pixelCoords(geo, table.pixel[tid]), key.tap, mOwnInputs);
            table.mask[slot][tid] = mOwnInputs.mask;
        }
        else
        {
            // A pixel past the end samples exactly zero.
            Point empty;
#pragma unroll
            for (int32_t k = 0; k < 4; ++k)
            {
                empty.index[k] = -1;
                empty.weight[k] = AccT(0);
            }
            table.point[slot][tid] = empty;
            table.mask[slot][tid] = AccT(0);
        }
    }

    __device__ Plan plan(Geometry const& geo, TileKey const& key, int32_t group) const
    {
        int32_t const first = key.first + mColumn;
        Plan plan;
        plan.count = geo.cinPerGroup - first;
        plan.channel = group * geo.cinPerGroup + first;
        if (plan.count <= 0)
        {
            plan.path = Path::kZERO;
        }
        else if (plan.channel + min(plan.count, kRUN) > (key.offsetGroup + 1) * geo.cinPerOffsetGroup)
        {
            // The run ends past the table's offset group (it starts inside or after it).
            plan.path = Path::kDIRECT;
        }
        else
        {
            // 16-byte aligned: the copy starts 256-byte aligned and pixels are inChannels apart.
            bool const vector = plan.count >= kRUN && plan.channel % kRUN == 0 && geo.inChannels % kRUN == 0;
            plan.path = vector ? Path::kVECTOR : Path::kTABLE;
        }
        return plan;
    }

    //! This thread's first run of stage slot `stageSlot` (of kDEPTH, each `stagedPasses` passes).
    __device__ Run* stageSlotRuns(Geometry const& geo, int32_t stageSlot) const
    {
        return mStage + stageSlot * geo.stagedPasses * 4 * kTHREADS;
    }

    //! Starts the copies of the staged passes' corners of tile `key` (table `slot`) into stage
    //! slot `stageSlot` and commits them as one group.
    __device__ void gather(
        Geometry const& geo, Table const& table, int32_t slot, TileKey const& key, int32_t group, int32_t stageSlot)
    {
        Plan const p = plan(geo, key, group);
        Run* const stage = stageSlotRuns(geo, stageSlot);
        if (p.path == Path::kVECTOR && kDIAGNOSTIC != 2)
        {
#pragma unroll
            for (int32_t pass = 0; pass < kPASSES; ++pass)
            {
                if (pass < geo.stagedPasses)
                {
                    int32_t const pixel = mPixel + pass * kPIXELS_PER_PASS;
                    int32_t const(&index)[4] = table.point[slot][pixel].index;
                    T const* base = image(geo, table, pixel) + p.channel;
#pragma unroll
                    for (int32_t k = 0; k < 4; ++k)
                    {
                        bool const inside = index[k] >= 0;
                        copy16<true>(stage + (pass * 4 + k) * kTHREADS,
                            inside ? base + static_cast<int64_t>(index[k]) * geo.inChannels : base, inside);
                    }
                }
            }
        }
        copyCommit();
    }

    //! Samples every pass of tile `key` (after gather() with the same arguments has been waited
    //! for) and hands each run to emit(buffer, pixel in tile, first channel in tile,
    //! AccT (&values)[kRUN]).
    template <typename Emit>
    __device__ void finish(Geometry const& geo, T const* offset, T const* mask, Table const& table, int32_t slot,
        TileKey const& key, int32_t group, int32_t buffer, int32_t stageSlot, Emit&& emit)
    {
        Plan const p = plan(geo, key, group);
        Run const* const stage = stageSlotRuns(geo, stageSlot);
#pragma unroll
        for (int32_t pass = 0; pass < kPASSES; ++pass)
        {
            int32_t const pixel = mPixel + pass * kPIXELS_PER_PASS;
            Point const& point = table.point[slot][pixel];
            AccT const maskValue = table.mask[slot][pixel];
            T const* const pixelImage = image(geo, table, pixel);
            T const* const base = pixelImage + p.channel;
            AccT values[kRUN];
            if (p.path == Path::kVECTOR && kDIAGNOSTIC == 3)
            {
#pragma unroll
                for (int32_t c = 0; c < kRUN; ++c)
                {
                    values[c] = AccT(0);
                }
            }
            else if (p.path == Path::kVECTOR)
            {
                Run corners[4];
                if (pass < geo.stagedPasses)
                {
#pragma unroll
                    for (int32_t k = 0; k < 4; ++k)
                    {
                        corners[k] = stage[(pass * 4 + k) * kTHREADS];
                    }
                }
                else
                {
                    deform::loadCorners<kRUN>(base, point.index, geo.inChannels, corners);
                }
                deform::blendCorners<kRUN>(corners, point.weight, maskValue, values);
            }
            else if (p.path == Path::kTABLE)
            {
#pragma unroll
                for (int32_t c = 0; c < kRUN; ++c)
                {
                    values[c]
                        = c < p.count ? deform::maskedSample(base + c, point, maskValue, geo.inChannels) : AccT(0);
                }
            }
            else if (p.path == Path::kDIRECT && table.pixel[pixel] >= 0)
            {
                PixelCoords const pc = pixelCoords(geo, table.pixel[pixel]);
#pragma unroll
                for (int32_t c = 0; c < kRUN; ++c)
                {
                    values[c] = AccT(0);
                    if (c < p.count)
                    {
                        int32_t const channel = p.channel + c;
                        TapInputs<AccT> const in
                            = loadTapInputs(geo, offset, mask, pc, key.tap, channel / geo.cinPerOffsetGroup);
                        values[c] = deform::maskedSample(
                            pixelImage + channel, tapPoint(geo, pc, key.tap, in), in.mask, geo.inChannels);
                    }
                }
            }
            else
            {
#pragma unroll
                for (int32_t c = 0; c < kRUN; ++c)
                {
                    values[c] = AccT(0);
                }
            }
            emit(buffer, pixel, mColumn, values);
        }
    }
};

//! A K tile's key and the table slot that holds its bilinear points.
struct TileState
{
    TileKey key;
    int32_t slot;
};

//! The K loop both kernels run, with D = Gather::kDEPTH (the corner copies of a tile start D
//! iterations before it is multiplied). Iteration k, around the multiply of K tile k:
//!   start:  fetchWeights(k + 1, other buffer) starts loading the next weight tile, gather()
//!           starts the corner copies of column tile k + D into stage slot (k + D) % D and, when
//!           tile k + D + 1 needs a new bilinear table, its offsets and mask are loaded;
//!   middle: multiply(buffer, 0) (the first half of the K tile); the copies of tile k + 1 are
//!           waited for and finish() blends column tile k + 1 into the other buffer, so that its
//!           ALU work sits between tensor-core (or FMA) instructions of the same warp;
//!   end:    multiply(buffer, 1), the weight copies are waited for and storeWeights(k + 1, other
//!           buffer) completes the weight tile, the table of tile k + D + 1 is written into a
//!           slot no tile in flight reads (D + 1 slots, used round robin), and one barrier
//!           publishes all of it.
//! With D = 2 the copies of a tile have a whole iteration to arrive before they are blended.
//! With D = 1 (two CTAs per SM, whose registers allow no more) the copies of tile k + 1 start in
//! iteration k, so both halves of the multiply run before the blend.
//! Copy groups are committed in the order W(k + 1), G(k + D) in every iteration (an empty group
//! when there is no such tile), so "G(k + 1) has landed" is wait_group 2 (D - 1) and "W(k + 1)
//! has landed" is wait_group 1.
//! emit(buffer, pixel, column, values) writes a sampled run into a column buffer.
template <int32_t kBK, typename Gather, typename T, typename FetchWeights, typename StoreWeights, typename Multiply,
    typename Emit>
__device__ inline void columnKLoop(Geometry const& geo, T const* offset, T const* mask, int32_t group, int32_t tid,
    Gather& gather, typename Gather::Table& table, FetchWeights&& fetchWeights, StoreWeights&& storeWeights,
    Multiply&& multiply, Emit&& emit)
{
    constexpr int32_t kDEPTH = Gather::kDEPTH;
    int32_t const kTiles = geo.taps * (geo.paddedCin / kBK);

    // Prologue: the tables of tiles 0 .. D, the copies of tiles 0 .. D - 1 started, tile 0
    // blended. ahead[i] is tile i here, tile k + 1 + i at the top of iteration k.
    TileState ahead[kDEPTH + 1];
    ahead[0].key = firstTileKey(geo, group);
    ahead[0].slot = 0;
    gather.prefetchTable(geo, offset, mask, table, ahead[0].key, tid);
    gather.storeTable(geo, table, 0, ahead[0].key, tid);
    __syncthreads();
    fetchWeights(0, 0);
    copyCommit();
#pragma unroll
    for (int32_t t = 1; t <= kDEPTH; ++t)
    {
        // Tile t - 1's table is published: start its copies, then write tile t's table.
        if (t - 1 < kTiles)
        {
            gather.gather(geo, table, ahead[t - 1].slot, ahead[t - 1].key, group, (t - 1) % kDEPTH);
        }
        else
        {
            copyCommit();
        }
        ahead[t] = ahead[t - 1];
        if (t < kTiles)
        {
            TileKey const key = nextTileKey(geo, group, ahead[t - 1].key, kBK);
            if (needsNewTable(key, ahead[t - 1].key))
            {
                ahead[t].slot = (ahead[t - 1].slot + 1) % Gather::kTABLE_SLOTS;
                gather.prefetchTable(geo, offset, mask, table, key, tid);
                gather.storeTable(geo, table, ahead[t].slot, key, tid);
            }
            ahead[t].key = key;
        }
        __syncthreads();
    }
    // Groups so far: W(0), G(0) .. G(D - 1).
    copyWait<kDEPTH - 1>();
    storeWeights(0, 0);
    gather.finish(geo, offset, mask, table, ahead[0].slot, ahead[0].key, group, 0, 0, emit);
#pragma unroll
    for (int32_t i = 0; i < kDEPTH; ++i)
    {
        ahead[i] = ahead[i + 1];
    }
    __syncthreads();

    for (int32_t kTile = 0; kTile < kTiles; ++kTile)
    {
        int32_t const buffer = kTile & 1;
        bool const more = kTile + 1 < kTiles;
        // Tile k + D (copies start now) is ahead[D - 1]; tile k + D + 1 gets its table now.
        TileState after = ahead[kDEPTH - 1];
        bool refresh = false;
        if (kTile + kDEPTH + 1 < kTiles)
        {
            after.key = nextTileKey(geo, group, ahead[kDEPTH - 1].key, kBK);
            refresh = needsNewTable(after.key, ahead[kDEPTH - 1].key);
            if (refresh)
            {
                after.slot = (after.slot + 1) % Gather::kTABLE_SLOTS;
            }
        }
        if (more)
        {
            fetchWeights(kTile + 1, buffer ^ 1);
            copyCommit(); // the weight copies' group (empty where they are register loads)
        }
        if (kTile + kDEPTH < kTiles)
        {
            gather.gather(
                geo, table, ahead[kDEPTH - 1].slot, ahead[kDEPTH - 1].key, group, (kTile + kDEPTH) % kDEPTH);
        }
        else
        {
            copyCommit();
        }
        if (refresh)
        {
            gather.prefetchTable(geo, offset, mask, table, after.key, tid);
        }
        multiply(buffer, 0);
        if constexpr (kDEPTH == 1)
        {
            multiply(buffer, 1); // the copies of tile k + 1 started just now: blend them last
        }
        if (more)
        {
            copyWait<2 * (kDEPTH - 1)>();
            gather.finish(geo, offset, mask, table, ahead[0].slot, ahead[0].key, group, buffer ^ 1,
                (kTile + 1) % kDEPTH, emit);
        }
        if constexpr (kDEPTH != 1)
        {
            multiply(buffer, 1);
        }
        if (more)
        {
            copyWait<1>();
            storeWeights(kTile + 1, buffer ^ 1);
        }
        if (refresh)
        {
            gather.storeTable(geo, table, after.slot, after.key, tid);
        }
#pragma unroll
        for (int32_t i = 0; i + 1 < kDEPTH; ++i)
        {
            ahead[i] = ahead[i + 1];
        }
        ahead[kDEPTH - 1] = after;
        __syncthreads();
    }
}

// ---------------------------------------------------------------------------------------------
// Tensor-core kernel (fp16 / bf16; float32 on TF32: split into pairs, or rounded when allowed)
// ---------------------------------------------------------------------------------------------

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

//! Stores a sampled run (16 bytes of the storage type) as the tensor cores multiply it: pairs of
//! 16-bit values, floats as they are (kSPLIT with one plane: split when loaded into fragments),
//! their big and small TF32 parts into `dst` and `dstSmall` (kSPLIT with kPLANES = 2), or floats
//! rounded to TF32.
template <typename T, bool kSPLIT, int32_t kPLANES>
__device__ inline void storeOperandRun(void* dst, void* dstSmall, float const (&v)[16 / sizeof(T)])
{
    if constexpr (kSPLIT && kPLANES == 2)
    {
        float big[4];
        float small[4];
#pragma unroll
        for (int32_t i = 0; i < 4; ++i)
        {
            splitTf32(v[i], big[i], small[i]);
        }
        *static_cast<float4*>(dst) = make_float4(big[0], big[1], big[2], big[3]);
        *static_cast<float4*>(dstSmall) = make_float4(small[0], small[1], small[2], small[3]);
    }
    else if constexpr (kSPLIT)
    {
        static_cast<void>(dstSmall);
        *static_cast<float4*>(dst) = make_float4(v[0], v[1], v[2], v[3]);
    }
    else if constexpr (std::is_same_v<T, float>)
    {
        *static_cast<float4*>(dst) = make_float4(
            roundToTf32(v[0]), roundToTf32(v[1]), roundToTf32(v[2]), roundToTf32(v[3]));
    }
    else
    {
        *static_cast<uint4*>(dst) = make_uint4(
            packPair<T>(v[0], v[1]), packPair<T>(v[2], v[3]), packPair<T>(v[4], v[5]), packPair<T>(v[6], v[7]));
    }
}

//! kSPLIT (float32 only): the weight tile holds two planes, the big and small TF32 parts.
template <typename T, int32_t kBM, bool kSPLIT = false>
struct MmaConfig
{
    static_assert(sizeof(T) == 2 || std::is_same_v<T, float>, "MmaConfig: 16-bit or TF32 (float) operands");
    static_assert(!kSPLIT || std::is_same_v<T, float>, "MmaConfig: only float32 operands are split");
    static constexpr int32_t kA_PLANES = kSPLIT ? 2 : 1;
    //! Planes of the column tile: 2 (big, small) when the split happens at store time.
    static constexpr int32_t kB_PLANES = kSPLIT && kSPLIT_COLUMNS_AT_STORE && kBM == 256 ? 2 : 1;
    static constexpr int32_t kBN = kTILE_PIXELS;
    //! Elements in 16 bytes: one ldmatrix row, one sampled run, one weight copy.
    static constexpr int32_t kVEC = static_cast<int32_t>(16 / sizeof(T));
    //! A K tile is 64 bytes of every row: 32 f16/bf16 or 16 TF32 channels, so that tiles, stage
    //! and shared memory are the same for every operand type.
    static constexpr int32_t kBK = 4 * kVEC;
    static constexpr int32_t kMMA_K = 2 * kVEC;  //!< K of one mma: 32 bytes (k16, TF32 k8)
    static constexpr int32_t kSTRIDE = kBK + kVEC; //!< padded row (80 bytes): conflict-free ldmatrix
    //! 256 rows: 16 warps as 4 (M) x 4 (N), one CTA per SM, so that every sampled column feeds
    //! 256 output channels. 64 or 128 rows: 8 warps as 2 x 4, two CTAs per SM.
    static constexpr int32_t kWARPS_M = kBM == 256 ? 4 : 2;
    static constexpr int32_t kWARPS_N = 4;
    static constexpr int32_t kTHREADS = 32 * kWARPS_M * kWARPS_N;
    static constexpr int32_t kMIN_BLOCKS = kTHREADS == 512 ? 1 : 2;
    //! One CTA per SM has no other CTA to run while it waits: its corner copies start two K
    //! tiles ahead. Two CTAs per SM cover each other's waits and keep the smaller stage.
    static constexpr int32_t kDEPTH = kMIN_BLOCKS == 1 ? kONE_CTA_GATHER_DEPTH : 1;
    static constexpr int32_t kWARP_M = kBM / kWARPS_M;
    static constexpr int32_t kWARP_N = kBN / kWARPS_N; //!< 32
    static constexpr int32_t kMT = kWARP_M / 16;       //!< m16 tiles per warp
    static constexpr int32_t kNT = kWARP_N / 8;        //!< n8 tiles per warp
    using Gather = ColumnGather<T, kBN, kBK, kTHREADS, kDEPTH>;
    static_assert(deform::kCHANNEL_PAD % kBK == 0, "K tiles must divide the channel padding");
    static_assert(kBK * sizeof(T) == kK_TILE_BYTES, "the K tiles packWeightsKernel lays out");
    static_assert(Gather::kRUN == kVEC, "a sampled run is one 16-byte row chunk of the column tile");
    static_assert(kBM * kBK / kVEC % kTHREADS == 0, "weight tile: whole 16-byte chunks per thread");
    static_assert(kWARP_M % 16 == 0 && kNT % 2 == 0 && kBK % (2 * kMMA_K) == 0, "warp tile, K tile halves of mmas");

    //! Dynamic shared memory: these, then the gather's stage (kDEPTH slots of
    //! Geometry::stagedPasses passes). 256 rows: 74 KiB + 2 x 32 KiB of stage (split float32:
    //! 40 KiB more for the second weight plane).
    struct Shared
    {
        T a[2][kA_PLANES][kBM][kSTRIDE];
        T b[2][kB_PLANES][kBN][kSTRIDE];
        typename Gather::Table table;
    };
};

//! The three TF32 products that stand for one float32 product (kSPLIT): d += a b as
//! small_a big_b + big_a small_b + big_a big_b, the small terms first so that they are added
//! while the accumulator is still small.
__device__ inline void mmaSplitTf32(float (&d)[4], uint32_t const (&aBig)[4], uint32_t const (&aSmall)[4],
    uint32_t const (&bBig)[2], uint32_t const (&bSmall)[2])
{
    mma::mmaM16N8<float>(d, aSmall, bBig);
    mma::mmaM16N8<float>(d, aBig, bSmall);
    mma::mmaM16N8<float>(d, aBig, bBig);
}

//! acc += A tile (warp's rows) x B tile (warp's columns) over half `half` (0 or 1) of one K tile
//! held in shared memory; sA holds Cfg::kA_PLANES planes of the weight tile. kSPLIT: the weight
//! planes hold the big and small TF32 parts, the column tile float32 values, split here.
template <typename T, int32_t kBM, bool kSPLIT>
__device__ inline void warpTileProduct(
    float (&acc)[MmaConfig<T, kBM, kSPLIT>::kMT][MmaConfig<T, kBM, kSPLIT>::kNT][4],
    T const (*sA)[kBM][MmaConfig<T, kBM, kSPLIT>::kSTRIDE],
    T const (*sB)[MmaConfig<T, kBM, kSPLIT>::kBN][MmaConfig<T, kBM, kSPLIT>::kSTRIDE],
    int32_t warpM, int32_t warpN, int32_t lane, int32_t half)
{
    using Cfg = MmaConfig<T, kBM, kSPLIT>;
    constexpr int32_t kHALF = Cfg::kBK / 2;
    int32_t const kBegin = half * kHALF;
    int32_t const rowBase = warpM * Cfg::kWARP_M;
    int32_t const colBase = warpN * Cfg::kWARP_N;
    // K offsets in elements: an mma step is kMMA_K, its second 16-byte half starts kVEC later.
    constexpr int32_t kVEC = Cfg::kVEC;
    if constexpr (mma::tensorCoresFor<T>())
    {
#pragma unroll
        for (int32_t kk = kBegin; kk < kBegin + kHALF; kk += Cfg::kMMA_K)
        {
            // All B fragments, then one A fragment at a time: fewer live registers.
            auto loadA = [&](int32_t plane, int32_t mt, uint32_t(&a)[4]) {
                mma::loadMatrixX4(a, &sA[plane][rowBase + mt * 16 + (lane & 15)][kk + (lane >> 4) * kVEC]);
            };
            auto loadB = [&](int32_t plane, uint32_t(&b)[Cfg::kNT][2]) {
#pragma unroll
                for (int32_t np = 0; np < Cfg::kNT / 2; ++np)
                {
                    uint32_t r[4];
                    mma::loadMatrixX4(r,
                        &sB[plane][colBase + np * 16 + (lane >> 4) * 8 + (lane & 7)][kk + ((lane >> 3) & 1) * kVEC]);
                    b[2 * np][0] = r[0];
                    b[2 * np][1] = r[1];
                    b[2 * np + 1][0] = r[2];
                    b[2 * np + 1][1] = r[3];
                }
            };
            uint32_t b[Cfg::kNT][2];
            loadB(0, b);
            if constexpr (kSPLIT)
            {
                // The weights were split when packed (every warp of an m16 tile row would split
                // them again); the columns either when stored (their second plane) or here, each
                // B fragment once for every m16 tile of the warp.
                uint32_t bSmall[Cfg::kNT][2];
                if constexpr (Cfg::kB_PLANES == 2)
                {
                    loadB(1, bSmall);
                }
                else
                {
#pragma unroll
                    for (int32_t nt = 0; nt < Cfg::kNT; ++nt)
                    {
                        splitTf32Bits(b[nt][0], b[nt][0], bSmall[nt][0]);
                        splitTf32Bits(b[nt][1], b[nt][1], bSmall[nt][1]);
                    }
                }
#pragma unroll
                for (int32_t mt = 0; mt < Cfg::kMT; ++mt)
                {
                    uint32_t a[4];
                    uint32_t aSmall[4];
                    loadA(0, mt, a);
                    loadA(1, mt, aSmall);
#pragma unroll
                    for (int32_t nt = 0; nt < Cfg::kNT; ++nt)
                    {
                        mmaSplitTf32(acc[mt][nt], a, aSmall, b[nt], bSmall[nt]);
                    }
                }
            }
            else
            {
#pragma unroll
                for (int32_t mt = 0; mt < Cfg::kMT; ++mt)
                {
                    uint32_t a[4];
                    loadA(0, mt, a);
#pragma unroll
                    for (int32_t nt = 0; nt < Cfg::kNT; ++nt)
                    {
                        mma::mmaM16N8<T>(acc[mt][nt], a, b[nt]);
                    }
                }
            }
        }
    }
    else
    {
        // bf16 before sm_80: the same fragments, computed on FFMA straight from shared memory.
        // (TF32 before sm_80 is never launched: the launcher keeps float32 on the FFMA kernel.)
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
                    for (int32_t k = kBegin; k < kBegin + kHALF; ++k)
                    {
                        sum += convertTo<float>(sA[0][row][k]) * convertTo<float>(sB[0][col][k]);
                    }
                    acc[mt][nt][e] = sum;
                }
            }
        }
    }
}

//! kSPLIT (float32 only): float operands, three TF32 mmas per product (warpTileProduct).
template <typename T, int32_t kBM, bool kSPLIT>
__global__ void __launch_bounds__(MmaConfig<T, kBM, kSPLIT>::kTHREADS, MmaConfig<T, kBM, kSPLIT>::kMIN_BLOCKS)
    deformConvMmaKernel(Geometry const geo, T const* __restrict__ input, T const* __restrict__ offset,
        T const* __restrict__ mask, T const* __restrict__ packed, T const* __restrict__ bias, T* __restrict__ output)
{
    using Cfg = MmaConfig<T, kBM, kSPLIT>;
    extern __shared__ uint4 mmaSharedWords[];
    auto& shared = *reinterpret_cast<typename Cfg::Shared*>(mmaSharedWords);
    auto* stage = reinterpret_cast<typename Cfg::Gather::Run*>(&shared + 1);

    int32_t const mTile = static_cast<int32_t>(blockIdx.x % geo.mTiles);
    int32_t const nTile = static_cast<int32_t>(blockIdx.x / geo.mTiles);
    int32_t const group = static_cast<int32_t>(blockIdx.z);
    int32_t const tid = static_cast<int32_t>(threadIdx.x);
    int32_t const lane = tid & 31;
    int32_t const warp = tid >> 5;
    int32_t const warpM = warp / Cfg::kWARPS_N;
    int32_t const warpN = warp % Cfg::kWARPS_N;

    typename Cfg::Gather gather;
    gather.init(geo, input, shared.table, stage, nTile, tid);

    int64_t const packedRow = static_cast<int64_t>(geo.taps) * geo.paddedCin;
    int32_t const rowsLeft = geo.coutPerGroup - mTile * kBM;
    T const* packedTile = packed + (static_cast<int64_t>(group) * geo.coutPerGroup + mTile * kBM) * packedRow;

    // Split float32: the small parts are one plane (all output channels) after the big ones.
    int64_t const planeElements = static_cast<int64_t>(geo.outChannels) * packedRow;
    auto fetchWeights = [&](int32_t kTile, int32_t buffer) {
#pragma unroll
        for (int32_t plane = 0; plane < Cfg::kA_PLANES; ++plane)
        {
#pragma unroll
            for (int32_t it = 0; it < kBM * Cfg::kBK / Cfg::kVEC / Cfg::kTHREADS; ++it)
            {
                int32_t const chunk = tid + it * Cfg::kTHREADS;
                int32_t const row = chunk / (Cfg::kBK / Cfg::kVEC);
                int32_t const col = (chunk % (Cfg::kBK / Cfg::kVEC)) * Cfg::kVEC;
                bool const valid = row < rowsLeft;
                T const* src = valid ? packedTile + plane * planeElements + row * packedRow
                        + static_cast<int64_t>(kTile) * Cfg::kBK + col
                                     : packed;
                copy16<false>(&shared.a[buffer][plane][row][col], src, valid);
            }
        }
    };
    auto storeWeights = [](int32_t, int32_t) {}; // the copies land in place

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
    auto multiply = [&](int32_t buffer, int32_t half) {
        if constexpr (kDIAGNOSTIC != 1)
        {
            warpTileProduct<T, kBM, kSPLIT>(acc, shared.a[buffer], shared.b[buffer], warpM, warpN, lane, half);
        }
    };
    // A sampled run of one pixel is one 16-byte chunk of the pixel's row of the tile.
    auto emit = [&](int32_t buffer, int32_t pixel, int32_t column, float const (&v)[Cfg::kVEC]) {
        storeOperandRun<T, kSPLIT, Cfg::kB_PLANES>(
            &shared.b[buffer][0][pixel][column], &shared.b[buffer][Cfg::kB_PLANES - 1][pixel][column], v);
    };
    columnKLoop<Cfg::kBK>(
        geo, offset, mask, group, tid, gather, shared.table, fetchWeights, storeWeights, multiply, emit);

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
            int32_t const pixel = tilePixel(geo, nTile, warpN * Cfg::kWARP_N + nt * 8 + tq * 2 + e);
            int32_t const n = pixel / geo.outPlane;
            int32_t const r = pixel - n * geo.outPlane;
            columnBase[nt][e] = pixel >= 0 ? static_cast<int64_t>(n) * geo.outChannels * geo.outPlane + r : -1;
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
    static constexpr int32_t kTHREADS = 256;
    static constexpr int32_t kBN = kTILE_PIXELS;
    static constexpr int32_t kBK = sizeof(AccT) == 8 ? 8 : 16;
    static constexpr int32_t kTM = kBM / 16; //!< rows per thread (16 x 16 threads)
    static constexpr int32_t kTN = 8;        //!< columns per thread: two runs of 4, 64 apart
    //! fp32 with 128 rows and fp64 need the registers of one CTA per SM.
    static constexpr int32_t kMIN_BLOCKS = (sizeof(AccT) == 8 || kBM == 128) ? 1 : 2;
    static constexpr int32_t kDEPTH = kMIN_BLOCKS == 1 ? kONE_CTA_GATHER_DEPTH : 1; //!< as MmaConfig::kDEPTH
    //! Rows padded by 16 bytes (vector reads stay aligned): the threads that store a weight
    //! row's kBK elements, or a pixel's kTPP runs, hit different banks.
    static constexpr int32_t kA_STRIDE = kBM + static_cast<int32_t>(16 / sizeof(AccT));
    static constexpr int32_t kB_STRIDE = kBN + static_cast<int32_t>(16 / sizeof(AccT));
    static constexpr int32_t kWEIGHTS = kBM * kBK / kTHREADS; //!< weight elements per thread per tile
    using Gather = ColumnGather<T, kBN, kBK, kTHREADS, kDEPTH>;
    static_assert(deform::kCHANNEL_PAD % kBK == 0, "K tiles must divide the channel padding");
    static_assert(kBK * sizeof(T) == kK_TILE_BYTES, "the K tiles packWeightsKernel lays out");
    static_assert(kBM * kBK % kTHREADS == 0, "weight tile: whole elements per thread");

    //! Dynamic shared memory: these, then the gather's stage (kDEPTH slots of
    //! Geometry::stagedPasses passes).
    struct Shared
    {
        AccT a[2][kBK][kA_STRIDE];
        AccT b[2][kBK][kB_STRIDE];
        typename Gather::Table table;
    };
};

template <typename T, int32_t kBM>
__global__ void __launch_bounds__(SimtConfig<T, kBM>::kTHREADS, SimtConfig<T, kBM>::kMIN_BLOCKS)
    deformConvSimtKernel(Geometry const geo, T const* __restrict__ input, T const* __restrict__ offset,
        T const* __restrict__ mask, T const* __restrict__ packed, T const* __restrict__ bias, T* __restrict__ output)
{
    using Cfg = SimtConfig<T, kBM>;
    using AccT = typename Cfg::AccT;
    using Gather = typename Cfg::Gather;
    extern __shared__ uint4 simtSharedWords[];
    auto& shared = *reinterpret_cast<typename Cfg::Shared*>(simtSharedWords);
    auto* stage = reinterpret_cast<typename Gather::Run*>(&shared + 1);
    auto& sA = shared.a;
    auto& sB = shared.b;

    int32_t const mTile = static_cast<int32_t>(blockIdx.x % geo.mTiles);
    int32_t const nTile = static_cast<int32_t>(blockIdx.x / geo.mTiles);
    int32_t const group = static_cast<int32_t>(blockIdx.z);
    int32_t const tid = static_cast<int32_t>(threadIdx.x);
    int32_t const tm = tid / 16;
    int32_t const tn = tid % 16;

    Gather gather;
    gather.init(geo, input, shared.table, stage, nTile, tid);

    int64_t const packedRow = static_cast<int64_t>(geo.taps) * geo.paddedCin;
    int32_t const rowsLeft = geo.coutPerGroup - mTile * kBM;
    T const* packedTile = packed + (static_cast<int64_t>(group) * geo.coutPerGroup + mTile * kBM) * packedRow;

    // The next weight tile travels in registers across the multiply.
    AccT weights[Cfg::kWEIGHTS];
    auto fetchWeights = [&](int32_t kTile, int32_t) {
#pragma unroll
        for (int32_t it = 0; it < Cfg::kWEIGHTS; ++it)
        {
            int32_t const e = tid + it * Cfg::kTHREADS;
            int32_t const row = e / Cfg::kBK;
            int32_t const k = e % Cfg::kBK;
            weights[it] = row < rowsLeft
                ? convertTo<AccT>(packedTile[row * packedRow + static_cast<int64_t>(kTile) * Cfg::kBK + k])
                : AccT(0);
        }
    };
    auto storeWeights = [&](int32_t, int32_t buffer) {
#pragma unroll
        for (int32_t it = 0; it < Cfg::kWEIGHTS; ++it)
        {
            int32_t const e = tid + it * Cfg::kTHREADS;
            sA[buffer][e % Cfg::kBK][e / Cfg::kBK] = weights[it];
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
    auto multiply = [&](int32_t buffer, int32_t half) {
#pragma unroll
        for (int32_t kh = 0; kh < Cfg::kBK / 2; ++kh)
        {
            int32_t const k = half * (Cfg::kBK / 2) + kh;
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
    };
    auto emit = [&](int32_t buffer, int32_t pixel, int32_t column, AccT const (&v)[Gather::kRUN]) {
#pragma unroll
        for (int32_t c = 0; c < Gather::kRUN; ++c)
        {
            sB[buffer][column + c][pixel] = v[c];
        }
    };
    columnKLoop<Cfg::kBK>(
        geo, offset, mask, group, tid, gather, shared.table, fetchWeights, storeWeights, multiply, emit);

    int64_t columnBase[Cfg::kTN];
#pragma unroll
    for (int32_t j = 0; j < Cfg::kTN; ++j)
    {
        int32_t const pixel = tilePixel(geo, nTile, (j / 4) * (Cfg::kBN / 2) + tn * 4 + (j % 4));
        int32_t const n = pixel / geo.outPlane;
        int32_t const r = pixel - n * geo.outPlane;
        columnBase[j] = pixel >= 0 ? static_cast<int64_t>(n) * geo.outChannels * geo.outPlane + r : -1;
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
    geo.batch = static_cast<int32_t>(p.batch);
    geo.outHeight = static_cast<int32_t>(p.outHeight);
    if constexpr (kTILE_WIDTH > 0)
    {
        geo.tilesX = static_cast<int32_t>((p.outWidth + kBLOCK_WIDTH - 1) / kBLOCK_WIDTH);
        geo.tilesPerImage = geo.tilesX * static_cast<int32_t>((p.outHeight + kBLOCK_HEIGHT - 1) / kBLOCK_HEIGHT);
    }
    geo.hasMask = p.hasMask;
    geo.hasBias = p.hasBias;
    geo.inputImageStride = p.inChannels * p.height * p.width;
    geo.offsetImageStride = static_cast<int64_t>(p.offsetGroups) * geo.taps * 2 * geo.outPlane;
    geo.maskImageStride = static_cast<int64_t>(p.offsetGroups) * geo.taps * geo.outPlane;
    return geo;
}

//! The emulated build (a host compiler, no __CUDACC__) has no device to ask: it assumes sm_90's
//! shared-memory limit, and the compute capability cuda_emulator.h states
//! (TRTOPS_EMULATED_COMPUTE_MAJOR); its tests also build as sm_86 and sm_75 to reach the
//! fallbacks.
#ifndef TRTOPS_DCN_EMULATED_SHARED_LIMIT
#define TRTOPS_DCN_EMULATED_SHARED_LIMIT (227 * 1024)
#endif

//! What the launcher needs to know of the current device.
struct DeviceLimits
{
    int64_t sharedBytes{0}; //!< the most dynamic shared memory a block may opt into
    int32_t computeMajor{0};
    int64_t sharedPerSm{0};      //!< shared memory of an SM at the largest carveout (kPREFER_L1)
    int64_t reservedPerBlock{0}; //!< shared memory the system reserves per block (kPREFER_L1)
};

Status queryDeviceLimits(DeviceLimits& limits)
{
#if defined(__CUDACC__)
    int device = 0;
    TRTOPS_RETURN_IF_ERROR(cudaStatus(cudaGetDevice(&device), "deform_conv2d: cudaGetDevice"));
    int optin = 0;
    TRTOPS_RETURN_IF_ERROR(cudaStatus(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
        "deform_conv2d: cudaDeviceGetAttribute(MaxSharedMemoryPerBlockOptin)"));
    int major = 0;
    TRTOPS_RETURN_IF_ERROR(cudaStatus(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
        "deform_conv2d: cudaDeviceGetAttribute(ComputeCapabilityMajor)"));
    limits.sharedBytes = optin;
    limits.computeMajor = major;
    if constexpr (kPREFER_L1)
    {
        int perSm = 0;
        TRTOPS_RETURN_IF_ERROR(
            cudaStatus(cudaDeviceGetAttribute(&perSm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device),
                "deform_conv2d: cudaDeviceGetAttribute(MaxSharedMemoryPerMultiprocessor)"));
        int reserved = 0;
        TRTOPS_RETURN_IF_ERROR(
            cudaStatus(cudaDeviceGetAttribute(&reserved, cudaDevAttrReservedSharedMemoryPerBlock, device),
                "deform_conv2d: cudaDeviceGetAttribute(ReservedSharedMemoryPerBlock)"));
        limits.sharedPerSm = perSm;
        limits.reservedPerBlock = reserved;
    }
#else
    limits.sharedBytes = TRTOPS_DCN_EMULATED_SHARED_LIMIT;
    limits.computeMajor = TRTOPS_EMULATED_COMPUTE_MAJOR;
#endif
    return Status::ok();
}

//! Lets `kernel` launch with `bytes` of dynamic shared memory (an opt-in above 48 KiB). The
//! attribute belongs to the current device, so it is set on every call: a host-side call, no
//! synchronisation, fine inside stream capture.
template <typename Kernel>
Status allowDynamicShared(Kernel kernel, size_t bytes, char const* what)
{
#if defined(__CUDACC__)
    if (bytes > 48 * 1024)
    {
        return cudaStatus(
            cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), what);
    }
#else
    static_cast<void>(kernel);
    static_cast<void>(bytes);
    static_cast<void>(what);
#endif
    return Status::ok();
}

//! The carveout (percent of the SM's shared memory at its largest) that holds `blocksPerSm` blocks
//! of `bytesPerBlock` dynamic shared memory each, rounded up; 100 when they need all of it.
constexpr int32_t carveoutPercent(
    int32_t blocksPerSm, int64_t bytesPerBlock, int64_t reservedPerBlock, int64_t sharedPerSm)
{
    int64_t const needed = blocksPerSm * (bytesPerBlock + reservedPerBlock);
    int64_t const percent = (100 * needed + sharedPerSm - 1) / sharedPerSm;
    return static_cast<int32_t>(percent < 100 ? percent : 100);
}
// sm_90 (228 KiB per SM, 1 KiB reserved per block): one block of 138 KiB (the 256-row kernel)
// needs 61%, two of 60 KiB 54%, two of 120 KiB more than the SM has (100).
static_assert(carveoutPercent(1, 138 * 1024, 1024, 228 * 1024) == 61, "carveoutPercent");
static_assert(carveoutPercent(2, 60 * 1024, 1024, 228 * 1024) == 54, "carveoutPercent");
static_assert(carveoutPercent(2, 120 * 1024, 1024, 228 * 1024) == 100, "carveoutPercent");

//! kPREFER_L1: asks the driver for the smallest carveout that holds `blocksPerSm` blocks of
//! `bytes` (a preference: the driver rounds up to a carveout the GPU has). Host-side, no
//! synchronisation, set on every call like the opt-in above.
template <typename Kernel>
Status preferL1(Kernel kernel, int32_t blocksPerSm, size_t bytes, DeviceLimits const& limits, char const* what)
{
#if defined(__CUDACC__)
    if constexpr (kPREFER_L1)
    {
        if (limits.sharedPerSm > 0)
        {
            int32_t const percent = carveoutPercent(
                blocksPerSm, static_cast<int64_t>(bytes), limits.reservedPerBlock, limits.sharedPerSm);
            return cudaStatus(
                cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, percent), what);
        }
    }
#endif
    static_cast<void>(kernel);
    static_cast<void>(blocksPerSm);
    static_cast<void>(bytes);
    static_cast<void>(limits);
    static_cast<void>(what);
    return Status::ok();
}

template <typename T, int32_t kBM, bool kTENSOR, bool kSPLIT = false>
using KernelConfig = std::conditional_t<kTENSOR, MmaConfig<T, kBM, kSPLIT>, SimtConfig<T, kBM>>;

//! Dynamic shared memory of a kernel configuration with `stagedPasses` gather passes staged.
template <typename Cfg>
constexpr int64_t sharedBytes(int32_t stagedPasses)
{
    return static_cast<int64_t>(sizeof(typename Cfg::Shared))
        + static_cast<int64_t>(Cfg::kDEPTH) * stagedPasses * Cfg::Gather::kSTAGE_PASS_BYTES;
}

//! The most gather passes of Cfg that can be staged within `limit` bytes of shared memory; -1
//! when not even the unstaged kernel fits.
template <typename Cfg>
constexpr int32_t stagedPassesWithin(int64_t limit)
{
    for (int32_t passes = Cfg::Gather::kPASSES; passes >= 0; --passes)
    {
        if (sharedBytes<Cfg>(passes) <= limit)
        {
            return passes;
        }
    }
    return -1;
}

//! kSPLIT: the tensor-core kernel's split-TF32 float32 form (kTENSOR only).
template <typename T, int32_t kBM, bool kTENSOR, bool kSPLIT = false>
Status launchMain(Geometry geo, int32_t groups, DeviceLimits const& limits, T const* input, T const* offset,
    T const* mask, T const* packed, T const* bias, T* output, cudaStream_t stream)
{
    int64_t const sharedLimit = limits.sharedBytes;
    using Cfg = KernelConfig<T, kBM, kTENSOR, kSPLIT>;
    geo.mTiles = (geo.coutPerGroup + kBM - 1) / kBM;
    int64_t const nTiles = pixelTiles(geo);
    int64_t const blocks = nTiles * geo.mTiles;
    if (blocks > std::numeric_limits<int32_t>::max() || groups > 65535)
    {
        return unsupported("deform_conv2d: the launch grid is too large (", blocks, " tiles, groups=", groups, ")");
    }
    geo.stagedPasses = stagedPassesWithin<Cfg>(sharedLimit);
    if (geo.stagedPasses < 0)
    {
        return unsupported("deform_conv2d: the kernel needs ", sharedBytes<Cfg>(0),
            " bytes of shared memory per block; the device allows ", sharedLimit);
    }
    size_t const bytes = static_cast<size_t>(sharedBytes<Cfg>(geo.stagedPasses));
    dim3 const grid(static_cast<uint32_t>(blocks), 1, static_cast<uint32_t>(groups));
    constexpr int32_t kTHREADS = Cfg::kTHREADS;
    if constexpr (kTENSOR)
    {
        TRTOPS_RETURN_IF_ERROR(allowDynamicShared(deformConvMmaKernel<T, kBM, kSPLIT>, bytes,
            "deform_conv2d: cudaFuncSetAttribute(deformConvMmaKernel)"));
        TRTOPS_RETURN_IF_ERROR(preferL1(deformConvMmaKernel<T, kBM, kSPLIT>, Cfg::kMIN_BLOCKS, bytes, limits,
            "deform_conv2d: cudaFuncSetAttribute(deformConvMmaKernel, PreferredSharedMemoryCarveout)"));
        deformConvMmaKernel<T, kBM, kSPLIT>
            <<<grid, kTHREADS, bytes, stream>>>(geo, input, offset, mask, packed, bias, output);
        return lastLaunchStatus("deformConvMmaKernel");
    }
    else
    {
        TRTOPS_RETURN_IF_ERROR(allowDynamicShared(
            deformConvSimtKernel<T, kBM>, bytes, "deform_conv2d: cudaFuncSetAttribute(deformConvSimtKernel)"));
        TRTOPS_RETURN_IF_ERROR(preferL1(deformConvSimtKernel<T, kBM>, Cfg::kMIN_BLOCKS, bytes, limits,
            "deform_conv2d: cudaFuncSetAttribute(deformConvSimtKernel, PreferredSharedMemoryCarveout)"));
        deformConvSimtKernel<T, kBM><<<grid, kTHREADS, bytes, stream>>>(geo, input, offset, mask, packed, bias, output);
        return lastLaunchStatus("deformConvSimtKernel");
    }
}

// The output-channel tile is the smallest that holds a group's channels (each sampled column
// then feeds as many output channels as possible, without empty rows), within the device's
// shared memory (256 rows need ~74 KiB without a stage, split float32 ~114 KiB; sm_75 allows
// 64 KiB per block, sm_86/sm_89 99 KiB).

template <typename T, bool kSPLIT>
Status launchTensorCores(Geometry const& geo, int32_t groups, DeviceLimits const& limits, T const* input,
    T const* offset, T const* mask, T const* packed, T const* bias, T* output, cudaStream_t stream)
{
    int64_t const sharedLimit = limits.sharedBytes;
    if (kMAX_TILE_ROWS >= 256 && geo.coutPerGroup > 128
        && stagedPassesWithin<MmaConfig<T, 256, kSPLIT>>(sharedLimit) >= 0)
    {
        return launchMain<T, 256, true, kSPLIT>(
            geo, groups, limits, input, offset, mask, packed, bias, output, stream);
    }
    if (kMAX_TILE_ROWS >= 128 && geo.coutPerGroup > 64
        && stagedPassesWithin<MmaConfig<T, 128, kSPLIT>>(sharedLimit) >= 0)
    {
        return launchMain<T, 128, true, kSPLIT>(
            geo, groups, limits, input, offset, mask, packed, bias, output, stream);
    }
    return launchMain<T, 64, true, kSPLIT>(geo, groups, limits, input, offset, mask, packed, bias, output, stream);
}

template <typename T>
Status launchFfma(Geometry const& geo, int32_t groups, DeviceLimits const& limits, T const* input, T const* offset,
    T const* mask, T const* packed, T const* bias, T* output, cudaStream_t stream)
{
    int64_t const sharedLimit = limits.sharedBytes;
    // fp64 keeps 64 rows: 128 would not fit the registers.
    if constexpr (sizeof(T) == 4)
    {
        if (geo.coutPerGroup > 64 && stagedPassesWithin<SimtConfig<T, 128>>(sharedLimit) >= 0)
        {
            return launchMain<T, 128, false>(geo, groups, limits, input, offset, mask, packed, bias, output, stream);
        }
    }
    return launchMain<T, 64, false>(geo, groups, limits, input, offset, mask, packed, bias, output, stream);
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
    int64_t const packedTotal = deform::packedWeightsPlane(p);
    int64_t const packBlocks = std::min<int64_t>((packedTotal + kPACK_THREADS - 1) / kPACK_THREADS, 4096);
    DeviceLimits limits;
    TRTOPS_RETURN_IF_ERROR(queryDeviceLimits(limits));
    // float16/bfloat16 always multiply on the tensor-core kernel (bfloat16 on its FFMA fallback
    // before sm_80); float32 does where the GPU has TF32 (sm_80+): rounded to TF32 when allowed,
    // else split into TF32 pairs (unless built with TRTOPS_DCN_SPLIT_TF32=0: FFMA).
    constexpr bool kSIXTEEN_BIT = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
    bool const hasTf32 = std::is_same_v<T, float> && limits.computeMajor >= 8;
    WeightForm form = WeightForm::kAS_IS;
    if (hasTf32 && p.allowTf32)
    {
        form = WeightForm::kTF32;
    }
    else if (hasTf32 && deform::kFLOAT32_ON_SPLIT_TF32)
    {
        form = WeightForm::kSPLIT_TF32;
    }
    packWeightsKernel<T><<<static_cast<uint32_t>(packBlocks), kPACK_THREADS, 0, stream>>>(
        weight, packed, packedTotal, geo.cinPerGroup, geo.taps, geo.paddedCin, form);
    TRTOPS_RETURN_IF_ERROR(lastLaunchStatus("packWeightsKernel"));

    if constexpr (kSIXTEEN_BIT)
    {
        return launchTensorCores<T, false>(
            geo, p.groups, limits, input, offset, mask, packed, bias, output, stream);
    }
    else
    {
        if constexpr (std::is_same_v<T, float>)
        {
            if (form == WeightForm::kTF32)
            {
                return launchTensorCores<T, false>(
                    geo, p.groups, limits, input, offset, mask, packed, bias, output, stream);
            }
            if (form == WeightForm::kSPLIT_TF32)
            {
                return launchTensorCores<T, true>(
                    geo, p.groups, limits, input, offset, mask, packed, bias, output, stream);
            }
        }
        return launchFfma<T>(geo, p.groups, limits, input, offset, mask, packed, bias, output, stream);
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
