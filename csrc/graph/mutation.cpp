// Changing what an index holds after the fact: removing vectors (tombstones),
// repairing the graph around them and freeing their slots (consolidation), and
// renumbering the slots densely (compaction).
#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "atomic_word.h"
#include "hnsw_index.h"
#include "search_context.h"
#include "workers.h"

namespace vsearch {

namespace {

constexpr std::uint32_t kNoSlot = std::numeric_limits<std::uint32_t>::max();
// Removed nodes a repair walks through, in lists' lengths: enough to reach
// the live nodes near a node whose whole neighbourhood was removed (90%
// removals), while a node that lost a few links walks only those.
constexpr std::size_t kRemovedWalkBudget = 8;
// The walk goes past the removed links themselves only for a node that lost
// more than this share of its links.
constexpr std::size_t kDeepWalkLostNum = 1;
constexpr std::size_t kDeepWalkLostDen = 4;
// consolidate() compacts the index when more than this share of its slots
// is free afterwards (a large removal, not the churn that adds refill).
// Past one hop, the walk stops at this many lists' worth of candidates.
constexpr std::size_t kEnoughCandidates = 16;
// The heuristic looks at the nearest this many lists' worth of candidates;
// farther ones would rarely be chosen and each costs a distance per kept link.
constexpr std::size_t kExaminedCandidates = 2;
// A level-0 list repaired this many times from the removed nodes' links
// alone is repaired next with a search, and so is one that lost more than
// kDeepWalkLostNum / kDeepWalkLostDen of its links: those links draw their
// candidates from a shrinking neighbourhood. Measured at 100k x 128: after
// 20 churn rounds of 5%, recall@10 at ef 64 fell 1.5 points below a fresh
// build's without searches, 0.0 with; after removing 90%, -1.07 and -0.37
// at ef 128. A light one-off removal stays almost free of searches.
constexpr std::uint8_t kPatchesBeforeSearch = 1;
// Beam of a searching repair (at most the build's): at 50k x 128 after 20
// churn rounds, 64 left recall 0.3 points below a fresh build, 100 level.
constexpr std::size_t kRepairSearchEf = 100;
constexpr std::size_t kCompactFreeNum = 1;
constexpr std::size_t kCompactFreeDen = 2;

// A live node's list on one level that links to at least one tombstone.
struct Damaged {
    std::uint32_t node;
    int level;
};

}  // namespace

void HnswIndex::make_tombstone(std::uint32_t slot) {
    slots_.erase(slot, ids_.data());  // reads the id: before it is cleared
    ids_[slot] = kMissingId;
    states_[slot] = static_cast<std::uint8_t>(SlotState::kRemoved);
    ++removed_;
    ++slot_version_;
}

RemoveOutcome HnswIndex::remove(const std::int64_t* ids, std::size_t n, bool missing_ok, std::size_t threads) {
    if (read_only_) throw ReadOnlyError(kReadOnlyMessage);
    RemoveOutcome outcome;
    {
        std::shared_lock<std::shared_mutex> no_save(mutations_);
        GrowthLock::Exclusive lock(growth_);
        std::vector<std::uint32_t> found;
        found.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint32_t slot = slots_.find(ids[i], ids_.data());
            if (slot != LabelMap::kAbsent) {
                found.push_back(slot);
            } else if (!missing_ok) {
                outcome.first_unknown = static_cast<std::ptrdiff_t>(i);
                return outcome;
            }
        }
        std::sort(found.begin(), found.end());
        found.erase(std::unique(found.begin(), found.end()), found.end());
        for (std::uint32_t slot : found) make_tombstone(slot);
        outcome.removed = found.size();
    }
    if (outcome.removed > 0) consolidate_if_due(threads);
    return outcome;
}

void HnswIndex::consolidate_if_due(std::size_t threads) {
    std::size_t removed, in_graph;
    {
        GrowthLock::Shared lock(growth_);
        removed = removed_;
        in_graph = removed_ + live_count();
    }
    if (removed > 0 && static_cast<double>(removed) > consolidate_fraction() * static_cast<double>(in_graph))
        consolidate(threads);
}

std::size_t HnswIndex::consolidate(std::size_t threads) {
    if (read_only_) throw ReadOnlyError(kReadOnlyMessage);
    std::unique_lock<std::shared_mutex> alone(mutations_);
    const std::size_t freed = consolidate_locked(threads);
    // Live vectors scattered among many free slots search slower than a
    // dense index (measured: 0.8x at 90% free, 1.15x once compacted): when
    // adds are unlikely to fill them soon, close the gaps.
    if (free_slots_.size() * kCompactFreeDen > count_ * kCompactFreeNum) compact_locked();
    return freed;
}

std::size_t HnswIndex::consolidate_locked(std::size_t threads) {
    {
        // Only this thread changes the graph now (adds and removes wait for
        // mutations_), and a list is rewritten the way inserts rewrite lists,
        // so searches go on.
        GrowthLock::Shared lock(growth_);
        if (removed_ == 0) return 0;
        std::vector<Damaged> damaged;
        for (std::size_t slot = 0; slot < count_; ++slot) {
            const auto node = static_cast<std::uint32_t>(slot);
            if (!is_live(node)) continue;
            for (int level = 0; level <= links_.level(node); ++level) {
                const std::uint32_t* list = links_.list(node, level);
                const std::uint32_t* end = list + 1 + std::min<std::size_t>(list[0], links_.max_links(level));
                if (std::any_of(list + 1, end, [&](std::uint32_t other) { return is_removed(other); }))
                    damaged.push_back({node, level});
            }
        }
        if (patches_.size() < count_) patches_.resize(count_, 0);
        const std::size_t workers = worker_count(threads, std::max<std::size_t>(1, damaged.size()));
        std::vector<ContextPool::Lease> contexts = contexts_for_insert(workers, count_, 0);
        WorkQueue queue(damaged.size());
        run_workers(workers, [&](std::size_t worker) {
            std::size_t i;
            while (queue.pop(&i)) repair_links(damaged[i].node, damaged[i].level, *contexts[worker]);
        });
        const std::uint64_t entry = live_entry();
        if (entry != kNoEntry)
            for (int level = 0; level <= static_cast<int>(entry >> 32); ++level)
                connect_unreachable(static_cast<std::uint32_t>(entry), level, *contexts[0]);
    }
    GrowthLock::Exclusive lock(growth_);
    const std::size_t freed = removed_;
    free_tombstones();
    return freed;
}

void HnswIndex::repair_links(std::uint32_t node, int level, SearchContext& ctx) {
    const std::size_t max_links = links_.max_links(level);
    const Prepared from = prepare_node(node, ctx.query_scratch.data());
    VisitedSet& seen = ctx.visited;
    seen.reset(count_);
    seen.test_and_set(node);
    // The node's live links stay (the build chose them, long links included);
    // candidates for the places of the removed ones are the live nodes behind
    // them (FreshDiskANN takes one hop; after heavy removal the nearest live
    // nodes lie behind chains of removed ones, so the walk goes on through
    // removed nodes only, breadth first, up to a budget).
    std::vector<Neighbor>& kept = ctx.kept;
    std::vector<Neighbor>& candidates = ctx.candidates;
    kept.clear();
    candidates.clear();
    std::vector<std::uint32_t>& removed = ctx.fresh;
    removed.clear();
    const auto walk = [&](std::uint32_t from_node, std::vector<Neighbor>& into) {
        const std::uint32_t* links = links_.list(from_node, level);
        const std::uint32_t n = std::min<std::uint32_t>(links[0], max_links);
        for (std::uint32_t j = 1; j <= n; ++j) {
            const std::uint32_t other = links[j];
            if (seen.test_and_set(other)) continue;
            if (is_removed(other))
                removed.push_back(other);
            else if (is_live(other))
                into.push_back({distance_to(from, other), other});
        }
    };
    walk(node, kept);
    const std::uint32_t count = std::min<std::uint32_t>(links_.list(node, level)[0], max_links);
    // One hop suffices (and costs least) while most of the neighbourhood lives.
    const std::size_t lost = removed.size();
    const bool deep = lost * kDeepWalkLostDen > count * kDeepWalkLostNum;
    const std::size_t budget = deep ? kRemovedWalkBudget * max_links : lost;
    const std::size_t enough = kEnoughCandidates * max_links;
    for (std::size_t next = 0; next < removed.size() && next < budget; ++next) {
        if (next >= lost && candidates.size() >= enough) break;  // past one hop, only until there are plenty
        walk(removed[next], candidates);
    }
    if (kept.empty() && candidates.empty()) {
        // Every link and every link of a linked tombstone is gone: find
        // neighbours the way an insert does, or the node would be cut off.
        const std::uint64_t entry = entry_.load(std::memory_order_acquire);
        const int top = static_cast<int>(entry >> 32);
        if (top >= level) {
            const std::uint32_t start = greedy_descend(from, static_cast<std::uint32_t>(entry), top, level);
            search_layer(from, start, params_.ef_construction, level, true, ctx);
            for (std::size_t j = 0; j < ctx.found(); ++j)
                if (ctx.found_at(j).id != node) candidates.push_back(ctx.found_at(j));
        }
    } else if (level == 0 && (deep || patches_[node] >= kPatchesBeforeSearch)) {
        patches_[node] = 0;
        add_searched_candidates(node, from, ctx);
    } else if (level == 0) {
        ++patches_[node];
    }
    std::sort(candidates.begin(), candidates.end(), closer_first);
    // The list keeps its length (recall needs the density that reverse links
    // give a built graph): first the candidates HNSW's heuristic finds
    // diverse from what is kept, then the nearest of the others.
    const std::size_t target = std::max<std::size_t>(count, std::min(candidates.size(), params_.M));
    std::vector<Neighbor>& pruned = ctx.relinked;
    pruned.clear();
    const std::size_t examined = std::min(candidates.size(), kExaminedCandidates * max_links);
    for (std::size_t j = 0; j < examined && kept.size() < target; ++j) {
        const Neighbor& candidate = candidates[j];
        const Prepared from_candidate = prepare_node(candidate.id, ctx.other_scratch.data());
        const bool diverse = std::none_of(kept.begin(), kept.end(), [&](const Neighbor& chosen) {
            return distance_to(from_candidate, chosen.id) < candidate.distance || same_vector(candidate.id, chosen.id);
        });
        (diverse ? kept : pruned).push_back(candidate);
    }
    for (std::size_t j = 0; j < pruned.size() && kept.size() < target; ++j) kept.push_back(pruned[j]);
    std::sort(kept.begin(), kept.end(), closer_first);
    SpinLockGuard guard(links_.lock_flag(node));
    write_links(node, level, kept);
}

void HnswIndex::add_searched_candidates(std::uint32_t node, const Prepared& from, SearchContext& ctx) {
    // The live nodes nearest to the node, found from the node itself (it is
    // already where the search would descend to), join the candidates.
    std::vector<std::uint32_t>& known = ctx.known;
    known.clear();
    for (const Neighbor& n : ctx.kept) known.push_back(n.id);
    for (const Neighbor& n : ctx.candidates) known.push_back(n.id);
    std::sort(known.begin(), known.end());
    search_layer(from, node, std::min(kRepairSearchEf, params_.ef_construction), 0, true, ctx);
    for (std::size_t j = 0; j < ctx.found(); ++j) {
        const Neighbor found = ctx.found_at(j);
        if (found.id != node && is_live(found.id) && !std::binary_search(known.begin(), known.end(), found.id))
            ctx.candidates.push_back(found);
    }
}

std::uint64_t HnswIndex::live_entry() const {
    std::uint64_t best = kNoEntry;
    int best_level = -1;
    for (std::size_t slot = 0; slot < count_; ++slot) {
        const auto node = static_cast<std::uint32_t>(slot);
        if (is_live(node) && links_.level(node) > best_level) {
            best_level = links_.level(node);
            best = pack_entry(node, best_level);
        }
    }
    return best;
}

void HnswIndex::connect_unreachable(std::uint32_t entry, int level, SearchContext& ctx) {
    // In-links from live nodes, saturating: only "one" and "more than one" matter.
    constexpr std::uint8_t kMany = 2;
    const std::size_t max_links = links_.max_links(level);
    const auto on_level = [&](std::uint32_t node) { return is_live(node) && links_.level(node) >= level; };
    const auto links_of = [&](std::uint32_t node) {
        const std::uint32_t* list = links_.list(node, level);
        return std::make_pair(list + 1, list + 1 + std::min<std::size_t>(list[0], max_links));
    };
    std::vector<std::uint8_t> in_links(count_, 0);
    for (std::size_t slot = 0; slot < count_; ++slot) {
        if (!on_level(static_cast<std::uint32_t>(slot))) continue;
        const auto [begin, end] = links_of(static_cast<std::uint32_t>(slot));
        for (const std::uint32_t* p = begin; p != end; ++p)
            if (in_links[*p] < kMany) ++in_links[*p];
    }
    std::vector<bool> reached(count_, false);
    std::vector<std::uint32_t> stack;
    const auto walk_from = [&](std::uint32_t start) {
        reached[start] = true;
        stack.push_back(start);
        while (!stack.empty()) {
            const std::uint32_t node = stack.back();
            stack.pop_back();
            const auto [begin, end] = links_of(node);
            for (const std::uint32_t* p = begin; p != end; ++p)
                if (on_level(*p) && !reached[*p]) {
                    reached[*p] = true;
                    stack.push_back(*p);
                }
        }
    };
    walk_from(entry);
    for (std::size_t slot = 0; slot < count_; ++slot) {
        const auto lost = static_cast<std::uint32_t>(slot);
        if (!on_level(lost) || reached[lost]) continue;
        // A reached node takes it in: the nearest reached one it links to, or
        // else the nearest a search finds.
        std::uint32_t host = kNoSlot;
        const auto [begin, end] = links_of(lost);
        for (const std::uint32_t* p = begin; p != end && host == kNoSlot; ++p)
            if (on_level(*p) && reached[*p]) host = *p;
        if (host == kNoSlot) {
            const Prepared from = prepare_node(lost, ctx.query_scratch.data());
            const std::uint64_t top = entry_.load(std::memory_order_acquire);
            const std::uint32_t start = greedy_descend(from, static_cast<std::uint32_t>(top), static_cast<int>(top >> 32), level);
            search_layer(from, start, params_.ef_construction, level, true, ctx);
            for (std::size_t j = 0; j < ctx.found() && host == kNoSlot; ++j)
                if (reached[ctx.found_at(j).id] && on_level(ctx.found_at(j).id)) host = ctx.found_at(j).id;
        }
        if (host == kNoSlot) continue;
        // Into a free place of the host's list, or in place of its farthest
        // link (lists are written nearest first) when that one has another in-link.
        SpinLockGuard guard(links_.lock_flag(host));
        std::uint32_t* list = links_.list(host, level);
        const std::uint32_t count = std::min<std::uint32_t>(list[0], max_links);
        if (count < max_links) {
            store_relaxed(list + 1 + count, lost);
            store_relaxed(list, count + 1);
        } else if (in_links[list[count]] >= kMany) {
            --in_links[list[count]];
            store_relaxed(list + count, lost);
        } else {
            continue;
        }
        walk_from(lost);
    }
}

void HnswIndex::free_tombstones() {
    std::vector<std::uint32_t> dead;
    std::vector<int> levels;
    dead.reserve(removed_);
    levels.reserve(removed_);
    for (std::size_t slot = count_; slot-- > 0;) {  // descending: free_slots_ hands out the lowest first
        const auto node = static_cast<std::uint32_t>(slot);
        if (!is_removed(node)) continue;
        dead.push_back(node);
        levels.push_back(links_.level(node));
    }
    links_.reserve_release(levels);
    free_slots_.reserve(free_slots_.size() + dead.size());
    // Nothing below allocates: the index is never left half freed.
    const std::uint64_t entry = entry_.load(std::memory_order_acquire);
    if (entry != kNoEntry && is_removed(static_cast<std::uint32_t>(entry))) entry_.store(live_entry(), std::memory_order_release);
    for (std::uint32_t node : dead) {
        links_.release_node(node);
        store_.clear(node);
        states_[node] = static_cast<std::uint8_t>(SlotState::kFree);
        if (node < patches_.size()) patches_[node] = 0;
        free_slots_.push_back(node);
    }
    removed_ = 0;
}

void HnswIndex::compact(std::size_t threads) {
    if (read_only_) throw ReadOnlyError(kReadOnlyMessage);
    std::unique_lock<std::shared_mutex> alone(mutations_);
    consolidate_locked(threads);
    compact_locked();
}

void HnswIndex::compact_locked() {
    GrowthLock::Exclusive lock(growth_);
    ++slot_version_;
    const std::size_t live = live_count();
    // Everything is built beside the old arrays and swapped in at the end, so
    // a failed allocation leaves the index as it was.
    std::vector<std::uint32_t> renumbered(count_, kNoSlot);
    std::size_t upper_blocks = 0;
    std::uint32_t next = 0;
    for (std::size_t slot = 0; slot < count_; ++slot) {
        const auto node = static_cast<std::uint32_t>(slot);
        if (!is_live(node)) continue;
        renumbered[slot] = next++;
        upper_blocks += static_cast<std::size_t>(links_.level(node));
    }
    VectorStore store(params_.dim, store_.storage(), store_.with_scalar());
    store.reserve(live, 0);
    LinkStore links(params_.M);
    links.reserve(live, 0);
    links.reserve_upper(upper_blocks, [](std::size_t, std::size_t needed) { return needed; });
    std::vector<std::uint8_t> patches(patches_.empty() ? 0 : live, 0);
    AlignedArray<std::int64_t> ids(live);
    AlignedArray<std::uint8_t> states(live);
    if (live > 0) std::memset(states.data(), static_cast<int>(SlotState::kLive), live);
    LabelMap slots;
    slots.reserve(live, ids.data());
    for (std::size_t slot = 0; slot < count_; ++slot) {
        const std::uint32_t node = renumbered[slot];
        if (node == kNoSlot) continue;
        const auto old = static_cast<std::uint32_t>(slot);
        store.copy_slot(store_, old, node);
        const int top = links_.level(old);
        links.init_node(node, top);
        for (int level = 0; level <= top; ++level) {
            const std::uint32_t* from = links_.list(old, level);
            std::uint32_t* to = links.list(node, level);
            std::uint32_t kept = 0;
            for (std::uint32_t j = 1; j <= std::min<std::size_t>(from[0], links_.max_links(level)); ++j)
                if (renumbered[from[j]] != kNoSlot) to[1 + kept++] = renumbered[from[j]];  // all live after consolidation
            to[0] = kept;
        }
        ids[node] = ids_[old];
        slots.insert(ids[node], node);
        if (!patches.empty() && old < patches_.size()) patches[node] = patches_[old];
    }
    const std::uint64_t entry = entry_.load(std::memory_order_acquire);
    if (entry != kNoEntry) entry_.store(pack_entry(renumbered[static_cast<std::uint32_t>(entry)], static_cast<int>(entry >> 32)));
    store_ = std::move(store);
    links_ = std::move(links);
    ids_ = std::move(ids);
    states_ = std::move(states);
    slots_ = std::move(slots);
    patches_ = std::move(patches);
    std::vector<std::uint32_t>().swap(free_slots_);
    count_ = live;
    capacity_ = live;
    contexts_.clear();
}

}  // namespace vsearch
