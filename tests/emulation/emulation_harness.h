//! \file emulation_harness.h
//! What the comparison programs of tests/emulation share: command-line options, typed element
//! access for every feature dtype, the case tally with its FAIL / ok lines, and the SUMMARY line
//! test_*_device_emulation.py parses.
#pragma once

#include "core/types.h"

#include "cuda_emulator.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace emutest
{

struct Options
{
    bool full{false}; //!< programs with a longer case list run it
    bool stopAtFirstFailure{false};
    bool verbose{false};
    uint64_t seed{0};
};

//! --seed=N, --stop-at-first-failure, --verbose, and --full where `acceptsFull`; exits with 2 on
//! anything else.
inline Options parseOptions(int argc, char** argv, uint64_t defaultSeed, bool acceptsFull = false)
{
    Options options;
    options.seed = defaultSeed;
    for (int i = 1; i < argc; ++i)
    {
        std::string const arg = argv[i];
        if (acceptsFull && arg == "--full")
        {
            options.full = true;
        }
        else if (arg == "--stop-at-first-failure")
        {
            options.stopAtFirstFailure = true;
        }
        else if (arg == "--verbose")
        {
            options.verbose = true;
        }
        else if (arg.rfind("--seed=", 0) == 0)
        {
            options.seed = std::strtoull(arg.c_str() + 7, nullptr, 10);
        }
        else
        {
            std::fprintf(stderr, "usage: %s %s[--stop-at-first-failure] [--seed=N] [--verbose]\n", argv[0],
                acceptsFull ? "[--full] " : "");
            std::exit(2);
        }
    }
    return options;
}

//! Element i of a float32 / float16 / bfloat16 / float64 buffer, written from and read as double.
inline void storeAs(trtops::DataType type, void* base, int64_t i, double value)
{
    switch (type)
    {
    case trtops::DataType::kFLOAT32: static_cast<float*>(base)[i] = static_cast<float>(value); break;
    case trtops::DataType::kFLOAT64: static_cast<double*>(base)[i] = value; break;
    case trtops::DataType::kFLOAT16: static_cast<__half*>(base)[i] = __float2half(static_cast<float>(value)); break;
    case trtops::DataType::kBFLOAT16:
        static_cast<__nv_bfloat16*>(base)[i] = __float2bfloat16(static_cast<float>(value));
        break;
    default: std::abort();
    }
}

inline double loadAs(trtops::DataType type, void const* base, int64_t i)
{
    switch (type)
    {
    case trtops::DataType::kFLOAT32: return static_cast<float const*>(base)[i];
    case trtops::DataType::kFLOAT64: return static_cast<double const*>(base)[i];
    case trtops::DataType::kFLOAT16: return __half2float(static_cast<__half const*>(base)[i]);
    case trtops::DataType::kBFLOAT16: return __bfloat162float(static_cast<__nv_bfloat16 const*>(base)[i]);
    default: std::abort();
    }
}

//! Counts cases and failures and prints one line per failed case (and per passed case with
//! --verbose, followed by the kernels the case launched).
class Tally
{
public:
    explicit Tally(Options const& options)
        : mOptions(options)
    {
    }

    bool stopped() const
    {
        return mOptions.stopAtFirstFailure && mFailed > 0;
    }
    int64_t cases() const
    {
        return mCases;
    }
    int64_t failed() const
    {
        return mFailed;
    }

    //! Records one case: `failure` empty means it passed.
    void record(std::string const& label, std::string const& failure)
    {
        ++mCases;
        if (!failure.empty())
        {
            ++mFailed;
            std::printf("FAIL %s: %s\n", label.c_str(), failure.c_str());
        }
        else if (mOptions.verbose)
        {
            std::string launches;
            for (std::string const& l : emu::launchLog())
            {
                launches += " " + l;
            }
            std::printf("ok   %s:%s\n", label.c_str(), launches.c_str());
        }
        std::fflush(stdout);
    }

    //! Runs one group of cases (unless a failure already stopped the run) and prints its counts.
    template <typename Fn>
    void group(char const* name, Fn&& runCases)
    {
        if (stopped())
        {
            return;
        }
        int64_t const casesBefore = mCases;
        int64_t const failedBefore = mFailed;
        runCases();
        std::printf("group %s: %lld cases, %lld failed\n", name, static_cast<long long>(mCases - casesBefore),
            static_cast<long long>(mFailed - failedBefore));
        std::fflush(stdout);
    }

    //! Prints the SUMMARY line; the exit code is 0 only without failures and emulator errors.
    int finish() const
    {
        std::printf("SUMMARY cases=%lld failed=%lld emulator_errors=%lld\n", static_cast<long long>(mCases),
            static_cast<long long>(mFailed), static_cast<long long>(emu::errorCount()));
        return mFailed == 0 && emu::errorCount() == 0 ? 0 : 1;
    }

private:
    Options mOptions;
    int64_t mCases{0};
    int64_t mFailed{0};
};

} // namespace emutest
