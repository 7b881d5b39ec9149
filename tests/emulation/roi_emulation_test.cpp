//! \file roi_emulation_test.cpp
//! Runs the CUDA path of every RoI operator (RoIAlign, PS-RoIAlign, RoIPool, PS-RoIPool,
//! MultiScaleRoIAlign) under the CUDA emulator and requires it to equal the host implementation
//! value for value, on poisoned outputs and workspaces. The cases reach each kernel variant the
//! launchers choose between: NCHW gathered directly (no workspace) or through the channels-last
//! copy in the workspace, channels-last with 16-byte vectors or scalars (channel counts that are
//! not a multiple of the vector width), every feature dtype, RoIs in float32 or the feature dtype,
//! and RoIs outside the map, empty, inverted, with bad batch indices or non-finite coordinates.
//!
//! Prints one line per failed case and `SUMMARY cases=C failed=F emulator_errors=E`; the exit code
//! is 0 only when every case matched and the emulator reported nothing.
//! Options: --seed=N, --stop-at-first-failure, --verbose.

#include "core/status.h"
#include "core/types.h"
#include "roi/multi_scale_roi_align.h"
#include "roi/ps_roi_align.h"
#include "roi/ps_roi_pool.h"
#include "roi/roi_align.h"
#include "roi/roi_pool.h"

#include "cuda_emulator.h"
#include "emulation_harness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace
{
using trtops::DataType;
using trtops::Layout;
using trtops::Status;

using emutest::loadAs;
using emutest::Options;
using emutest::storeAs;

int64_t elementBytes(DataType type)
{
    return trtops::elementSize(type);
}

//! A typed buffer of `count` elements, allocated 16-byte aligned (as cudaMalloc and TensorRT do).
struct Buffer
{
    DataType type{DataType::kFLOAT32};
    int64_t count{0};
    std::vector<double> storage; // double-aligned, generously sized

    Buffer(DataType t, int64_t n)
        : type(t)
        , count(n)
        , storage(static_cast<size_t>((n * elementBytes(t) + 15) / 8 + 2))
    {
    }

    void* data()
    {
        auto const p = reinterpret_cast<uintptr_t>(storage.data());
        return reinterpret_cast<void*>((p + 15) & ~uintptr_t{15});
    }
    void const* data() const
    {
        return const_cast<Buffer*>(this)->data();
    }
    size_t bytes() const
    {
        return static_cast<size_t>(count * elementBytes(type));
    }
};

class Harness
{
public:
    explicit Harness(Options const& options)
        : mTally(options)
        , mRandom(options.seed)
    {
        emu::seed(options.seed * 104729 + 3);
    }

    emutest::Tally& tally()
    {
        return mTally;
    }
    bool stopped() const
    {
        return mTally.stopped();
    }

    double uniform(double lo, double hi)
    {
        return std::uniform_real_distribution<double>(lo, hi)(mRandom);
    }

    //! Features in [-1, 1.5), never all zero.
    Buffer features(DataType type, int64_t count)
    {
        Buffer b(type, count);
        for (int64_t i = 0; i < count; ++i)
        {
            storeAs(type, b.data(), i, uniform(-1.0, 1.5));
        }
        return b;
    }

    //! numRois rows (batch, x1, y1, x2, y2) in image coordinates (map * 1 / scale): random boxes
    //! around and beyond the map, plus, when there is room, the adversarial rows.
    Buffer rois(DataType type, int64_t numRois, int64_t batch, int64_t height, int64_t width, double scale)
    {
        Buffer b(type, numRois * 5);
        double const h = static_cast<double>(height) / scale;
        double const w = static_cast<double>(width) / scale;
        double const nan = std::numeric_limits<double>::quiet_NaN();
        double const inf = std::numeric_limits<double>::infinity();
        std::vector<std::vector<double>> const special = {
            {0, -3 * w, -3 * h, -2 * w, -2 * h},                   // outside the map
            {static_cast<double>(batch - 1), 5, 5, 5, 5},          // zero area
            {0, 0.8 * w, 0.8 * h, 0.1 * w, 0.2 * h},               // inverted
            {static_cast<double>(batch - 1), -w, -h, 2 * w, 2 * h}, // larger than the map
            {static_cast<double>(batch), 1, 1, 9, 9},              // batch index too large
            {-1, 1, 1, 9, 9},                                      // negative batch index
            {nan, 1, 1, 9, 9},
            {0, nan, 1, 9, 9},
            {0, 1, 1, inf, 9},
        };
        for (int64_t r = 0; r < numRois; ++r)
        {
            double row[5];
            if (numRois >= 12 && r >= numRois - static_cast<int64_t>(special.size()))
            {
                std::vector<double> const& s = special[static_cast<size_t>(r - (numRois - special.size()))];
                std::copy(s.begin(), s.end(), row);
            }
            else
            {
                double const x1 = uniform(-0.2, 1.0) * w;
                double const y1 = uniform(-0.2, 1.0) * h;
                row[0] = static_cast<double>(static_cast<int64_t>(uniform(0, static_cast<double>(batch))));
                row[1] = x1;
                row[2] = y1;
                row[3] = x1 + uniform(-0.05, 0.9) * w;
                row[4] = y1 + uniform(-0.05, 0.9) * h;
            }
            for (int32_t k = 0; k < 5; ++k)
            {
                storeAs(type, b.data(), r * 5 + k, row[k]);
            }
        }
        return b;
    }

    //! Runs `device` (emulated kernels) on a poisoned output and workspace and `host` on a
    //! differently poisoned output; every element must be equal (NaN equal to NaN).
    void compare(std::string const& name, DataType outType, int64_t outCount, size_t workspaceBytes,
        std::function<Status(void* out, void* workspace, cudaStream_t stream)> const& device,
        std::function<Status(void* out)> const& host, size_t workspaceMisalignment = 0,
        char const* forbiddenKernel = nullptr)
    {
        Buffer devOut(outType, outCount);
        Buffer hostOut(outType, outCount);
        emu::poison(devOut.data(), devOut.bytes());
        emu::poison(hostOut.data(), hostOut.bytes());
        std::vector<double> workspace((workspaceBytes + workspaceMisalignment + 15) / 8 + 2);
        void* ws = workspaceBytes > 0
            ? reinterpret_cast<void*>(
                ((reinterpret_cast<uintptr_t>(workspace.data()) + 15) & ~uintptr_t{15}) + workspaceMisalignment)
            : nullptr;
        if (ws != nullptr)
        {
            emu::poison(ws, workspaceBytes);
        }
        cudaStream_t const stream = reinterpret_cast<cudaStream_t>(uintptr_t{0x7011});
        emu::setExpectedStream(stream);
        emu::clearLaunchLog();
        int64_t const errorsBefore = emu::errorCount();
        Status const d = device(devOut.data(), ws, stream);
        Status const h = host(hostOut.data());
        std::string failure;
        if (!d.isOk() || !h.isOk())
        {
            failure = "status: device '" + d.message() + "' host '" + h.message() + "'";
        }
        else if (emu::errorCount() != errorsBefore)
        {
            failure = "emulator errors";
        }
        else if (forbiddenKernel != nullptr
            && std::find(emu::launchLog().begin(), emu::launchLog().end(), std::string(forbiddenKernel))
                != emu::launchLog().end())
        {
            failure = std::string("launched ") + forbiddenKernel;
        }
        else
        {
            for (int64_t i = 0; i < outCount; ++i)
            {
                double const a = loadAs(outType, devOut.data(), i);
                double const b = loadAs(outType, hostOut.data(), i);
                if (!(a == b || (std::isnan(a) && std::isnan(b))))
                {
                    char text[160];
                    std::snprintf(text, sizeof(text), "element %lld: device %.9g host %.9g", static_cast<long long>(i),
                        a, b);
                    failure = text;
                    break;
                }
            }
        }
        mTally.record(name, failure);
    }

private:
    emutest::Tally mTally;
    std::mt19937_64 mRandom;
};

char const* typeName(DataType type)
{
    return trtops::dataTypeName(type);
}

DataType const kFEATURE_TYPES[] = {DataType::kFLOAT32, DataType::kFLOAT16, DataType::kBFLOAT16, DataType::kFLOAT64};

//! RoIs come in float32 or in the feature dtype.
std::vector<DataType> roiTypesFor(DataType feature)
{
    if (feature == DataType::kFLOAT32)
    {
        return {DataType::kFLOAT32};
    }
    return {DataType::kFLOAT32, feature};
}

struct Shape
{
    int64_t batch, channels, height, width, numRois;
    int32_t pooledH, pooledW;
};

//! Fills the fields every single-level params struct shares.
template <typename Params>
Params singleLevelParams(Shape const& s, double scale, DataType f, DataType r, Layout layout)
{
    Params p;
    p.batch = s.batch;
    p.channels = s.channels;
    p.height = s.height;
    p.width = s.width;
    p.numRois = s.numRois;
    p.pooledHeight = s.pooledH;
    p.pooledWidth = s.pooledW;
    p.spatialScale = static_cast<float>(scale);
    p.featureType = f;
    p.roiType = r;
    p.layout = layout;
    return p;
}

std::string describe(char const* op, Shape const& s, DataType f, DataType r, Layout layout, char const* extra)
{
    char text[256];
    std::snprintf(text, sizeof(text), "%s N=%lld C=%lld H=%lld W=%lld K=%lld out=%dx%d %s rois=%s %s %s", op,
        static_cast<long long>(s.batch), static_cast<long long>(s.channels), static_cast<long long>(s.height),
        static_cast<long long>(s.width), static_cast<long long>(s.numRois), s.pooledH, s.pooledW, typeName(f),
        typeName(r), layout == Layout::kNHWC ? "NHWC" : "NCHW", extra);
    return text;
}

//! Channel counts: 1, odd (scalar channels-last path), one and two 16-byte vectors per thread,
//! several tiles.
Shape const kSINGLE_LEVEL_SHAPES[] = {
    {2, 1, 9, 11, 14, 3, 2},
    {2, 3, 8, 13, 14, 2, 3},
    {1, 8, 10, 7, 20, 3, 3},
    {2, 16, 12, 9, 13, 2, 2},
    {2, 12, 9, 10, 15, 3, 3}, // fp32: one 16-byte vector per thread, not two
    {2, 40, 7, 10, 12, 3, 2},
    {1, 264, 6, 5, 3, 2, 2},
    {1, 64, 11, 13, 60, 7, 7},
    {2, 24, 30, 40, 1, 2, 2}, // one RoI on a larger map: NCHW gathers directly despite a workspace
    {2, 8, 9, 9, 0, 2, 2},    // no RoIs
};

//! Compares one single-level case under each workspace a caller can hand the launcher: for NCHW,
//! room for the channels-last copy (as a TensorRT workspace sized for more RoIs would give; the
//! launcher still gathers directly when few RoIs make the copy not pay) and none (always the
//! direct gather); for NHWC, none. `asked` (the op's workspace-size function) must be 0 or the
//! copy's size. Returns false once the harness has stopped.
template <typename Device, typename Host>
bool compareWorkspaceVariants(Harness& harness, char const* op, Shape const& s, DataType f, DataType r, Layout layout,
    std::string const& extra, size_t asked, Device const& device, Host const& host)
{
    size_t const copyBytes
        = static_cast<size_t>(s.batch * s.channels * s.height * s.width * trtops::elementSize(f));
    size_t const workspace = layout == Layout::kNCHW ? copyBytes : 0;
    if (asked != 0 && asked != workspace)
    {
        std::printf("FAIL %s workspace size %zu, expected 0 or %zu\n", op, asked, workspace);
        std::exit(1);
    }
    int64_t const outCount = s.numRois * s.channels * s.pooledH * s.pooledW;
    for (bool useWorkspace : {true, false})
    {
        if (!useWorkspace && workspace == 0)
        {
            continue;
        }
        std::string const what = extra
            + (useWorkspace && workspace > 0 ? (asked > 0 ? " copy" : " workspace-unused") : " no-workspace");
        harness.compare(describe(op, s, f, r, layout, what.c_str()), f, outCount, useWorkspace ? workspace : 0,
            device, host);
        if (harness.stopped())
        {
            return false;
        }
    }
    return true;
}

void roiAlignCases(Harness& harness)
{
    struct Variant
    {
        int32_t samplingRatio;
        bool aligned;
        double scale;
    };
    Variant const variants[] = {{2, false, 0.5}, {0, false, 0.25}, {-1, true, 1.0}, {1, true, 0.5}, {3, false, 0.5}};
    int32_t v = 0;
    for (Shape const& s : kSINGLE_LEVEL_SHAPES)
    {
        for (DataType f : kFEATURE_TYPES)
        {
            for (DataType r : roiTypesFor(f))
            {
                Variant const& var = variants[v++ % 5];
                Buffer const x = harness.features(f, s.batch * s.channels * s.height * s.width);
                Buffer const rois = harness.rois(r, s.numRois, s.batch, s.height, s.width, var.scale);
                auto p = singleLevelParams<trtops::RoIAlignParams>(s, var.scale, f, r, Layout::kNCHW);
                p.samplingRatio = var.samplingRatio;
                p.aligned = var.aligned;
                int64_t const outCount = s.numRois * s.channels * s.pooledH * s.pooledW;
                for (Layout layout : {Layout::kNCHW, Layout::kNHWC})
                {
                    p.layout = layout;
                    char extra[64];
                    std::snprintf(extra, sizeof(extra), "sr=%d aligned=%d", var.samplingRatio, var.aligned);
                    auto const device = [&](void* out, void* ws, cudaStream_t stream) {
                        return trtops::roiAlignForward(p, x.data(), rois.data(), out, ws, stream);
                    };
                    auto const host
                        = [&](void* out) { return trtops::roiAlignForwardHost(p, x.data(), rois.data(), out); };
                    if (!compareWorkspaceVariants(harness, "roi_align", s, f, r, layout, extra,
                            trtops::roiAlignWorkspaceSize(p), device, host))
                    {
                        return;
                    }
                    if (layout == Layout::kNCHW && f == DataType::kFLOAT64)
                    {
                        // A workspace off 16-byte alignment is ignored (direct gather), never misused.
                        size_t const copyBytes = static_cast<size_t>(
                            s.batch * s.channels * s.height * s.width * trtops::elementSize(f));
                        harness.compare(describe("roi_align", s, f, r, layout, "misaligned-workspace"), f, outCount,
                            copyBytes, device, host, 4, "nchwToNhwcKernel<Bits>");
                    }
                }
            }
        }
    }
}

void positionSensitiveCases(Harness& harness)
{
    Shape const shapes[] = {
        {2, 2 * 6, 9, 11, 14, 3, 2},  // PS: 2 output channels
        {1, 5 * 4, 8, 7, 13, 2, 2},   // PS: 5 output channels
        {2, 9, 10, 12, 16, 3, 3},     // PS: 1 output channel
    };
    for (Shape const& s : shapes)
    {
        for (DataType f : kFEATURE_TYPES)
        {
            for (DataType r : roiTypesFor(f))
            {
                double const scale = 0.5;
                Buffer const x = harness.features(f, s.batch * s.channels * s.height * s.width);
                Buffer const rois = harness.rois(r, s.numRois, s.batch, s.height, s.width, scale);
                int64_t const bins = static_cast<int64_t>(s.pooledH) * s.pooledW;
                for (Layout layout : {Layout::kNCHW, Layout::kNHWC})
                {
                    auto pa = singleLevelParams<trtops::PSRoIAlignParams>(s, scale, f, r, layout);
                    pa.samplingRatio = r == f ? 2 : -1;
                    harness.compare(
                        describe("ps_roi_align", s, f, r, layout, r == f ? "sr=2" : "sr=-1"), f,
                        s.numRois * (s.channels / bins) * bins, trtops::psRoIAlignWorkspaceSize(pa),
                        [&](void* out, void* ws, cudaStream_t stream) {
                            return trtops::psRoIAlignForward(pa, x.data(), rois.data(), out, ws, stream);
                        },
                        [&](void* out) { return trtops::psRoIAlignForwardHost(pa, x.data(), rois.data(), out); });

                    auto pp = singleLevelParams<trtops::PSRoIPoolParams>(s, scale, f, r, layout);
                    harness.compare(
                        describe("ps_roi_pool", s, f, r, layout, ""), f, s.numRois * (s.channels / bins) * bins,
                        trtops::psRoIPoolWorkspaceSize(pp),
                        [&](void* out, void* ws, cudaStream_t stream) {
                            return trtops::psRoIPoolForward(pp, x.data(), rois.data(), out, ws, stream);
                        },
                        [&](void* out) { return trtops::psRoIPoolForwardHost(pp, x.data(), rois.data(), out); });

                    if (harness.stopped())
                    {
                        return;
                    }
                }
            }
        }
    }
}

//! RoIPool: NCHW with a workspace (channels-last copy when it pays, direct gather otherwise) and
//! without one; channels-last with one or two 16-byte vectors per thread or scalars.
void roiPoolCases(Harness& harness)
{
    double const scales[] = {0.5, 0.25, 1.0};
    int32_t v = 0;
    for (Shape const& s : kSINGLE_LEVEL_SHAPES)
    {
        for (DataType f : kFEATURE_TYPES)
        {
            for (DataType r : roiTypesFor(f))
            {
                double const scale = scales[v++ % 3];
                Buffer const x = harness.features(f, s.batch * s.channels * s.height * s.width);
                Buffer const rois = harness.rois(r, s.numRois, s.batch, s.height, s.width, scale);
                for (Layout layout : {Layout::kNCHW, Layout::kNHWC})
                {
                    auto const p = singleLevelParams<trtops::RoIPoolParams>(s, scale, f, r, layout);
                    if (!compareWorkspaceVariants(harness, "roi_pool", s, f, r, layout, "",
                            trtops::roiPoolWorkspaceSize(p),
                            [&](void* out, void* ws, cudaStream_t stream) {
                                return trtops::roiPoolForward(p, x.data(), rois.data(), out, ws, stream);
                            },
                            [&](void* out) { return trtops::roiPoolForwardHost(p, x.data(), rois.data(), out); }))
                    {
                        return;
                    }
                }
            }
        }
    }
}

//! Every (layout, level mapper) pair.
std::vector<std::pair<Layout, trtops::LevelMapper>> layoutsAndMappers(std::vector<trtops::LevelMapper> const& mappers)
{
    std::vector<std::pair<Layout, trtops::LevelMapper>> pairs;
    for (Layout layout : {Layout::kNCHW, Layout::kNHWC})
    {
        for (trtops::LevelMapper mapper : mappers)
        {
            pairs.emplace_back(layout, mapper);
        }
    }
    return pairs;
}

void multiScaleCases(Harness& harness)
{
    // Image 256 x 192; levels at 1/4 ... 1/32 so RoIs of every size map to every level.
    for (int32_t numLevels : {1, 2, 4})
    {
        for (DataType f : kFEATURE_TYPES)
        {
            for (int64_t channels : {3, 16})
            {
                trtops::MultiScaleRoIAlignParams p;
                p.numLevels = numLevels;
                p.batch = 2;
                p.channels = channels;
                p.numRois = 24;
                p.pooledHeight = 2;
                p.pooledWidth = 3;
                p.samplingRatio = numLevels == 2 ? 0 : 2;
                p.aligned = numLevels == 4;
                p.featureType = f;
                p.roiType = numLevels == 2 ? f : DataType::kFLOAT32;
                std::vector<Buffer> levels;
                std::vector<void const*> pointers;
                for (int32_t l = 0; l < numLevels; ++l)
                {
                    int64_t const stride = int64_t{4} << l;
                    p.heights[l] = 256 / stride;
                    p.widths[l] = 192 / stride;
                    p.scales[l] = 1.F / static_cast<float>(stride);
                    levels.push_back(harness.features(f, p.batch * channels * p.heights[l] * p.widths[l]));
                }
                for (Buffer const& b : levels)
                {
                    pointers.push_back(b.data());
                }
                Buffer const rois = harness.rois(p.roiType, p.numRois, p.batch, 256, 192, 1.0);
                // Four levels also run mmdet's mapper (finest_scale 32: other levels than torchvision's).
                std::vector<trtops::LevelMapper> mappers{trtops::LevelMapper::kTorchvision};
                if (numLevels == 4)
                {
                    mappers.push_back(trtops::LevelMapper::kMmdet);
                }
                p.finestScale = 32;
                for (auto const [layout, mapper] : layoutsAndMappers(mappers))
                {
                    p.layout = layout;
                    p.levelMapper = mapper;
                    Shape const s{p.batch, channels, 256, 192, p.numRois, p.pooledHeight, p.pooledWidth};
                    char extra[48];
                    std::snprintf(extra, sizeof(extra), "levels=%d mapper=%s", numLevels,
                        mapper == trtops::LevelMapper::kMmdet ? "mmdet" : "torchvision");
                    harness.compare(
                        describe("multi_scale_roi_align", s, f, p.roiType, layout, extra), f,
                        p.numRois * channels * p.pooledHeight * p.pooledWidth,
                        trtops::multiScaleRoIAlignWorkspaceSize(p),
                        [&](void* out, void* ws, cudaStream_t stream) {
                            return trtops::multiScaleRoIAlignForward(p, pointers.data(), rois.data(), out, ws, stream);
                        },
                        [&](void* out) {
                            return trtops::multiScaleRoIAlignForwardHost(p, pointers.data(), rois.data(), out);
                        });
                    if (harness.stopped())
                    {
                        return;
                    }
                }
            }
        }
    }
}

} // namespace

int main(int argc, char** argv)
{
    Harness harness(emutest::parseOptions(argc, argv, 11));
    using Group = void (*)(Harness&);
    std::pair<char const*, Group> const groups[] = {
        {"roi_align", roiAlignCases},
        {"position_sensitive", positionSensitiveCases},
        {"roi_pool", roiPoolCases},
        {"multi_scale", multiScaleCases},
    };
    for (auto const& group : groups)
    {
        harness.tally().group(group.first, [&] { group.second(harness); });
    }
    return harness.tally().finish();
}
