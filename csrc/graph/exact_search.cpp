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

// Queries compared with each vector while its row is in cache: the index
// is read once per block instead of once per query.
constexpr std::size_t kExactQueryBlock = 16;

}  // namespace

void HnswIndex::search_exact(const float* queries, std::size_t n, std::size_t k, std::size_t threads,
                             std::int64_t* out_ids, float* out_distances) const {
    if (k == 0 || k > kMaxEf) throw std::invalid_argument("k must be in [1, " + std::to_string(kMaxEf) + "]");
    check_rows(queries, n, "queries");
    GrowthLock::Shared lock(growth_);
    // Blocks no larger than every worker's share, so a few queries still use every thread.
    const std::size_t workers = worker_count(threads, n);
    const std::size_t block_size = std::min(kExactQueryBlock, std::max<std::size_t>(1, (n + workers - 1) / workers));
    const std::size_t blocks = (n + block_size - 1) / block_size;
    WorkQueue queue(blocks);
    run_workers(std::min(workers, blocks), [&](std::size_t) {
        const std::size_t scratch_size = space_.scratch_size();
        std::vector<float> scratch(kExactQueryBlock * scratch_size);
        std::vector<Prepared> prepared;
        prepared.reserve(kExactQueryBlock);
        // One max-heap per query under ranks_before: the worst kept on top.
        std::vector<std::vector<Ranked>> best(kExactQueryBlock);
        for (auto& heap : best) heap.reserve(k);
        std::size_t block;
        while (queue.pop(&block)) {
            const std::size_t first = block * block_size;
            const std::size_t count = std::min(block_size, n - first);
            prepared.clear();
            for (std::size_t q = 0; q < count; ++q) {
                prepared.push_back(space_.prepare(queries + (first + q) * params_.dim, Side::kSearch,
                                                  scratch.data() + q * scratch_size));
                best[q].clear();
            }
            for (std::size_t slot = 0; slot < count_; ++slot) {
                const auto node = static_cast<std::uint32_t>(slot);
                if (!is_live(node)) continue;
                for (std::size_t q = 0; q < count; ++q) {
                    const Ranked candidate{distance_to(prepared[q], node), ids_[node]};
                    if (std::isnan(candidate.distance)) continue;  // a custom metric's NaN ranks nowhere
                    std::vector<Ranked>& heap = best[q];
                    if (heap.size() < k) {
                        heap.push_back(candidate);
                        std::push_heap(heap.begin(), heap.end(), ranks_before);
                    } else if (ranks_before(candidate, heap.front())) {
                        std::pop_heap(heap.begin(), heap.end(), ranks_before);
                        heap.back() = candidate;
                        std::push_heap(heap.begin(), heap.end(), ranks_before);
                    }
                }
            }
            for (std::size_t q = 0; q < count; ++q) {
                std::vector<Ranked>& heap = best[q];
                std::sort_heap(heap.begin(), heap.end(), ranks_before);
                std::int64_t* ids = out_ids + (first + q) * k;
                float* distances = out_distances + (first + q) * k;
                std::fill(ids, ids + k, kMissingId);
                std::fill(distances, distances + k, kMissingDistance);
                for (std::size_t j = 0; j < heap.size(); ++j) {
                    ids[j] = heap[j].id;
                    distances[j] = space_.finish(prepared[q], heap[j].distance);
                }
            }
        }
    });
}

}  // namespace vsearch
