//! \file emulated_cub.h
//! Stand-ins for the CUB pieces our kernels use, with CUB's names and calling conventions, for
//! sources rewritten by emulate_cuda_source.py (which replaces `#include <cub/...>` by this file).
//!
//! They are built to expose wrong use rather than to be fast: BlockReduce::Sum returns garbage
//! outside thread 0 (CUB defines the result only there); DeviceRadixSort leaves its result in
//! either buffer of the DoubleBuffer (as CUB's pass count decides), scrambles the other buffer and
//! the temporary storage, asks for a temporary size that is not a multiple of 256, and records
//! where that storage was so a harness can check it lies inside the caller's workspace.
//! Only the overloads our kernels call exist; add others when a kernel family needs them.
#pragma once

#include "cuda_emulator.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

namespace emu
{

//! One DeviceRadixSort call with real (non-sizing) temporary storage.
struct SortTempUse
{
    void const* data{nullptr};
    size_t bytes{0};
};

//! Every sort since the last clear, for workspace checks by the harness.
inline std::vector<SortTempUse>& sortTempUses()
{
    static std::vector<SortTempUse> uses;
    return uses;
}

//! Temporary bytes the emulated radix sort asks for: it grows with the item count and the number
//! of 8-bit passes like CUB's, and is deliberately odd so that buffers carved after it must be
//! aligned by their caller.
inline size_t radixSortTempBytes(int64_t numItems, int32_t keyBytes, int32_t beginBit, int32_t endBit)
{
    int64_t const passes = (endBit - beginBit + 7) / 8;
    return static_cast<size_t>(numItems * 3 / 2 + passes * 4096 + keyBytes * 8 + 77);
}

} // namespace emu

namespace cub
{

template <typename T>
struct DoubleBuffer
{
    T* d_buffers[2]{nullptr, nullptr};
    int selector{0};

    DoubleBuffer() = default;
    DoubleBuffer(T* current, T* alternate)
        : d_buffers{current, alternate}
    {
    }
    T* Current() const
    {
        return d_buffers[selector];
    }
    T* Alternate() const
    {
        return d_buffers[selector ^ 1];
    }
};

template <typename T, int kBLOCK_THREADS>
class BlockReduce
{
public:
    //! Real CUB keeps its scratch here; the emulator's barrier carries the values instead.
    struct TempStorage
    {
        unsigned char unused[16];
    };

    explicit BlockReduce(TempStorage&) {}

    T Sum(T input)
    {
        static_assert(std::is_integral<T>::value, "the emulated BlockReduce sums integers only");
        checkBlockSize();
        uint64_t const total = ::emu::collective(::emu::Wait::kBLOCK_BARRIER, ::emu::Collective::kBLOCK_SUM,
            static_cast<uint64_t>(static_cast<int64_t>(input)), ::emu::kCUB_BLOCK_REDUCE_LINE);
        if (::emu::threadIndex().x == 0 && ::emu::threadIndex().y == 0 && ::emu::threadIndex().z == 0)
        {
            return static_cast<T>(static_cast<int64_t>(total));
        }
        return static_cast<T>(::emu::randomBits());
    }

private:
    static void checkBlockSize()
    {
        ::emu::Index3 const& block = ::emu::blockDimension();
        if (block.x * block.y * block.z != static_cast<uint32_t>(kBLOCK_THREADS))
        {
            ::emu::reportError("BlockReduce<%d threads> used in a block of %u", kBLOCK_THREADS,
                block.x * block.y * block.z);
        }
    }
};

template <typename T, int kBLOCK_THREADS>
class BlockScan
{
public:
    struct TempStorage
    {
        unsigned char unused[16];
    };

    explicit BlockScan(TempStorage&) {}

    void ExclusiveSum(T input, T& output)
    {
        static_assert(std::is_integral<T>::value, "the emulated BlockScan sums integers only");
        ::emu::Index3 const& block = ::emu::blockDimension();
        if (block.x * block.y * block.z != static_cast<uint32_t>(kBLOCK_THREADS))
        {
            ::emu::reportError("BlockScan<%d threads> used in a block of %u", kBLOCK_THREADS,
                block.x * block.y * block.z);
        }
        output = static_cast<T>(static_cast<int64_t>(::emu::collective(::emu::Wait::kBLOCK_BARRIER,
            ::emu::Collective::kBLOCK_EXCLUSIVE_SUM, static_cast<uint64_t>(static_cast<int64_t>(input)),
            ::emu::kCUB_BLOCK_SCAN_LINE)));
    }

    //! As above, plus the block's total in every thread (CUB's block_aggregate).
    void ExclusiveSum(T input, T& output, T& aggregate)
    {
        ExclusiveSum(input, output);
        aggregate = static_cast<T>(static_cast<int64_t>(::emu::collective(::emu::Wait::kBLOCK_BARRIER,
            ::emu::Collective::kBLOCK_SUM, static_cast<uint64_t>(static_cast<int64_t>(input)),
            ::emu::kCUB_BLOCK_SCAN_LINE)));
    }
};

//! Stable sort of kBLOCK_THREADS x kITEMS (key, value) pairs held by a block's threads. The
//! pairs are sorted where CUB would exchange them through TempStorage; here a side buffer per
//! TempStorage instance (the block's shared variable) holds them, because a real-size buffer
//! would count against the emulated 48 KiB of static shared memory.
template <typename K, int kBLOCK_THREADS, int kITEMS, typename V>
class BlockRadixSort
{
public:
    struct TempStorage
    {
        unsigned char unused[16];
    };

    explicit BlockRadixSort(TempStorage& storage)
        : mStorage(storage)
    {
    }

    //! Input blocked (thread t holds ranks t * kITEMS ...), output striped (item k of thread t is
    //! position k * kBLOCK_THREADS + t).
    void SortBlockedToStriped(K (&keys)[kITEMS], V (&values)[kITEMS], int beginBit = 0, int endBit = sizeof(K) * 8)
    {
        static_assert(std::is_unsigned<K>::value, "the emulated block radix sort takes unsigned keys only");
        ::emu::Index3 const& block = ::emu::blockDimension();
        if (block.x * block.y * block.z != static_cast<uint32_t>(kBLOCK_THREADS))
        {
            ::emu::reportError("BlockRadixSort<%d threads> used in a block of %u", kBLOCK_THREADS,
                block.x * block.y * block.z);
        }
        auto& pairs = buffers()[&mStorage];
        pairs.resize(static_cast<size_t>(kBLOCK_THREADS) * kITEMS);
        uint32_t const tid = ::emu::threadIndex().x;
        for (int k = 0; k < kITEMS; ++k)
        {
            pairs[tid * kITEMS + k] = {keys[k], values[k]};
        }
        ::emu::collective(
            ::emu::Wait::kBLOCK_BARRIER, ::emu::Collective::kSYNC_THREADS, 0, ::emu::kCUB_BLOCK_RADIX_SORT_LINE);
        if (tid == 0)
        {
            int const width = endBit - beginBit;
            K const bitsMask
                = width >= static_cast<int>(8 * sizeof(K)) ? ~K(0) : static_cast<K>(((K(1) << width) - 1) << beginBit);
            std::stable_sort(pairs.begin(), pairs.end(),
                [&](auto const& a, auto const& b) { return (a.first & bitsMask) < (b.first & bitsMask); });
        }
        ::emu::collective(
            ::emu::Wait::kBLOCK_BARRIER, ::emu::Collective::kSYNC_THREADS, 0, ::emu::kCUB_BLOCK_RADIX_SORT_LINE);
        for (int k = 0; k < kITEMS; ++k)
        {
            keys[k] = pairs[k * kBLOCK_THREADS + tid].first;
            values[k] = pairs[k * kBLOCK_THREADS + tid].second;
        }
        // Every thread has its pairs before the buffer can be reused or dropped.
        ::emu::collective(
            ::emu::Wait::kBLOCK_BARRIER, ::emu::Collective::kSYNC_THREADS, 0, ::emu::kCUB_BLOCK_RADIX_SORT_LINE);
        if (tid == 0)
        {
            buffers().erase(&mStorage);
        }
    }

private:
    static std::map<TempStorage const*, std::vector<std::pair<K, V>>>& buffers()
    {
        static std::map<TempStorage const*, std::vector<std::pair<K, V>>> instances;
        return instances;
    }

    TempStorage& mStorage;
};

struct DeviceRadixSort
{
    //! Stable sort of (key, value) pairs by bits [beginBit, endBit) of the unsigned keys.
    template <typename K, typename V, typename NumItems>
    static cudaError_t SortPairs(void* tempStorage, size_t& tempBytes, DoubleBuffer<K>& keys, DoubleBuffer<V>& values,
        NumItems numItems, int beginBit = 0, int endBit = sizeof(K) * 8, cudaStream_t stream = 0)
    {
        static_assert(std::is_unsigned<K>::value, "the emulated radix sort takes unsigned keys only");
        int64_t const n = static_cast<int64_t>(numItems);
        size_t const needed = ::emu::radixSortTempBytes(n, sizeof(K), beginBit, endBit);
        if (tempStorage == nullptr)
        {
            tempBytes = needed;
            return cudaSuccess;
        }
        if (stream != ::emu::expectedStream())
        {
            ::emu::reportError("DeviceRadixSort::SortPairs on stream %p, expected %p", static_cast<void*>(stream),
                static_cast<void*>(::emu::expectedStream()));
        }
        if (tempBytes < needed)
        {
            ::emu::reportError("DeviceRadixSort::SortPairs given %zu temporary bytes, needs %zu", tempBytes, needed);
        }
        ::emu::sortTempUses().push_back(::emu::SortTempUse{tempStorage, tempBytes});
        ::emu::appendLaunchLog("DeviceRadixSort::SortPairs");

        int32_t const width = endBit - beginBit;
        K const bitsMask = width >= static_cast<int32_t>(8 * sizeof(K)) ? ~K(0) : ((K(1) << width) - 1) << beginBit;
        K const* inKeys = keys.Current();
        V const* inValues = values.Current();
        std::vector<int64_t> order(static_cast<size_t>(n));
        std::iota(order.begin(), order.end(), int64_t{0});
        std::stable_sort(order.begin(), order.end(),
            [&](int64_t a, int64_t b) { return (inKeys[a] & bitsMask) < (inKeys[b] & bitsMask); });
        std::vector<K> sortedKeys(order.size());
        std::vector<V> sortedValues(order.size());
        for (size_t i = 0; i < order.size(); ++i)
        {
            sortedKeys[i] = inKeys[order[i]];
            sortedValues[i] = inValues[order[i]];
        }
        if (::emu::randomBits() & 1U)
        {
            keys.selector ^= 1;
            values.selector ^= 1;
        }
        std::copy(sortedKeys.begin(), sortedKeys.end(), keys.Current());
        std::copy(sortedValues.begin(), sortedValues.end(), values.Current());
        ::emu::poison(keys.Alternate(), order.size() * sizeof(K));
        ::emu::poison(values.Alternate(), order.size() * sizeof(V));
        ::emu::poison(tempStorage, tempBytes);
        return cudaSuccess;
    }
};

} // namespace cub
