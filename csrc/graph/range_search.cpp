// Range search: every vector within a radius of the query. A beam walk over
// the live graph finds the ball around the query; the walk then keeps
// expanding every node it reached inside the ball or a margin around it
// (passing the filter or not: the ball's other nodes lead to its passing
// ones), until none is left unexpanded. The hits are the passing nodes inside.
#include <algorithm>
#include <cmath>
#include <vector>

#include "beam_walk.h"
#include "query_filter.h"
#include "workers.h"

namespace vsearch {

namespace {

// The walk also expands nodes outside the ball, up to this share of the
// region's depth past the radius: hits that only such nodes link to are found
// too. The depth runs from the nearest node found to the radius, or to the
// beam's farthest node when that lies outside the ball (a small ball's own
// depth leaves almost no margin). 100k x 128 clustered, ef 64, radii of
// ~31 / 211 / 1,550 hits, 200 queries: recall 0.83 / 0.88 / 0.92 without a
// margin; 0.93 / 0.98 / 0.998 with 0.5 of the ball's depth; 0.96 / 0.99 /
// 0.999 with 0.6 of the region's, at 0.77x / 0.77x / 0.92x that speed
// (0.75 of the ball's: 0.96 / 0.99 / 0.999 at 0.73x / 0.57x / 0.69x).
constexpr float kRangeMargin = 0.6f;

}  // namespace

void HnswIndex::range_search(const float* queries, std::size_t n, float radius, std::size_t ef,
                             std::size_t max_results, std::size_t threads, const IdFilter* filter,
                             std::vector<std::vector<Ranked>>& hits) const {
    if (std::isnan(radius)) throw std::invalid_argument("radius must be a number");
    if (ef == 0) ef = ef_.load(std::memory_order_relaxed);
    check_rows(queries, n, "queries");
    if (filter) check_filter(*filter, n);
    hits.assign(n, {});
    GrowthLock::Shared lock(growth_);
    const IdFilter none;  // stands in for no filter: never read
    CallFilter call{filter ? *filter : none, {}, nullptr, 1.0};
    if (filter) prepare_filter(call);
    const std::uint64_t entry = entry_.load(std::memory_order_acquire);
    if (entry == kNoEntry || live_count() == 0) return;
    const std::size_t capacity = std::min(ef, live_count());
    WorkQueue queue(n);
    run_workers(worker_count(threads, n), [&](std::size_t) {
        const ContextPool::Lease lease = contexts_.take(context_scratch());
        SearchContext& ctx = *lease;
        SlotSet own;
        if (filter && filter->kind == IdFilter::Kind::kQueryIds) own.reset(count_);
        std::vector<Neighbor> region;  // nodes reached inside the ball or its margin, expanded in turn
        const LiveTest live{states_.data()};
        std::size_t i;
        while (queue.pop(&i)) {
            const Prepared prepared = space_.prepare(queries + i * params_.dim, Side::kSearch, ctx.query_scratch.data());
            region.clear();
            const auto note = [&](float distance, std::uint32_t node) { region.push_back({distance, node}); };
            const std::uint32_t start =
                greedy_descend(prepared, static_cast<std::uint32_t>(entry), static_cast<int>(entry >> 32), 0);
            walk_filtered<false>(prepared, start, capacity, 0, ctx, live, note);
            // The margin: paths between hits may leave the ball, by up to a
            // share of the region's depth (see kRangeMargin).
            const FilteredBeam& beam = ctx.filtered;
            const auto beam_distance = [&](std::size_t j) { return space_.finish(prepared, beam.at(j).distance); };
            const float nearest = beam.size() ? beam_distance(0) : radius;
            const float bottom = beam.size() ? std::max(radius, beam_distance(beam.size() - 1)) : radius;
            const float reach = radius + kRangeMargin * std::max(0.0f, bottom - nearest);
            const auto beyond_reach = [&](const Neighbor& node) { return !(space_.finish(prepared, node.distance) <= reach); };
            region.erase(std::remove_if(region.begin(), region.end(), beyond_reach), region.end());
            // The walk's visited marks stay: each node is reached once.
            for (std::size_t next = 0; next < region.size(); ++next) {
                const std::size_t kept = unvisited_neighbors<false>(region[next].id, 0, ctx);
                for (std::size_t j = 0; j < kept; ++j) {
                    const Neighbor reached{distance_to(prepared, ctx.fresh[j]), ctx.fresh[j]};
                    if (!beyond_reach(reached)) region.push_back(reached);
                }
            }
            std::vector<Ranked>& found = hits[i];
            const auto keep = [&](const auto& test) {
                for (const Neighbor& node : region) {
                    const float distance = space_.finish(prepared, node.distance);
                    if (distance <= radius && test.passes(node.id)) found.push_back({distance, ids_[node.id]});
                }
            };
            if (filter) {
                with_test(call, filter_query(call, i, own), keep);
            } else {
                keep(live);
            }
            std::sort(found.begin(), found.end(), ranks_before);
            if (max_results > 0 && found.size() > max_results) found.resize(max_results);
        }
    });
}

}  // namespace vsearch
