//! \file nms_workspace.h
//! Internal: how nmsForward carves its workspace, shared by nmsWorkspaceSize and nmsForward.
#pragma once

#include "nms/nms.h"

#include <cstddef>
#include <cstdint>

namespace trtops
{
namespace nms
{

//! Sorted boxes are processed in chunks of kCHUNK_WORDS 64-bit mask words (4096 boxes): the IoU
//! bitmask of one chunk is kCHUNK x kCHUNK bits (2 MiB), whatever numBoxes is.
constexpr int32_t kCHUNK_WORDS = 64;
constexpr int32_t kCHUNK = 64 * kCHUNK_WORDS;
//! Boxes per block of the ordered compaction.
constexpr int32_t kCOMPACT_TILE = 1024;

//! int32 counters at the start of the workspace.
enum Counter : int32_t
{
    kNUM_VALID = 0,    //!< candidates (score threshold passed)
    kKEPT_SO_FAR = 1,  //!< kept so far (non-batched; for maxOutputBoxes)
    kDONE = 2,         //!< 1 once maxOutputBoxes boxes are kept (non-batched)
    kCHUNK_KEPT = 3,   //!< boxes kept by the chunk just resolved
    kCHUNK_LIVE = 4,   //!< live boxes of the chunk being resolved, once compactChunkKernel has run
    kNUM_COUNTERS = 5,
};

//! Byte offsets of every buffer in the workspace (each 256-byte aligned).
struct WorkspaceLayout
{
    size_t counters{0};
    size_t keysA{0};
    size_t keysB{0};
    size_t valuesA{0};
    size_t valuesB{0};
    size_t classKeysA{0};
    size_t classKeysB{0};
    size_t classValuesA{0};
    size_t classValuesB{0};
    size_t boxes{0};
    size_t areas{0};
    size_t suppressWords{0};
    size_t keepWords{0};
    size_t mask{0};
    size_t tileFlags{0}; //!< per row block of the chunk: bit w set when mask tile (row block, w) is not zero
    size_t chunkKept{0};
    //! The live boxes of a chunk after the first, compacted (inputs of more than kCHUNK boxes):
    //! boxes, areas, classes (batched) and their sorted positions.
    size_t liveBoxes{0};
    size_t liveAreas{0};
    size_t liveClasses{0};
    size_t livePositions{0};
    size_t flagsByIndex{0};
    size_t tileCounts{0};
    size_t cubTemp{0};
    size_t cubTempBytes{0};
    size_t total{0};
};

} // namespace nms
} // namespace trtops
