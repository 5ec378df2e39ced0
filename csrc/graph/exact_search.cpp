// Exact search: each query against every live vector with the index's
// metric kernels, the k nearest kept. It is what `search(..., exact=True)`
// returns, and the reference the graph search is tested against.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnsw_index.h"
#include "workers.h"

namespace vsearch {

namespace {

struct Ranked {
    float distance;
    std::int64_t id;
};

// Nearer first; equal distances by the smaller id, so results are the same
// on every run, thread count and slot order.
bool ranks_before(const Ranked& a, const Ranked& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
}

}  // namespace

void HnswIndex::search_exact(const float* queries, std::size_t n, std::size_t k, std::size_t threads,
                             std::int64_t* out_ids, float* out_distances) const {
    if (k == 0 || k > kMaxEf) throw std::invalid_argument("k must be in [1, " + std::to_string(kMaxEf) + "]");
    check_rows(queries, n, "queries");
    GrowthLock::Shared lock(growth_);
    WorkQueue queue(n);
    run_workers(worker_count(threads, n), [&](std::size_t) {
        std::vector<float> scratch(space_.scratch_size());
        std::vector<Ranked> best;  // a max-heap under ranks_before: the worst kept on top
        best.reserve(k);
        std::size_t i;
        while (queue.pop(&i)) {
            const Prepared query = space_.prepare(queries + i * params_.dim, Side::kSearch, scratch.data());
            best.clear();
            for (std::size_t slot = 0; slot < count_; ++slot) {
                const auto node = static_cast<std::uint32_t>(slot);
                if (!is_live(node)) continue;
                const Ranked candidate{distance_to(query, node), ids_[node]};
                if (std::isnan(candidate.distance)) continue;  // a custom metric's NaN ranks nowhere
                if (best.size() < k) {
                    best.push_back(candidate);
                    std::push_heap(best.begin(), best.end(), ranks_before);
                } else if (ranks_before(candidate, best.front())) {
                    std::pop_heap(best.begin(), best.end(), ranks_before);
                    best.back() = candidate;
                    std::push_heap(best.begin(), best.end(), ranks_before);
                }
            }
            std::sort_heap(best.begin(), best.end(), ranks_before);
            std::int64_t* ids = out_ids + i * k;
            float* distances = out_distances + i * k;
            std::fill(ids, ids + k, kMissingId);
            std::fill(distances, distances + k, kMissingDistance);
            for (std::size_t j = 0; j < best.size(); ++j) {
                ids[j] = best[j].id;
                distances[j] = space_.finish(query, best[j].distance);
            }
        }
    });
}

}  // namespace vsearch
