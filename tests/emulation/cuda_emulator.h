//! \file cuda_emulator.h
//! Host emulation of the CUDA execution model, so that unmodified kernel sources can run (slowly)
//! on a machine without a GPU and be compared with their host implementation.
//!
//! Every simulated GPU thread is a coroutine (ucontext) with its own stack. A block runs in
//! rounds: each runnable thread, in a random order, runs until it reaches a block barrier, a warp
//! collective or its end; then every collective whose participants have all arrived completes.
//! Blocks of a grid run one after another in a random order. Shared memory is per block and
//! starts as random bytes. Misuse that real hardware punishes with a hang or undefined behaviour
//! (divergent barriers, a warp collective naming an exited or absent lane, a shuffle from a lane
//! outside the mask, a deadlock) is reported through reportError.
//!
//! emulate_cuda_source.py rewrites a .cu file for this header: launches become emu::launch,
//! `__shared__` variables become emu::sharedVariable, CUB includes become emulated_cub.h. What is
//! not modelled is listed in README.md.
#pragma once

// The CUDA headers come first: they define __global__, __device__, ... as attributes the host
// compiler does not know; the emulator redefines them below.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>

//! The compute capability (major) of the emulated device: 9 (sm_90) unless a build says otherwise
//! (-DTRTOPS_EMULATED_COMPUTE_MAJOR=7 emulates sm_75). Launchers that choose kernels by
//! architecture and warp_mma_model.h read it.
#ifndef TRTOPS_EMULATED_COMPUTE_MAJOR
#define TRTOPS_EMULATED_COMPUTE_MAJOR 9
#endif
#include <type_traits>
#include <vector>

#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __launch_bounds__
#undef __grid_constant__
#define __grid_constant__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

namespace emu
{

//! Same layout and member names as CUDA's uint3 (threadIdx, blockIdx, blockDim, gridDim).
struct Index3
{
    uint32_t x{0};
    uint32_t y{0};
    uint32_t z{0};
};

//! What a simulated thread is suspended on.
enum class Wait : int32_t
{
    kNONE,          //!< runnable (or exited)
    kBLOCK_BARRIER, //!< needs every thread of the block
    kWARP,          //!< needs the lanes named by its mask
};

//! Which collective a suspended thread takes part in; all participants must agree.
enum class Collective : int32_t
{
    kSYNC_THREADS,
    kSYNC_THREADS_OR,
    kSYNC_THREADS_AND,
    kSYNC_THREADS_COUNT,
    kBLOCK_SUM,            //!< emulated_cub.h BlockReduce::Sum
    kBLOCK_EXCLUSIVE_SUM,  //!< emulated_cub.h BlockScan::ExclusiveSum
    kSYNC_WARP,
    kBALLOT,
    kSHUFFLE,
};

//! Source line tags for collectives that do not come from a line of the emulated source.
constexpr int32_t kCUB_BLOCK_REDUCE_LINE = -1;
constexpr int32_t kCUB_BLOCK_SCAN_LINE = -2;
constexpr int32_t kCUB_BLOCK_RADIX_SORT_LINE = -3;

// ---- used by the harness ------------------------------------------------------------------------

//! Seeds every random choice (thread and block order, shared-memory garbage, emulated CUB).
void seed(uint64_t value);
//! Random bits from the emulator's generator (for fakes and harnesses that poison memory).
uint64_t randomBits();
//! Fills bytes with random garbage (memory that a kernel must write before it reads).
void poison(void* data, size_t bytes);
//! Launches and runtime calls on another stream are reported as errors.
void setExpectedStream(cudaStream_t stream);
cudaStream_t expectedStream();
//! Errors reported since the program started.
int64_t errorCount();
//! Kernel launches and memsets since the last clearLaunchLog, by name.
std::vector<std::string> const& launchLog();
void clearLaunchLog();

// ---- used by emulated code ------------------------------------------------------------------------

//! Reports an execution-model violation (printf format), prefixed with the running kernel's name.
void reportError(char const* format, ...) __attribute__((format(printf, 1, 2)));
void appendLaunchLog(std::string entry);

Index3 const& threadIndex();
Index3 const& blockIndex();
Index3 const& blockDimension();
Index3 const& gridDimension();

//! Suspends the calling simulated thread until the collective completes; returns its result.
//! `line` identifies the call site (threads meeting at different sites is an error).
uint64_t collective(Wait wait, Collective kind, uint64_t value, int32_t line, uint32_t mask = 0, int32_t srcLane = 0);

//! The running block's instance of the `__shared__` variable `key` (one key per declaration).
void* sharedVariable(int32_t key, size_t bytes, size_t alignment);
template <typename T>
T& shared(int32_t key, size_t alignment = alignof(T))
{
    return *static_cast<T*>(sharedVariable(key, sizeof(T), std::max(alignment, alignof(T))));
}
//! The running block's dynamic shared memory (`extern __shared__`), as sized by the launch.
void* dynamicShared();

//! Runs `body` once per simulated thread of every block of the grid; returns when all are done.
void runGrid(char const* kernelName, dim3 grid, dim3 block, size_t dynamicSharedBytes, cudaStream_t stream,
    std::function<void()> const& body);

//! What a rewritten `kernel<<<grid, block, shared, stream>>>(args...)` calls. The arguments are
//! evaluated once, on the host, like those of a real launch; every thread gets them by value.
template <typename Kernel, typename... Args>
void launch(char const* kernelName, dim3 grid, dim3 block, size_t dynamicSharedBytes, cudaStream_t stream,
    Kernel&& kernel, Args... args)
{
    std::tuple<Args...> const arguments(args...);
    runGrid(kernelName, grid, block, dynamicSharedBytes, stream, [&] { std::apply(kernel, arguments); });
}

//! Bits of any trivially copyable value up to 8 bytes, for collectives that move values.
template <typename T>
uint64_t toBits(T value)
{
    static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable<T>::value, "value too large");
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    return bits;
}
template <typename T>
T fromBits(uint64_t bits)
{
    T value;
    std::memcpy(&value, &bits, sizeof(T));
    return value;
}

template <typename T>
T shuffle(uint32_t mask, T value, int32_t srcLane, int32_t line)
{
    return fromBits<T>(collective(Wait::kWARP, Collective::kSHUFFLE, toBits(value), line, mask, srcLane));
}

} // namespace emu

// ---- CUDA names seen by emulated device code ----------------------------------------------------

#define threadIdx (::emu::threadIndex())
#define blockIdx (::emu::blockIndex())
#define blockDim (::emu::blockDimension())
#define gridDim (::emu::gridDimension())
#define warpSize 32

#define __syncthreads()                                                                                 \
    ((void) ::emu::collective(::emu::Wait::kBLOCK_BARRIER, ::emu::Collective::kSYNC_THREADS, 0, __LINE__))
#define __syncthreads_or(predicate)                                                                     \
    (static_cast<int>(::emu::collective(                                                                \
        ::emu::Wait::kBLOCK_BARRIER, ::emu::Collective::kSYNC_THREADS_OR, (predicate) ? 1 : 0, __LINE__)))
#define __syncthreads_and(predicate)                                                                    \
    (static_cast<int>(::emu::collective(                                                                \
        ::emu::Wait::kBLOCK_BARRIER, ::emu::Collective::kSYNC_THREADS_AND, (predicate) ? 1 : 0, __LINE__)))
#define __syncthreads_count(predicate)                                                                  \
    (static_cast<int>(::emu::collective(                                                                \
        ::emu::Wait::kBLOCK_BARRIER, ::emu::Collective::kSYNC_THREADS_COUNT, (predicate) ? 1 : 0, __LINE__)))
#define __syncwarp(...) ((void) ::emu::collective(::emu::Wait::kWARP, ::emu::Collective::kSYNC_WARP, 0, __LINE__, \
    ::emu::warpMaskOrFull(__VA_ARGS__)))
#define __ballot_sync(mask, predicate)                                                                  \
    (static_cast<unsigned>(::emu::collective(                                                           \
        ::emu::Wait::kWARP, ::emu::Collective::kBALLOT, (predicate) ? 1 : 0, __LINE__, (mask))))
#define __any_sync(mask, predicate) (__ballot_sync((mask), (predicate)) != 0U ? 1 : 0)
#define __all_sync(mask, predicate) (__ballot_sync((mask), (predicate)) == (mask) ? 1 : 0)
#define __shfl_sync(mask, value, srcLane) ::emu::shuffle((mask), (value), (srcLane), __LINE__)

namespace emu
{
//! __syncwarp() without a mask means every lane.
inline uint32_t warpMaskOrFull()
{
    return 0xFFFFFFFFU;
}
inline uint32_t warpMaskOrFull(uint32_t mask)
{
    return mask;
}
} // namespace emu

// Simulated threads never run concurrently and are only switched at collectives, so plain
// read-modify-write is atomic here.
// The value's type is taken from the address (a non-deduced context), as CUDA's overloads do.
template <typename T>
inline T atomicAdd(T* address, typename std::common_type<T>::type value)
{
    T const old = *address;
    *address = old + value;
    return old;
}

template <typename T>
inline T atomicOr(T* address, typename std::common_type<T>::type value)
{
    T const old = *address;
    *address = old | value;
    return old;
}

//! Only the inline PTX of sm_80+ paths takes shared-memory addresses, and the emulated build never
//! compiles those paths; the stand-in lets the helpers that wrap them compile.
inline size_t __cvta_generic_to_shared(void const* pointer)
{
    return reinterpret_cast<size_t>(pointer);
}

template <typename T>
inline T __ldg(T const* address)
{
    return *address;
}

inline int __ffs(int value)
{
    return __builtin_ffs(value);
}
inline int __ffsll(long long value)
{
    return __builtin_ffsll(value);
}
inline int __popc(unsigned value)
{
    return __builtin_popcount(value);
}
inline int __popcll(unsigned long long value)
{
    return __builtin_popcountll(value);
}

// CUDA's integer min/max overloads promote mixed operands; common_type does the same here.
template <typename A, typename B>
inline typename std::common_type<A, B>::type min(A a, B b)
{
    using T = typename std::common_type<A, B>::type;
    return static_cast<T>(a) < static_cast<T>(b) ? static_cast<T>(a) : static_cast<T>(b);
}
template <typename A, typename B>
inline typename std::common_type<A, B>::type max(A a, B b)
{
    using T = typename std::common_type<A, B>::type;
    return static_cast<T>(a) > static_cast<T>(b) ? static_cast<T>(a) : static_cast<T>(b);
}
