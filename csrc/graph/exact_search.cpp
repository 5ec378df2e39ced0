// Exact search: each query against every live vector with the index's
// metric kernels, the k nearest kept: what `search(..., exact=True)`
// returns.
#include <algorithm>
#include <vector>

#include "hnsw_index.h"
#include "top_k.h"
#include "workers.h"

namespace vsearch {

namespace {

// Queries compared with each vector while its row is in cache: the index
// is read once per block instead of once per query.
constexpr std::size_t kExactQueryBlock = 16;
// Fewest slots a thread scans for one block of queries: below it, starting
// the thread costs more than its share of the scan.
constexpr std::size_t kExactMinChunkSlots = 4096;

}  // namespace

void HnswIndex::search_exact(const float* queries, std::size_t n, std::size_t k, std::size_t threads,
                             std::int64_t* out_ids, float* out_distances) const {
    check_neighbour_count(k);
    check_rows(queries, n, "queries");
    GrowthLock::Shared lock(growth_);
    // Blocks no larger than every worker's share; when there are fewer blocks
    // than workers (a few queries), the slots are split among them too, and
    // each query's parts are merged at the end.
    const std::size_t workers = worker_count(threads, n * std::max<std::size_t>(1, count_ / kExactMinChunkSlots));
    const std::size_t block_size = std::min(kExactQueryBlock, std::max<std::size_t>(1, (n + workers - 1) / workers));
    const std::size_t blocks = (n + block_size - 1) / block_size;
    const std::size_t chunks = std::max<std::size_t>(1, workers / std::max<std::size_t>(1, blocks));
    // With chunks > 1: each (query, chunk)'s nearest, ranked, merged below.
    std::vector<std::vector<Ranked>> parts(chunks > 1 ? n * chunks : 0);
    const auto write = [&](std::size_t query, const Prepared& prepared, const std::vector<Ranked>& ranked) {
        write_ranked(prepared, ranked, k, out_ids + query * k, out_distances + query * k);
    };
    const std::size_t scratch_size = space_.scratch_size();
    WorkQueue queue(blocks * chunks);
    run_workers(std::min(workers, blocks * chunks), [&](std::size_t) {
        std::vector<float> scratch(kExactQueryBlock * scratch_size);
        std::vector<Prepared> prepared;
        prepared.reserve(kExactQueryBlock);
        std::vector<TopK> best(kExactQueryBlock);
        std::size_t unit;
        while (queue.pop(&unit)) {
            const std::size_t first = (unit / chunks) * block_size;
            const std::size_t count = std::min(block_size, n - first);
            const std::size_t chunk = unit % chunks;
            prepared.clear();
            for (std::size_t q = 0; q < count; ++q) {
                prepared.push_back(space_.prepare(queries + (first + q) * params_.dim, Side::kSearch,
                                                  scratch.data() + q * scratch_size));
                best[q].reset(k);
            }
            const std::size_t end = count_ * (chunk + 1) / chunks;
            for (std::size_t slot = count_ * chunk / chunks; slot < end; ++slot) {
                const auto node = static_cast<std::uint32_t>(slot);
                if (!is_live(node)) continue;
                const std::int64_t id = ids_[node];
                for (std::size_t q = 0; q < count; ++q) best[q].offer(distance_to(prepared[q], node), id);
            }
            for (std::size_t q = 0; q < count; ++q) {
                const std::vector<Ranked>& ranked = best[q].sorted();
                if (chunks == 1)
                    write(first + q, prepared[q], ranked);
                else
                    parts[(first + q) * chunks + chunk] = ranked;
            }
        }
    });
    if (chunks == 1) return;
    std::vector<float> scratch(scratch_size);
    std::vector<Ranked> merged;
    for (std::size_t query = 0; query < n; ++query) {
        merged.clear();
        for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
            const std::vector<Ranked>& part = parts[query * chunks + chunk];
            merged.insert(merged.end(), part.begin(), part.end());
        }
        std::sort(merged.begin(), merged.end(), ranks_before);
        write(query, space_.prepare(queries + query * params_.dim, Side::kSearch, scratch.data()), merged);
    }
}

void HnswIndex::write_ranked(const Prepared& query, const std::vector<Ranked>& ranked, std::size_t k,
                             std::int64_t* ids, float* distances) const {
    std::fill(ids, ids + k, kMissingId);
    std::fill(distances, distances + k, kMissingDistance);
    for (std::size_t j = 0; j < std::min(k, ranked.size()); ++j) {
        ids[j] = ranked[j].id;
        distances[j] = space_.finish(query, ranked[j].distance);
    }
}

}  // namespace vsearch
