//! \file nms.cu
//! CUDA implementation of nmsForward: everything queued on one stream, nothing read back.
//!
//! Pipeline (N boxes, C = 4096):
//!  1. scoreKeysKernel: one sortable key per box (invalid key for non-candidates) + candidate count;
//!     it also clears the suppression bitmap and the tile flags (fewer launches for small N).
//!  2. CUB radix sort of (key, index): candidate order ("order1"); candidates form its prefix.
//!  3. batched only: classKeysKernel + second (stable) CUB sort by class: class-major order.
//!  4. gatherBoxesKernel: boxes and areas in processing order, converted to the compute type.
//!  5. per chunk of C sorted boxes (sequential over chunks, host loop of launches; nms over more
//!     than C boxes makes the first chunk kFIRST_CHUNK boxes):
//!     compactChunkKernel  (chunks after the first) copies the chunk's live boxes, those no
//!                      earlier chunk suppressed, into a dense list with their positions: the
//!                      mask and the resolve then work on that list (ChunkView), which is
//!                      usually a few 64-box blocks where the chunk spans 64.
//!     chunkMaskKernel  IoU bitmask of the chunk's live boxes in 64 x 64-bit tiles (upper
//!                      triangle, 512 contiguous bytes each): an off-diagonal tile by row, plus a
//!                      "tile is not zero" flag; a diagonal tile by column ("suppressed by" words).
//!     chunkResolveKernel  one CTA of 16 warps walks the chunk's live 64-box blocks in order (blocks
//!                      without a live box are skipped). Warp w owns the words w, w + 16, w + 32,
//!                      w + 48 and folds, per lane, each resolved block's kept rows of its flagged
//!                      tiles into its later words; those tiles are loaded 3 live blocks ahead (the
//!                      addresses do not depend on what is kept). Block k's owner warp then needs
//!                      one warp OR for its removed word and settles all 64 boxes at once from the
//!                      suppressed-by words (a few ballot rounds, however many are kept): one
//!                      barrier per live block, no global load on the serial path.
//!     suppressLater*Kernel  every later box is tested against the chunk's kept boxes, staged in
//!                      shared memory (short tails of later boxes split the kept list over several
//!                      warps; early exit at the first suppressor), bits set in a suppression bitmap.
//!     Work is ~ (N x C / 2) mask tests + (kept x remaining) tests, memory is bounded by C.
//!  6. ordered compaction (two kernels) in score order, count, -1 padding.
//! Small inputs (up to kSMALL_BOXES boxes) run stage 6 in one CTA; for nms with float32/float16
//! scores also stages 1, 2 and 4 (smallFrontKernel): 2 launches plus 3 per chunk (2 for the last)
//! and 1 per compacted chunk, 8 for 5000 boxes, where the general path takes 16.
#include "core/numeric.cuh"
#include "core/status.h"
#include "nms/nms.h"
#include "nms/nms_math.cuh"
#include "nms/nms_workspace.h"

#include <cub/block/block_radix_sort.cuh>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <cstdint>

namespace trtops
{
namespace nms
{
namespace
{

constexpr uint32_t kFULL_MASK = 0xFFFFFFFFU;
constexpr int32_t kKEYS_THREADS = 256;
constexpr int32_t kSUPPRESS_THREADS = 256;
constexpr int32_t kSUPPRESS_WARPS = kSUPPRESS_THREADS / 32;
constexpr int32_t kKEPT_BATCH = 512;
//! suppressLaterKernel splits the kept list over more warps (slices) while later boxes x slices
//! stay under this many threads (about what a large GPU runs at once). The emulation test also
//! builds with 0 (one warp per 32 later boxes, as for large inputs).
#ifndef TRTOPS_NMS_SUPPRESS_SPREAD
#define TRTOPS_NMS_SUPPRESS_SPREAD (128 * 1024)
#endif
constexpr int64_t kSUPPRESS_SPREAD = TRTOPS_NMS_SUPPRESS_SPREAD;
constexpr int32_t kCOMPACT_THREADS = 256;
constexpr int32_t kCOMPACT_ITEMS = kCOMPACT_TILE / kCOMPACT_THREADS;
//! Inputs of up to kSMALL_BOXES boxes take one-CTA kernels: for nms with float32/float16 scores,
//! smallFrontKernel does the keys, the sort and the gather in one launch, where the general path
//! queues a memset, the key kernel, CUB's device-wide radix sort (a histogram kernel and four
//! passes) and the gather; and for nms and batched_nms one CTA compacts the kept indices
//! (writeKeptKernel over a single tile) instead of a count and a write kernel. At a few thousand
//! boxes every launch is a few microseconds of a NMS that takes a hundred or two.
//! TRTOPS_NMS_SMALL_BOXES (at most kSMALL_THREADS x kSMALL_MAX_ITEMS) lowers the bound; 0 turns the
//! path off, so that one GPU session can time both paths (benchmarks/gpu_session.sh,
//! VARIANT_CUDA_FLAGS).
constexpr int32_t kSMALL_THREADS = 1024;
constexpr int32_t kSMALL_MAX_ITEMS = 8;
#ifndef TRTOPS_NMS_SMALL_BOXES
#define TRTOPS_NMS_SMALL_BOXES (kSMALL_THREADS * kSMALL_MAX_ITEMS)
#endif
constexpr int32_t kSMALL_BOXES = TRTOPS_NMS_SMALL_BOXES;
static_assert(kSMALL_BOXES >= 0 && kSMALL_BOXES <= kSMALL_THREADS * kSMALL_MAX_ITEMS, "TRTOPS_NMS_SMALL_BOXES");
//! Chunks after the first are compacted to their live boxes before their mask and resolve
//! (compactChunkKernel). Once the first chunk's kept boxes have suppressed their neighbours few
//! boxes of a later chunk are left, but they are spread over nearly all of its 64-box blocks:
//! for 20k boxes drawn as the benchmark's (benchmarks/nms_chunk_model.py, a CPU model), the 758
//! live boxes of chunks 1-4 lie in 222 live blocks, each a serial step of the resolve; compacted
//! they fill 14. TRTOPS_NMS_COMPACT_CHUNKS=0 resolves chunks in place (timing A/B).
#ifndef TRTOPS_NMS_COMPACT_CHUNKS
#define TRTOPS_NMS_COMPACT_CHUNKS 1
#endif
constexpr bool kCOMPACT_CHUNKS = TRTOPS_NMS_COMPACT_CHUNKS != 0;
//! With compacted chunks, nms (not batched) over more than kCHUNK boxes makes its first chunk
//! this short: the top-scored boxes alone suppress most of the rest, and every later chunk is
//! compacted, so fewer serial blocks remain. In benchmarks/nms_chunk_model.py's model of the
//! benchmark's boxes, 65 serial blocks become 22 at 5k boxes and 78 become 44 at 20k (one more
//! chunk there). batched_nms keeps most of its boxes (classes do not suppress each other): an
//! extra chunk would only cost.
#ifndef TRTOPS_NMS_FIRST_CHUNK
#define TRTOPS_NMS_FIRST_CHUNK 1024
#endif
constexpr int32_t kFIRST_CHUNK = TRTOPS_NMS_FIRST_CHUNK;
static_assert(kFIRST_CHUNK % 64 == 0 && kFIRST_CHUNK > 0 && kFIRST_CHUNK <= kCHUNK, "TRTOPS_NMS_FIRST_CHUNK");
constexpr int32_t kCOMPACT_CHUNK_THREADS = 1024;
constexpr int32_t kCOMPACT_CHUNK_ITEMS = kCHUNK / kCOMPACT_CHUNK_THREADS;

int64_t ceilDiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

// ----- The launch chain ------------------------------------------------------------------------
// nms is a chain of 8 (5k boxes) to ~30 (20k) short kernels, each depending on the one before,
// and at that length the gap between one kernel's end and the next one's start (the launch of a
// dependent grid) is a sizeable share of the time. On sm_90+ every kernel after the first is
// launched as a programmatic dependent launch (launchChained): its blocks may be scheduled while
// the kernel before it still runs, and wait in beginChainedKernel() until that kernel has
// finished and its writes are visible, so the launch overlaps the previous kernel instead of
// following it. Every kernel of this file starts with beginChainedKernel(), before it touches
// memory (tests/kernels/test_nms_source.py checks); elsewhere (a plain launch, before sm_90, the
// CUDA emulation) it does nothing.
// TRTOPS_NMS_PROGRAMMATIC_LAUNCH=0 launches every kernel plainly (timing A/B, benchmarks/sweep.py).
#ifndef TRTOPS_NMS_PROGRAMMATIC_LAUNCH
#define TRTOPS_NMS_PROGRAMMATIC_LAUNCH 1
#endif

//! Waits until the kernels this one was launched after have finished and their writes are
//! visible, then lets the next kernel of the chain be scheduled (one grid waits ahead at most).
__device__ __forceinline__ void beginChainedKernel()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

//! Whether kernels go out as programmatic dependent launches: sm_90+ (the attribute is Hopper's)
//! in an nvcc build with the switch on; under stream capture (CUDA graphs, e.g. TensorRT's) only
//! with a driver that records programmatic edges in graphs (CUDA 12.3+). Host calls only: no
//! synchronization, allowed during capture.
Status programmaticLaunchSupported(cudaStream_t stream, bool& supported)
{
    supported = false;
#if defined(__NVCC__)
    if (TRTOPS_NMS_PROGRAMMATIC_LAUNCH)
    {
        int device = 0;
        TRTOPS_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
        int major = 0;
        TRTOPS_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
        supported = major >= 9;
        cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
        TRTOPS_CUDA_RETURN_IF_ERROR(cudaStreamIsCapturing(stream, &capture));
        if (supported && capture != cudaStreamCaptureStatusNone)
        {
            int driver = 0;
            TRTOPS_CUDA_RETURN_IF_ERROR(cudaDriverGetVersion(&driver));
            supported = driver >= 12030;
        }
    }
#else
    static_cast<void>(stream);
#endif
    return Status::ok();
}

//! Launches kernel<<<grid, block, 0, stream>>>(args...) after the work queued before it: as a
//! programmatic dependent launch when `programmatic` (see above), else plainly.
template <typename... Params, typename... Args>
Status launchChained(bool programmatic, char const* name, void (*kernel)(Params...), uint32_t grid, uint32_t block,
    cudaStream_t stream, Args... args)
{
#if defined(__NVCC__)
    if (programmatic)
    {
        cudaLaunchAttribute attribute{};
        attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attribute.val.programmaticStreamSerializationAllowed = 1;
        cudaLaunchConfig_t config{};
        config.gridDim = dim3(grid);
        config.blockDim = dim3(block);
        config.dynamicSmemBytes = 0;
        config.stream = stream;
        config.attrs = &attribute;
        config.numAttrs = 1;
        return cudaStatus(cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...), name);
    }
#else
    static_cast<void>(programmatic);
#endif
    kernel<<<grid, block, 0, stream>>>(static_cast<Params>(args)...);
    return lastLaunchStatus(name);
}

//! Where and how nmsForward queues its work.
struct Queue
{
    cudaStream_t stream;
    bool programmatic; //!< launchChained's mode for every kernel after the first
};

__device__ __forceinline__ bool bitSet(uint32_t const* words, int32_t position)
{
    return (words[position >> 5] >> (position & 31)) & 1U;
}

//! Also clears the suppression bitmap and the tile flags (instead of two more memsets: at 5k
//! boxes the whole NMS is a few dozen microseconds of short kernels).
template <typename S, typename K>
__global__ void __launch_bounds__(kKEYS_THREADS) scoreKeysKernel(S const* scores, int32_t numBoxes,
    bool hasScoreThreshold, double scoreThreshold, K* keys, int32_t* values, int32_t* counters,
    uint32_t* suppressWords, uint64_t* tileFlags)
{
    beginChainedKernel();
    int32_t const i = blockIdx.x * kKEYS_THREADS + threadIdx.x;
    if (blockIdx.x == 0 && threadIdx.x < kCHUNK_WORDS)
    {
        // Each chunk's resolve clears what its mask kernel set, so one clear up front suffices.
        tileFlags[threadIdx.x] = 0;
    }
    bool valid = false;
    if (i < numBoxes)
    {
        if ((i & 31) == 0)
        {
            suppressWords[i >> 5] = 0;
        }
        K const key = scoreKey(scores[i], hasScoreThreshold, scoreThreshold);
        keys[i] = key;
        values[i] = i;
        valid = key != invalidKey<K>();
    }
    int32_t const count = __syncthreads_count(valid);
    if (threadIdx.x == 0 && count > 0)
    {
        atomicAdd(&counters[kNUM_VALID], count);
    }
}

template <typename I>
__global__ void __launch_bounds__(kKEYS_THREADS) classKeysKernel(I const* classIdxs, int32_t const* order,
    int32_t numBoxes, uint64_t invalidClass, int32_t const* counters, uint64_t* keys, int32_t* values)
{
    beginChainedKernel();
    int32_t const p = blockIdx.x * kKEYS_THREADS + threadIdx.x;
    if (p < numBoxes)
    {
        int32_t const index = order[p];
        values[p] = index;
        keys[p] = p < counters[kNUM_VALID] ? classKey(classIdxs[index]) : invalidClass;
    }
}

//! Box `index` (of type T) at `position` of the processing order: converted to the compute type,
//! with its area.
template <typename T>
__device__ __forceinline__ void gatherBox(void const* boxes, int32_t index, int32_t position, void* sorted, void* areas)
{
    using C = typename BoxTraits<T>::Compute;
    Box<C> const box = loadBox(static_cast<T const*>(boxes), index);
    static_cast<Box<C>*>(sorted)[position] = box;
    static_cast<C*>(areas)[position] = boxArea<C, BoxTraits<T>::kHALF_ROUNDING>(box);
}

template <typename T>
__global__ void __launch_bounds__(kKEYS_THREADS) gatherBoxesKernel(T const* boxes, int32_t const* order,
    int32_t numBoxes, Box<typename BoxTraits<T>::Compute>* sorted, typename BoxTraits<T>::Compute* areas)
{
    beginChainedKernel();
    int32_t const q = blockIdx.x * kKEYS_THREADS + threadIdx.x;
    if (q < numBoxes)
    {
        gatherBox<T>(boxes, order[q], q, sorted, areas);
    }
}

//! The one-CTA front of small inputs (see kSMALL_BOXES): the counters, the suppression bitmap and
//! the tile flags cleared; the score keys of up to kSMALL_THREADS x kITEMS boxes sorted in shared
//! memory (CUB's block radix sort, stable like the device sort of the general path: the items go
//! in by box index, so equal keys keep index order and the padding, invalid keys past the last
//! box, sorts after every box); the candidate order written to `order` and the boxes gathered in
//! it. The box type is a run-time switch so that only the sort is instantiated per item count
//! and score type.
template <typename S, int32_t kITEMS>
__global__ void __launch_bounds__(kSMALL_THREADS) smallFrontKernel(S const* scores, void const* boxes,
    DataType boxType, int32_t numBoxes, bool hasScoreThreshold, double scoreThreshold, int32_t* order, void* sorted,
    void* areas, int32_t* counters, uint32_t* suppressWords, uint64_t* tileFlags)
{
    beginChainedKernel();
    using K = typename ScoreKeyOf<S>::type;
    static_assert(sizeof(K) == 4, "the one-CTA front sorts 32-bit score keys");
    using Sort = cub::BlockRadixSort<K, kSMALL_THREADS, kITEMS, int32_t>;
    __shared__ typename Sort::TempStorage storage;
    __shared__ int32_t sNumValid;
    int32_t const tid = threadIdx.x;
    if (tid == 0)
    {
        sNumValid = 0;
    }
    if (tid < kCHUNK_WORDS)
    {
        tileFlags[tid] = 0;
    }
    for (int32_t w = tid; w < (numBoxes + 31) / 32; w += kSMALL_THREADS)
    {
        suppressWords[w] = 0;
    }
    K keys[kITEMS];
    int32_t values[kITEMS];
    int32_t valid = 0;
#pragma unroll
    for (int32_t k = 0; k < kITEMS; ++k)
    {
        int32_t const i = tid * kITEMS + k;
        values[k] = i;
        keys[k] = i < numBoxes ? scoreKey(scores[i], hasScoreThreshold, scoreThreshold) : invalidKey<K>();
        valid += keys[k] != invalidKey<K>() ? 1 : 0;
    }
    __syncthreads();
    if (valid > 0)
    {
        atomicAdd(&sNumValid, valid);
    }
    Sort(storage).SortBlockedToStriped(keys, values);
    // Striped: item k of thread tid is position k * kSMALL_THREADS + tid (coalesced writes).
#pragma unroll
    for (int32_t k = 0; k < kITEMS; ++k)
    {
        int32_t const position = k * kSMALL_THREADS + tid;
        if (position < numBoxes)
        {
            order[position] = values[k];
            switch (boxType)
            {
            case DataType::kFLOAT16: gatherBox<__half>(boxes, values[k], position, sorted, areas); break;
            case DataType::kFLOAT64: gatherBox<double>(boxes, values[k], position, sorted, areas); break;
            default: gatherBox<float>(boxes, values[k], position, sorted, areas); break;
            }
        }
    }
    __syncthreads(); // every atomicAdd before the read (not left to the sort's own barriers)
    if (tid < kNUM_COUNTERS)
    {
        counters[tid] = tid == kNUM_VALID ? sNumValid : 0;
    }
}

//! Offset (in words) of mask tile (rowBlock, colBlock) of the chunk: 64 consecutive words, one per
//! row for an off-diagonal tile, one per column for a diagonal tile (see chunkMaskKernel).
__device__ __forceinline__ int64_t tileOffset(int32_t rowBlock, int32_t colBlock)
{
    return (static_cast<int64_t>(rowBlock) * kCHUNK_WORDS + colBlock) * 64;
}

//! The elements of one chunk as its mask and resolve kernels number them: element i is the box at
//! sorted position position(i).
//! - In place (positions == nullptr): the chunk's own range of sorted positions; element i is live
//!   when it is a candidate and not suppressed by an earlier chunk (suppressWords).
//! - Compacted (compactChunkKernel): the live boxes only, in order; counters[kCHUNK_LIVE] of them.
struct ChunkRange
{
    int32_t base;   //!< sorted position of the chunk's first box
    int32_t length; //!< boxes in the chunk's range of sorted positions
    int32_t const* positions;

    //! Elements [0, count) may be live, the rest are not; in place, element i also needs its
    //! suppression bit clear (live()).
    __device__ int32_t count(int32_t const* counters) const
    {
        return positions != nullptr ? counters[kCHUNK_LIVE] : max(0, min(length, counters[kNUM_VALID] - base));
    }
    __device__ bool live(int32_t i, int32_t count, uint32_t const* suppressWords) const
    {
        return i < count && (positions != nullptr || !bitSet(suppressWords, base + i));
    }
    __device__ int32_t position(int32_t i) const
    {
        return positions != nullptr ? positions[i] : base + i;
    }
};

//! A chunk's elements with their boxes: element i is boxes[i], areas[i] (classes[i], batched).
template <typename C>
struct ChunkView
{
    Box<C> const* boxes;
    C const* areas;
    uint64_t const* classes;
    ChunkRange range;
};

//! One CTA copies the live boxes of the chunk at sorted positions [chunkBase, chunkBase +
//! chunkLength) (live as ChunkRange::live has it in place; none once maxOutputBoxes is reached)
//! into the live arrays, in order, with their positions, and their count into
//! counters[kCHUNK_LIVE]. Thread t takes elements kCOMPACT_CHUNK_ITEMS t .. (blocked, so that
//! the exclusive scan of the counts keeps the order).
template <typename C, bool kBATCHED>
__global__ void __launch_bounds__(kCOMPACT_CHUNK_THREADS) compactChunkKernel(Box<C> const* boxes, C const* areas,
    uint64_t const* classes, int32_t chunkBase, int32_t chunkLength, uint32_t const* suppressWords, int32_t* counters,
    Box<C>* liveBoxes, C* liveAreas, uint64_t* liveClasses, int32_t* livePositions)
{
    beginChainedKernel();
    using Scan = cub::BlockScan<int32_t, kCOMPACT_CHUNK_THREADS>;
    __shared__ typename Scan::TempStorage scanStorage;
    ChunkRange const inPlace{chunkBase, chunkLength, nullptr};
    int32_t const candidates = counters[kDONE] != 0 ? 0 : inPlace.count(counters);
    int32_t const first = static_cast<int32_t>(threadIdx.x) * kCOMPACT_CHUNK_ITEMS;
    bool live[kCOMPACT_CHUNK_ITEMS];
    int32_t count = 0;
#pragma unroll
    for (int32_t k = 0; k < kCOMPACT_CHUNK_ITEMS; ++k)
    {
        live[k] = inPlace.live(first + k, candidates, suppressWords);
        count += live[k] ? 1 : 0;
    }
    int32_t slot = 0;
    int32_t total = 0;
    Scan(scanStorage).ExclusiveSum(count, slot, total);
#pragma unroll
    for (int32_t k = 0; k < kCOMPACT_CHUNK_ITEMS; ++k)
    {
        if (live[k])
        {
            int32_t const position = chunkBase + first + k;
            liveBoxes[slot] = boxes[position];
            liveAreas[slot] = areas[position];
            if (kBATCHED)
            {
                liveClasses[slot] = classes[position];
            }
            livePositions[slot] = position;
            ++slot;
        }
    }
    if (threadIdx.x == 0)
    {
        counters[kCHUNK_LIVE] = total;
    }
}

//! Block t of a 1D grid, 64 threads, fills mask tile (rowBlock, colBlock) of the chunk, where t
//! enumerates the upper triangle column by column (t = colBlock (colBlock + 1) / 2 + rowBlock):
//! - off the diagonal, thread t writes the word of row rowBlock * 64 + t (bit i: IoU with column
//!   colBlock * 64 + i above threshold); a tile with any bit set also sets bit colBlock of
//!   tileFlags[rowBlock], so the resolve loads only tiles that can suppress something;
//! - on the diagonal, thread t writes the word of column t: bit i set when row i < t (an earlier
//!   box of the same 64) suppresses box t. The resolve settles all 64 boxes at once from these
//!   "suppressed-by" words.
//! Tiles without a live row (suppressed by an earlier chunk, not a candidate, past
//! maxOutputBoxes) are not written at all: the resolve reads neither a diagonal tile of a word
//! without live boxes nor an unflagged tile.
template <typename C, bool kHALF_ROUNDING, bool kBATCHED>
__global__ void __launch_bounds__(64) chunkMaskKernel(ChunkView<C> const view, C threshold,
    uint32_t const* suppressWords, int32_t const* counters, uint64_t* mask, uint64_t* tileFlags)
{
    beginChainedKernel();
    int32_t const tile = blockIdx.x;
    // colBlock = floor((sqrt(8 t + 1) - 1) / 2), the estimate corrected for rounding.
    int32_t colBlock = static_cast<int32_t>((sqrtf(8.0F * static_cast<float>(tile) + 1.0F) - 1.0F) * 0.5F);
    while (colBlock * (colBlock + 1) / 2 > tile)
    {
        --colBlock;
    }
    while ((colBlock + 1) * (colBlock + 2) / 2 <= tile)
    {
        ++colBlock;
    }
    int32_t const rowBlock = tile - colBlock * (colBlock + 1) / 2;
    if (counters[kDONE] != 0)
    {
        // maxOutputBoxes reached: the resolve reads no mask.
        return;
    }
    __shared__ Box<C> sBoxes[64];
    __shared__ C sAreas[64];
    __shared__ uint64_t sClasses[64];

    bool const diagonal = colBlock == rowBlock;
    int32_t const count = view.range.count(counters);
    int32_t const row = rowBlock * 64 + static_cast<int32_t>(threadIdx.x);
    int32_t const colStart = colBlock * 64;
    // Columns past count are never candidates: a tile without any is not needed.
    int32_t const colCount = min(64, count - colStart);
    bool active = colCount > 0 && view.range.live(row, count, suppressWords);
    if (kBATCHED && active && !diagonal)
    {
        // Sorted by class: every column here has class >= the first column's.
        active = view.classes[row] >= view.classes[colStart];
    }
    if (!__syncthreads_or(active))
    {
        return;
    }
    if (static_cast<int32_t>(threadIdx.x) < colCount)
    {
        int32_t const col = colStart + threadIdx.x;
        sBoxes[threadIdx.x] = view.boxes[col];
        sAreas[threadIdx.x] = view.areas[col];
        if (kBATCHED)
        {
            sClasses[threadIdx.x] = view.classes[col];
        }
    }
    __syncthreads();
    uint64_t bits = 0;
    if (active)
    {
        Box<C> const mine = view.boxes[row];
        C const myArea = view.areas[row];
        uint64_t const myClass = kBATCHED ? view.classes[row] : 0;
        if (diagonal)
        {
            // This thread is column t: which earlier rows of the block suppress it. The earlier
            // box stays the first operand, as in every other test.
            for (int32_t i = 0; i < static_cast<int32_t>(threadIdx.x); ++i)
            {
                if ((!kBATCHED || sClasses[i] == myClass)
                    && iouAbove<C, kHALF_ROUNDING>(sBoxes[i], sAreas[i], mine, myArea, threshold))
                {
                    bits |= 1ULL << i;
                }
            }
        }
        else
        {
            for (int32_t i = 0; i < colCount; ++i)
            {
                if ((!kBATCHED || sClasses[i] == myClass)
                    && iouAbove<C, kHALF_ROUNDING>(mine, myArea, sBoxes[i], sAreas[i], threshold))
                {
                    bits |= 1ULL << i;
                }
            }
        }
    }
    mask[tileOffset(rowBlock, colBlock) + threadIdx.x] = bits;
    if (!diagonal && __syncthreads_or(bits != 0) && threadIdx.x == 0)
    {
        atomicOr(reinterpret_cast<unsigned long long*>(&tileFlags[rowBlock]), 1ULL << colBlock);
    }
}

//! The resolve: kRESOLVE_WARPS warps; warp w owns the chunk words w, w + 16, w + 32, w + 48.
constexpr int32_t kRESOLVE_THREADS = 512;
constexpr int32_t kRESOLVE_WARPS = kRESOLVE_THREADS / 32;
constexpr int32_t kOWNED_WORDS = kCHUNK_WORDS / kRESOLVE_WARPS;
//! Live blocks whose mask tiles are in flight ahead of their use (a ring of registers).
#ifndef TRTOPS_NMS_RESOLVE_PREFETCH
#define TRTOPS_NMS_RESOLVE_PREFETCH 3
#endif
constexpr int32_t kPREFETCH = TRTOPS_NMS_RESOLVE_PREFETCH;
static_assert(kPREFETCH >= 1, "TRTOPS_NMS_RESOLVE_PREFETCH");

//! OR of a 64-bit value over the warp.
__device__ __forceinline__ uint64_t warpOr(uint64_t value)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    uint32_t const lo = __reduce_or_sync(kFULL_MASK, static_cast<uint32_t>(value));
    uint32_t const hi = __reduce_or_sync(kFULL_MASK, static_cast<uint32_t>(value >> 32));
    return (static_cast<uint64_t>(hi) << 32) | lo;
#else
    int32_t const lane = threadIdx.x & 31;
    for (int32_t offset = 16; offset >= 1; offset >>= 1)
    {
        value |= __shfl_sync(kFULL_MASK, value, lane ^ offset);
    }
    return value;
#endif
}

//! The 64-bit ballot of the predicates of boxes `lane` (bits 0-31) and `lane + 32` (bits 32-63).
__device__ __forceinline__ uint64_t ballot64(bool lo, bool hi)
{
    return static_cast<uint64_t>(__ballot_sync(kFULL_MASK, lo))
        | (static_cast<uint64_t>(__ballot_sync(kFULL_MASK, hi)) << 32);
}

//! Greedy keep among the 64 boxes of one block, all boxes at once (one warp; lane l holds boxes l
//! and l + 32 with their suppressed-by words). A box is settled once every candidate that can
//! suppress it is settled: kept when none of those is kept, suppressed as soon as one is. The
//! lowest unsettled candidate is always settleable, so this ends within 64 rounds, and usually
//! within two or three (a round settles every box whose suppressors are settled).
__device__ __forceinline__ uint64_t resolveBlock(uint64_t removed, uint64_t supLo, uint64_t supHi, int32_t lane)
{
    uint64_t const candidates = ~removed;
    supLo &= candidates;
    supHi &= candidates;
    uint64_t kept = 0;
    uint64_t settled = removed;
    while (settled != ~0ULL)
    {
        bool const openLo = !((settled >> lane) & 1U);
        bool const openHi = !((settled >> (lane + 32)) & 1U);
        bool const hitLo = (supLo & kept) != 0;
        bool const hitHi = (supHi & kept) != 0;
        bool const readyLo = (supLo & ~settled) == 0;
        bool const readyHi = (supHi & ~settled) == 0;
        uint64_t const newlyKept = ballot64(openLo && !hitLo && readyLo, openHi && !hitHi && readyHi);
        uint64_t const newlySuppressed = ballot64(openLo && hitLo, openHi && hitHi);
        kept |= newlyKept;
        settled |= newlyKept | newlySuppressed;
    }
    return kept;
}

//! The lowest `count` set bits of `bits`.
__device__ __forceinline__ uint64_t lowestBits(uint64_t bits, int64_t count)
{
    uint64_t result = 0;
    for (int64_t c = 0; c < count && bits != 0; ++c)
    {
        result |= bits & (~bits + 1);
        bits &= bits - 1;
    }
    return result;
}

//! One CTA resolves one chunk, block after block in score order, skipping the blocks without a
//! live box. Block k's "removed" word is the OR of its initial word (earlier chunks, non-candidates)
//! and the mask tiles (a, k) of every earlier block a, each restricted to the rows kept in a.
//! The owner warp of word k accumulates that per lane as blocks are kept, so when block k's turn
//! comes only the last block's tile is pending: one warp OR, the parallel block resolve, one
//! barrier per live block. The tiles themselves are loaded kPREFETCH live blocks ahead (their
//! addresses do not depend on what is kept), so no global load is on the critical path; the
//! diagonal tiles of the live words are staged in shared memory up front.
//! Blocks and words count the chunk's elements (`range`); what is kept goes out by sorted
//! position (chunkKept, keepWords).
template <bool kBATCHED>
__global__ void __launch_bounds__(kRESOLVE_THREADS) chunkResolveKernel(ChunkRange const range, int32_t numBoxes,
    int64_t maxOutputBoxes, uint32_t const* suppressWords, uint64_t const* mask, uint64_t* tileFlags,
    uint64_t* keepWords, int32_t* chunkKept, int32_t* counters)
{
    beginChainedKernel();
    __shared__ uint64_t sSuppressedBy[kCHUNK_WORDS][64];
    __shared__ uint64_t sInitial[kCHUNK_WORDS];
    __shared__ uint64_t sFlags[kCHUNK_WORDS];
    __shared__ uint64_t sKept[kCHUNK_WORDS];
    __shared__ int32_t sLive[kCHUNK_WORDS];
    __shared__ int32_t sKeptBefore[kCHUNK_WORDS];
    __shared__ int32_t sNumLive;
    __shared__ int32_t sNumKept;
    __shared__ uint64_t sLiveWords;
    __shared__ unsigned long long sKeptAt[kCHUNK_WORDS]; //!< compacted chunks: kept, by position

    int32_t const tid = threadIdx.x;
    int32_t const lane = tid & 31;
    int32_t const warp = tid >> 5;
    // Words of the chunk's positions (and at most as many of elements).
    int32_t const numWords = (range.length + 63) / 64;
    int32_t const wordBase = range.base / 64;
    bool const compacted = range.positions != nullptr;
    bool const done = counters[kDONE] != 0;
    int32_t const keptBefore = counters[kKEPT_SO_FAR];
    int32_t const count = range.count(counters);
    if (tid < kCHUNK_WORDS)
    {
        // Initial removed word: suppressed by earlier chunks (in place), not a candidate, or past
        // the chunk's live elements.
        uint64_t removed = ~0ULL;
        int32_t const live = count - tid * 64;
        if (!done && live > 0)
        {
            removed = 0;
            if (!compacted)
            {
                int32_t const first = range.base + tid * 64;
                removed = suppressWords[first >> 5];
                if (first + 32 < numBoxes)
                {
                    removed |= static_cast<uint64_t>(suppressWords[(first >> 5) + 1]) << 32;
                }
            }
            if (live < 64)
            {
                removed |= ~0ULL << live;
            }
        }
        sKeptAt[tid] = 0;
        sInitial[tid] = removed;
        sFlags[tid] = tileFlags[tid];
        // Leaves the flags zeroed for the next chunk's mask kernel.
        tileFlags[tid] = 0;
        sKept[tid] = 0;
    }
    __syncthreads();
    if (warp == 0)
    {
        bool const liveLo = sInitial[lane] != ~0ULL;
        bool const liveHi = sInitial[lane + 32] != ~0ULL;
        uint64_t const liveWords = ballot64(liveLo, liveHi);
        uint64_t const below = (1ULL << lane) - 1;
        if (liveLo)
        {
            sLive[__popcll(liveWords & below)] = lane;
        }
        if (liveHi)
        {
            sLive[__popcll(liveWords & ((below << 32) | 0xFFFFFFFFULL))] = lane + 32;
        }
        if (lane == 0)
        {
            sNumLive = __popcll(liveWords);
            sLiveWords = liveWords;
        }
    }
    __syncthreads();
    int32_t const numLive = sNumLive;
    uint64_t const liveWords = sLiveWords;

    // Tiles (a, w) of the owned later live words w of live block `source`, flagged non-zero.
    auto loadTiles = [&](int32_t source, uint64_t (&tiles)[kOWNED_WORDS][2]) {
        int32_t const a = source < numLive ? sLive[source] : kCHUNK_WORDS;
        uint64_t const flags = a < kCHUNK_WORDS ? sFlags[a] & liveWords : 0;
#pragma unroll
        for (int32_t j = 0; j < kOWNED_WORDS; ++j)
        {
            int32_t const w = warp + kRESOLVE_WARPS * j;
            bool const use = w > a && ((flags >> w) & 1U);
            tiles[j][0] = use ? mask[tileOffset(a, w) + lane] : 0;
            tiles[j][1] = use ? mask[tileOffset(a, w) + lane + 32] : 0;
        }
    };
    uint64_t ring[kPREFETCH][kOWNED_WORDS][2];
#pragma unroll
    for (int32_t s = 0; s + 1 < kPREFETCH; ++s)
    {
        loadTiles(s, ring[s]);
    }
    {
        // Diagonal tiles of the live words, all loads in flight before the first store.
        constexpr int32_t kSTAGE = kCHUNK_WORDS * 64 / kRESOLVE_THREADS;
        uint64_t staged[kSTAGE];
#pragma unroll
        for (int32_t s = 0; s < kSTAGE; ++s)
        {
            int32_t const e = tid + s * kRESOLVE_THREADS;
            staged[s] = e < numLive * 64 ? mask[tileOffset(sLive[e >> 6], sLive[e >> 6]) + (e & 63)] : 0;
        }
#pragma unroll
        for (int32_t s = 0; s < kSTAGE; ++s)
        {
            int32_t const e = tid + s * kRESOLVE_THREADS;
            if (e < numLive * 64)
            {
                sSuppressedBy[sLive[e >> 6]][e & 63] = staged[s];
            }
        }
    }
    __syncthreads();

    // Per lane: OR of the rows (lane, lane + 32) of the tiles (a, w) over the kept rows of the
    // blocks a resolved so far, for each owned word w.
    uint64_t pending[kOWNED_WORDS];
#pragma unroll
    for (int32_t j = 0; j < kOWNED_WORDS; ++j)
    {
        pending[j] = 0;
    }
    int64_t keptSoFar = keptBefore;
    bool stop = false;
    // The block of the interval, and what its owner warp reads of it (static since the staging),
    // are loaded before the barrier that opens the interval: after it, only the previous block's
    // kept word is on the serial path.
    int32_t k = 0;
    int32_t prev = 0;
    uint64_t initial = 0;
    uint64_t supLo = 0;
    uint64_t supHi = 0;
    auto preload = [&](int32_t i) {
        k = i < numLive ? sLive[i] : 0;
        if (i < numLive && k % kRESOLVE_WARPS == warp)
        {
            initial = sInitial[k];
            supLo = sSuppressedBy[k][lane];
            supHi = sSuppressedBy[k][lane + 32];
        }
    };
    preload(0);
    for (int32_t i0 = 0; i0 < numLive && !stop; i0 += kPREFETCH)
    {
#pragma unroll
        for (int32_t u = 0; u < kPREFETCH; ++u)
        {
            int32_t const i = i0 + u;
            // Ring slot of live block i - 1 (i0 is a multiple of kPREFETCH).
            int32_t const slot = (u + kPREFETCH - 1) % kPREFETCH;
            if (i >= numLive || stop)
            {
                break;
            }
            if (i > 0)
            {
                uint64_t const keptPrev = sKept[prev];
                keptSoFar += __popcll(keptPrev);
#pragma unroll
                for (int32_t j = 0; j < kOWNED_WORDS; ++j)
                {
                    pending[j] |= (((keptPrev >> lane) & 1U) ? ring[slot][j][0] : 0)
                        | (((keptPrev >> (lane + 32)) & 1U) ? ring[slot][j][1] : 0);
                }
            }
            if (!kBATCHED && maxOutputBoxes >= 0 && keptSoFar >= maxOutputBoxes)
            {
                stop = true;
                break;
            }
            if (k % kRESOLVE_WARPS == warp)
            {
                // Selected with masks rather than pending[k / kRESOLVE_WARPS], which would move
                // the array to local memory.
                uint64_t mine = 0;
#pragma unroll
                for (int32_t j = 0; j < kOWNED_WORDS; ++j)
                {
                    mine |= pending[j] & (0ULL - static_cast<uint64_t>(j == k / kRESOLVE_WARPS));
                }
                uint64_t kept = resolveBlock(initial | warpOr(mine), supLo, supHi, lane);
                if (!kBATCHED && maxOutputBoxes >= 0 && __popcll(kept) > maxOutputBoxes - keptSoFar)
                {
                    kept = lowestBits(kept, maxOutputBoxes - keptSoFar);
                }
                if (lane == 0)
                {
                    sKept[k] = kept;
                }
            }
            // After the owner's resolve: the two dependent shared-memory reads that address the
            // tiles would otherwise stall the owner warp before it resolves.
            loadTiles(i - 1 + kPREFETCH, ring[slot]);
            prev = k;
            preload(i + 1);
            __syncthreads();
        }
    }

    // Kept boxes of the chunk in order: chunkKept, keepWords and the counters.
    if (warp == 0)
    {
        int32_t const countLo = __popcll(sKept[lane]);
        int32_t const countHi = __popcll(sKept[lane + 32]);
        int32_t scanLo = countLo;
        int32_t scanHi = countHi;
        for (int32_t offset = 1; offset < 32; offset <<= 1)
        {
            int32_t const lo = __shfl_sync(kFULL_MASK, scanLo, max(lane - offset, 0));
            int32_t const hi = __shfl_sync(kFULL_MASK, scanHi, max(lane - offset, 0));
            scanLo += lane >= offset ? lo : 0;
            scanHi += lane >= offset ? hi : 0;
        }
        int32_t const totalLo = __shfl_sync(kFULL_MASK, scanLo, 31);
        sKeptBefore[lane] = scanLo - countLo;
        sKeptBefore[lane + 32] = totalLo + scanHi - countHi;
        if (lane == 31)
        {
            sNumKept = totalLo + scanHi;
        }
    }
    __syncthreads();
    for (int32_t e = tid; e < numWords * 64; e += kRESOLVE_THREADS)
    {
        uint64_t const kept = sKept[e >> 6];
        uint64_t const before = (1ULL << (e & 63)) - 1;
        if ((kept >> (e & 63)) & 1U)
        {
            int32_t const position = range.position(e);
            chunkKept[sKeptBefore[e >> 6] + __popcll(kept & before)] = position;
            if (compacted)
            {
                int32_t const local = position - range.base;
                atomicOr(&sKeptAt[local >> 6], 1ULL << (local & 63));
            }
        }
    }
    if (compacted)
    {
        __syncthreads();
    }
    if (tid < numWords)
    {
        keepWords[wordBase + tid] = compacted ? static_cast<uint64_t>(sKeptAt[tid]) : sKept[tid];
    }
    if (tid == 0)
    {
        int64_t const total = static_cast<int64_t>(keptBefore) + sNumKept;
        counters[kCHUNK_KEPT] = sNumKept;
        counters[kKEPT_SO_FAR] = static_cast<int32_t>(total);
        if (!kBATCHED && maxOutputBoxes >= 0 && total >= maxOutputBoxes)
        {
            counters[kDONE] = 1;
        }
    }
}

//! Tests every later live box against the kept boxes of the chunk just resolved (staged through
//! shared memory). Each warp owns one 32-bit word of the suppression bitmap (32 boxes; start is a
//! multiple of 32); `slices` warps (a power of two, up to kSUPPRESS_WARPS) share a word, each
//! testing every slices-th kept box, so that a short tail of later boxes still fills the GPU. They
//! pool their hits after each staged batch of kept boxes. (The minimum of 4 blocks per SM lets
//! ptxas use 48 registers instead of spilling around the float division's slow path at 32.)
template <typename C, bool kHALF_ROUNDING>
__global__ void __launch_bounds__(kSUPPRESS_THREADS, 4) suppressLaterKernel(Box<C> const* boxes, C const* areas,
    int32_t start, int32_t numBoxes, int32_t slices, C threshold, int32_t const* chunkKept, int32_t const* counters,
    uint32_t* suppressWords)
{
    beginChainedKernel();
    int32_t const numKept = counters[kCHUNK_KEPT];
    if (counters[kDONE] != 0 || numKept == 0)
    {
        return;
    }
    __shared__ Box<C> sBoxes[kKEPT_BATCH];
    __shared__ C sAreas[kKEPT_BATCH];
    __shared__ uint32_t sHits[kSUPPRESS_WARPS];

    int32_t const lane = threadIdx.x & 31;
    int32_t const warp = threadIdx.x >> 5;
    int32_t const group = warp / slices;
    int32_t const slice = warp % slices;
    int32_t const j = start + (blockIdx.x * (kSUPPRESS_WARPS / slices) + group) * 32 + lane;
    uint32_t const word = j < numBoxes ? suppressWords[j >> 5] : ~0U;
    bool const active = j < counters[kNUM_VALID] && !((word >> (j & 31)) & 1U);
    if (!__syncthreads_or(active))
    {
        return;
    }
    Box<C> mine{};
    C myArea{};
    if (active)
    {
        mine = boxes[j];
        myArea = areas[j];
    }
    if (threadIdx.x < kSUPPRESS_WARPS)
    {
        sHits[threadIdx.x] = 0;
    }
    bool suppressed = false;
    for (int32_t base = 0; base < numKept; base += kKEPT_BATCH)
    {
        int32_t const count = min(kKEPT_BATCH, numKept - base);
        __syncthreads();
        for (int32_t k = threadIdx.x; k < count; k += kSUPPRESS_THREADS)
        {
            int32_t const q = chunkKept[base + k];
            sBoxes[k] = boxes[q];
            sAreas[k] = areas[q];
        }
        __syncthreads();
        if (active && !suppressed)
        {
            for (int32_t k = slice; k < count; k += slices)
            {
                if (iouAbove<C, kHALF_ROUNDING>(mine, myArea, sBoxes[k], sAreas[k], threshold))
                {
                    suppressed = true;
                    break;
                }
            }
        }
        uint32_t const hits = __ballot_sync(kFULL_MASK, suppressed);
        if (lane == 0 && hits != 0)
        {
            atomicOr(&sHits[group], hits);
        }
        __syncthreads();
        suppressed = (sHits[group] >> lane) & 1U;
        if (!__syncthreads_or(active && !suppressed))
        {
            break;
        }
    }
    if (slice == 0 && lane == 0 && sHits[group] != 0)
    {
        suppressWords[j >> 5] = word | sHits[group];
    }
}

//! Class-aware variant: only the chunk's last class can continue past the chunk, so a later box
//! of that class is tested against the kept boxes of that class: the tail of the kept list (it is
//! in class order), staged through shared memory from the end, one box per thread and batch, down
//! to the first other class. Later boxes are sorted by class too, so only the first blocks have
//! any box to test.
template <typename C, bool kHALF_ROUNDING>
__global__ void __launch_bounds__(kSUPPRESS_THREADS) suppressLaterBatchedKernel(Box<C> const* boxes,
    C const* areas, uint64_t const* classes, int32_t start, int32_t numBoxes, C threshold,
    int32_t const* chunkKept, int32_t const* counters, uint32_t* suppressWords)
{
    beginChainedKernel();
    int32_t const numKept = counters[kCHUNK_KEPT];
    if (numKept == 0)
    {
        return;
    }
    __shared__ Box<C> sBoxes[kSUPPRESS_THREADS];
    __shared__ C sAreas[kSUPPRESS_THREADS];

    int32_t const j = start + blockIdx.x * kSUPPRESS_THREADS + threadIdx.x;
    uint64_t const lastClass = classes[chunkKept[numKept - 1]];
    uint32_t const word = j < numBoxes ? suppressWords[j >> 5] : ~0U;
    bool const active = j < counters[kNUM_VALID] && !((word >> (j & 31)) & 1U) && classes[j] == lastClass;
    if (!__syncthreads_or(active))
    {
        return;
    }
    Box<C> mine{};
    C myArea{};
    if (active)
    {
        mine = boxes[j];
        myArea = areas[j];
    }
    bool suppressed = false;
    for (int32_t end = numKept; end > 0; end -= kSUPPRESS_THREADS)
    {
        int32_t const count = min(kSUPPRESS_THREADS, end);
        // Staged batch: kept[end - count, end); its boxes of other classes are its first `first`.
        int32_t const k = threadIdx.x;
        bool other = false;
        __syncthreads();
        if (k < count)
        {
            int32_t const q = chunkKept[end - count + k];
            other = classes[q] != lastClass;
            if (!other)
            {
                sBoxes[k] = boxes[q];
                sAreas[k] = areas[q];
            }
        }
        int32_t const first = __syncthreads_count(other);
        if (active && !suppressed)
        {
            for (int32_t t = count - 1; t >= first; --t)
            {
                if (iouAbove<C, kHALF_ROUNDING>(mine, myArea, sBoxes[t], sAreas[t], threshold))
                {
                    suppressed = true;
                    break;
                }
            }
        }
        if (!__syncthreads_or(active && !suppressed) || first > 0)
        {
            break;
        }
    }
    uint32_t const newly = __ballot_sync(kFULL_MASK, suppressed);
    if ((threadIdx.x & 31) == 0 && newly != 0)
    {
        suppressWords[j >> 5] = word | newly;
    }
}

__global__ void __launch_bounds__(kKEYS_THREADS) scatterKeepFlagsKernel(
    int32_t const* order, uint64_t const* keepWords, int32_t numBoxes, uint8_t* flagsByIndex)
{
    beginChainedKernel();
    int32_t const q = blockIdx.x * kKEYS_THREADS + threadIdx.x;
    if (q < numBoxes)
    {
        flagsByIndex[order[q]] = static_cast<uint8_t>((keepWords[q >> 6] >> (q & 63)) & 1U);
    }
}

template <bool kBATCHED>
__device__ __forceinline__ bool keptAt(
    int32_t p, int32_t const* order, uint64_t const* keepWords, uint8_t const* flagsByIndex)
{
    if (kBATCHED)
    {
        return flagsByIndex[order[p]] != 0;
    }
    return (keepWords[p >> 6] >> (p & 63)) & 1U;
}

template <bool kBATCHED>
__global__ void __launch_bounds__(kCOMPACT_THREADS) countKeptKernel(int32_t const* order, uint64_t const* keepWords,
    uint8_t const* flagsByIndex, int32_t numBoxes, int32_t* tileCounts)
{
    beginChainedKernel();
    using Reduce = cub::BlockReduce<int32_t, kCOMPACT_THREADS>;
    __shared__ typename Reduce::TempStorage storage;
    int32_t count = 0;
    int32_t const first = blockIdx.x * kCOMPACT_TILE + threadIdx.x * kCOMPACT_ITEMS;
#pragma unroll
    for (int32_t k = 0; k < kCOMPACT_ITEMS; ++k)
    {
        int32_t const p = first + k;
        count += (p < numBoxes && keptAt<kBATCHED>(p, order, keepWords, flagsByIndex)) ? 1 : 0;
    }
    int32_t const total = Reduce(storage).Sum(count);
    if (threadIdx.x == 0)
    {
        tileCounts[blockIdx.x] = total;
    }
}

//! Writes the kept indices of one tile of kTHREADS x kITEMS positions at their place in score
//! order (positions < capacity), the count (block 0) and the -1 padding (grid-stride). The kept
//! boxes of earlier tiles and the total come from countKeptKernel's tileCounts; with no tileCounts
//! the grid is one tile that covers every box, and the block's own sum is the total.
template <bool kBATCHED, typename I, int32_t kTHREADS, int32_t kITEMS>
__global__ void __launch_bounds__(kTHREADS) writeKeptKernel(int32_t const* order, uint64_t const* keepWords,
    uint8_t const* flagsByIndex, int32_t numBoxes, int32_t const* tileCounts, int32_t numTiles, int64_t capacity,
    bool padded, I* keepIndices, int64_t* keepCount)
{
    beginChainedKernel();
    using Scan = cub::BlockScan<int32_t, kTHREADS>;
    __shared__ typename Scan::TempStorage storage;
    __shared__ int32_t sBefore;
    __shared__ int32_t sTotal;
    if (tileCounts != nullptr)
    {
        if (threadIdx.x == 0)
        {
            sBefore = 0;
            sTotal = 0;
        }
        __syncthreads();
        int32_t before = 0;
        int32_t total = 0;
        for (int32_t t = threadIdx.x; t < numTiles; t += kTHREADS)
        {
            int32_t const c = tileCounts[t];
            total += c;
            before += t < static_cast<int32_t>(blockIdx.x) ? c : 0;
        }
        atomicAdd(&sBefore, before);
        atomicAdd(&sTotal, total);
        __syncthreads();
    }

    int32_t const first = blockIdx.x * kTHREADS * kITEMS + threadIdx.x * kITEMS;
    bool flags[kITEMS];
    int32_t count = 0;
#pragma unroll
    for (int32_t k = 0; k < kITEMS; ++k)
    {
        int32_t const p = first + k;
        flags[k] = p < numBoxes && keptAt<kBATCHED>(p, order, keepWords, flagsByIndex);
        count += flags[k] ? 1 : 0;
    }
    int32_t offset = 0;
    int32_t tileTotal = 0;
    Scan(storage).ExclusiveSum(count, offset, tileTotal);
    int32_t const before = tileCounts != nullptr ? sBefore : 0;
    int32_t const total = tileCounts != nullptr ? sTotal : tileTotal;
    int64_t position = static_cast<int64_t>(before) + offset;
#pragma unroll
    for (int32_t k = 0; k < kITEMS; ++k)
    {
        if (flags[k])
        {
            if (position < capacity)
            {
                keepIndices[position] = static_cast<I>(order[first + k]);
            }
            ++position;
        }
    }
    int64_t const kept = min(static_cast<int64_t>(total), capacity);
    if (blockIdx.x == 0 && threadIdx.x == 0)
    {
        *keepCount = kept;
    }
    if (padded)
    {
        for (int64_t pos = kept + static_cast<int64_t>(blockIdx.x) * kTHREADS + threadIdx.x; pos < capacity;
             pos += static_cast<int64_t>(gridDim.x) * kTHREADS)
        {
            keepIndices[pos] = static_cast<I>(-1);
        }
    }
}

size_t alignUp(size_t bytes)
{
    return (bytes + 255) / 256 * 256;
}

int32_t scoreKeyBytes(NmsParams const& params)
{
    return params.scoreType == DataType::kFLOAT64 ? 8 : 4;
}

int32_t classKeyBits(NmsParams const& params)
{
    return params.classType == DataType::kINT32 ? 32 : 64;
}

//! A device-independent upper bound of CUB's radix-sort temporary storage for n pairs (CUB needs
//! per-tile digit counters, far below 16 bytes per item, plus fixed tables).
size_t sortTempBytesBound(int32_t n)
{
    return 16 * static_cast<size_t>(n) + (size_t{8} << 20);
}

//! CUB's temporary storage for sorting n (key, int32) pairs over [0, endBit) on the current
//! device; without a usable device an upper bound (CUB needs per-tile digit counters, far below
//! 16 bytes per item, plus fixed tables).
size_t sortTempBytes(int32_t n, int32_t keyBytes, int32_t endBit)
{
    size_t bytes = 0;
    cudaError_t result = cudaSuccess;
    cub::DoubleBuffer<int32_t> values(nullptr, nullptr);
    if (keyBytes == 4)
    {
        cub::DoubleBuffer<uint32_t> keys(nullptr, nullptr);
        result = cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, values, n, 0, endBit);
    }
    else
    {
        cub::DoubleBuffer<uint64_t> keys(nullptr, nullptr);
        result = cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, values, n, 0, endBit);
    }
    if (result != cudaSuccess)
    {
        cudaGetLastError();
        bytes = sortTempBytesBound(n);
    }
    return bytes;
}

WorkspaceLayout computeLayout(NmsParams const& params, size_t cubTempBytes)
{
    WorkspaceLayout layout;
    size_t const n = static_cast<size_t>(params.numBoxes);
    size_t const keyBytes = static_cast<size_t>(scoreKeyBytes(params));
    size_t const computeBytes = params.boxType == DataType::kFLOAT64 ? 8 : 4;
    size_t const chunkRows = std::min<size_t>(n, kCHUNK);
    size_t offset = 0;
    auto take = [&](size_t bytes) {
        size_t const at = offset;
        offset += alignUp(bytes);
        return at;
    };
    layout.counters = take(kNUM_COUNTERS * sizeof(int32_t));
    layout.keysA = take(n * keyBytes);
    layout.keysB = take(n * keyBytes);
    layout.valuesA = take(n * sizeof(int32_t));
    layout.valuesB = take(n * sizeof(int32_t));
    if (params.batched)
    {
        layout.classKeysA = take(n * sizeof(uint64_t));
        layout.classKeysB = take(n * sizeof(uint64_t));
        layout.classValuesA = take(n * sizeof(int32_t));
        layout.classValuesB = take(n * sizeof(int32_t));
        layout.flagsByIndex = take(n);
    }
    layout.boxes = take(n * 4 * computeBytes);
    layout.areas = take(n * computeBytes);
    layout.suppressWords = take(static_cast<size_t>(ceilDiv(static_cast<int64_t>(n), 32)) * sizeof(uint32_t));
    layout.keepWords = take(static_cast<size_t>(ceilDiv(static_cast<int64_t>(n), 64)) * sizeof(uint64_t));
    // 64-word tiles (rowBlock, colBlock), rowBlock-major with a stride of kCHUNK_WORDS tiles.
    size_t const chunkBlocks = (chunkRows + 63) / 64;
    layout.mask = take(chunkBlocks * kCHUNK_WORDS * 64 * sizeof(uint64_t));
    layout.tileFlags = take(kCHUNK_WORDS * sizeof(uint64_t));
    layout.chunkKept = take(chunkRows * sizeof(int32_t));
    if (kCOMPACT_CHUNKS && n > static_cast<size_t>(kCHUNK))
    {
        layout.liveBoxes = take(kCHUNK * 4 * computeBytes);
        layout.liveAreas = take(kCHUNK * computeBytes);
        if (params.batched)
        {
            layout.liveClasses = take(kCHUNK * sizeof(uint64_t));
        }
        layout.livePositions = take(kCHUNK * sizeof(int32_t));
    }
    layout.tileCounts = take(static_cast<size_t>(ceilDiv(static_cast<int64_t>(n), kCOMPACT_TILE)) * sizeof(int32_t));
    layout.cubTempBytes = cubTempBytes;
    layout.cubTemp = take(cubTempBytes);
    layout.total = offset;
    return layout;
}

size_t cubTempBytesFor(NmsParams const& params)
{
    int32_t const n = static_cast<int32_t>(params.numBoxes);
    size_t bytes = sortTempBytes(n, scoreKeyBytes(params), 8 * scoreKeyBytes(params));
    if (params.batched)
    {
        bytes = std::max(bytes, sortTempBytes(n, 8, classKeyBits(params)));
    }
    return bytes;
}

template <typename T>
T* at(void* workspace, size_t offset)
{
    return reinterpret_cast<T*>(static_cast<char*>(workspace) + offset);
}

//! Stage 1-2: score keys and the candidate order. Returns the sorted index buffer.
template <typename S>
Status sortByScore(NmsParams const& params, void const* scores, void* workspace, WorkspaceLayout const& layout,
    int32_t const** order, cudaStream_t stream)
{
    using K = typename ScoreKeyOf<S>::type;
    int32_t const n = static_cast<int32_t>(params.numBoxes);
    int32_t* counters = at<int32_t>(workspace, layout.counters);
    cub::DoubleBuffer<K> keys(at<K>(workspace, layout.keysA), at<K>(workspace, layout.keysB));
    cub::DoubleBuffer<int32_t> values(at<int32_t>(workspace, layout.valuesA), at<int32_t>(workspace, layout.valuesB));
    scoreKeysKernel<S, K><<<static_cast<uint32_t>(ceilDiv(n, kKEYS_THREADS)), kKEYS_THREADS, 0, stream>>>(
        static_cast<S const*>(scores), n, params.hasScoreThreshold, params.scoreThreshold, keys.Current(),
        values.Current(), counters, at<uint32_t>(workspace, layout.suppressWords),
        at<uint64_t>(workspace, layout.tileFlags));
    TRTOPS_RETURN_IF_ERROR(lastLaunchStatus("nms: scoreKeysKernel"));
    size_t tempBytes = layout.cubTempBytes;
    TRTOPS_CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairs(at<void>(workspace, layout.cubTemp), tempBytes, keys,
        values, n, 0, static_cast<int32_t>(8 * sizeof(K)), stream));
    *order = values.Current();
    return Status::ok();
}

//! Stages 1, 2 and 4 of a small input in one launch (see kSMALL_BOXES); also clears the counters.
//! Returns the candidate order.
template <typename S>
Status smallFront(NmsParams const& params, void const* boxes, void const* scores, void* workspace,
    WorkspaceLayout const& layout, int32_t const** order, cudaStream_t stream)
{
    int32_t const n = static_cast<int32_t>(params.numBoxes);
    int32_t* values = at<int32_t>(workspace, layout.valuesA);
    auto launch = [&](auto kernel) {
        kernel<<<1, kSMALL_THREADS, 0, stream>>>(static_cast<S const*>(scores), boxes, params.boxType, n,
            params.hasScoreThreshold, params.scoreThreshold, values, at<void>(workspace, layout.boxes),
            at<void>(workspace, layout.areas), at<int32_t>(workspace, layout.counters),
            at<uint32_t>(workspace, layout.suppressWords), at<uint64_t>(workspace, layout.tileFlags));
    };
    if (n <= kSMALL_THREADS * 2)
    {
        launch(smallFrontKernel<S, 2>);
    }
    else if (n <= kSMALL_THREADS * 4)
    {
        launch(smallFrontKernel<S, 4>);
    }
    else
    {
        launch(smallFrontKernel<S, kSMALL_MAX_ITEMS>);
    }
    TRTOPS_RETURN_IF_ERROR(lastLaunchStatus("nms: smallFrontKernel"));
    *order = values;
    return Status::ok();
}

//! Stage 3 (batched): stable re-sort of the candidate order by class.
template <typename I>
Status sortByClass(NmsParams const& params, void const* classIdxs, int32_t const* scoreOrder, void* workspace,
    WorkspaceLayout const& layout, int32_t const** order, uint64_t const** classes, Queue const& queue)
{
    int32_t const n = static_cast<int32_t>(params.numBoxes);
    int32_t const bits = classKeyBits(params);
    uint64_t const invalidClass = bits == 32 ? 0xFFFFFFFFULL : ~0ULL;
    cub::DoubleBuffer<uint64_t> keys(
        at<uint64_t>(workspace, layout.classKeysA), at<uint64_t>(workspace, layout.classKeysB));
    cub::DoubleBuffer<int32_t> values(
        at<int32_t>(workspace, layout.classValuesA), at<int32_t>(workspace, layout.classValuesB));
    TRTOPS_RETURN_IF_ERROR(launchChained(queue.programmatic, "batched_nms: classKeysKernel", classKeysKernel<I>,
        static_cast<uint32_t>(ceilDiv(n, kKEYS_THREADS)), kKEYS_THREADS, queue.stream,
        static_cast<I const*>(classIdxs), scoreOrder, n, invalidClass, at<int32_t>(workspace, layout.counters),
        keys.Current(), values.Current()));
    size_t tempBytes = layout.cubTempBytes;
    TRTOPS_CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairs(
        at<void>(workspace, layout.cubTemp), tempBytes, keys, values, n, 0, bits, queue.stream));
    *order = values.Current();
    *classes = keys.Current();
    return Status::ok();
}

//! Stages 4-5: gather and chunked greedy suppression; leaves keep bits in processing order.
//! `gathered`: the boxes are already in processing order (smallFront).
template <typename T, bool kBATCHED>
Status suppress(NmsParams const& params, void const* boxes, int32_t const* order, uint64_t const* classes,
    bool gathered, void* workspace, WorkspaceLayout const& layout, Queue const& queue)
{
    using C = typename BoxTraits<T>::Compute;
    constexpr bool kHALF = BoxTraits<T>::kHALF_ROUNDING;
    char const* op = kBATCHED ? "batched_nms" : "nms";
    int32_t const n = static_cast<int32_t>(params.numBoxes);
    C const threshold = computeThreshold<C>(params.iouThreshold);
    int32_t* counters = at<int32_t>(workspace, layout.counters);
    Box<C>* sorted = at<Box<C>>(workspace, layout.boxes);
    C* areas = at<C>(workspace, layout.areas);
    uint32_t* suppressWords = at<uint32_t>(workspace, layout.suppressWords);
    uint64_t* keepWords = at<uint64_t>(workspace, layout.keepWords);
    uint64_t* mask = at<uint64_t>(workspace, layout.mask);
    uint64_t* tileFlags = at<uint64_t>(workspace, layout.tileFlags);
    int32_t* chunkKept = at<int32_t>(workspace, layout.chunkKept);

    if (!gathered)
    {
        TRTOPS_RETURN_IF_ERROR(launchChained(queue.programmatic,
            kBATCHED ? "batched_nms: gatherBoxesKernel" : "nms: gatherBoxesKernel", gatherBoxesKernel<T>,
            static_cast<uint32_t>(ceilDiv(n, kKEYS_THREADS)), kKEYS_THREADS, queue.stream,
            static_cast<T const*>(boxes), order, n, sorted, areas));
    }

    // With compacted chunks, nms over more than one chunk starts with a short one (kFIRST_CHUNK).
    int32_t const firstChunk = kCOMPACT_CHUNKS && !kBATCHED && n > kCHUNK ? kFIRST_CHUNK : kCHUNK;
    int32_t chunkLength = 0;
    for (int32_t c = 0, chunkBase = 0; chunkBase < n; ++c, chunkBase += chunkLength)
    {
        chunkLength = std::min(c == 0 ? firstChunk : kCHUNK, n - chunkBase);
        uint32_t const words = static_cast<uint32_t>(ceilDiv(chunkLength, 64));
        ChunkView<C> view{sorted + chunkBase, areas + chunkBase, kBATCHED ? classes + chunkBase : nullptr,
            ChunkRange{chunkBase, chunkLength, nullptr}};
        if (kCOMPACT_CHUNKS && c > 0)
        {
            // The first chunk is all live (nothing suppressed yet, candidates first): in place.
            Box<C>* liveBoxes = at<Box<C>>(workspace, layout.liveBoxes);
            C* liveAreas = at<C>(workspace, layout.liveAreas);
            uint64_t* liveClasses = kBATCHED ? at<uint64_t>(workspace, layout.liveClasses) : nullptr;
            int32_t* livePositions = at<int32_t>(workspace, layout.livePositions);
            TRTOPS_RETURN_IF_ERROR(launchChained(queue.programmatic,
                kBATCHED ? "batched_nms: compactChunkKernel" : "nms: compactChunkKernel",
                compactChunkKernel<C, kBATCHED>, 1, kCOMPACT_CHUNK_THREADS, queue.stream, sorted, areas, classes,
                chunkBase, chunkLength, suppressWords, counters, liveBoxes, liveAreas, liveClasses, livePositions));
            view = ChunkView<C>{liveBoxes, liveAreas, liveClasses, ChunkRange{chunkBase, chunkLength, livePositions}};
        }
        // One block per tile of the upper triangle (diagonal included); with a compacted chunk
        // the tiles past its live boxes return at once.
        TRTOPS_RETURN_IF_ERROR(launchChained(queue.programmatic,
            kBATCHED ? "batched_nms: chunkMaskKernel" : "nms: chunkMaskKernel", chunkMaskKernel<C, kHALF, kBATCHED>,
            words * (words + 1) / 2, 64, queue.stream, view, threshold, suppressWords, counters, mask, tileFlags));
        TRTOPS_RETURN_IF_ERROR(launchChained(queue.programmatic,
            kBATCHED ? "batched_nms: chunkResolveKernel" : "nms: chunkResolveKernel", chunkResolveKernel<kBATCHED>, 1,
            kRESOLVE_THREADS, queue.stream, view.range, n, params.maxOutputBoxes, suppressWords, mask, tileFlags,
            keepWords, chunkKept, counters));
        int32_t const start = chunkBase + chunkLength;
        if (start < n)
        {
            if (kBATCHED)
            {
                uint32_t const blocks = static_cast<uint32_t>(ceilDiv(n - start, kSUPPRESS_THREADS));
                TRTOPS_RETURN_IF_ERROR(launchChained(queue.programmatic, op, suppressLaterBatchedKernel<C, kHALF>,
                    blocks, kSUPPRESS_THREADS, queue.stream, sorted, areas, classes, start, n, threshold, chunkKept,
                    counters, suppressWords));
            }
            else
            {
                // Few later boxes: more warps per 32 of them (slices of the kept list).
                int32_t slices = 1;
                while (slices < kSUPPRESS_WARPS && int64_t{2} * slices * (n - start) <= kSUPPRESS_SPREAD)
                {
                    slices *= 2;
                }
                uint32_t const blocks = static_cast<uint32_t>(ceilDiv(n - start, 32 * (kSUPPRESS_WARPS / slices)));
                TRTOPS_RETURN_IF_ERROR(launchChained(queue.programmatic, op, suppressLaterKernel<C, kHALF>, blocks,
                    kSUPPRESS_THREADS, queue.stream, sorted, areas, start, n, slices, threshold, chunkKept, counters,
                    suppressWords));
            }
        }
    }
    if (kBATCHED)
    {
        TRTOPS_RETURN_IF_ERROR(launchChained(queue.programmatic, "batched_nms: scatterKeepFlagsKernel",
            scatterKeepFlagsKernel, static_cast<uint32_t>(ceilDiv(n, kKEYS_THREADS)), kKEYS_THREADS, queue.stream,
            order, keepWords, n, at<uint8_t>(workspace, layout.flagsByIndex)));
    }
    return Status::ok();
}

//! Stage 6: kept indices in score order, count, padding.
template <bool kBATCHED, typename I>
Status compact(NmsParams const& params, int32_t const* scoreOrder, void* workspace, WorkspaceLayout const& layout,
    void* keepIndices, void* keepCount, Queue const& queue)
{
    int32_t const n = static_cast<int32_t>(params.numBoxes);
    int64_t const capacity = params.maxOutputBoxes >= 0 ? params.maxOutputBoxes : params.numBoxes;
    uint64_t const* keepWords = at<uint64_t>(workspace, layout.keepWords);
    uint8_t const* flagsByIndex = kBATCHED ? at<uint8_t>(workspace, layout.flagsByIndex) : nullptr;
    if (n <= kSMALL_BOXES)
    {
        // One CTA covers every box: no count kernel.
        return launchChained(queue.programmatic, kBATCHED ? "batched_nms: writeKeptKernel" : "nms: writeKeptKernel",
            writeKeptKernel<kBATCHED, I, kSMALL_THREADS, kSMALL_MAX_ITEMS>, 1, kSMALL_THREADS, queue.stream,
            scoreOrder, keepWords, flagsByIndex, n, static_cast<int32_t const*>(nullptr), 1, capacity, params.padded,
            static_cast<I*>(keepIndices), static_cast<int64_t*>(keepCount));
    }
    int32_t const numTiles = static_cast<int32_t>(ceilDiv(n, kCOMPACT_TILE));
    int32_t* tileCounts = at<int32_t>(workspace, layout.tileCounts);
    TRTOPS_RETURN_IF_ERROR(launchChained(queue.programmatic,
        kBATCHED ? "batched_nms: countKeptKernel" : "nms: countKeptKernel", countKeptKernel<kBATCHED>,
        static_cast<uint32_t>(numTiles), kCOMPACT_THREADS, queue.stream, scoreOrder, keepWords, flagsByIndex, n,
        tileCounts));
    return launchChained(queue.programmatic, kBATCHED ? "batched_nms: writeKeptKernel" : "nms: writeKeptKernel",
        writeKeptKernel<kBATCHED, I, kCOMPACT_THREADS, kCOMPACT_ITEMS>, static_cast<uint32_t>(numTiles),
        kCOMPACT_THREADS, queue.stream, scoreOrder, keepWords, flagsByIndex, n,
        static_cast<int32_t const*>(tileCounts), numTiles, capacity, params.padded, static_cast<I*>(keepIndices),
        static_cast<int64_t*>(keepCount));
}

template <typename Fn>
Status dispatchBoxes(DataType type, char const* op, Fn&& fn)
{
    switch (type)
    {
    case DataType::kFLOAT32: return fn(float{});
    case DataType::kFLOAT16: return fn(__half{});
    case DataType::kFLOAT64: return fn(double{});
    default: break;
    }
    return unsupported(op, ": dtype ", dataTypeName(type), " is not supported");
}

Status runForward(NmsParams const& params, void const* boxes, void const* scores, void const* classIdxs,
    void* keepIndices, void* keepCount, void* workspace, WorkspaceLayout const& layout, cudaStream_t stream)
{
    char const* op = params.batched ? "batched_nms" : "nms";
    Queue queue{stream, false};
    TRTOPS_RETURN_IF_ERROR(programmaticLaunchSupported(stream, queue.programmatic));
    int32_t const* scoreOrder = nullptr;
    // Batched inputs gather after the class sort; float64 scores have 64-bit keys.
    bool const small
        = !params.batched && params.scoreType != DataType::kFLOAT64 && params.numBoxes <= kSMALL_BOXES;
    if (small)
    {
        TRTOPS_RETURN_IF_ERROR(params.scoreType == DataType::kFLOAT16
                ? smallFront<__half>(params, boxes, scores, workspace, layout, &scoreOrder, stream)
                : smallFront<float>(params, boxes, scores, workspace, layout, &scoreOrder, stream));
    }
    else
    {
        // scoreKeysKernel counts into the counters, and clears the suppression bitmap and tile flags.
        TRTOPS_CUDA_RETURN_IF_ERROR(
            cudaMemsetAsync(at<int32_t>(workspace, layout.counters), 0, kNUM_COUNTERS * sizeof(int32_t), stream));
        TRTOPS_RETURN_IF_ERROR(dispatchBoxes(params.scoreType, op, [&](auto tag) {
            return sortByScore<decltype(tag)>(params, scores, workspace, layout, &scoreOrder, stream);
        }));
    }
    int32_t const* order = scoreOrder;
    uint64_t const* classes = nullptr;
    if (params.batched)
    {
        Status const status = params.classType == DataType::kINT32
            ? sortByClass<int32_t>(params, classIdxs, scoreOrder, workspace, layout, &order, &classes, queue)
            : sortByClass<int64_t>(params, classIdxs, scoreOrder, workspace, layout, &order, &classes, queue);
        TRTOPS_RETURN_IF_ERROR(status);
    }
    TRTOPS_RETURN_IF_ERROR(dispatchBoxes(params.boxType, op, [&](auto tag) {
        using T = decltype(tag);
        return params.batched ? suppress<T, true>(params, boxes, order, classes, small, workspace, layout, queue)
                              : suppress<T, false>(params, boxes, order, classes, small, workspace, layout, queue);
    }));
    bool const int32Out = params.indexType == DataType::kINT32;
    if (params.batched)
    {
        return int32Out ? compact<true, int32_t>(params, scoreOrder, workspace, layout, keepIndices, keepCount, queue)
                        : compact<true, int64_t>(params, scoreOrder, workspace, layout, keepIndices, keepCount, queue);
    }
    return int32Out ? compact<false, int32_t>(params, scoreOrder, workspace, layout, keepIndices, keepCount, queue)
                    : compact<false, int64_t>(params, scoreOrder, workspace, layout, keepIndices, keepCount, queue);
}

} // namespace
} // namespace nms

size_t nmsWorkspaceSize(NmsParams const& params)
{
    if (!validateNms(params).isOk() || params.numBoxes == 0)
    {
        return 0;
    }
    return nms::computeLayout(params, nms::cubTempBytesFor(params)).total;
}

size_t nmsWorkspaceSizeBound(NmsParams const& params)
{
    if (!validateNms(params).isOk() || params.numBoxes == 0)
    {
        return 0;
    }
    return nms::computeLayout(params, nms::sortTempBytesBound(static_cast<int32_t>(params.numBoxes))).total;
}

Status nmsForward(NmsParams const& params, void const* boxes, void const* scores, void const* classIdxs,
    void* keepIndices, void* keepCount, void* workspace, size_t workspaceSize, cudaStream_t stream)
{
    TRTOPS_RETURN_IF_ERROR(validateNms(params));
    char const* op = params.batched ? "batched_nms" : "nms";
    int64_t const capacity = params.maxOutputBoxes >= 0 ? params.maxOutputBoxes : params.numBoxes;
    if (keepCount == nullptr)
    {
        return invalidArgument(op, ": keepCount is null");
    }
    if (capacity > 0 && keepIndices == nullptr)
    {
        return invalidArgument(op, ": keepIndices is null but has capacity ", capacity);
    }
    size_t const indexBytes = static_cast<size_t>(elementSize(params.indexType));
    if (params.numBoxes == 0 || params.maxOutputBoxes == 0)
    {
        // Nothing can be kept: the count is 0 and padded slots are -1 (all bytes 0xFF).
        TRTOPS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(keepCount, 0, sizeof(int64_t), stream));
        if (params.padded && capacity > 0)
        {
            TRTOPS_CUDA_RETURN_IF_ERROR(
                cudaMemsetAsync(keepIndices, 0xFF, static_cast<size_t>(capacity) * indexBytes, stream));
        }
        return Status::ok();
    }
    if (boxes == nullptr || scores == nullptr)
    {
        return invalidArgument(op, ": boxes or scores is null for ", params.numBoxes, " boxes");
    }
    if (params.batched && classIdxs == nullptr)
    {
        return invalidArgument(op, ": idxs (classIdxs) is null");
    }
    nms::WorkspaceLayout const layout = nms::computeLayout(params, nms::cubTempBytesFor(params));
    if (workspace == nullptr || workspaceSize < layout.total)
    {
        return invalidArgument(op, ": workspace of ", workspaceSize, " bytes", workspace == nullptr ? " (null)" : "",
            " is too small: ", layout.total, " bytes needed for ", params.numBoxes, " boxes (nmsWorkspaceSize)");
    }
    // The carved buffers are aligned relative to the workspace start (Box<double> needs 32 bytes):
    // a less aligned workspace would fault with a misaligned-address error in gatherBoxesKernel.
    constexpr uintptr_t kWORKSPACE_ALIGN = alignof(nms::Box<double>);
    if (reinterpret_cast<uintptr_t>(workspace) % kWORKSPACE_ALIGN != 0)
    {
        return invalidArgument(op, ": workspace must be ", kWORKSPACE_ALIGN, "-byte aligned (cudaMalloc and TensorRT "
            "workspaces are 256-byte aligned)");
    }
    return nms::runForward(params, boxes, scores, classIdxs, keepIndices, keepCount, workspace, layout, stream);
}

} // namespace trtops
