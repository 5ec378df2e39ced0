// The reference search: HNSW's K-NN-SEARCH as the paper writes it (Malkov &
// Yashunin, algorithms 2 and 5), kept simple on purpose so that the optimised
// walk (search_level, walk_filtered, CandidatePool, FilteredBeam) can be
// tested against it: the same graph and distances must give the same results.
// A candidate min-heap C, a result max-heap W of ef nodes that pass, a visited
// std::vector<bool>; nodes that do not pass (tombstones, filtered out) are
// walked but never enter W.
#include <algorithm>
#include <functional>
#include <queue>
#include <vector>

#include "hnsw_index.h"

namespace vsearch {

namespace {

struct Nearer {
    bool operator()(const Neighbor& a, const Neighbor& b) const { return closer_first(b, a); }
};
using NearestOnTop = std::priority_queue<Neighbor, std::vector<Neighbor>, Nearer>;
using FarthestOnTop = std::priority_queue<Neighbor, std::vector<Neighbor>, std::function<bool(const Neighbor&, const Neighbor&)>>;

}  // namespace

void HnswIndex::search_reference(const float* query, std::size_t k, std::size_t ef,
                                 const std::unordered_set<std::int64_t>* allowed, std::int64_t* out_ids,
                                 float* out_distances) const {
    check_neighbour_count(k);
    if (ef == 0) ef = ef_.load(std::memory_order_relaxed);
    check_rows(query, 1, "query");
    std::fill(out_ids, out_ids + k, kMissingId);
    std::fill(out_distances, out_distances + k, kMissingDistance);
    GrowthLock::Shared lock(growth_);
    const std::uint64_t entry = entry_.load(std::memory_order_acquire);
    if (entry == kNoEntry || live_count() == 0) return;
    std::vector<float> scratch(space_.scratch_size());
    const Prepared q = space_.prepare(query, Side::kSearch, scratch.data());
    const auto distance = [&](std::uint32_t node) { return distance_to(q, node); };

    // A node's links on a level, skipping any that a damaged mapped file could hold.
    const auto links_of = [&](std::uint32_t node, int level) {
        const std::uint32_t* list = links_.list(node, level);
        std::vector<std::uint32_t> out;
        for (std::uint32_t j = 1; j <= std::min<std::size_t>(list[0], links_.max_links(level)); ++j)
            if (list[j] < count_ && links_.level(list[j]) >= level) out.push_back(list[j]);
        return out;
    };

    // Upper levels: move to the nearest neighbour while it is nearer (ef = 1).
    std::uint32_t current = static_cast<std::uint32_t>(entry);
    float current_distance = distance(current);
    for (int level = static_cast<int>(entry >> 32); level > 0; --level) {
        for (bool moved = true; moved;) {
            moved = false;
            for (const std::uint32_t neighbor : links_of(current, level)) {
                const float d = distance(neighbor);
                if (d < current_distance) {
                    current = neighbor;
                    current_distance = d;
                    moved = true;
                }
            }
        }
    }

    // Level 0: SEARCH-LAYER with a beam of max(ef, k) passing nodes.
    const auto passes = [&](std::uint32_t node) {
        return is_live(node) && (allowed == nullptr || allowed->count(ids_[node]) > 0);
    };
    const std::size_t beam = std::min(std::max(ef, k), live_count());
    std::vector<bool> visited(count_, false);
    NearestOnTop candidates;
    FarthestOnTop results(closer_first);
    const auto offer = [&](std::uint32_t node) {
        visited[node] = true;
        const float d = distance(node);
        const bool full = results.size() == beam;
        if (full && !(d < results.top().distance)) return;
        candidates.push({d, node});
        if (!passes(node)) return;
        results.push({d, node});
        if (results.size() > beam) results.pop();
    };
    offer(current);
    while (!candidates.empty()) {
        const Neighbor nearest = candidates.top();
        candidates.pop();
        if (results.size() == beam && nearest.distance > results.top().distance) break;
        for (const std::uint32_t neighbor : links_of(nearest.id, 0))
            if (!visited[neighbor]) offer(neighbor);
    }
    std::vector<Neighbor> found;
    for (; !results.empty(); results.pop()) found.push_back(results.top());
    std::reverse(found.begin(), found.end());
    for (std::size_t j = 0; j < std::min(k, found.size()); ++j) {
        out_ids[j] = ids_[found[j].id];
        out_distances[j] = space_.finish(q, found[j].distance);
    }
}

}  // namespace vsearch
