// Per-thread scratch of the graph algorithms (search, insert, repair), shared
// by the files that implement HnswIndex.
#pragma once

#include <algorithm>
#include <vector>

#include "hnsw_index.h"

namespace vsearch {

// Per-thread scratch for searching and inserting.
struct HnswIndex::SearchContext {
    explicit SearchContext(std::size_t scratch_size) : query_scratch(scratch_size), other_scratch(scratch_size) {}

    // Allocates all that inserting into an index of `count` nodes (new nodes
    // up to `top_level`) needs, so that insert() cannot fail.
    void reserve_for_insert(std::size_t count, std::size_t ef_construction, std::size_t M, int top_level) {
        const std::size_t max_links = 2 * M;  // level 0's bound, the largest
        const std::size_t beam = std::min(ef_construction, count);
        visited.reserve(count);
        pool.reserve(beam);
        fresh.reserve(max_links);
        candidates.reserve(beam + max_links);
        filtered.reserve(beam);
        kept.reserve(max_links);
        relinked.reserve(max_links + 1);
        chosen.resize(static_cast<std::size_t>(top_level) + 1);
        for (auto& level : chosen) level.reserve(max_links);
    }

    VisitedSet visited;
    // The last walk's beam: `pool`, or `filtered` past tombstones or a filter;
    // found() and found_at() read whichever it used.
    CandidatePool pool;
    FilteredBeam filtered;
    bool used_filtered = false;
    std::size_t found() const { return used_filtered ? filtered.size() : pool.size(); }
    Neighbor found_at(std::size_t j) const { return used_filtered ? filtered.at(j) : pool.at(j); }

    std::vector<std::uint32_t> fresh;           // unvisited neighbours of the expanded node
    std::vector<Neighbor> candidates;           // a new node's candidates on the current level
    std::vector<Neighbor> kept;                 // select_neighbors' choice
    std::vector<Neighbor> relinked;             // a full list plus the node linking back to it
    std::vector<std::uint32_t> known;           // a repair's candidates so far, sorted
    std::vector<std::vector<Neighbor>> chosen;  // per level: the new node's neighbours
    std::vector<float> query_scratch;           // the prepared query (metrics that transform it)
    std::vector<float> other_scratch;           // a prepared node during neighbour selection

    // What it holds (memory accounting of the index's pool).
    std::size_t bytes() const {
        std::size_t total = visited.bytes() + pool.bytes() + filtered.bytes();
        total += (fresh.capacity() + known.capacity()) * sizeof(std::uint32_t);
        total += (candidates.capacity() + kept.capacity() + relinked.capacity()) * sizeof(Neighbor);
        for (const auto& level : chosen) total += level.capacity() * sizeof(Neighbor);
        return total + (query_scratch.capacity() + other_scratch.capacity()) * sizeof(float);
    }
};

}  // namespace vsearch
