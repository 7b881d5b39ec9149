//! \file nms.cu
//! CUDA implementation of nmsForward: everything queued on one stream, nothing read back.
//!
//! Pipeline (N boxes, C = 4096):
//!  1. scoreKeysKernel: one sortable key per box (invalid key for non-candidates) + candidate count.
//!  2. CUB radix sort of (key, index): candidate order ("order1"); candidates form its prefix.
//!  3. batched only: classKeysKernel + second (stable) CUB sort by class: class-major order.
//!  4. gatherBoxesKernel: boxes and areas in processing order, converted to the compute type.
//!  5. per chunk of C sorted boxes (sequential over chunks, host loop of launches):
//!     chunkMaskKernel  IoU bitmask of the chunk's not-yet-suppressed boxes against the chunk
//!                      (upper triangle, C x C bits);
//!     chunkResolveKernel  one warp walks the chunk 64 boxes at a time: greedy keep inside the word
//!                      with the diagonal mask words, then ORs the kept rows into later words;
//!     suppressLater*Kernel  every later box is tested against the chunk's kept boxes (early exit
//!                      at the first suppressor), bits set in a suppression bitmap.
//!     Work is ~ (N x C / 2) mask tests + (kept x remaining) tests, memory is bounded by C.
//!  6. ordered compaction (two kernels) in score order, count, -1 padding.
#include "core/numeric.cuh"
#include "core/status.h"
#include "nms/nms.h"
#include "nms/nms_math.cuh"
#include "nms/nms_workspace.h"

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
constexpr int32_t kKEPT_BATCH = 512;
constexpr int32_t kCOMPACT_THREADS = 256;
constexpr int32_t kCOMPACT_ITEMS = kCOMPACT_TILE / kCOMPACT_THREADS;

int64_t ceilDiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

__device__ __forceinline__ bool bitSet(uint32_t const* words, int32_t position)
{
    return (words[position >> 5] >> (position & 31)) & 1U;
}

template <typename S, typename K>
__global__ void __launch_bounds__(kKEYS_THREADS) scoreKeysKernel(S const* scores, int32_t numBoxes,
    bool hasScoreThreshold, double scoreThreshold, K* keys, int32_t* values, int32_t* counters)
{
    int32_t const i = blockIdx.x * kKEYS_THREADS + threadIdx.x;
    bool valid = false;
    if (i < numBoxes)
    {
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
    int32_t const p = blockIdx.x * kKEYS_THREADS + threadIdx.x;
    if (p < numBoxes)
    {
        int32_t const index = order[p];
        values[p] = index;
        keys[p] = p < counters[kNUM_VALID] ? classKey(classIdxs[index]) : invalidClass;
    }
}

template <typename T>
__global__ void __launch_bounds__(kKEYS_THREADS) gatherBoxesKernel(T const* boxes, int32_t const* order,
    int32_t numBoxes, Box<typename BoxTraits<T>::Compute>* sorted, typename BoxTraits<T>::Compute* areas)
{
    using C = typename BoxTraits<T>::Compute;
    int32_t const q = blockIdx.x * kKEYS_THREADS + threadIdx.x;
    if (q < numBoxes)
    {
        Box<C> const box = loadBox(boxes, order[q]);
        sorted[q] = box;
        areas[q] = boxArea<C, BoxTraits<T>::kHALF_ROUNDING>(box);
    }
}

//! Block (colBlock, rowBlock), 64 threads: thread t computes mask word `colBlock` of chunk row
//! rowBlock * 64 + t (bit i: IoU with column colBlock * 64 + i, i after the row, above threshold).
//! Rows that are not live (suppressed by an earlier chunk, not a candidate, past maxOutputBoxes)
//! get a zero word without any test. A row with bits right of its diagonal block also sets its bit
//! in laterRows[rowBlock], so the resolve skips kept rows that suppress nothing later in the chunk
//! (most rows when classes or sparse boxes rarely overlap).
template <typename C, bool kHALF_ROUNDING, bool kBATCHED>
__global__ void __launch_bounds__(64) chunkMaskKernel(Box<C> const* boxes, C const* areas, uint64_t const* classes,
    int32_t chunkBase, int32_t chunkLength, C threshold, uint32_t const* suppressWords, int32_t const* counters,
    uint64_t* mask, uint64_t* laterRows)
{
    int32_t const rowBlock = blockIdx.y;
    int32_t const colBlock = blockIdx.x;
    if (colBlock < rowBlock || counters[kDONE] != 0)
    {
        // Below the diagonal, or maxOutputBoxes reached (the resolve then reads no mask).
        return;
    }
    __shared__ Box<C> sBoxes[64];
    __shared__ C sAreas[64];
    __shared__ uint64_t sClasses[64];

    int32_t const rowLocal = rowBlock * 64 + static_cast<int32_t>(threadIdx.x);
    int32_t const row = chunkBase + rowLocal;
    int32_t const colStart = colBlock * 64;
    int32_t const colCount = min(64, chunkLength - colStart);
    bool active = rowLocal < chunkLength && row < counters[kNUM_VALID]
        && !bitSet(suppressWords, row);
    if (kBATCHED && active && colBlock != rowBlock)
    {
        // Sorted by class: every column here has class >= the first column's.
        active = classes[row] >= classes[chunkBase + colStart];
    }
    if (!__syncthreads_or(active))
    {
        if (rowLocal < chunkLength)
        {
            mask[static_cast<int64_t>(rowLocal) * kCHUNK_WORDS + colBlock] = 0;
        }
        return;
    }
    if (static_cast<int32_t>(threadIdx.x) < colCount)
    {
        int32_t const col = chunkBase + colStart + threadIdx.x;
        sBoxes[threadIdx.x] = boxes[col];
        sAreas[threadIdx.x] = areas[col];
        if (kBATCHED)
        {
            sClasses[threadIdx.x] = classes[col];
        }
    }
    __syncthreads();
    uint64_t bits = 0;
    if (active)
    {
        Box<C> const mine = boxes[row];
        C const myArea = areas[row];
        uint64_t const myClass = kBATCHED ? classes[row] : 0;
        int32_t const first = colBlock == rowBlock ? static_cast<int32_t>(threadIdx.x) + 1 : 0;
        for (int32_t i = first; i < colCount; ++i)
        {
            if ((!kBATCHED || sClasses[i] == myClass)
                && iouAbove<C, kHALF_ROUNDING>(mine, myArea, sBoxes[i], sAreas[i], threshold))
            {
                bits |= 1ULL << i;
            }
        }
    }
    if (rowLocal < chunkLength)
    {
        mask[static_cast<int64_t>(rowLocal) * kCHUNK_WORDS + colBlock] = bits;
    }
    if (bits != 0 && colBlock != rowBlock)
    {
        atomicOr(reinterpret_cast<unsigned long long*>(&laterRows[rowBlock]), 1ULL << threadIdx.x);
    }
}

//! Loads in flight per round of orKeptRows. The resolve is one warp on the critical path of the
//! whole NMS, and each round costs a memory latency, so rounds are few and wide (kept rows per
//! 64-box word are usually under 8 after the laterRows filter).
constexpr int32_t kOR_LOADS = 8;

//! ORs mask word `word` of the kept rows of row block `block` (loads issued kOR_LOADS at a time).
__device__ __forceinline__ uint64_t orKeptRows(uint64_t const* mask, int32_t block, uint64_t kept, int32_t word)
{
    uint64_t acc = 0;
    uint64_t const* column = mask + static_cast<int64_t>(block) * 64 * kCHUNK_WORDS + word;
    while (kept != 0)
    {
        int32_t idx[kOR_LOADS];
#pragma unroll
        for (int32_t k = 0; k < kOR_LOADS; ++k)
        {
            idx[k] = kept != 0 ? __ffsll(static_cast<long long>(kept)) - 1 : -1;
            kept &= kept - 1;
        }
        uint64_t v[kOR_LOADS];
#pragma unroll
        for (int32_t k = 0; k < kOR_LOADS; ++k)
        {
            v[k] = idx[k] >= 0 ? column[idx[k] * kCHUNK_WORDS] : 0;
        }
#pragma unroll
        for (int32_t k = 0; k < kOR_LOADS; ++k)
        {
            acc |= v[k];
        }
    }
    return acc;
}

//! One warp resolves one chunk. Lane l owns the "removed" words l and l + 32 of the chunk.
template <bool kBATCHED>
__global__ void __launch_bounds__(32) chunkResolveKernel(int32_t chunkBase, int32_t chunkLength, int32_t numBoxes,
    int64_t maxOutputBoxes, uint32_t const* suppressWords, uint64_t const* mask, uint64_t* laterRows,
    uint64_t* keepWords, int32_t* chunkKept, int32_t* counters)
{
    int32_t const lane = threadIdx.x;
    int32_t const numWords = (chunkLength + 63) / 64;
    int32_t const wordBase = chunkBase / 64;
    // Leaves laterRows zeroed for the next chunk's mask kernel (after every lane has read it).
    auto clearLaterRows = [&]() {
        __syncwarp();
        laterRows[lane] = 0;
        laterRows[lane + 32] = 0;
    };
    if (counters[kDONE] != 0)
    {
        clearLaterRows();
        for (int32_t w = lane; w < numWords; w += 32)
        {
            keepWords[wordBase + w] = 0;
        }
        if (lane == 0)
        {
            counters[kCHUNK_KEPT] = 0;
        }
        return;
    }
    int32_t const liveEnd = min(counters[kNUM_VALID], chunkBase + chunkLength);
    auto initialRemoved = [&](int32_t w) -> uint64_t {
        if (w >= numWords)
        {
            return ~0ULL;
        }
        int32_t const first = chunkBase + w * 64;
        int32_t const live = liveEnd - first;
        if (live <= 0)
        {
            return ~0ULL;
        }
        uint64_t removed = suppressWords[first >> 5];
        if (first + 32 < numBoxes)
        {
            removed |= static_cast<uint64_t>(suppressWords[(first >> 5) + 1]) << 32;
        }
        if (live < 64)
        {
            removed |= ~0ULL << live;
        }
        return removed;
    };
    auto loadDiag = [&](int32_t block, int32_t rowLocal) -> uint64_t {
        return rowLocal < chunkLength ? mask[static_cast<int64_t>(rowLocal) * kCHUNK_WORDS + block] : 0;
    };
    uint64_t r0 = initialRemoved(lane);
    uint64_t r1 = initialRemoved(lane + 32);
    int64_t keptSoFar = counters[kKEPT_SO_FAR];
    int32_t numKept = 0;
    bool full = false;
    uint64_t d0 = loadDiag(0, lane);
    uint64_t d1 = loadDiag(0, lane + 32);
    for (int32_t b = 0; b < numWords; ++b)
    {
        uint64_t const diagLo = d0;
        uint64_t const diagHi = d1;
        if (b + 1 < numWords)
        {
            d0 = loadDiag(b + 1, (b + 1) * 64 + lane);
            d1 = loadDiag(b + 1, (b + 1) * 64 + lane + 32);
        }
        uint64_t removed = __shfl_sync(kFULL_MASK, b < 32 ? r0 : r1, b & 31);
        uint64_t kept = 0;
        uint64_t candidates = full ? 0 : ~removed;
        while (candidates != 0)
        {
            int32_t const i = __ffsll(static_cast<long long>(candidates)) - 1;
            if (!kBATCHED && maxOutputBoxes >= 0 && keptSoFar >= maxOutputBoxes)
            {
                full = true;
                break;
            }
            kept |= 1ULL << i;
            ++keptSoFar;
            if (lane == 0)
            {
                chunkKept[numKept] = chunkBase + b * 64 + i;
            }
            ++numKept;
            removed |= __shfl_sync(kFULL_MASK, i < 32 ? diagLo : diagHi, i & 31);
            candidates = ~removed & ~((2ULL << i) - 1ULL);
        }
        if (lane == 0)
        {
            keepWords[wordBase + b] = kept;
        }
        // Only kept rows with bits beyond this block can remove later boxes of the chunk.
        uint64_t const spreading = kept & laterRows[b];
        if (spreading != 0)
        {
            if (lane > b && lane < numWords)
            {
                r0 |= orKeptRows(mask, b, spreading, lane);
            }
            if (lane + 32 > b && lane + 32 < numWords)
            {
                r1 |= orKeptRows(mask, b, spreading, lane + 32);
            }
        }
    }
    clearLaterRows();
    if (lane == 0)
    {
        counters[kCHUNK_KEPT] = numKept;
        counters[kKEPT_SO_FAR] = static_cast<int32_t>(keptSoFar);
        if (!kBATCHED && maxOutputBoxes >= 0 && keptSoFar >= maxOutputBoxes)
        {
            counters[kDONE] = 1;
        }
    }
}

//! Tests every later live box against the kept boxes of the chunk just resolved (staged through
//! shared memory); a warp owns one 32-bit word of the suppression bitmap.
template <typename C, bool kHALF_ROUNDING>
__global__ void __launch_bounds__(kSUPPRESS_THREADS) suppressLaterKernel(Box<C> const* boxes, C const* areas,
    int32_t start, int32_t numBoxes, C threshold, int32_t const* chunkKept, int32_t const* counters,
    uint32_t* suppressWords)
{
    int32_t const numKept = counters[kCHUNK_KEPT];
    if (counters[kDONE] != 0 || numKept == 0)
    {
        return;
    }
    __shared__ Box<C> sBoxes[kKEPT_BATCH];
    __shared__ C sAreas[kKEPT_BATCH];

    int32_t const j = start + blockIdx.x * kSUPPRESS_THREADS + threadIdx.x;
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
            for (int32_t k = 0; k < count; ++k)
            {
                if (iouAbove<C, kHALF_ROUNDING>(mine, myArea, sBoxes[k], sAreas[k], threshold))
                {
                    suppressed = true;
                    break;
                }
            }
        }
        if (!__syncthreads_or(active && !suppressed))
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

//! Class-aware variant: only the chunk's last class can continue past the chunk, so a later box
//! of that class is tested against the kept boxes of that class (the tail of the kept list).
template <typename C, bool kHALF_ROUNDING>
__global__ void __launch_bounds__(kSUPPRESS_THREADS) suppressLaterBatchedKernel(Box<C> const* boxes,
    C const* areas, uint64_t const* classes, int32_t start, int32_t numBoxes, C threshold,
    int32_t const* chunkKept, int32_t const* counters, uint32_t* suppressWords)
{
    int32_t const numKept = counters[kCHUNK_KEPT];
    if (numKept == 0)
    {
        return;
    }
    int32_t const j = start + blockIdx.x * kSUPPRESS_THREADS + threadIdx.x;
    uint64_t const lastClass = classes[chunkKept[numKept - 1]];
    uint32_t const word = j < numBoxes ? suppressWords[j >> 5] : ~0U;
    bool suppressed = false;
    if (j < counters[kNUM_VALID] && !((word >> (j & 31)) & 1U) && classes[j] == lastClass)
    {
        Box<C> const mine = boxes[j];
        C const myArea = areas[j];
        for (int32_t k = numKept - 1; k >= 0; --k)
        {
            int32_t const q = chunkKept[k];
            if (classes[q] != lastClass)
            {
                break;
            }
            if (iouAbove<C, kHALF_ROUNDING>(mine, myArea, boxes[q], areas[q], threshold))
            {
                suppressed = true;
                break;
            }
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

//! Writes the kept indices of one tile at their place in score order (positions < capacity), the
//! count (block 0) and the -1 padding (grid-stride).
template <bool kBATCHED, typename I>
__global__ void __launch_bounds__(kCOMPACT_THREADS) writeKeptKernel(int32_t const* order, uint64_t const* keepWords,
    uint8_t const* flagsByIndex, int32_t numBoxes, int32_t const* tileCounts, int32_t numTiles, int64_t capacity,
    bool padded, I* keepIndices, int64_t* keepCount)
{
    using Scan = cub::BlockScan<int32_t, kCOMPACT_THREADS>;
    __shared__ typename Scan::TempStorage storage;
    __shared__ int32_t sBefore;
    __shared__ int32_t sTotal;
    if (threadIdx.x == 0)
    {
        sBefore = 0;
        sTotal = 0;
    }
    __syncthreads();
    int32_t before = 0;
    int32_t total = 0;
    for (int32_t t = threadIdx.x; t < numTiles; t += kCOMPACT_THREADS)
    {
        int32_t const c = tileCounts[t];
        total += c;
        before += t < static_cast<int32_t>(blockIdx.x) ? c : 0;
    }
    atomicAdd(&sBefore, before);
    atomicAdd(&sTotal, total);
    __syncthreads();

    int32_t const first = blockIdx.x * kCOMPACT_TILE + threadIdx.x * kCOMPACT_ITEMS;
    bool flags[kCOMPACT_ITEMS];
    int32_t count = 0;
#pragma unroll
    for (int32_t k = 0; k < kCOMPACT_ITEMS; ++k)
    {
        int32_t const p = first + k;
        flags[k] = p < numBoxes && keptAt<kBATCHED>(p, order, keepWords, flagsByIndex);
        count += flags[k] ? 1 : 0;
    }
    int32_t offset = 0;
    Scan(storage).ExclusiveSum(count, offset);
    int64_t position = static_cast<int64_t>(sBefore) + offset;
#pragma unroll
    for (int32_t k = 0; k < kCOMPACT_ITEMS; ++k)
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
    int64_t const kept = min(static_cast<int64_t>(sTotal), capacity);
    if (blockIdx.x == 0 && threadIdx.x == 0)
    {
        *keepCount = kept;
    }
    if (padded)
    {
        for (int64_t pos = kept + static_cast<int64_t>(blockIdx.x) * kCOMPACT_THREADS + threadIdx.x; pos < capacity;
             pos += static_cast<int64_t>(gridDim.x) * kCOMPACT_THREADS)
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
    layout.mask = take(chunkRows * kCHUNK_WORDS * sizeof(uint64_t));
    layout.laterRows = take(kCHUNK_WORDS * sizeof(uint64_t));
    layout.chunkKept = take(chunkRows * sizeof(int32_t));
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
        values.Current(), counters);
    TRTOPS_RETURN_IF_ERROR(lastLaunchStatus("nms: scoreKeysKernel"));
    size_t tempBytes = layout.cubTempBytes;
    TRTOPS_CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairs(at<void>(workspace, layout.cubTemp), tempBytes, keys,
        values, n, 0, static_cast<int32_t>(8 * sizeof(K)), stream));
    *order = values.Current();
    return Status::ok();
}

//! Stage 3 (batched): stable re-sort of the candidate order by class.
template <typename I>
Status sortByClass(NmsParams const& params, void const* classIdxs, int32_t const* scoreOrder, void* workspace,
    WorkspaceLayout const& layout, int32_t const** order, uint64_t const** classes, cudaStream_t stream)
{
    int32_t const n = static_cast<int32_t>(params.numBoxes);
    int32_t const bits = classKeyBits(params);
    uint64_t const invalidClass = bits == 32 ? 0xFFFFFFFFULL : ~0ULL;
    cub::DoubleBuffer<uint64_t> keys(
        at<uint64_t>(workspace, layout.classKeysA), at<uint64_t>(workspace, layout.classKeysB));
    cub::DoubleBuffer<int32_t> values(
        at<int32_t>(workspace, layout.classValuesA), at<int32_t>(workspace, layout.classValuesB));
    classKeysKernel<I><<<static_cast<uint32_t>(ceilDiv(n, kKEYS_THREADS)), kKEYS_THREADS, 0, stream>>>(
        static_cast<I const*>(classIdxs), scoreOrder, n, invalidClass, at<int32_t>(workspace, layout.counters),
        keys.Current(), values.Current());
    TRTOPS_RETURN_IF_ERROR(lastLaunchStatus("batched_nms: classKeysKernel"));
    size_t tempBytes = layout.cubTempBytes;
    TRTOPS_CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairs(
        at<void>(workspace, layout.cubTemp), tempBytes, keys, values, n, 0, bits, stream));
    *order = values.Current();
    *classes = keys.Current();
    return Status::ok();
}

//! Stages 4-5: gather and chunked greedy suppression; leaves keep bits in processing order.
template <typename T, bool kBATCHED>
Status suppress(NmsParams const& params, void const* boxes, int32_t const* order, uint64_t const* classes,
    void* workspace, WorkspaceLayout const& layout, cudaStream_t stream)
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
    uint64_t* laterRows = at<uint64_t>(workspace, layout.laterRows);
    int32_t* chunkKept = at<int32_t>(workspace, layout.chunkKept);

    gatherBoxesKernel<T><<<static_cast<uint32_t>(ceilDiv(n, kKEYS_THREADS)), kKEYS_THREADS, 0, stream>>>(
        static_cast<T const*>(boxes), order, n, sorted, areas);
    TRTOPS_RETURN_IF_ERROR(lastLaunchStatus(kBATCHED ? "batched_nms: gatherBoxesKernel" : "nms: gatherBoxesKernel"));

    int32_t const numChunks = static_cast<int32_t>(ceilDiv(n, kCHUNK));
    for (int32_t c = 0; c < numChunks; ++c)
    {
        int32_t const chunkBase = c * kCHUNK;
        int32_t const chunkLength = std::min(kCHUNK, n - chunkBase);
        uint32_t const words = static_cast<uint32_t>(ceilDiv(chunkLength, 64));
        chunkMaskKernel<C, kHALF, kBATCHED><<<dim3(words, words), 64, 0, stream>>>(
            sorted, areas, classes, chunkBase, chunkLength, threshold, suppressWords, counters, mask, laterRows);
        TRTOPS_RETURN_IF_ERROR(lastLaunchStatus(kBATCHED ? "batched_nms: chunkMaskKernel" : "nms: chunkMaskKernel"));
        chunkResolveKernel<kBATCHED><<<1, 32, 0, stream>>>(chunkBase, chunkLength, n, params.maxOutputBoxes,
            suppressWords, mask, laterRows, keepWords, chunkKept, counters);
        TRTOPS_RETURN_IF_ERROR(
            lastLaunchStatus(kBATCHED ? "batched_nms: chunkResolveKernel" : "nms: chunkResolveKernel"));
        int32_t const start = chunkBase + chunkLength;
        if (start < n)
        {
            uint32_t const blocks = static_cast<uint32_t>(ceilDiv(n - start, kSUPPRESS_THREADS));
            if (kBATCHED)
            {
                suppressLaterBatchedKernel<C, kHALF><<<blocks, kSUPPRESS_THREADS, 0, stream>>>(
                    sorted, areas, classes, start, n, threshold, chunkKept, counters, suppressWords);
            }
            else
            {
                suppressLaterKernel<C, kHALF><<<blocks, kSUPPRESS_THREADS, 0, stream>>>(
                    sorted, areas, start, n, threshold, chunkKept, counters, suppressWords);
            }
            TRTOPS_RETURN_IF_ERROR(lastLaunchStatus(op));
        }
    }
    if (kBATCHED)
    {
        scatterKeepFlagsKernel<<<static_cast<uint32_t>(ceilDiv(n, kKEYS_THREADS)), kKEYS_THREADS, 0, stream>>>(
            order, keepWords, n, at<uint8_t>(workspace, layout.flagsByIndex));
        TRTOPS_RETURN_IF_ERROR(lastLaunchStatus("batched_nms: scatterKeepFlagsKernel"));
    }
    return Status::ok();
}

//! Stage 6: kept indices in score order, count, padding.
template <bool kBATCHED, typename I>
Status compact(NmsParams const& params, int32_t const* scoreOrder, void* workspace, WorkspaceLayout const& layout,
    void* keepIndices, void* keepCount, cudaStream_t stream)
{
    int32_t const n = static_cast<int32_t>(params.numBoxes);
    int64_t const capacity = params.maxOutputBoxes >= 0 ? params.maxOutputBoxes : params.numBoxes;
    int32_t const numTiles = static_cast<int32_t>(ceilDiv(n, kCOMPACT_TILE));
    uint64_t const* keepWords = at<uint64_t>(workspace, layout.keepWords);
    uint8_t const* flagsByIndex = kBATCHED ? at<uint8_t>(workspace, layout.flagsByIndex) : nullptr;
    int32_t* tileCounts = at<int32_t>(workspace, layout.tileCounts);
    countKeptKernel<kBATCHED><<<static_cast<uint32_t>(numTiles), kCOMPACT_THREADS, 0, stream>>>(
        scoreOrder, keepWords, flagsByIndex, n, tileCounts);
    TRTOPS_RETURN_IF_ERROR(lastLaunchStatus("nms: countKeptKernel"));
    writeKeptKernel<kBATCHED, I><<<static_cast<uint32_t>(numTiles), kCOMPACT_THREADS, 0, stream>>>(scoreOrder,
        keepWords, flagsByIndex, n, tileCounts, numTiles, capacity, params.padded, static_cast<I*>(keepIndices),
        static_cast<int64_t*>(keepCount));
    return lastLaunchStatus("nms: writeKeptKernel");
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
    int32_t const n = static_cast<int32_t>(params.numBoxes);
    int32_t* counters = at<int32_t>(workspace, layout.counters);
    TRTOPS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(counters, 0, kNUM_COUNTERS * sizeof(int32_t), stream));
    TRTOPS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(
        at<void>(workspace, layout.suppressWords), 0, static_cast<size_t>(ceilDiv(n, 32)) * sizeof(uint32_t), stream));
    // Each chunk's resolve clears what its mask kernel set, so one clear up front suffices.
    TRTOPS_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(at<void>(workspace, layout.laterRows), 0, kCHUNK_WORDS * sizeof(uint64_t), stream));

    int32_t const* scoreOrder = nullptr;
    TRTOPS_RETURN_IF_ERROR(dispatchBoxes(params.scoreType, op, [&](auto tag) {
        return sortByScore<decltype(tag)>(params, scores, workspace, layout, &scoreOrder, stream);
    }));
    int32_t const* order = scoreOrder;
    uint64_t const* classes = nullptr;
    if (params.batched)
    {
        Status const status = params.classType == DataType::kINT32
            ? sortByClass<int32_t>(params, classIdxs, scoreOrder, workspace, layout, &order, &classes, stream)
            : sortByClass<int64_t>(params, classIdxs, scoreOrder, workspace, layout, &order, &classes, stream);
        TRTOPS_RETURN_IF_ERROR(status);
    }
    TRTOPS_RETURN_IF_ERROR(dispatchBoxes(params.boxType, op, [&](auto tag) {
        using T = decltype(tag);
        return params.batched ? suppress<T, true>(params, boxes, order, classes, workspace, layout, stream)
                              : suppress<T, false>(params, boxes, order, classes, workspace, layout, stream);
    }));
    bool const int32Out = params.indexType == DataType::kINT32;
    if (params.batched)
    {
        return int32Out ? compact<true, int32_t>(params, scoreOrder, workspace, layout, keepIndices, keepCount, stream)
                        : compact<true, int64_t>(params, scoreOrder, workspace, layout, keepIndices, keepCount, stream);
    }
    return int32Out ? compact<false, int32_t>(params, scoreOrder, workspace, layout, keepIndices, keepCount, stream)
                    : compact<false, int64_t>(params, scoreOrder, workspace, layout, keepIndices, keepCount, stream);
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
