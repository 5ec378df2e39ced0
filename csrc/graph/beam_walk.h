// The steps of a graph walk shared by every search: gathering a node's
// unvisited neighbours, and the filtered beam (FilteredBeam), whose results
// must pass a test: being live past tombstones (hnsw_index.cpp), and also
// the user's filter (filtered_search.cpp, range_search.cpp). One mechanism
// for every test a result must pass.
#pragma once

#include <algorithm>

#include "atomic_word.h"
#include "search_context.h"

namespace vsearch {

// Vector bytes fetched ahead of a distance: the first lines matter most, the
// hardware prefetcher streams the rest of a long row.
constexpr std::size_t kPrefetchBytes = 256;

// The test of a graph with tombstones: a result must be live. Tests have
// passes(node) and prefetch(node), which fetches what passes() will read
// while the node's distance is computed.
struct LiveTest {
    const std::uint8_t* states;  // SlotState per slot
    bool passes(std::uint32_t node) const { return states[node] == static_cast<std::uint8_t>(SlotState::kLive); }
    void prefetch(std::uint32_t node) const { __builtin_prefetch(states + node); }
};

template <bool kUpper>
std::size_t HnswIndex::unvisited_neighbors(std::uint32_t node, int level, SearchContext& ctx) const {
    const std::uint32_t max_links = static_cast<std::uint32_t>(links_.max_links(level));
    std::vector<std::uint32_t>& fresh = ctx.fresh;
    if (fresh.size() < max_links) fresh.resize(max_links);
    VisitedSet& visited = ctx.visited;
    const std::uint32_t* list = links_.list(node, level);
    const std::uint32_t count = std::min(load_relaxed(list), max_links);
    std::size_t fresh_count = 0;
    for (std::uint32_t j = 1; j <= count; ++j) {
        const std::uint32_t neighbor = load_relaxed(list + j);
        // Always true but in a damaged memory-mapped file, whose level-0
        // links are not validated at load: never read out of bounds. (Upper
        // levels, walked only by inserts and repairs, also check the level.)
        if (neighbor < count_ && (!kUpper || links_.level(neighbor) >= level)) {
            visited.prefetch(neighbor);
            fresh[fresh_count++] = neighbor;
        }
    }
    std::size_t kept = 0;
    for (std::size_t j = 0; j < fresh_count; ++j) {
        const std::uint32_t neighbor = fresh[j];
        if (visited.test_and_set(neighbor)) continue;
        store_.prefetch(neighbor, kPrefetchBytes);
        fresh[kept++] = neighbor;
    }
    return kept;
}

// `capacity` 0 finds nothing.
template <bool kUpper, class Test, class OnReach>
void HnswIndex::walk_filtered(const Prepared& query, std::uint32_t entry, std::size_t capacity, int level,
                              SearchContext& ctx, const Test& test, const OnReach& on_reach) const {
    FilteredBeam& beam = ctx.filtered;
    ctx.used_filtered = true;
    beam.reset(capacity);
    if (capacity == 0) return;
    VisitedSet& visited = ctx.visited;
    visited.reset(count_);
    visited.test_and_set(entry);
    const float entry_distance = distance_to(query, entry);
    on_reach(entry_distance, entry);
    beam.insert(entry_distance, entry, test.passes(entry));
    while (beam.has_unexpanded()) {
        const std::uint32_t node = beam.pop();
        std::uint32_t next;
        if (beam.peek(&next)) __builtin_prefetch(links_.list(next, level));
        const std::size_t kept = unvisited_neighbors<kUpper>(node, level, ctx);
        for (std::size_t j = 0; j < kept; ++j) test.prefetch(ctx.fresh[j]);
        for (std::size_t j = 0; j < kept; ++j) {
            const std::uint32_t neighbor = ctx.fresh[j];
            const float d = distance_to(query, neighbor);
            on_reach(d, neighbor);
            if (d < beam.bound()) beam.insert(d, neighbor, test.passes(neighbor));
        }
    }
}

}  // namespace vsearch
