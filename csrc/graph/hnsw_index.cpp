#include "hnsw_index.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <limits>
#include <stdexcept>

#include "atomic_word.h"
#include "beam_walk.h"
#include "search_context.h"
#include "workers.h"

namespace vsearch {

namespace {

// Growth is geometric, for amortised O(1) copies per add: a small store
// doubles, one of kDoublingLimit units or more grows by 1/kLargeGrowthDivisor,
// so one extra vector never doubles a large index's memory.
constexpr std::size_t kDoublingLimit = std::size_t{1} << 20;
constexpr std::size_t kLargeGrowthDivisor = 4;

// The size a store of `current` units grows to when it needs `needed` (the
// first allocation gets exactly what it needs: a small index stays small).
std::size_t grown_size(std::size_t current, std::size_t needed) {
    const std::size_t step = current < kDoublingLimit ? current : current / kLargeGrowthDivisor;
    return std::max(needed, current + step);
}
constexpr std::uint32_t kExponentBits = 0x7f800000u;  // all ones: NaN or infinity
constexpr std::uint32_t kSignBit = 0x80000000u;

std::string short_number(double value) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.3g", value);
    return text;
}


}  // namespace

HnswIndex::HnswIndex(const IndexParams& params)
    : params_(params),
      space_(params.metric, params.dim, params.simd, params.metric_params),
      level_scale_(1.0 / std::log(static_cast<double>(params.M))),
      ef_(params.ef),
      level_rng_(params.seed),
      store_(params.dim, params.storage, space_.uses_row_scalar()),
      links_(params.M) {
    if (params.dim == 0 || params.dim > kMaxDim)
        throw std::invalid_argument("dim must be in [1, " + std::to_string(kMaxDim) + "]");
    if (params.M < 2 || params.M > kMaxM) throw std::invalid_argument("M must be in [2, " + std::to_string(kMaxM) + "]");
    if (params.ef_construction == 0 || params.ef_construction > kMaxEf || params.ef == 0 || params.ef > kMaxEf)
        throw std::invalid_argument("ef and ef_construction must be in [1, " + std::to_string(kMaxEf) + "]");
    if (params.metric_params.gssf_block_size > kMaxGssfBlockSize)
        throw std::invalid_argument("gssf block_size must be at most " + std::to_string(kMaxGssfBlockSize));
    if (params.metric == MetricKind::kCustom && params.storage != Storage::kFloat32)
        throw std::invalid_argument("a custom metric reads float32 rows: use storage float32 with it");
}

HnswIndex::~HnswIndex() = default;

void HnswIndex::set_ef(std::size_t ef) {
    if (ef == 0 || ef > kMaxEf) throw std::invalid_argument("ef must be in [1, " + std::to_string(kMaxEf) + "]");
    ef_.store(ef, std::memory_order_relaxed);
}

std::size_t HnswIndex::size() const {
    GrowthLock::Shared lock(growth_);
    return live_count();
}

void HnswIndex::set_consolidate_fraction(double fraction) {
    if (!(fraction >= 0.0 && fraction <= 1.0)) throw std::invalid_argument("consolidate_fraction must be in [0, 1]");
    consolidate_fraction_.store(fraction, std::memory_order_relaxed);
}

int HnswIndex::draw_level() {
    // U uniform in (0, 1]; level = floor(-ln U * mL) as in the paper.
    constexpr double kTwoPowMinus53 = 1.0 / 9007199254740992.0;
    const double u = (static_cast<double>(level_rng_() >> 11) + 1.0) * kTwoPowMinus53;
    const double level = std::floor(-std::log(u) * level_scale_);
    return level >= kMaxLevel ? kMaxLevel : static_cast<int>(level);
}

void HnswIndex::reserve_for(std::size_t total) {
    reserve_exactly(total <= capacity_ ? capacity_ : std::min(grown_size(capacity_, total), kMaxElements), total);
}

void HnswIndex::reserve_exactly(std::size_t capacity, std::size_t total) {
    if (total > kMaxElements)
        throw std::length_error("an index holds at most " + std::to_string(kMaxElements) + " vectors");
    slots_.reserve(total, ids_.data());
    if (capacity <= capacity_) return;
    // Each part allocates before it swaps, so a failed allocation leaves
    // every part holding its old contents (possibly with more room).
    store_.reserve(capacity, count_);
    links_.reserve(capacity, count_);
    AlignedArray<std::int64_t> ids = ids_.grown(capacity, count_);
    AlignedArray<std::uint8_t> states = states_.grown(capacity, count_);
    ids_.swap(ids);
    states_.swap(states);
    capacity_ = capacity;
}

void HnswIndex::reserve(std::size_t total) {
    if (read_only_) throw ReadOnlyError(kReadOnlyMessage);
    std::shared_lock<std::shared_mutex> no_save(mutations_);
    GrowthLock::Exclusive lock(growth_);
    reserve_exactly(total, total);
}

std::vector<std::int64_t> HnswIndex::live_ids() const {
    GrowthLock::Shared lock(growth_);
    std::vector<std::int64_t> ids;
    ids.reserve(live_count());
    for (std::size_t slot = 0; slot < count_; ++slot)
        if (is_live(static_cast<std::uint32_t>(slot))) ids.push_back(ids_[slot]);
    return ids;
}

void HnswIndex::check_rows(const float* rows, std::size_t n, const char* what) const {
    const std::size_t dim = params_.dim;
    for (std::size_t i = 0; i < n; ++i) {
        const float* row = rows + i * dim;
        // Bit tests instead of std::isfinite so the loop vectorises.
        bool non_finite = false, nonzero = false;
        for (std::size_t j = 0; j < dim; ++j) {
            std::uint32_t bits;
            std::memcpy(&bits, row + j, sizeof(bits));
            non_finite |= (bits & kExponentBits) == kExponentBits;
            nonzero |= (bits & ~kSignBit) != 0;
        }
        if (non_finite)
            throw InvalidVectorError(std::string(what) + " must be finite: row " + std::to_string(i) +
                                     " holds NaN or infinity (or a value too large for float32)");
        if (space_.normalises() && !nonzero)
            throw InvalidVectorError(std::string(what) + " row " + std::to_string(i) +
                                     " is a zero vector, which has no direction for the " +
                                     metric_name(params_.metric) + " metric");
        const double norm2 = space_.squared_norm(row);
        if (norm2 > space_.max_squared_norm() || norm2 < space_.min_squared_norm())
            throw InvalidVectorError(std::string(what) + " row " + std::to_string(i) + " has squared norm " +
                                     short_number(norm2) + ", outside the range [" +
                                     short_number(space_.min_squared_norm()) + ", " +
                                     short_number(space_.max_squared_norm()) +
                                     "] where float32 distances stay exact; rescale the data");
        // SNR divides by the variance: a constant vector has none. The
        // relative threshold also catches constants that rounding disturbs.
        constexpr double kMinRelativeVariance = 1e-12;
        if (params_.metric == MetricKind::kSnr && !(space_.centred_squared_norm(row) > kMinRelativeVariance * norm2))
            throw InvalidVectorError(std::string(what) + " row " + std::to_string(i) +
                                     " has zero or negligible variance (a constant vector, up to float32 rounding), which the snr "
                                     "metric divides by");
    }
}

void HnswIndex::check_storable(const float* rows, std::size_t n) const {
    if (store_.storage() != Storage::kFloat16) return;
    for (std::size_t i = 0; i < n * params_.dim; ++i)
        if (!(std::abs(rows[i]) <= kHalfMax))
            throw InvalidVectorError("vectors row " + std::to_string(i / params_.dim) + " holds " +
                                     std::to_string(rows[i]) + ", beyond the +-65504 that storage float16 holds: "
                                     "scale the vectors or use storage float32");
}

AddOutcome HnswIndex::add(const float* vectors, const std::int64_t* ids, std::size_t n, std::size_t threads,
                          const std::function<void(std::size_t)>& progress, bool replace) {
    if (read_only_) throw ReadOnlyError(kReadOnlyMessage);
    AddOutcome outcome;
    if (n == 0) return outcome;
    check_rows(vectors, n, "vectors");
    check_storable(vectors, n);
    std::vector<float> widened(store_.storage() == Storage::kFloat32 ? 0 : params_.dim);  // a vector as stored
    bool grows_past_tombstones;
    {
        GrowthLock::Shared lock(growth_);
        grows_past_tombstones = removed_ > 0 && count_ + n - std::min(n, free_slots_.size()) > capacity_;
    }
    // Growing would copy the whole index and could double its memory while
    // tombstones hold slots: free them for this batch instead.
    if (grows_past_tombstones) consolidate(threads);
    {
        std::shared_lock<std::shared_mutex> no_save(mutations_);
        std::vector<std::uint32_t> nodes;
        std::vector<int> levels;
        std::vector<ContextPool::Lease> contexts;
        {
            GrowthLock::Exclusive lock(growth_);
            std::vector<std::uint32_t> replaced;  // live slots whose ids the batch takes over
            if (ids != nullptr) {
                std::vector<std::int64_t> sorted(ids, ids + n);
                std::sort(sorted.begin(), sorted.end());
                for (std::size_t i = 0; i < n; ++i) {
                    const bool repeated = i > 0 && sorted[i] == sorted[i - 1];
                    const std::uint32_t slot = repeated ? LabelMap::kAbsent : slots_.find(sorted[i], ids_.data());
                    if (replace && slot != LabelMap::kAbsent) {
                        replaced.push_back(slot);
                        continue;
                    }
                    if (repeated || slot != LabelMap::kAbsent) {
                        if (outcome.conflicts.empty() || outcome.conflicts.back() != sorted[i])
                            outcome.conflicts.push_back(sorted[i]);
                    }
                }
                if (!outcome.conflicts.empty()) return outcome;
            } else {
                if (max_id_ > std::numeric_limits<std::int64_t>::max() - static_cast<std::int64_t>(n))
                    throw std::overflow_error("automatic ids would overflow int64: pass ids explicitly");
                outcome.first_auto_id = std::max(max_id_ + 1, kMissingId + 1);
            }
            // Everything the batch needs is had before the index changes: a
            // failure here (bad_alloc, too many vectors) leaves it as it was,
            // the level generator included.
            const std::mt19937_64 levels_before = level_rng_;
            try {
                levels.resize(n);
                nodes.reserve(n);
                int top_level = 0;
                for (std::size_t i = 0; i < n; ++i) {
                    levels[i] = draw_level();
                    top_level = std::max(top_level, levels[i]);
                }
                const std::size_t slots_after = count_ + n - std::min(n, free_slots_.size());
                reserve_for(slots_after);
                links_.reserve_upper(links_.new_blocks_for(levels), grown_size);
                contexts = contexts_for_insert(worker_count(threads, n), slots_after, top_level);
            } catch (...) {
                level_rng_ = levels_before;
                throw;
            }
            for (std::uint32_t slot : replaced) make_tombstone(slot);
            take_slots(n, nodes);
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint32_t node = nodes[i];
                const float* v = vectors + i * params_.dim;
                const std::int64_t id = ids != nullptr ? ids[i] : outcome.first_auto_id + static_cast<std::int64_t>(i);
                store_.set_scalar(node, space_.row_scalar(store_.set(node, v, widened.data())));
                links_.init_node(node, levels[i]);
                ids_[node] = id;
                states_[node] = static_cast<std::uint8_t>(SlotState::kLive);
                slots_.insert(id, node);
                max_id_ = std::max(max_id_, id);
            }
            ++slot_version_;
        }

        GrowthLock::Shared lock(growth_);
        WorkQueue queue(n);
        std::atomic<std::size_t> done{0};
        std::function<void()> monitor;
        if (progress) monitor = [&] { progress(done.load(std::memory_order_relaxed)); };
        run_workers(
            contexts.size(),
            [&](std::size_t worker) {
                SearchContext& ctx = *contexts[worker];
                std::size_t i;
                while (queue.pop(&i)) {
                    insert(nodes[i], ctx);
                    done.fetch_add(1, std::memory_order_relaxed);
                }
            },
            monitor);
        if (monitor) progress(n);
    }
    if (replace) consolidate_if_due(threads);
    return outcome;
}

void HnswIndex::take_slots(std::size_t n, std::vector<std::uint32_t>& nodes) {
    while (nodes.size() < n && !free_slots_.empty()) {
        nodes.push_back(free_slots_.back());
        free_slots_.pop_back();
    }
    while (nodes.size() < n) nodes.push_back(static_cast<std::uint32_t>(count_++));
}

std::vector<HnswIndex::ContextPool::Lease> HnswIndex::contexts_for_insert(std::size_t workers, std::size_t total,
                                                                         int top_level) {
    std::vector<ContextPool::Lease> contexts;
    contexts.reserve(workers);
    for (std::size_t w = 0; w < workers; ++w) {
        contexts.push_back(contexts_.take(context_scratch()));
        contexts.back()->reserve_for_insert(total, params_.ef_construction, params_.M, top_level);
    }
    return contexts;
}

std::uint32_t HnswIndex::greedy_descend(const Prepared& query, std::uint32_t entry, int from_level,
                                        int to_level) const {
    std::uint32_t current = entry;
    float current_distance = distance_to(query, current);
    for (int level = from_level; level > to_level; --level) {
        bool moved = true;
        while (moved) {
            moved = false;
            const std::uint32_t* list = links_.list(current, level);
            const std::uint32_t count = std::min<std::uint32_t>(load_relaxed(list), links_.max_links(level));
            for (std::uint32_t j = 1; j <= count; ++j) {
                const std::uint32_t candidate = load_relaxed(list + j);
                // Never true in a validated index; one byte read per upper-level
                // link keeps a wild read impossible should that ever break.
                if (candidate >= count_ || links_.level(candidate) < level) continue;
                const float d = distance_to(query, candidate);
                if (d < current_distance) {
                    current_distance = d;
                    current = candidate;
                    moved = true;
                }
            }
        }
    }
    return current;
}

void HnswIndex::search_layer(const Prepared& query, std::uint32_t entry, std::size_t ef, int level,
                             bool live_only, SearchContext& ctx) const {
    if (live_only && filters_results()) {
        const std::size_t capacity = std::min(ef, live_count());
        const LiveTest live{states_.data()};
        const auto ignore = [](float, std::uint32_t) {};
        if (level == 0)
            walk_filtered<false>(query, entry, capacity, level, ctx, live, ignore);
        else
            walk_filtered<true>(query, entry, capacity, level, ctx, live, ignore);
    } else if (level == 0) {
        search_level<false>(query, entry, ef, level, ctx);
    } else {
        search_level<true>(query, entry, ef, level, ctx);
    }
}

template <bool kUpper>
void HnswIndex::search_level(const Prepared& query, std::uint32_t entry, std::size_t ef, int level,
                             SearchContext& ctx) const {
    CandidatePool& pool = ctx.pool;
    ctx.used_filtered = false;
    // A pool larger than the index never fills.
    const std::size_t capacity = std::min(ef, count_);
    pool.reset(capacity);
    if (capacity == 0) return;
    VisitedSet& visited = ctx.visited;
    visited.reset(count_);
    visited.test_and_set(entry);
    pool.insert(distance_to(query, entry), entry);
    while (pool.has_unexpanded()) {
        const std::uint32_t node = pool.pop();
        std::uint32_t next;
        if (pool.peek(&next)) __builtin_prefetch(links_.list(next, level));
        const std::size_t kept = unvisited_neighbors<kUpper>(node, level, ctx);
        for (std::size_t j = 0; j < kept; ++j) {
            const float d = distance_to(query, ctx.fresh[j]);
            if (d < pool.bound()) pool.insert(d, ctx.fresh[j]);
        }
    }
}

void HnswIndex::select_neighbors(std::vector<Neighbor>& candidates, std::size_t max_count,
                                 SearchContext& ctx) const {
    if (candidates.size() < max_count) return;
    std::vector<Neighbor>& kept = ctx.kept;
    kept.clear();
    for (const Neighbor& candidate : candidates) {
        if (kept.size() >= max_count) break;
        bool diverse = true;
        const Prepared from_candidate = prepare_node(candidate.id, ctx.other_scratch.data());
        for (const Neighbor& chosen : kept) {
            // An exact copy of a kept neighbour adds no direction. The
            // paper's test alone keeps every copy (0 < 0 is false), so a large
            // group of duplicates would fill each other's lists and become an
            // island that traps searches.
            if (distance_to(from_candidate, chosen.id) < candidate.distance || same_vector(candidate.id, chosen.id)) {
                diverse = false;
                break;
            }
        }
        if (diverse) kept.push_back(candidate);
    }
    candidates.assign(kept.begin(), kept.end());  // no allocation: kept is a subset
}

void HnswIndex::write_links(std::uint32_t node, int level, const std::vector<Neighbor>& neighbors) {
    std::uint32_t* list = links_.list(node, level);
    for (std::size_t j = 0; j < neighbors.size(); ++j) store_relaxed(list + 1 + j, neighbors[j].id);
    store_relaxed(list, static_cast<std::uint32_t>(neighbors.size()));
    for (std::size_t j = neighbors.size(); j < links_.max_links(level); ++j) store_relaxed(list + 1 + j, 0);
}

bool HnswIndex::link_back(std::uint32_t neighbor, std::uint32_t node, float distance, int level,
                          SearchContext& ctx) {
    SpinLockGuard guard(links_.lock_flag(neighbor));
    std::uint32_t* list = links_.list(neighbor, level);
    const std::uint32_t count = load_relaxed(list);
    const std::size_t max_links = links_.max_links(level);
    for (std::uint32_t j = 1; j <= count; ++j)
        if (load_relaxed(list + j) == node) return true;
    if (count < max_links) {
        store_relaxed(list + 1 + count, node);
        store_relaxed(list, count + 1);
        return true;
    }
    // Full: keep the most diverse set among the old links and the new node.
    std::vector<Neighbor>& candidates = ctx.relinked;
    candidates.clear();
    candidates.push_back({distance, node});
    const Prepared from_neighbor = prepare_node(neighbor, ctx.query_scratch.data());
    for (std::uint32_t j = 1; j <= count; ++j) {
        const std::uint32_t other = load_relaxed(list + j);
        candidates.push_back({distance_to(from_neighbor, other), other});
    }
    std::sort(candidates.begin(), candidates.end(), closer_first);
    select_neighbors(candidates, max_links, ctx);
    write_links(neighbor, level, candidates);
    return std::any_of(candidates.begin(), candidates.end(), [&](const Neighbor& n) { return n.id == node; });
}

void HnswIndex::force_link(std::uint32_t neighbor, std::uint32_t node, int level) {
    SpinLockGuard guard(links_.lock_flag(neighbor));
    std::uint32_t* list = links_.list(neighbor, level);
    const std::uint32_t count = std::min<std::uint32_t>(load_relaxed(list), links_.max_links(level));
    if (count < links_.max_links(level)) {
        store_relaxed(list + 1 + count, node);
        store_relaxed(list, count + 1);
    } else {
        store_relaxed(list + count, node);  // lists are written nearest first: the farthest goes
    }
}

void HnswIndex::insert(std::uint32_t node, SearchContext& ctx) {
    const int node_level = links_.level(node);

    std::unique_lock<std::mutex> entry_lock(entry_mutex_, std::defer_lock);
    std::uint64_t entry = entry_.load(std::memory_order_acquire);
    if (entry == kNoEntry || node_level > static_cast<int>(entry >> 32)) {
        entry_lock.lock();  // this node may become the new entry point
        entry = entry_.load(std::memory_order_acquire);
        if (entry == kNoEntry) {
            entry_.store(pack_entry(node, node_level), std::memory_order_release);
            return;
        }
        if (node_level <= static_cast<int>(entry >> 32)) entry_lock.unlock();
    }
    const int top_level = static_cast<int>(entry >> 32);
    const Prepared query = prepare_node(node, ctx.query_scratch.data());
    std::uint32_t nearest = greedy_descend(query, static_cast<std::uint32_t>(entry), top_level, node_level);

    // The node's own lists are written on every level first and the reverse
    // links only afterwards: a searcher that reaches the node on an upper
    // level must find its lower lists already filled, or it would descend
    // into an empty level 0 and return too few results.
    std::vector<std::vector<Neighbor>>& chosen = ctx.chosen;
    const int linked_top = std::min(node_level, top_level);  // chosen has room for it (reserve_for_insert)
    for (int level = linked_top; level >= 0; --level) {
        search_layer(query, nearest, params_.ef_construction, level, false, ctx);
        std::vector<Neighbor>& candidates = ctx.candidates;
        candidates.clear();
        chosen[level].clear();
        for (std::size_t j = 0; j < ctx.found(); ++j) {
            const Neighbor found = ctx.found_at(j);
            if (found.id != node) candidates.push_back(found);  // concurrent inserts may reach us
        }
        if (candidates.empty()) continue;
        nearest = candidates.front().id;
        select_neighbors(candidates, params_.M, ctx);
        SpinLockGuard guard(links_.lock_flag(node));
        // A concurrent insert that started from this node may already have
        // linked to it here: keep those links in the running.
        const std::uint32_t* list = links_.list(node, level);
        const std::uint32_t existing = load_relaxed(list);
        if (existing > 0) {
            for (std::uint32_t j = 1; j <= existing; ++j) {
                const std::uint32_t other = load_relaxed(list + j);
                candidates.push_back({distance_to(query, other), other});
            }
            std::sort(candidates.begin(), candidates.end(), closer_first);
            candidates.erase(std::unique(candidates.begin(), candidates.end(), same_node), candidates.end());
            select_neighbors(candidates, links_.max_links(level), ctx);
        }
        write_links(node, level, candidates);
        chosen[level].assign(candidates.begin(), candidates.end());
    }
    for (int level = linked_top; level >= 0; --level) {
        bool linked = false;
        for (const Neighbor& neighbor : chosen[level]) linked |= link_back(neighbor.id, node, neighbor.distance, level, ctx);
        // Every neighbour's heuristic preferred its old links: without one
        // in-link the node could never be found.
        if (!linked && !chosen[level].empty()) force_link(chosen[level].front().id, node, level);
    }
    if (entry_lock.owns_lock()) entry_.store(pack_entry(node, node_level), std::memory_order_release);
}

void HnswIndex::search_one(const float* query, std::size_t k, std::size_t ef, SearchContext& ctx,
                           std::int64_t* out_ids, float* out_distances) const {
    std::fill(out_ids, out_ids + k, kMissingId);
    std::fill(out_distances, out_distances + k, kMissingDistance);
    const std::uint64_t entry = entry_.load(std::memory_order_acquire);
    if (entry == kNoEntry || live_count() == 0) return;
    const Prepared prepared = space_.prepare(query, Side::kSearch, ctx.query_scratch.data());
    const std::uint32_t start =
        greedy_descend(prepared, static_cast<std::uint32_t>(entry), static_cast<int>(entry >> 32), 0);
    search_layer(prepared, start, std::max(ef, k), 0, true, ctx);
    const std::size_t found = std::min(k, ctx.found());
    for (std::size_t j = 0; j < found; ++j) {
        const Neighbor hit = ctx.found_at(j);
        out_ids[j] = ids_[hit.id];
        out_distances[j] = space_.finish(prepared, hit.distance);
    }
}

void HnswIndex::check_neighbour_count(std::size_t k) {
    if (k == 0 || k > kMaxEf) throw std::invalid_argument("k must be in [1, " + std::to_string(kMaxEf) + "]");
}

void HnswIndex::search(const float* queries, std::size_t n, std::size_t k, std::size_t ef, std::size_t threads,
                       std::int64_t* out_ids, float* out_distances) const {
    check_neighbour_count(k);
    if (ef == 0) ef = ef_.load(std::memory_order_relaxed);
    check_rows(queries, n, "queries");
    GrowthLock::Shared lock(growth_);
    WorkQueue queue(n);
    run_workers(worker_count(threads, n), [&](std::size_t) {
        const ContextPool::Lease lease = contexts_.take(context_scratch());
        SearchContext& ctx = *lease;
        std::size_t i;
        while (queue.pop(&i))
            search_one(queries + i * params_.dim, k, ef, ctx, out_ids + i * k, out_distances + i * k);
    });
}

std::ptrdiff_t HnswIndex::get(const std::int64_t* ids, std::size_t n, float* out) const {
    GrowthLock::Shared lock(growth_);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t slot = slots_.find(ids[i], ids_.data());
        if (slot == LabelMap::kAbsent) return static_cast<std::ptrdiff_t>(i);
        float* row = out + i * params_.dim;
        const float* stored = stored_vector(slot, row);
        if (stored != row) std::copy(stored, stored + params_.dim, row);
    }
    return -1;
}

bool HnswIndex::contains(std::int64_t id) const {
    GrowthLock::Shared lock(growth_);
    return slots_.find(id, ids_.data()) != LabelMap::kAbsent;
}

std::size_t HnswIndex::memory_bytes() const {
    GrowthLock::Shared lock(growth_);
    return sizeof(*this) + store_.bytes() + links_.bytes() + ids_.bytes() + states_.bytes() + slots_.bytes() +
           free_slots_.capacity() * sizeof(std::uint32_t) + patches_.capacity() + contexts_.bytes();
}

std::size_t HnswIndex::reserved_bytes() const {
    GrowthLock::Shared lock(growth_);
    if (read_only_) return 0;  // a mapped index has exactly its saved slots
    const std::size_t spare_slots = capacity_ - count_ + free_slots_.size();
    return spare_slots * (store_.slot_bytes() + links_.slot_bytes() + sizeof(std::int64_t) + sizeof(SlotState)) +
           links_.spare_upper_bytes();
}

IndexStats HnswIndex::stats() const {
    GrowthLock::Shared lock(growth_);
    IndexStats stats;
    stats.count = live_count();
    stats.removed = removed_;
    stats.free_slots = free_slots_.size();
    stats.capacity = capacity_;
    const std::uint64_t entry = entry_.load(std::memory_order_acquire);
    if (entry == kNoEntry) return stats;
    stats.max_level = static_cast<int>(entry >> 32);
    stats.entry_point_id = ids_[static_cast<std::uint32_t>(entry)];
    stats.level_counts.assign(stats.max_level + 1, 0);
    std::vector<double> degree_sum(stats.max_level + 1, 0.0);
    std::vector<std::size_t> nodes_on_level(stats.max_level + 1, 0);
    for (std::size_t node = 0; node < count_; ++node) {
        if (!is_live(static_cast<std::uint32_t>(node))) continue;
        const int top = std::min(links_.level(static_cast<std::uint32_t>(node)), stats.max_level);
        ++stats.level_counts[top];
        for (int level = 0; level <= top; ++level) {
            degree_sum[level] += std::min<std::size_t>(load_relaxed(links_.list(static_cast<std::uint32_t>(node), level)),
                                                       links_.max_links(level));
            ++nodes_on_level[level];
        }
    }
    for (int level = 0; level <= stats.max_level; ++level)
        stats.mean_degree.push_back(nodes_on_level[level] ? degree_sum[level] / nodes_on_level[level] : 0.0);
    return stats;
}

}  // namespace vsearch
