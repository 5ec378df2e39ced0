// The limits and defaults of an index, defined once: the constructor enforces
// the limits, the Python package exports both (vsearch.limits), and the file
// reader rejects any descriptor outside the limits, so whatever one vsearch
// writes another reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "candidate_pool.h"

namespace vsearch {

// Dimension of a vector: a row of 2^20 floats is 4 MiB, far past any embedding.
constexpr std::size_t kMaxDim = std::size_t{1} << 20;
// Links per node on upper levels (2*M on level 0): bounds per-node link storage.
constexpr std::size_t kMaxM = 4096;
// Beam widths (ef, ef_construction) and k, since a search keeps max(k, ef)
// candidates: past this a search is a slow brute force.
// It also bounds the per-thread search state a value read from a file can ask
// for (a candidate pool of kMaxEf entries is 8 MiB).
constexpr std::size_t kMaxEf = std::size_t{1} << 20;
// Top level of a node: caps a (vanishingly rare) runaway level draw.
constexpr int kMaxLevel = 63;
// Internal slots keep their top bit free for CandidatePool's flag.
constexpr std::size_t kMaxElements = CandidatePool::kExpandedBit - 1;
// Native threads one batch call may start. More than the cores gains nothing;
// the limit turns a mistaken request (threads=2**40) into an error instead of
// a thread (and its stack) per item.
constexpr std::size_t kMaxThreads = 4096;
// Channels per GSSF block: the weights hold dim * (1 + block_size) floats, at
// most 4 GiB at kMaxDim; a 1024-channel block is already a dense matrix.
constexpr std::size_t kMaxGssfBlockSize = 1024;

// The id a search reports for a missing result (fewer than k reachable), so
// no vector may carry it; automatic ids start above it.
constexpr std::int64_t kMissingId = -1;
// ... and the distance it reports with it.
constexpr float kMissingDistance = std::numeric_limits<float>::infinity();

// Defaults: M and ef_construction as hnswlib's (M 16, ef_construction 200);
// ef is the search beam, which a call can raise for recall.
constexpr std::size_t kDefaultM = 16;
constexpr std::size_t kDefaultEfConstruction = 200;
constexpr std::size_t kDefaultEf = 64;
// Removed vectors stay in the graph as tombstones (walked, never returned)
// until their share of the graph, removed / (live + removed), passes this
// fraction: then the graph is repaired around them and their slots freed.
// A tenth keeps searches within a few percent of their speed on a clean graph
// while repairs run in batches large enough to amortise their scan.
constexpr double kDefaultConsolidateFraction = 0.1;

}  // namespace vsearch
