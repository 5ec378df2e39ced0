// Filtered search: the k nearest of each query among the vectors that pass
// a filter. A planner chooses per query between a filtered graph walk
// (beam_walk.h: every node walked, only passing ones returned) and an exact
// scan of the passing vectors.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "beam_walk.h"
#include "query_filter.h"
#include "workers.h"

namespace vsearch {

namespace {

// The planner's cost model. An exact scan computes one distance per passing
// vector, p of them. A filtered walk with beam b over L live vectors reaches
// about b * L / p nodes before b of them pass, and each costs more than a
// scanned row (random access, bookkeeping): kWalkCostFactor * b * L / p scan
// distances' worth in all. The scan is chosen when p <= that. Measured with
// prepared random-id filters, one query per call on one thread, ef 64 (AMD
// EPYC, avx512 kernels), the speeds of the two plans meet at a share of 0.15
// on 100,000 x 128 clustered vectors (factor 35), 0.45 on
// debian_pkgdesc_minilm (9,000 x 384: 28) and 0.7 on fortunes_minilm
// (3,000 x 384: 23); the filter suite of `python -m bench` shows both plans
// side by side (its reference run: graph 7,691 vs exact 3,528 q/s at 50% of
// debian_pkgdesc_minilm, exact 3,015 vs graph 1,338 at 10% of 100k x 128).
constexpr double kWalkCostFactor = 30.0;
// Rows an exact scan of scattered slots fetches ahead of the one it compares:
// the hardware prefetcher follows only sequential rows (measured 5x faster
// on 50% of 100k x 128 rows, nearly as fast as a contiguous scan).
constexpr std::size_t kScanPrefetchRows = 4;
// Slots a predicate is tried on to estimate its passing share for the planner.
constexpr std::size_t kPredicateSampleSize = 1024;

bool prefers_exact(std::size_t passing, std::size_t beam, std::size_t live) {
    const double p = static_cast<double>(passing);
    return p * p <= kWalkCostFactor * static_cast<double>(beam) * static_cast<double>(live);
}

}  // namespace

void HnswIndex::check_filter(const IdFilter& filter, std::size_t n) {
    switch (filter.kind) {
        case IdFilter::Kind::kSharedIds:
            if (filter.id_count > 0 && filter.ids == nullptr) throw std::invalid_argument("filter ids missing");
            return;
        case IdFilter::Kind::kQueryIds:
            if (filter.offsets == nullptr || filter.offsets[0] != 0 ||
                static_cast<std::size_t>(filter.offsets[n]) != filter.id_count)
                throw std::invalid_argument("per-query filter offsets must run from 0 to the number of ids");
            for (std::size_t i = 0; i < n; ++i)
                if (filter.offsets[i + 1] < filter.offsets[i])
                    throw std::invalid_argument("per-query filter offsets must not decrease");
            return;
        case IdFilter::Kind::kPredicate:
            if (filter.predicate == nullptr) throw std::invalid_argument("filter predicate missing");
            return;
    }
    throw std::invalid_argument("unknown filter kind");
}

void HnswIndex::allow_ids(const std::int64_t* ids, std::size_t n, SlotSet& set) const {
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t slot = slots_.find(ids[i], ids_.data());
        if (slot != LabelMap::kAbsent && is_live(slot)) set.add(slot);
    }
    set.sort();
}

double HnswIndex::sampled_share(const IdFilter& filter) const {
    std::size_t tried = 0, passed = 0;
    const std::size_t step = std::max<std::size_t>(1, count_ / kPredicateSampleSize);
    for (std::size_t slot = 0; slot < count_; slot += step) {
        const auto node = static_cast<std::uint32_t>(slot);
        if (!is_live(node)) continue;
        ++tried;
        passed += filter.predicate(filter.context, ids_[node]) ? 1 : 0;
    }
    return tried == 0 ? 0.0 : static_cast<double>(passed) / static_cast<double>(tried);
}

void HnswIndex::prepare_ids(const std::int64_t* ids, std::size_t n, PreparedIds& prepared) const {
    prepared.ids.assign(ids, ids + n);
    GrowthLock::Shared lock(growth_);
    prepared.slots.reset(count_);
    allow_ids(ids, n, prepared.slots);
    prepared.owner = this;
    prepared.version = slot_version_;
}

void HnswIndex::prepare_filter(CallFilter& call) const {
    if (call.filter.kind == IdFilter::Kind::kSharedIds) {
        const PreparedIds* prepared = call.filter.prepared;
        if (prepared && prepared->owner == this && prepared->version == slot_version_) {
            call.shared = &prepared->slots;
            return;
        }
        call.looked_up.reset(count_);
        allow_ids(call.filter.ids, call.filter.id_count, call.looked_up);
        call.shared = &call.looked_up;
    } else if (call.filter.kind == IdFilter::Kind::kPredicate) {
        call.predicate_share = sampled_share(call.filter);
    }
}

HnswIndex::QueryFilter HnswIndex::filter_query(const CallFilter& call, std::size_t i, SlotSet& own) const {
    const IdFilter& filter = call.filter;
    switch (filter.kind) {
        case IdFilter::Kind::kSharedIds:
            return {call.shared, call.shared->size()};
        case IdFilter::Kind::kQueryIds:
            own.clear();
            allow_ids(filter.ids + filter.offsets[i], static_cast<std::size_t>(filter.offsets[i + 1] - filter.offsets[i]),
                      own);
            return {&own, own.size()};
        case IdFilter::Kind::kPredicate:
            break;
    }
    return {nullptr, static_cast<std::size_t>(std::ceil(call.predicate_share * static_cast<double>(live_count())))};
}

void HnswIndex::scan_filtered(const Prepared& query, const CallFilter& call, const QueryFilter& allowed,
                              TopK& top) const {
    if (allowed.allowed) {
        const std::vector<std::uint32_t>& slots = allowed.allowed->slots();
        const std::size_t row_bytes = store_.row_bytes();
        for (std::size_t j = 0; j < slots.size(); ++j) {
            if (j + kScanPrefetchRows < slots.size()) store_.prefetch(slots[j + kScanPrefetchRows], row_bytes);
            top.offer(distance_to(query, slots[j]), ids_[slots[j]]);
        }
        return;
    }
    const IdFilter& filter = call.filter;
    for (std::size_t slot = 0; slot < count_; ++slot) {
        const auto node = static_cast<std::uint32_t>(slot);
        if (is_live(node) && filter.predicate(filter.context, ids_[node])) top.offer(distance_to(query, node), ids_[node]);
    }
}

void HnswIndex::search_filtered(const float* queries, std::size_t n, std::size_t k, std::size_t ef,
                                std::size_t threads, const IdFilter& filter, SearchPlan plan, std::int64_t* out_ids,
                                float* out_distances) const {
    check_neighbour_count(k);
    if (ef == 0) ef = ef_.load(std::memory_order_relaxed);
    check_rows(queries, n, "queries");
    check_filter(filter, n);
    GrowthLock::Shared lock(growth_);
    CallFilter call{filter, {}, nullptr, 1.0};
    prepare_filter(call);
    const std::size_t beam = std::max(ef, k);
    const std::size_t live = live_count();
    const std::uint64_t entry = entry_.load(std::memory_order_acquire);
    WorkQueue queue(n);
    run_workers(worker_count(threads, n), [&](std::size_t) {
        const ContextPool::Lease lease = contexts_.take(context_scratch());
        SearchContext& ctx = *lease;
        SlotSet own;
        if (filter.kind == IdFilter::Kind::kQueryIds) own.reset(count_);
        TopK top;
        const auto ignore = [](float, std::uint32_t) {};
        std::size_t i;
        while (queue.pop(&i)) {
            std::int64_t* ids = out_ids + i * k;
            float* distances = out_distances + i * k;
            const QueryFilter allowed = filter_query(call, i, own);
            const Prepared prepared = space_.prepare(queries + i * params_.dim, Side::kSearch, ctx.query_scratch.data());
            if (plan == SearchPlan::kExact || (plan == SearchPlan::kAuto && prefers_exact(allowed.passing, beam, live))) {
                top.reset(k);
                scan_filtered(prepared, call, allowed, top);
                write_ranked(prepared, top.sorted(), k, ids, distances);
                continue;
            }
            std::fill(ids, ids + k, kMissingId);
            std::fill(distances, distances + k, kMissingDistance);
            // A walk whose beam cannot fill walks the whole graph: bound it by
            // what passes when that is known.
            const std::size_t capacity = std::min(beam, allowed.allowed ? allowed.passing : live);
            if (entry == kNoEntry || capacity == 0) continue;
            const std::uint32_t start =
                greedy_descend(prepared, static_cast<std::uint32_t>(entry), static_cast<int>(entry >> 32), 0);
            with_test(call, allowed, [&](const auto& test) {
                walk_filtered<false>(prepared, start, capacity, 0, ctx, test, ignore);
            });
            const std::size_t found = std::min(k, ctx.filtered.size());
            for (std::size_t j = 0; j < found; ++j) {
                const Neighbor hit = ctx.filtered.at(j);
                ids[j] = ids_[hit.id];
                distances[j] = space_.finish(prepared, hit.distance);
            }
        }
    });
}

}  // namespace vsearch
