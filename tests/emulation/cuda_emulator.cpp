//! \file cuda_emulator.cpp
//! The scheduler behind cuda_emulator.h and the CUDA runtime calls that emulated sources make.
#include "cuda_emulator.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <numeric>
#include <random>

// The kernel-facing names from cuda_emulator.h would rewrite this file's own identifiers.
#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim
#undef warpSize

// Switching between simulated threads is most of an emulated run's work. glibc's swapcontext
// saves and restores the signal mask with a system call on every switch, which took ~40% of a
// run (20 of 49 s for the deform_conv2d program); the mask never changes here. On x86-64 a switch
// is therefore only the callee-saved registers and the SSE/x87 control words, pushed onto the
// stack being left, and a stack-pointer swap (the System V ABI's contract for a function call).
// Other hosts keep ucontext (as does a build with -DTRTOPS_EMULATOR_UCONTEXT, to check that path).
#if defined(__x86_64__) && defined(__linux__) && !defined(TRTOPS_EMULATOR_UCONTEXT)
#define TRTOPS_EMULATOR_STACK_SWITCH 1
//! Saves the running coroutine's stack pointer into *saveStackPointer and resumes the one whose
//! stack pointer is loadStackPointer (a stack this function left, or one prepared by startContext).
extern "C" void trtopsEmuSwitchStack(void** saveStackPointer, void* loadStackPointer);
asm(R"(
    .pushsection .text
    .p2align 4
    .globl trtopsEmuSwitchStack
    .hidden trtopsEmuSwitchStack
    .type trtopsEmuSwitchStack, @function
trtopsEmuSwitchStack:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size trtopsEmuSwitchStack, .-trtopsEmuSwitchStack
    .popsection
)");
#else
#include <ucontext.h>
#endif

namespace emu
{
namespace
{

//! A suspended coroutine (a simulated thread or the scheduler).
struct Context
{
#if TRTOPS_EMULATOR_STACK_SWITCH
    void* stackPointer{nullptr};
#else
    ucontext_t context;
#endif
};

//! Suspends the running coroutine into `from` and resumes `to`.
void switchContext(Context& from, Context& to)
{
#if TRTOPS_EMULATOR_STACK_SWITCH
    trtopsEmuSwitchStack(&from.stackPointer, to.stackPointer);
#else
    swapcontext(&from.context, &to.context);
#endif
}

//! Prepares `context` so that the next switch to it calls entry() on the given stack; entry must
//! never return (it switches away for good instead).
void startContext(Context& context, char* stack, size_t stackBytes, void (*entry)())
{
#if TRTOPS_EMULATOR_STACK_SWITCH
    // The frame trtopsEmuSwitchStack pops, from the top of the stack down: a null return address
    // for entry (it never returns; rsp is then 8 mod 16, as after a call), entry as the return
    // address of the switch, zeroed rbp, rbx, r12-r15, and the control words of this thread.
    auto* top = reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(stack + stackBytes) & ~uintptr_t{15});
    uint32_t mxcsr = 0;
    uint16_t x87Control = 0;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(x87Control));
    top[-1] = 0;
    top[-2] = reinterpret_cast<uint64_t>(entry);
    for (int slot = 3; slot <= 8; ++slot)
    {
        top[-slot] = 0;
    }
    top[-9] = static_cast<uint64_t>(mxcsr) | static_cast<uint64_t>(x87Control) << 32;
    context.stackPointer = &top[-9];
#else
    getcontext(&context.context);
    context.context.uc_stack.ss_sp = stack;
    context.context.uc_stack.ss_size = stackBytes;
    context.context.uc_link = nullptr;
    makecontext(&context.context, entry, 0);
#endif
}

constexpr int32_t kWARP_SIZE = 32;
constexpr uint32_t kFULL_WARP = 0xFFFFFFFFU;
constexpr uint32_t kMAX_BLOCK_THREADS = 1024;
constexpr uint32_t kMAX_BLOCK_Z = 64;
constexpr uint32_t kMAX_GRID_X = 2147483647U;
constexpr uint32_t kMAX_GRID_YZ = 65535;
//! Per simulated thread: the kernel's frames plus the host library code it calls (libm, the
//! error printer). Untouched pages of a stack are never committed.
constexpr size_t kSTACK_BYTES = 256 * 1024;
//! CUDA's limit for statically declared shared memory per block.
constexpr size_t kSTATIC_SHARED_LIMIT = 48 * 1024;
//! The largest opt-in shared memory per block of the GPUs we target (sm_90: 227 KiB).
constexpr size_t kSHARED_LIMIT = 227 * 1024;
//! Shared variables are placed at least this aligned (as vector loads of them require).
constexpr size_t kSHARED_ALIGNMENT = 16;
//! A broken kernel often fails in every thread; the first messages say enough.
constexpr int64_t kMAX_PRINTED_ERRORS = 20;

//! One simulated GPU thread: a coroutine and what it is suspended on.
struct SimThread
{
    Context context;
    std::unique_ptr<char[]> stack;
    Index3 threadIndex;
    Index3 blockIndex;
    bool exited{false};
    Wait wait{Wait::kNONE};
    Collective kind{Collective::kSYNC_THREADS};
    int32_t line{0};
    uint32_t mask{0};
    int32_t srcLane{0};
    uint64_t value{0};  //!< this thread's contribution to the collective
    uint64_t result{0}; //!< what the collective returns to it
};

struct SharedSlot
{
    size_t offset{0};
    size_t bytes{0};
};

//! The whole emulated device. One host thread drives it; kernels run one at a time.
struct Emulator
{
    std::mt19937_64 random{12345};
    cudaStream_t expectedStream{nullptr};
    int64_t errors{0};
    cudaError_t lastError{cudaSuccess};
    std::vector<std::string> launchLog;

    // The running launch.
    std::string kernelName;
    Index3 gridDim;
    Index3 blockDim;
    std::function<void()> const* body{nullptr};
    bool staticSharedOverLimitReported{false};

    // The running block. threads[i] is the thread with linear index i; warps are consecutive 32.
    std::vector<SimThread> threads;
    int32_t numThreads{0};
    SimThread* current{nullptr};
    Context scheduler;

    // Shared memory of the running block; its addresses must not move while the block runs.
    std::unique_ptr<unsigned char[]> sharedArena{new unsigned char[kSHARED_LIMIT]};
    size_t sharedUsed{0};
    size_t staticSharedBytes{0};
    void* dynamicSharedBase{nullptr};
    std::map<int32_t, SharedSlot> sharedSlots;
};

Emulator& emulator()
{
    static Emulator instance;
    return instance;
}

char const* collectiveName(Collective kind)
{
    switch (kind)
    {
    case Collective::kSYNC_THREADS: return "__syncthreads";
    case Collective::kSYNC_THREADS_OR: return "__syncthreads_or";
    case Collective::kSYNC_THREADS_AND: return "__syncthreads_and";
    case Collective::kSYNC_THREADS_COUNT: return "__syncthreads_count";
    case Collective::kBLOCK_SUM: return "cub::BlockReduce::Sum";
    case Collective::kBLOCK_EXCLUSIVE_SUM: return "cub::BlockScan::ExclusiveSum";
    case Collective::kSYNC_WARP: return "__syncwarp";
    case Collective::kBALLOT: return "__ballot_sync";
    case Collective::kSHUFFLE: return "__shfl_sync";
    }
    return "?";
}

size_t roundUp(size_t value, size_t alignment)
{
    return (value + alignment - 1) / alignment * alignment;
}

void threadEntry()
{
    Emulator& e = emulator();
    (*e.body)();
    e.current->exited = true;
    // Never resumed: the next block gives this context a fresh start.
    switchContext(e.current->context, e.scheduler);
}

//! Completes the warp collective that lane `caller` waits on if every lane it names has arrived.
bool tryCompleteWarpCollective(SimThread* lanes, int32_t warpLanes, int32_t caller)
{
    uint32_t const callerMask = lanes[caller].mask;
    uint32_t const present = warpLanes == kWARP_SIZE ? kFULL_WARP : (1U << warpLanes) - 1U;
    uint32_t participants = (callerMask | (1U << caller)) & present;
    uint32_t exitedNamed = 0;
    for (int32_t lane = 0; lane < warpLanes; ++lane)
    {
        if (!((participants >> lane) & 1U))
        {
            continue;
        }
        if (lanes[lane].exited)
        {
            exitedNamed |= 1U << lane;
        }
        else if (lanes[lane].wait != Wait::kWARP)
        {
            return false; // not there yet (or at a block barrier: a deadlock, reported later)
        }
    }
    participants &= ~exitedNamed;

    int32_t const line = lanes[caller].line;
    char const* name = collectiveName(lanes[caller].kind);
    if (!((callerMask >> caller) & 1U))
    {
        reportError(
            "line %d: lane %d calls %s with mask 0x%08x, which excludes itself", line, caller, name, callerMask);
    }
    if ((callerMask & ~present) != 0)
    {
        reportError("line %d: %s mask 0x%08x names lanes this warp does not have (%d threads)", line, name,
            callerMask, warpLanes);
    }
    if (exitedNamed != 0)
    {
        reportError("line %d: %s mask 0x%08x names exited lanes 0x%08x", line, name, callerMask, exitedNamed);
    }
    uint32_t ballot = 0;
    for (int32_t lane = 0; lane < warpLanes; ++lane)
    {
        if (!((participants >> lane) & 1U))
        {
            continue;
        }
        SimThread const& t = lanes[lane];
        if (t.line != line || t.kind != lanes[caller].kind || t.mask != callerMask)
        {
            reportError("lanes %d and %d meet at different warp collectives: line %d %s mask 0x%08x vs line %d %s "
                "mask 0x%08x", caller, lane, line, name, callerMask, t.line, collectiveName(t.kind), t.mask);
        }
        if (t.value != 0)
        {
            ballot |= 1U << lane;
        }
    }
    for (int32_t lane = 0; lane < warpLanes; ++lane)
    {
        if (!((participants >> lane) & 1U))
        {
            continue;
        }
        SimThread& t = lanes[lane];
        if (t.kind == Collective::kSHUFFLE)
        {
            int32_t const source = t.srcLane & (kWARP_SIZE - 1);
            if ((participants >> source) & 1U)
            {
                t.result = lanes[source].value;
            }
            else
            {
                reportError("line %d: lane %d shuffles from lane %d, which is not in mask 0x%08x", t.line, lane,
                    source, t.mask);
                t.result = randomBits();
            }
        }
        else
        {
            t.result = ballot;
        }
        t.wait = Wait::kNONE;
    }
    return true;
}

bool completeWarpCollectives(Emulator& e)
{
    bool progressed = false;
    for (int32_t warpBegin = 0; warpBegin < e.numThreads; warpBegin += kWARP_SIZE)
    {
        int32_t const warpLanes = std::min(kWARP_SIZE, e.numThreads - warpBegin);
        SimThread* lanes = &e.threads[warpBegin];
        for (int32_t lane = 0; lane < warpLanes; ++lane)
        {
            if (!lanes[lane].exited && lanes[lane].wait == Wait::kWARP
                && tryCompleteWarpCollective(lanes, warpLanes, lane))
            {
                progressed = true;
            }
        }
    }
    return progressed;
}

//! Completes a block barrier once every thread that has not exited waits at one.
bool completeBlockBarrier(Emulator& e)
{
    SimThread* first = nullptr;
    int32_t exited = 0;
    for (int32_t t = 0; t < e.numThreads; ++t)
    {
        SimThread& thread = e.threads[t];
        if (thread.exited)
        {
            ++exited;
        }
        else if (thread.wait != Wait::kBLOCK_BARRIER)
        {
            return false;
        }
        else if (first == nullptr)
        {
            first = &thread;
        }
    }
    if (first == nullptr)
    {
        return false;
    }
    if (exited > 0)
    {
        // The programming guide requires every thread of the block to reach the barrier.
        reportError("line %d: %s reached after %d of %d threads exited", first->line,
            collectiveName(first->kind), exited, e.numThreads);
    }
    uint64_t orValue = 0;
    uint64_t andValue = 1;
    uint64_t count = 0;
    int64_t sum = 0;
    for (int32_t t = 0; t < e.numThreads; ++t)
    {
        SimThread const& thread = e.threads[t];
        if (thread.exited)
        {
            continue;
        }
        if (thread.line != first->line || thread.kind != first->kind)
        {
            reportError("threads meet at different barriers: line %d %s vs line %d %s", first->line,
                collectiveName(first->kind), thread.line, collectiveName(thread.kind));
        }
        orValue |= thread.value != 0 ? 1 : 0;
        andValue &= thread.value != 0 ? 1 : 0;
        count += thread.value != 0 ? 1 : 0;
        sum += static_cast<int64_t>(thread.value);
    }
    int64_t prefix = 0; // exclusive sums in linear thread order, as CUB's BlockScan
    for (int32_t t = 0; t < e.numThreads; ++t)
    {
        SimThread& thread = e.threads[t];
        if (thread.exited)
        {
            continue;
        }
        switch (thread.kind)
        {
        case Collective::kSYNC_THREADS_OR: thread.result = orValue; break;
        case Collective::kSYNC_THREADS_AND: thread.result = andValue; break;
        case Collective::kSYNC_THREADS_COUNT: thread.result = count; break;
        case Collective::kBLOCK_SUM: thread.result = static_cast<uint64_t>(sum); break;
        case Collective::kBLOCK_EXCLUSIVE_SUM:
            thread.result = static_cast<uint64_t>(prefix);
            prefix += static_cast<int64_t>(thread.value);
            break;
        default: thread.result = 0; break;
        }
        thread.wait = Wait::kNONE;
    }
    return true;
}

void reportDeadlock(Emulator& e)
{
    reportError("deadlock: no thread can run and no collective can complete");
    // One line per distinct suspension point keeps the dump readable for 1024 threads.
    std::map<std::pair<int32_t, int32_t>, int32_t> waiting;
    for (int32_t t = 0; t < e.numThreads; ++t)
    {
        SimThread const& thread = e.threads[t];
        int32_t const site = thread.exited ? -1000000 : thread.line;
        int32_t const kind = thread.exited ? -1 : static_cast<int32_t>(thread.kind);
        ++waiting[{site, kind}];
    }
    for (auto const& entry : waiting)
    {
        if (entry.first.second < 0)
        {
            std::fprintf(stderr, "  %d threads exited\n", entry.second);
        }
        else
        {
            std::fprintf(stderr, "  %d threads wait at line %d in %s\n", entry.second, entry.first.first,
                collectiveName(static_cast<Collective>(entry.first.second)));
        }
    }
}

//! Runs one block to completion; false after a deadlock (its threads are then abandoned).
bool runBlock(Emulator& e)
{
    std::vector<int32_t> order(static_cast<size_t>(e.numThreads));
    std::iota(order.begin(), order.end(), 0);
    while (true)
    {
        // Between two collectives, threads run in any order: a random one per round exposes code
        // that relies on one.
        std::shuffle(order.begin(), order.end(), e.random);
        for (int32_t t : order)
        {
            SimThread& thread = e.threads[t];
            if (!thread.exited && thread.wait == Wait::kNONE)
            {
                e.current = &thread;
                switchContext(e.scheduler, thread.context);
            }
        }
        e.current = nullptr;
        bool const allExited = std::all_of(
            e.threads.begin(), e.threads.begin() + e.numThreads, [](SimThread const& t) { return t.exited; });
        if (allExited)
        {
            return true;
        }
        if (!completeWarpCollectives(e) && !completeBlockBarrier(e))
        {
            reportDeadlock(e);
            return false;
        }
    }
}

bool validLaunch(dim3 grid, dim3 block, size_t dynamicSharedBytes)
{
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > kMAX_GRID_X || grid.y > kMAX_GRID_YZ
        || grid.z > kMAX_GRID_YZ)
    {
        reportError("invalid grid (%u, %u, %u)", grid.x, grid.y, grid.z);
        return false;
    }
    uint64_t const threads = static_cast<uint64_t>(block.x) * block.y * block.z;
    if (threads == 0 || threads > kMAX_BLOCK_THREADS || block.z > kMAX_BLOCK_Z)
    {
        reportError("invalid block (%u, %u, %u)", block.x, block.y, block.z);
        return false;
    }
    if (dynamicSharedBytes > kSHARED_LIMIT)
    {
        reportError("%zu bytes of dynamic shared memory exceed %zu", dynamicSharedBytes, kSHARED_LIMIT);
        return false;
    }
    return true;
}

void startBlock(Emulator& e, Index3 blockIndex, size_t dynamicSharedBytes)
{
    e.sharedSlots.clear();
    e.sharedUsed = roundUp(dynamicSharedBytes, kSHARED_ALIGNMENT);
    e.staticSharedBytes = 0;
    e.dynamicSharedBase = e.sharedArena.get();
    poison(e.sharedArena.get(), dynamicSharedBytes);
    for (int32_t t = 0; t < e.numThreads; ++t)
    {
        SimThread& thread = e.threads[t];
        uint32_t const linear = static_cast<uint32_t>(t);
        thread.threadIndex = Index3{linear % e.blockDim.x, linear / e.blockDim.x % e.blockDim.y,
            linear / (e.blockDim.x * e.blockDim.y)};
        thread.blockIndex = blockIndex;
        thread.exited = false;
        thread.wait = Wait::kNONE;
        if (!thread.stack)
        {
            thread.stack.reset(new char[kSTACK_BYTES]);
        }
        startContext(thread.context, thread.stack.get(), kSTACK_BYTES, threadEntry);
    }
}

} // namespace

void seed(uint64_t value)
{
    emulator().random.seed(value);
}

uint64_t randomBits()
{
    return emulator().random();
}

void poison(void* data, size_t bytes)
{
    unsigned char* out = static_cast<unsigned char*>(data);
    for (size_t i = 0; i < bytes; i += sizeof(uint64_t))
    {
        uint64_t const bits = randomBits();
        std::memcpy(out + i, &bits, std::min(sizeof(uint64_t), bytes - i));
    }
}

void setExpectedStream(cudaStream_t stream)
{
    emulator().expectedStream = stream;
}

cudaStream_t expectedStream()
{
    return emulator().expectedStream;
}

int64_t errorCount()
{
    return emulator().errors;
}

std::vector<std::string> const& launchLog()
{
    return emulator().launchLog;
}

void clearLaunchLog()
{
    emulator().launchLog.clear();
}

void appendLaunchLog(std::string entry)
{
    emulator().launchLog.push_back(std::move(entry));
}

void reportError(char const* format, ...)
{
    Emulator& e = emulator();
    ++e.errors;
    if (e.errors > kMAX_PRINTED_ERRORS)
    {
        if (e.errors == kMAX_PRINTED_ERRORS + 1)
        {
            std::fprintf(stderr, "EMULATOR: further errors are counted, not printed\n");
        }
        return;
    }
    std::fprintf(stderr, "EMULATOR ERROR");
    if (!e.kernelName.empty())
    {
        std::fprintf(stderr, " in %s", e.kernelName.c_str());
    }
    if (e.current != nullptr)
    {
        Index3 const& b = e.current->blockIndex;
        Index3 const& t = e.current->threadIndex;
        std::fprintf(stderr, " block (%u,%u,%u) thread (%u,%u,%u)", b.x, b.y, b.z, t.x, t.y, t.z);
    }
    std::fprintf(stderr, ": ");
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fprintf(stderr, "\n");
}

Index3 const& threadIndex()
{
    return emulator().current->threadIndex;
}

Index3 const& blockIndex()
{
    return emulator().current->blockIndex;
}

Index3 const& blockDimension()
{
    return emulator().blockDim;
}

Index3 const& gridDimension()
{
    return emulator().gridDim;
}

uint64_t collective(Wait wait, Collective kind, uint64_t value, int32_t line, uint32_t mask, int32_t srcLane)
{
    Emulator& e = emulator();
    SimThread* self = e.current;
    if (self == nullptr)
    {
        reportError("%s called outside a kernel", collectiveName(kind));
        return 0;
    }
    self->wait = wait;
    self->kind = kind;
    self->value = value;
    self->line = line;
    self->mask = mask;
    self->srcLane = srcLane;
    switchContext(self->context, e.scheduler);
    return self->result;
}

void* sharedVariable(int32_t key, size_t bytes, size_t alignment)
{
    Emulator& e = emulator();
    auto const found = e.sharedSlots.find(key);
    if (found != e.sharedSlots.end())
    {
        if (found->second.bytes != bytes)
        {
            reportError("shared variable #%d seen with %zu and %zu bytes", key, found->second.bytes, bytes);
        }
        return e.sharedArena.get() + found->second.offset;
    }
    size_t const offset = roundUp(e.sharedUsed, std::max(alignment, kSHARED_ALIGNMENT));
    if (offset + bytes > kSHARED_LIMIT)
    {
        reportError("shared memory of one block exceeds %zu bytes", kSHARED_LIMIT);
        std::abort(); // no storage to hand out; continuing would corrupt memory
    }
    e.sharedUsed = offset + bytes;
    e.staticSharedBytes += bytes;
    if (e.staticSharedBytes > kSTATIC_SHARED_LIMIT && !e.staticSharedOverLimitReported)
    {
        e.staticSharedOverLimitReported = true;
        reportError("%zu bytes of static shared memory exceed CUDA's %zu", e.staticSharedBytes, kSTATIC_SHARED_LIMIT);
    }
    e.sharedSlots[key] = SharedSlot{offset, bytes};
    void* storage = e.sharedArena.get() + offset;
    poison(storage, bytes); // shared memory is not initialised on a GPU either
    return storage;
}

void* dynamicShared()
{
    return emulator().dynamicSharedBase;
}

void runGrid(char const* kernelName, dim3 grid, dim3 block, size_t dynamicSharedBytes, cudaStream_t stream,
    std::function<void()> const& body)
{
    Emulator& e = emulator();
    e.kernelName = kernelName;
    e.launchLog.push_back(kernelName);
    if (stream != e.expectedStream)
    {
        reportError("launched on stream %p, expected %p", static_cast<void*>(stream),
            static_cast<void*>(e.expectedStream));
    }
    if (!validLaunch(grid, block, dynamicSharedBytes))
    {
        e.lastError = cudaErrorInvalidConfiguration; // a real launch fails and runs nothing
        e.kernelName.clear();
        return;
    }
    e.gridDim = Index3{grid.x, grid.y, grid.z};
    e.blockDim = Index3{block.x, block.y, block.z};
    e.numThreads = static_cast<int32_t>(block.x * block.y * block.z);
    if (e.threads.size() < static_cast<size_t>(e.numThreads))
    {
        e.threads.resize(static_cast<size_t>(e.numThreads));
    }
    e.body = &body;
    e.staticSharedOverLimitReported = false;

    // Blocks run in a random order: nothing orders the blocks of one grid on a GPU.
    uint64_t const numBlocks = static_cast<uint64_t>(grid.x) * grid.y * grid.z;
    std::vector<uint64_t> blocks(numBlocks);
    std::iota(blocks.begin(), blocks.end(), uint64_t{0});
    std::shuffle(blocks.begin(), blocks.end(), e.random);
    for (uint64_t linear : blocks)
    {
        Index3 const blockIndex{static_cast<uint32_t>(linear % grid.x), static_cast<uint32_t>(linear / grid.x % grid.y),
            static_cast<uint32_t>(linear / (static_cast<uint64_t>(grid.x) * grid.y))};
        startBlock(e, blockIndex, dynamicSharedBytes);
        if (!runBlock(e))
        {
            reportError("launch abandoned after the deadlock in block (%u,%u,%u)", blockIndex.x, blockIndex.y,
                blockIndex.z);
            e.lastError = cudaErrorLaunchFailure;
            break;
        }
    }
    e.body = nullptr;
    e.kernelName.clear();
}

} // namespace emu

// ---- CUDA runtime: every runtime call an emulated source makes is defined here (a missing one is a
// ---- link error naming it). Work is done at once: one stream, nothing asynchronous.
extern "C"
{

cudaError_t cudaMemsetAsync(void* devPtr, int value, size_t count, cudaStream_t stream)
{
    if (stream != emu::expectedStream())
    {
        emu::reportError("cudaMemsetAsync on stream %p, expected %p", static_cast<void*>(stream),
            static_cast<void*>(emu::expectedStream()));
    }
    emu::appendLaunchLog("cudaMemsetAsync");
    std::memset(devPtr, value, count);
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t const error = emu::emulator().lastError;
    emu::emulator().lastError = cudaSuccess;
    return error;
}

cudaError_t cudaPeekAtLastError(void)
{
    return emu::emulator().lastError;
}

char const* cudaGetErrorName(cudaError_t error)
{
    switch (error)
    {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaError (emulated)";
    }
}

char const* cudaGetErrorString(cudaError_t error)
{
    return cudaGetErrorName(error);
}

} // extern "C"
