// The limits of an index, defined once: the constructor enforces them, the
// Python package exports them (vsearch.limits), and the file reader rejects
// any descriptor outside them, so whatever one vsearch writes another reads.
#pragma once

#include <cstddef>

#include "candidate_pool.h"

namespace vsearch {

// Dimension of a vector: a row of 2^20 floats is 4 MiB, far past any embedding.
constexpr std::size_t kMaxDim = std::size_t{1} << 20;
// Links per node on upper levels (2*M on level 0): bounds per-node link storage.
constexpr std::size_t kMaxM = 4096;
// Beam widths (ef, ef_construction): past this a search is a slow brute force.
// It also bounds the per-thread search state a value read from a file can ask
// for (a candidate pool of kMaxEf entries is 8 MiB).
constexpr std::size_t kMaxEf = std::size_t{1} << 20;
// Top level of a node: caps a (vanishingly rare) runaway level draw.
constexpr int kMaxLevel = 63;
// Internal slots keep their top bit free for CandidatePool's flag.
constexpr std::size_t kMaxElements = CandidatePool::kExpandedBit - 1;

}  // namespace vsearch
