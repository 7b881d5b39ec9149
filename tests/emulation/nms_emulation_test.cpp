//! \file nms_emulation_test.cpp
//! Runs the CUDA path of NMS (nmsForward, kernels from plugins/kernels/nms/nms.cu rewritten by
//! emulate_cuda_source.py and run by cuda_emulator.cpp) and its host implementation
//! (nmsForwardHost) on the same inputs and requires byte-identical outputs: the kept indices, the
//! count, the padding and the slots past the output's capacity (which neither may touch). Also
//! checks that the device path reports no execution-model error, stays inside its workspace and
//! keeps CUB's temporary storage inside it.
//!
//! Usage: nms_emulation_test [--full] [--stop-at-first-failure] [--seed=N] [--verbose]
//!   default: a representative subset (tier 1, about 10 s); --full: every case (several minutes).
//! Prints one line per failed case and a final "SUMMARY cases=C failed=F emulator_errors=E";
//! exits 0 only when nothing failed.
#include "nms/nms.h"

#include "cuda_emulator.h"
#include "emulated_cub.h"
#include "emulation_harness.h"

#include <cuda_fp16.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace
{

using trtops::DataType;
using trtops::NmsParams;

using emutest::Options;

//! Inputs of one case in float64 (converted to each tested dtype when packed).
struct BoxSet
{
    std::string pattern;
    std::vector<double> boxes; //!< numBoxes rows of (x1, y1, x2, y2)
    std::vector<double> scores;
    std::vector<int64_t> classes;
};

//! A named change of the base parameters; a group runs a ladder of them on each box set.
struct Variant
{
    char const* name;
    std::function<void(NmsParams&)> apply;
};

class Harness
{
public:
    explicit Harness(Options const& options)
        : mTally(options)
        , mRandom(options.seed)
    {
        emu::seed(options.seed * 7919 + 1);
    }

    emutest::Tally& tally()
    {
        return mTally;
    }

    double uniform()
    {
        return std::uniform_real_distribution<double>(0.0, 1.0)(mRandom);
    }

    uint64_t bits()
    {
        return mRandom();
    }

    //! Box sets that reach the kernels' corner cases:
    //!  random      spread-out boxes, little overlap;
    //!  clustered   groups of ~40 heavily overlapping boxes (most boxes suppressed);
    //!  quantized   clustered on an 8-pixel grid: exact IoU ties at the threshold;
    //!  tied        clustered, five distinct scores (order decided by box index);
    //!  signedzero  scores all +0.0 or -0.0 (must compare equal);
    //!  nonfinite   NaN scores, NaN / infinite / inverted coordinates;
    //!  duplicate   every box identical;
    //!  extremecls  class ids at the int32 limits and negative.
    BoxSet makeBoxSet(std::string const& pattern, int32_t numBoxes, int32_t numClasses)
    {
        BoxSet set;
        set.pattern = pattern;
        set.boxes.resize(4 * static_cast<size_t>(numBoxes));
        set.scores.resize(static_cast<size_t>(numBoxes));
        set.classes.resize(static_cast<size_t>(numBoxes));
        int32_t const numClusters = std::max(1, numBoxes / 40);
        std::vector<double> clusterX(static_cast<size_t>(numClusters));
        std::vector<double> clusterY(static_cast<size_t>(numClusters));
        for (int32_t k = 0; k < numClusters; ++k)
        {
            clusterX[k] = uniform() * 1000;
            clusterY[k] = uniform() * 1000;
        }
        for (int32_t i = 0; i < numBoxes; ++i)
        {
            double x = 0;
            double y = 0;
            double w = 0;
            double h = 0;
            if (pattern == "random")
            {
                x = uniform() * 1000;
                y = uniform() * 1000;
                w = 5 + uniform() * 100;
                h = 5 + uniform() * 100;
            }
            else
            {
                int32_t const k = static_cast<int32_t>(bits() % static_cast<uint64_t>(numClusters));
                x = clusterX[k] + uniform() * 12;
                y = clusterY[k] + uniform() * 12;
                w = 40 + uniform() * 20;
                h = 40 + uniform() * 20;
            }
            if (pattern == "quantized")
            {
                x = std::round(x / 8) * 8;
                y = std::round(y / 8) * 8;
                w = std::round(w / 8) * 8;
                h = std::round(h / 8) * 8;
            }
            double* box = &set.boxes[4 * static_cast<size_t>(i)];
            box[0] = x;
            box[1] = y;
            box[2] = x + w;
            box[3] = y + h;
            double& score = set.scores[i];
            score = uniform();
            if (pattern == "tied")
            {
                score = static_cast<double>(bits() % 5) / 4.0;
            }
            else if (pattern == "signedzero")
            {
                score = (bits() % 2) != 0 ? 0.0 : -0.0;
            }
            else if (pattern == "nonfinite")
            {
                double const nan = std::numeric_limits<double>::quiet_NaN();
                score = bits() % 10 == 0 ? nan : score;
                size_t const coordinate = bits() % 4;
                box[coordinate] = bits() % 10 == 0 ? nan : box[coordinate];
                box[2] = bits() % 20 == 0 ? std::numeric_limits<double>::infinity() : box[2];
                if (bits() % 20 == 0)
                {
                    std::swap(box[0], box[2]);
                }
            }
            int64_t& cls = set.classes[i];
            cls = numClasses > 0 ? static_cast<int64_t>(bits() % static_cast<uint64_t>(numClasses)) : 0;
            if (pattern == "extremecls")
            {
                uint64_t const pick = bits() % 3;
                int64_t const small = static_cast<int64_t>(bits() % 7) - 3;
                cls = pick == 0 ? std::numeric_limits<int32_t>::max()
                                : pick == 1 ? std::numeric_limits<int32_t>::min() : small;
            }
        }
        if (pattern == "duplicate")
        {
            for (size_t i = 4; i < set.boxes.size(); ++i)
            {
                set.boxes[i] = set.boxes[i % 4];
            }
        }
        return set;
    }

    //! Runs both paths on one case; counts and reports a mismatch.
    void runCase(char const* group, BoxSet const& set, char const* variant, NmsParams params)
    {
        if (mTally.stopped())
        {
            return;
        }
        params.numBoxes = static_cast<int64_t>(set.scores.size());
        std::vector<unsigned char> const boxes = pack(params.boxType, set.boxes);
        std::vector<unsigned char> const scores = pack(params.scoreType, set.scores);
        std::vector<unsigned char> const classes = packClasses(params.classType, set.classes);
        void const* classInput = params.batched ? classes.data() : nullptr;

        // Output slots past the capacity must stay untouched by both paths: fill with a marker.
        int64_t const capacity = params.maxOutputBoxes >= 0 ? params.maxOutputBoxes : params.numBoxes;
        size_t const indexBytes = params.indexType == DataType::kINT32 ? 4 : 8;
        size_t const slots = static_cast<size_t>(capacity) + kGUARD_SLOTS;
        std::vector<unsigned char> hostKeep(slots * indexBytes, kUNTOUCHED);
        std::vector<unsigned char> deviceKeep(slots * indexBytes, kUNTOUCHED);
        int64_t hostCount = -7;
        int64_t deviceCount = -7;
        std::vector<std::string> problems;

        trtops::Status const hostStatus
            = trtops::nmsForwardHost(params, boxes.data(), scores.data(), classInput, hostKeep.data(), &hostCount);

        // Workspace as a real one: 256-byte aligned, garbage inside, a canary byte after it.
        size_t const workspaceBytes = trtops::nmsWorkspaceSize(params);
        size_t const allocated = (workspaceBytes + 1 + 255) / 256 * 256;
        unsigned char* workspace = static_cast<unsigned char*>(std::aligned_alloc(256, allocated));
        emu::poison(workspace, workspaceBytes);
        workspace[workspaceBytes] = kCANARY;
        cudaStream_t const stream = reinterpret_cast<cudaStream_t>(uintptr_t{0x5700});
        emu::setExpectedStream(stream);
        emu::clearLaunchLog();
        emu::sortTempUses().clear();
        int64_t const errorsBefore = emu::errorCount();
        trtops::Status const deviceStatus = trtops::nmsForward(params, boxes.data(), scores.data(), classInput,
            deviceKeep.data(), &deviceCount, workspaceBytes != 0 ? workspace : nullptr, workspaceBytes, stream);

        if (!hostStatus.isOk() || !deviceStatus.isOk())
        {
            problems.push_back("status host='" + hostStatus.message() + "' device='" + deviceStatus.message() + "'");
        }
        if (emu::errorCount() != errorsBefore)
        {
            problems.push_back(std::to_string(emu::errorCount() - errorsBefore) + " emulator errors (stderr)");
        }
        if (workspace[workspaceBytes] != kCANARY)
        {
            problems.push_back("wrote past the end of the workspace");
        }
        for (emu::SortTempUse const& use : emu::sortTempUses())
        {
            unsigned char const* begin = static_cast<unsigned char const*>(use.data);
            if (begin < workspace || begin + use.bytes > workspace + workspaceBytes)
            {
                problems.push_back("CUB temporary storage outside the workspace");
            }
        }
        if (hostCount != deviceCount)
        {
            problems.push_back("count host=" + std::to_string(hostCount) + " device=" + std::to_string(deviceCount));
        }
        for (size_t slot = 0; slot < slots; ++slot)
        {
            int64_t const hostValue = readSlot(hostKeep.data() + slot * indexBytes, indexBytes);
            int64_t const deviceValue = readSlot(deviceKeep.data() + slot * indexBytes, indexBytes);
            if (hostValue != deviceValue)
            {
                problems.push_back("first differing slot " + std::to_string(slot) + " host="
                    + slotText(hostValue, indexBytes) + " device=" + slotText(deviceValue, indexBytes));
                break;
            }
        }
        std::free(workspace);

        char label[320];
        int length = std::snprintf(label, sizeof(label),
            "%s/%s n=%lld %s: %s box=%s score=%s class=%s index=%s iou=%g", group, set.pattern.c_str(),
            static_cast<long long>(params.numBoxes), variant, params.batched ? "batched" : "nms",
            trtops::dataTypeName(params.boxType), trtops::dataTypeName(params.scoreType),
            trtops::dataTypeName(params.classType), trtops::dataTypeName(params.indexType), params.iouThreshold);
        if (params.hasScoreThreshold && length < static_cast<int>(sizeof(label)))
        {
            length += std::snprintf(label + length, sizeof(label) - length, " score>=%g", params.scoreThreshold);
        }
        if (length < static_cast<int>(sizeof(label)))
        {
            std::snprintf(label + length, sizeof(label) - length, " max=%lld%s kept=%lld",
                static_cast<long long>(params.maxOutputBoxes), params.padded ? " padded" : "",
                static_cast<long long>(hostCount));
        }
        std::string failure;
        for (std::string const& problem : problems)
        {
            failure += (failure.empty() ? "" : "; ") + problem;
        }
        mTally.record(label, failure);
    }

    void runLadder(char const* group, BoxSet const& set, NmsParams const& base, std::vector<Variant> const& ladder)
    {
        NmsParams params = base;
        for (Variant const& variant : ladder)
        {
            variant.apply(params); // each step builds on the previous one
            runCase(group, set, variant.name, params);
        }
    }

private:
    static constexpr size_t kGUARD_SLOTS = 5;
    static constexpr unsigned char kUNTOUCHED = 0x3C;
    static constexpr unsigned char kCANARY = 0x5E;

    static int64_t readSlot(unsigned char const* slot, size_t indexBytes)
    {
        if (indexBytes == sizeof(int32_t))
        {
            int32_t value = 0;
            std::memcpy(&value, slot, sizeof(value));
            return value;
        }
        int64_t value = 0;
        std::memcpy(&value, slot, sizeof(value));
        return value;
    }

    static std::string slotText(int64_t value, size_t indexBytes)
    {
        unsigned char marker[sizeof(int64_t)];
        std::memset(marker, kUNTOUCHED, sizeof(marker));
        return value == readSlot(marker, indexBytes) ? std::string("(untouched)") : std::to_string(value);
    }

    template <typename T>
    static std::vector<unsigned char> packAs(std::vector<double> const& values)
    {
        std::vector<unsigned char> out(values.size() * sizeof(T));
        for (size_t i = 0; i < values.size(); ++i)
        {
            T value;
            if constexpr (std::is_same<T, __half>::value)
            {
                value = __float2half_rn(static_cast<float>(values[i]));
            }
            else
            {
                value = static_cast<T>(values[i]);
            }
            std::memcpy(out.data() + i * sizeof(T), &value, sizeof(T));
        }
        return out;
    }

    static std::vector<unsigned char> pack(DataType type, std::vector<double> const& values)
    {
        switch (type)
        {
        case DataType::kFLOAT16: return packAs<__half>(values);
        case DataType::kFLOAT64: return packAs<double>(values);
        default: return packAs<float>(values);
        }
    }

    static std::vector<unsigned char> packClasses(DataType type, std::vector<int64_t> const& classes)
    {
        if (type == DataType::kINT32)
        {
            std::vector<unsigned char> out(classes.size() * sizeof(int32_t));
            for (size_t i = 0; i < classes.size(); ++i)
            {
                int32_t const value = static_cast<int32_t>(classes[i]);
                std::memcpy(out.data() + i * sizeof(int32_t), &value, sizeof(int32_t));
            }
            return out;
        }
        std::vector<unsigned char> out(classes.size() * sizeof(int64_t));
        std::memcpy(out.data(), classes.data(), out.size());
        return out;
    }

    emutest::Tally mTally;
    std::mt19937_64 mRandom;
};

//! Sizes around every boundary below one chunk: warp (32), mask word (64), key block (256),
//! compaction tile (1024); every pattern; the parameter ladder of both forms.
void smallSizes(Harness& harness, Options const& options)
{
    std::vector<int32_t> const sizes = options.full
        ? std::vector<int32_t>{0, 1, 2, 31, 32, 33, 63, 64, 65, 100, 255, 256, 257, 1023, 1024, 1025}
        : std::vector<int32_t>{0, 1, 2, 33, 64, 65, 257, 1025};
    std::vector<Variant> const ladder{
        {"plain", [](NmsParams&) {}},
        {"batched", [](NmsParams& p) { p.batched = true; }},
        {"batched-int32-classes", [](NmsParams& p) { p.classType = DataType::kINT32; }},
        {"batched-max3-padded", [](NmsParams& p) { p.maxOutputBoxes = 3; p.padded = true; }},
        {"max3-padded", [](NmsParams& p) { p.batched = false; }},
        {"score-threshold-max-n+7-padded", [](NmsParams& p) {
            p.hasScoreThreshold = true;
            p.scoreThreshold = 0.4;
            p.maxOutputBoxes = p.numBoxes + 7;
        }},
        {"max0", [](NmsParams& p) { p.padded = false; p.maxOutputBoxes = 0; }},
        {"max0-padded", [](NmsParams& p) { p.padded = true; }},
    };
    for (int32_t n : sizes)
    {
        for (char const* pattern :
            {"random", "clustered", "tied", "nonfinite", "duplicate", "signedzero", "extremecls"})
        {
            BoxSet const set = harness.makeBoxSet(pattern, n, 5);
            NmsParams base;
            base.numBoxes = n; // the ladder's "max n+7" reads it
            base.iouThreshold = set.pattern == "duplicate" ? 0.99 : 0.5;
            harness.runLadder("small", set, base, ladder);
        }
    }
}

//! Every box and score dtype pair, index dtypes, thresholds at and beyond the ends of [0, 1].
void dtypes(Harness& harness, Options const& options)
{
    DataType const floats[] = {DataType::kFLOAT32, DataType::kFLOAT16, DataType::kFLOAT64};
    std::vector<int32_t> const sizes = options.full ? std::vector<int32_t>{70, 700} : std::vector<int32_t>{300};
    std::vector<double> const thresholds
        = options.full ? std::vector<double>{0.0, 0.3, 0.7, -0.5, 1.0} : std::vector<double>{0.0, 0.7, 1.0};
    for (DataType boxType : floats)
    {
        for (DataType scoreType : floats)
        {
            for (int32_t n : sizes)
            {
                BoxSet const set = harness.makeBoxSet("clustered", n, 4);
                for (double iou : thresholds)
                {
                    NmsParams params;
                    params.boxType = boxType;
                    params.scoreType = scoreType;
                    params.iouThreshold = iou;
                    params.indexType = DataType::kINT32;
                    harness.runCase("dtypes", set, "int32-indices", params);
                    params.batched = true;
                    params.indexType = DataType::kINT64;
                    harness.runCase("dtypes", set, "batched", params);
                }
            }
        }
    }
}

//! Sizes around the 4096-box chunk: the chunk loop, suppression of later chunks by earlier ones,
//! maxOutputBoxes reached inside or across chunks, classes spanning chunks.
void chunkBoundaries(Harness& harness, Options const& options)
{
    std::vector<int32_t> const sizes = options.full ? std::vector<int32_t>{4095, 4096, 4097, 8192, 8193, 12289}
                                                    : std::vector<int32_t>{4097, 8193};
    std::vector<char const*> const patterns = options.full
        ? std::vector<char const*>{"clustered", "quantized", "random", "tied"}
        : std::vector<char const*>{"clustered", "tied"};
    std::vector<Variant> const ladder{
        {"plain", [](NmsParams&) {}},
        {"max50-padded", [](NmsParams& p) { p.maxOutputBoxes = 50; p.padded = true; }},
        {"max4100-padded", [](NmsParams& p) { p.maxOutputBoxes = 4100; }},
        {"batched", [](NmsParams& p) { p.batched = true; p.maxOutputBoxes = -1; p.padded = false; }},
        {"batched-max200-padded", [](NmsParams& p) { p.maxOutputBoxes = 200; p.padded = true; }},
        {"batched-score-threshold", [](NmsParams& p) {
            p.hasScoreThreshold = true;
            p.scoreThreshold = 0.5;
            p.maxOutputBoxes = -1;
            p.padded = false;
        }},
        {"score-threshold", [](NmsParams& p) { p.batched = false; }},
    };
    for (int32_t n : sizes)
    {
        for (char const* pattern : patterns)
        {
            harness.runLadder("chunks", harness.makeBoxSet(pattern, n, 37), NmsParams{}, ladder);
        }
    }
}

//! A last chunk of 600 boxes (not a multiple of 64) after a full one.
void partialLastChunk(Harness& harness, Options const&)
{
    std::vector<Variant> const ladder{
        {"plain", [](NmsParams&) {}},
        {"batched", [](NmsParams& p) { p.batched = true; }},
        {"max40-padded", [](NmsParams& p) { p.batched = false; p.maxOutputBoxes = 40; p.padded = true; }},
    };
    for (char const* pattern : {"clustered", "tied"})
    {
        harness.runLadder("partial-chunk", harness.makeBoxSet(pattern, 4096 + 600, 5), NmsParams{}, ladder);
    }
}

//! Batched extremes across chunks: one class over every chunk, 2000 classes, int32-limit ids.
void classExtremes(Harness& harness, Options const& options)
{
    int32_t const n = 9000;
    NmsParams params;
    params.batched = true;
    harness.runCase("classes", harness.makeBoxSet("clustered", n, 1), "one-class", params);
    if (!options.full)
    {
        return;
    }
    harness.runCase("classes", harness.makeBoxSet("clustered", n, 2000), "2000-classes", params);
    BoxSet const extreme = harness.makeBoxSet("extremecls", n, 0);
    params.classType = DataType::kINT32;
    harness.runCase("classes", extreme, "int32-limits", params);
    params.hasScoreThreshold = true;
    params.scoreThreshold = 0.6;
    harness.runCase("classes", extreme, "int32-limits-score-threshold", params);
}

} // namespace

int main(int argc, char** argv)
{
    Options const options = emutest::parseOptions(argc, argv, 7, /*acceptsFull=*/true);
    Harness harness(options);
    using Group = void (*)(Harness&, Options const&);
    std::pair<char const*, Group> const groups[] = {
        {"small", smallSizes},
        {"dtypes", dtypes},
        {"partial-chunk", partialLastChunk},
        {"chunks", chunkBoundaries},
        {"classes", classExtremes},
    };
    for (auto const& group : groups)
    {
        harness.tally().group(group.first, [&] { group.second(harness, options); });
    }
    return harness.tally().finish();
}
