// The HNSW index of Malkov & Yashunin (arXiv 1603.09320): a hierarchy of
// proximity graphs over float32 vectors, with user ids (int64) mapped to
// dense internal slots (uint32).
//
// A slot is live (its id is in the id map), removed (a tombstone: still in
// the graph, walked by searches, never returned) or free (out of the graph,
// taken by a later add). consolidate() repairs the graph around tombstones
// and frees them; compact() renumbers the live slots densely.
//
// Thread-safety contract: any number of threads may call search, get,
// contains and the accessors concurrently with each other and with add,
// upsert, remove and consolidate. Concurrent adds and upserts are safe too.
// Growth and the bookkeeping of add/upsert/remove briefly exclude everyone;
// inserting, repairing links and searching share the index. consolidate
// excludes add, upsert, remove and saving (searches go on); compact excludes
// everything while it runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <random>
#include <stdexcept>
#include <unordered_set>
#include <vector>

#include "../metrics/space.h"
#include "../storage/aligned_array.h"
#include "../storage/vector_store.h"
#include "candidate_pool.h"
#include "growth_lock.h"
#include "id_filter.h"
#include "label_map.h"
#include "limits.h"
#include "link_store.h"
#include "slot_set.h"
#include "top_k.h"
#include "object_pool.h"
#include "visited_set.h"

namespace vsearch {

enum class SlotState : std::uint8_t { kLive = 0, kRemoved = 1, kFree = 2 };
// The file section that holds them (vsearch/FORMAT.md).
inline constexpr const char* kSlotStatesSection = "slot_states";

struct IndexParams {
    std::size_t dim = 0;
    MetricKind metric = MetricKind::kL2;
    std::size_t M = kDefaultM;
    std::size_t ef_construction = kDefaultEfConstruction;
    std::size_t ef = kDefaultEf;
    std::uint64_t seed = 0;
    SimdLevel simd = SimdLevel::kScalar;
    MetricParams metric_params;
    Storage storage = Storage::kFloat32;
};

// A vector the metric cannot use: NaN/inf anywhere, or a zero vector for a
// metric that needs a direction (cosine).
class InvalidVectorError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// A saved index that fails validation: `section` names the part at fault.
class FormatError : public std::runtime_error {
public:
    FormatError(std::string section, const std::string& message)
        : std::runtime_error(message), section_(std::move(section)) {}
    const std::string& section() const { return section_; }

private:
    std::string section_;
};

// A change to an index that borrows read-only memory (a memory-mapped file).
class ReadOnlyError : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

inline constexpr const char* kReadOnlyMessage =
    "this index is memory-mapped and read-only: use index.copy() for a writable copy, "
    "or vsearch.load(path) without mmap=True";

// What a saved index holds besides its parameters (see vsearch/FORMAT.md).
struct SavedLayout {
    std::size_t count = 0;
    int max_level = -1;
    std::int64_t entry_point = -1;  // slot
    std::int64_t max_id = -1;
    std::size_t upper_blocks = 0;
    // False for a version-1 file, which has no slot_states section: all live.
    bool has_states = true;
};

// Pointers to the sections of a saved index, in the file's layout.
struct SavedSections {
    const void* vectors = nullptr;          // count x row_stride, of the index's storage
    const float* row_scalars = nullptr;     // count (metrics with a row scalar)
    const std::int64_t* ids = nullptr;      // count
    const std::uint8_t* levels = nullptr;   // count
    const std::uint32_t* level0_links = nullptr;   // count x (1 + 2M)
    const std::uint32_t* upper_offsets = nullptr;  // count
    const std::uint32_t* upper_links = nullptr;    // upper_blocks x (1 + M)
    const std::uint8_t* states = nullptr;          // count (SlotState)
};

struct AddOutcome {
    // Ids repeated in the batch or (unless replacing) already in the index;
    // when non-empty nothing was added.
    std::vector<std::int64_t> conflicts;
    std::int64_t first_auto_id = 0;  // the first id given when ids were not supplied
};

struct RemoveOutcome {
    std::size_t removed = 0;
    std::ptrdiff_t first_unknown = -1;  // position of an unknown id (nothing removed); -1 if none
};

struct IndexStats {
    std::size_t count = 0;       // live vectors
    std::size_t removed = 0;     // tombstones
    std::size_t free_slots = 0;  // slots ready for reuse
    std::size_t capacity = 0;
    int max_level = -1;
    std::int64_t entry_point_id = -1;
    std::vector<std::size_t> level_counts;  // nodes whose top level is l
    std::vector<double> mean_degree;        // mean out-degree of the nodes on level l
};

class HnswIndex {
public:
    // Throws std::invalid_argument for parameters outside limits.h.
    explicit HnswIndex(const IndexParams& params);
    ~HnswIndex();  // where SearchContext is complete

    // Loading a saved index, step 1: an index with room for exactly the
    // saved sections, to be filled through writable_sections() and then
    // checked by finish_restore(). Throws FormatError for impossible sizes.
    static std::unique_ptr<HnswIndex> allocate_restore(const IndexParams& params, const SavedLayout& layout);
    SavedSections writable_sections() { return sections(); }
    // Step 2: validates everything (throws FormatError) and makes the index usable.
    void finish_restore(const SavedLayout& layout);

    // A read-only index over saved sections in the caller's memory (a memory
    // map), which must outlive it. The small sections (levels, upper blocks
    // and links, ids) are copied and validated now (throws FormatError), so
    // the graph reads what was checked even if the file changes under the
    // map; level-0 links and vectors stay mapped, are checked by verify(),
    // and every level-0 link is bounds-checked where a search reads it.
    static std::unique_ptr<HnswIndex> map_sections(const IndexParams& params, const SavedLayout& layout,
                                                   const SavedSections& sections);

    // Saving: while mutations are locked, no add changes the index, so
    // layout() and sections() describe one consistent state. Searches go on.
    void lock_mutations() { mutations_.lock(); }
    void unlock_mutations() { mutations_.unlock(); }
    SavedLayout layout() const;
    SavedSections sections() const;
    std::size_t row_stride() const { return store_.stride(); }

    // Every invariant of vsearch/FORMAT.md ("Invariants") on the index as it
    // is now (throws FormatError). Waits for running adds.
    void verify() const;
    bool read_only() const { return read_only_; }

    // Adds n rows, into free slots first. `ids` may be null: ids
    // max(previous)+1, ... are given. A batch with a repeated id, or (unless
    // `replace`) an id already present, adds nothing and returns the
    // offending ids. With `replace` (upsert) a present id's old vector becomes
    // a tombstone in the same step its new one takes the id, so no search sees
    // both. Everything the batch needs (memory, search state, threads) is had
    // before the index changes, so a failed add (bad_alloc, too many vectors)
    // leaves it as it was. `progress(done)` is called from the calling thread.
    // Consolidates first when the batch would grow the index while tombstones
    // hold slots, and (upsert) afterwards past consolidate_fraction().
    AddOutcome add(const float* vectors, const std::int64_t* ids, std::size_t n, std::size_t threads,
                   const std::function<void(std::size_t)>& progress = nullptr, bool replace = false);

    // Makes the vectors of ids tombstones: at once out of search results, get
    // and contains. An unknown id removes nothing (unless `missing_ok`, which
    // skips it); a repeated id counts once. Then consolidates, with `threads`,
    // if the tombstones' share passes consolidate_fraction().
    RemoveOutcome remove(const std::int64_t* ids, std::size_t n, bool missing_ok, std::size_t threads);
    // Repairs the graph around every tombstone (delete consolidation of
    // FreshDiskANN, Singh et al. 2021) and frees their slots; returns how
    // many. Searches go on meanwhile, except when it then compacts (more
    // than half the slots free).
    std::size_t consolidate(std::size_t threads);
    // Consolidates, then renumbers the live slots 0..size()-1 and shrinks
    // every array to fit them (same ids, vectors and links).
    void compact(std::size_t threads);
    double consolidate_fraction() const { return consolidate_fraction_.load(std::memory_order_relaxed); }
    // Throws std::invalid_argument outside [0, 1].
    void set_consolidate_fraction(double fraction);

    // Throws InvalidVectorError naming the first row the metric cannot use.
    void check_rows(const float* rows, std::size_t n, const char* what) const;
    // Throws InvalidVectorError for a value the storage cannot hold (float16: beyond +-65504).
    void check_storable(const float* rows, std::size_t n) const;

    // k nearest neighbours of each of n queries into out_ids/out_distances
    // (n*k each, row-major). Missing results are id -1, distance +inf.
    // ef 0 means the index's current ef.
    void search(const float* queries, std::size_t n, std::size_t k, std::size_t ef, std::size_t threads,
                std::int64_t* out_ids, float* out_distances) const;
    // The same, exactly: every live vector compared, ties by the smaller id
    // (exact_search.cpp).
    void search_exact(const float* queries, std::size_t n, std::size_t k, std::size_t threads,
                      std::int64_t* out_ids, float* out_distances) const;

    // The k nearest of each query that pass `filter`: per query a filtered
    // graph walk or an exact scan of the passing vectors, as `plan` says, or
    // (kAuto) whichever costs less (filtered_search.cpp). ef 0 means the
    // index's; missing results as search().
    void search_filtered(const float* queries, std::size_t n, std::size_t k, std::size_t ef, std::size_t threads,
                         const IdFilter& filter, SearchPlan plan, std::int64_t* out_ids, float* out_distances) const;
    // search() and a graph-planned search_filtered() of one query as the HNSW
    // paper writes them, without the optimised walk's pool, prefetches or
    // visited epochs (reference_search.cpp): the oracle tests compare the fast
    // walk with. Only ids in `allowed` (when not null) are results.
    void search_reference(const float* query, std::size_t k, std::size_t ef,
                          const std::unordered_set<std::int64_t>* allowed, std::int64_t* out_ids,
                          float* out_distances) const;
    // Looks the ids up now (unknown ones skipped) for filters of later searches.
    void prepare_ids(const std::int64_t* ids, std::size_t n, PreparedIds& prepared) const;
    // Every live vector within `radius` (the metric's distance, inclusive; NaN refused)
    // of each query that passes `filter` (null: no filter), nearest first,
    // ties by the smaller id, at most `max_results` (0: no limit) per query
    // (range_search.cpp). ef 0 means the index's.
    void range_search(const float* queries, std::size_t n, float radius, std::size_t ef, std::size_t max_results,
                      std::size_t threads, const IdFilter* filter, std::vector<std::vector<Ranked>>& hits) const;

    // Copies the vectors of ids into out (n*dim); returns the position of the
    // first unknown id, or -1 when all are present.
    std::ptrdiff_t get(const std::int64_t* ids, std::size_t n, float* out) const;
    bool contains(std::int64_t id) const;

    std::size_t size() const;
    std::size_t dim() const { return params_.dim; }
    const IndexParams& params() const { return params_; }
    std::size_t ef() const { return ef_.load(std::memory_order_relaxed); }
    // Throws std::invalid_argument outside [1, kMaxEf].
    void set_ef(std::size_t ef);
    // Bytes held (vectors, graph, ids, id map, search scratch, spare room),
    // and the part of them that is room reserved for slots not yet used.
    std::size_t memory_bytes() const;
    std::size_t reserved_bytes() const;

    // Room for `total` vectors in all (at least), allocated now; a failure
    // (std::bad_alloc, std::length_error past kMaxElements) leaves the
    // vectors, graph and capacity as they were.
    void reserve(std::size_t total);
    // The ids of the live vectors, in slot order (the order they were added
    // when nothing was ever removed).
    std::vector<std::int64_t> live_ids() const;
    IndexStats stats() const;

private:
    struct SearchContext;  // search_context.h
    using ContextPool = ObjectPool<SearchContext>;
    struct CallFilter;   // query_filter.h
    struct QueryFilter;

    // Entry point and top level packed in one word so readers see a pair.
    static constexpr std::uint64_t kNoEntry = ~std::uint64_t{0};
    static std::uint64_t pack_entry(std::uint32_t node, int level) {
        return (static_cast<std::uint64_t>(level) << 32) | node;
    }

    float distance_to(const Prepared& query, std::uint32_t node) const {
        return store_.storage() == Storage::kFloat16
                   ? space_.distance(query, store_.row<Half>(node), store_.scalar(node))
                   : space_.distance(query, store_.row<float>(node), store_.scalar(node));
    }
    bool is_live(std::uint32_t node) const { return states_[node] == static_cast<std::uint8_t>(SlotState::kLive); }
    bool is_removed(std::uint32_t node) const {
        return states_[node] == static_cast<std::uint8_t>(SlotState::kRemoved);
    }
    std::size_t live_count() const { return count_ - removed_ - free_slots_.size(); }
    // Searches must filter tombstones (and, in a mapped file, which is not
    // fully checked until verify(), any slot that is not live).
    bool filters_results() const { return removed_ > 0 || (read_only_ && live_count() < count_); }
    bool same_vector(std::uint32_t a, std::uint32_t b) const {
        return store_.same_rows(a, b);
    }
    // A node's vector as stored, as float32: its row, or its halves widened
    // into `out` (dim floats) with the SIMD level's kernel.
    const float* stored_vector(std::uint32_t node, float* out) const {
        if (store_.storage() == Storage::kFloat32) return store_.row<float>(node);
        space_.widen(store_.row<Half>(node), out);
        return out;
    }
    // A stored node as the query of distances: `scratch` holds
    // context_scratch() floats (the metric's, then room to widen halves).
    Prepared prepare_node(std::uint32_t node, float* scratch) const {
        return space_.prepare(stored_vector(node, scratch + space_.scratch_size()), Side::kBuild, scratch);
    }
    std::size_t context_scratch() const {
        return space_.scratch_size() + (store_.storage() == Storage::kFloat32 ? 0 : params_.dim);
    }

    int draw_level();
    // The checks of a saved (or live) index, one per invariant group of
    // vsearch/FORMAT.md; each throws FormatError naming the section.
    void check_layout(const SavedLayout& layout) const;
    void check_levels_and_upper_links(const SavedLayout& layout) const;
    void build_label_map(const SavedLayout& layout);
    void check_label_map() const;
    void check_level0() const;
    void check_vectors() const;
    // Counts the removed and free slots; throws FormatError for a state
    // that is none of SlotState's.
    void count_states(std::size_t* removed, std::size_t* free) const;
    // After a restore's checks: the tombstone count and the free lists.
    void collect_free_space();
    void start_serving(const SavedLayout& layout);
    // Room for `total` vectors, growing geometrically / to exactly `capacity`.
    void reserve_for(std::size_t total);
    void reserve_exactly(std::size_t capacity, std::size_t total);
    std::vector<ContextPool::Lease> contexts_for_insert(std::size_t workers, std::size_t total, int top_level);
    void insert(std::uint32_t node, SearchContext& ctx);
    std::uint32_t greedy_descend(const Prepared& query, std::uint32_t entry, int from_level, int to_level) const;
    // The beam search of one level. `live_only`: results only from live nodes
    // (searches, repairs); otherwise tombstones too (inserts: linking through
    // them keeps a new node connected even where every neighbour is removed,
    // and consolidation later replaces those links).
    void search_layer(const Prepared& query, std::uint32_t entry, std::size_t ef, int level, bool live_only,
                      SearchContext& ctx) const;
    // search_layer for level 0 (kUpper false: no level check, the searches'
    // hot path) or an upper level (kUpper true: only inserts walk those), on
    // a graph whose every node may be a result.
    template <bool kUpper>
    void search_level(const Prepared& query, std::uint32_t entry, std::size_t ef, int level, SearchContext& ctx) const;
    // Leaves in ctx.fresh the neighbours of `node` on `level` not yet
    // visited (marked visited now, their vectors prefetched); returns how many.
    template <bool kUpper>
    std::size_t unvisited_neighbors(std::uint32_t node, int level, SearchContext& ctx) const;
    // The beam search of one level whose results must pass `test` (all nodes
    // are walked; beam_walk.h's tests); `on_reach(distance, node)` sees every
    // distance the walk computes. At most `capacity` results, in ctx.filtered.
    template <bool kUpper, class Test, class OnReach>
    void walk_filtered(const Prepared& query, std::uint32_t entry, std::size_t capacity, int level,
                       SearchContext& ctx, const Test& test, const OnReach& on_reach) const;
    // Marks the live slot of `id` removed (growth held exclusively).
    void make_tombstone(std::uint32_t slot);
    // Appends the slots the next `n` new vectors take to `nodes` (room
    // reserved): free ones first, then new ones (room reserved too).
    void take_slots(std::size_t n, std::vector<std::uint32_t>& nodes);
    void consolidate_if_due(std::size_t threads);
    // consolidate() and compact()'s renumbering with mutations_ already held exclusively.
    std::size_t consolidate_locked(std::size_t threads);
    void compact_locked();
    // New links for a live node on one level, in place of those to tombstones:
    // its other links and the tombstones' live links (and, on level 0, what a
    // search finds when the list lost many links or was patched before),
    // pruned by the heuristic.
    void repair_links(std::uint32_t node, int level, SearchContext& ctx);
    // Adds to ctx.candidates the live nodes a search from `node` finds on level 0
    // that are not yet in ctx.kept or ctx.candidates.
    void add_searched_candidates(std::uint32_t node, const Prepared& from, SearchContext& ctx);
    // The live node that becomes the entry point when the current one is
    // removed: the first on the highest level (kNoEntry when none is live).
    std::uint64_t live_entry() const;
    // Links every live node of `level` that a walk from `entry` over live
    // nodes cannot reach from a reached neighbour: repairs prune by distance
    // alone and can cut off what only removed nodes linked to.
    void connect_unreachable(std::uint32_t entry, int level, SearchContext& ctx);
    // Frees every tombstone (their links already repaired) and moves the
    // entry point off them (growth held exclusively).
    void free_tombstones();
    // Algorithm 4 of the paper: keeps a candidate only if it is closer to the
    // base node than to every neighbour already kept. `candidates` sorted.
    void select_neighbors(std::vector<Neighbor>& candidates, std::size_t max_count, SearchContext& ctx) const;
    // Adds node to neighbor's list (the heuristic prunes a full one); returns
    // whether node is in it afterwards.
    bool link_back(std::uint32_t neighbor, std::uint32_t node, float distance, int level, SearchContext& ctx);
    // Adds node to neighbor's list in place of its farthest link if it is full.
    void force_link(std::uint32_t neighbor, std::uint32_t node, int level);
    void write_links(std::uint32_t node, int level, const std::vector<Neighbor>& neighbors);
    // Throws std::invalid_argument for k outside [1, kMaxEf].
    static void check_neighbour_count(std::size_t k);
    // Writes the first k of `ranked` as one query's results, padded.
    void write_ranked(const Prepared& query, const std::vector<Ranked>& ranked, std::size_t k, std::int64_t* ids,
                      float* distances) const;
    // Throws std::invalid_argument for a filter that does not fit n queries.
    static void check_filter(const IdFilter& filter, std::size_t n);
    // Adds the live slots of `n` ids (unknown ones skipped) to `set`, sorted.
    void allow_ids(const std::int64_t* ids, std::size_t n, SlotSet& set) const;
    // The share of the live vectors a predicate passes, from a sample.
    double sampled_share(const IdFilter& filter) const;
    // The call's shared part of `filter` (growth held shared).
    void prepare_filter(CallFilter& call) const;
    // What query `i` may return; `own` is the worker's set for per-query lists.
    QueryFilter filter_query(const CallFilter& call, std::size_t i, SlotSet& own) const;
    // Calls body(test) with the walk test of one query's filter (query_filter.h).
    template <class Body>
    void with_test(const CallFilter& call, const QueryFilter& query, const Body& body) const;
    // One query's exact scan of the vectors that pass its filter.
    void scan_filtered(const Prepared& query, const CallFilter& call, const QueryFilter& allowed, TopK& top) const;
    void search_one(const float* query, std::size_t k, std::size_t ef, SearchContext& ctx, std::int64_t* out_ids,
                    float* out_distances) const;

    IndexParams params_;
    Space space_;
    double level_scale_;  // mL = 1 / ln(M)
    std::atomic<std::size_t> ef_;

    bool read_only_ = false;
    mutable GrowthLock growth_;
    // Shared by add, upsert and remove; exclusive while saving, verifying,
    // consolidating or compacting.
    mutable std::shared_mutex mutations_;
    std::mutex entry_mutex_;          // held while a new top-level node is inserted
    std::atomic<double> consolidate_fraction_{kDefaultConsolidateFraction};
    std::atomic<std::uint64_t> entry_{kNoEntry};
    std::mt19937_64 level_rng_;       // drawn under the exclusive growth lock

    // Guarded by growth_: changed only under Exclusive.
    std::size_t count_ = 0;  // slots in use: live, removed and free
    // Changes whenever an id gains, loses or changes its slot (PreparedIds).
    std::uint64_t slot_version_ = 0;
    std::size_t removed_ = 0;
    std::vector<std::uint32_t> free_slots_;
    // Per slot: repairs of the node's level-0 list since a search last chose
    // its links (its insert, or a searching repair). Only consolidation reads
    // or writes it; not saved (a loaded index counts from zero).
    std::vector<std::uint8_t> patches_;
    AlignedArray<std::uint8_t> states_;  // SlotState per slot
    std::size_t capacity_ = 0;
    std::int64_t max_id_ = -1;
    VectorStore store_;
    LinkStore links_;
    AlignedArray<std::int64_t> ids_;
    LabelMap slots_;
    // Searches and inserts lease their scratch here: reused, not reallocated, per call.
    mutable ContextPool contexts_;
};

}  // namespace vsearch
