// Saving and restoring an index: the views a writer needs and the checks a
// reader must make before trusting a file (see vsearch/FORMAT.md).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "atomic_word.h"
#include "hnsw_index.h"

namespace vsearch {

namespace {

std::string at(std::size_t index) { return std::to_string(index); }

// Invariant 17 of FORMAT.md: a slot that is not live has id -1 and a live
// one (in a version-2 file: version 1 did not reserve -1) another id.
void check_id_of_slot(std::size_t node, std::int64_t id, bool live, bool minus_one_reserved) {
    if (!live && id != kMissingId)
        throw FormatError("ids", "slot " + std::to_string(node) + " is removed or free but has id " + std::to_string(id) +
                                     ", not " + std::to_string(kMissingId));
    if (live && minus_one_reserved && id == kMissingId)
        throw FormatError("ids", "live slot " + std::to_string(node) + " has id " + std::to_string(kMissingId) +
                                     ", the no-result marker");
}

}  // namespace

SavedLayout HnswIndex::layout() const {
    SavedLayout layout;
    layout.count = count_;
    const std::uint64_t entry = entry_.load(std::memory_order_acquire);
    if (entry != kNoEntry) {
        layout.max_level = static_cast<int>(entry >> 32);
        layout.entry_point = static_cast<std::uint32_t>(entry);
    }
    layout.max_id = max_id_;
    layout.upper_blocks = links_.upper_blocks();
    return layout;
}

SavedSections HnswIndex::sections() const {
    SavedSections s;
    s.vectors = store_.rows_data();
    s.row_scalars = store_.with_scalar() ? store_.scalars_data() : nullptr;
    s.ids = ids_.data();
    s.levels = links_.levels_data();
    s.level0_links = links_.level0_data();
    s.upper_offsets = links_.first_block_data();
    s.upper_links = links_.upper_data();
    s.states = states_.data();
    return s;
}

std::unique_ptr<HnswIndex> HnswIndex::allocate_restore(const IndexParams& params, const SavedLayout& layout) {
    if (layout.count > kMaxElements) throw FormatError("descriptor", "count exceeds the maximum index size");
    auto index = std::make_unique<HnswIndex>(params);
    index->store_.reserve(layout.count, 0);
    index->links_.allocate_exact(layout.count, layout.upper_blocks);
    index->ids_ = AlignedArray<std::int64_t>(layout.count);
    index->states_ = AlignedArray<std::uint8_t>(layout.count);
    if (layout.count > 0) std::memset(index->states_.data(), 0, layout.count);  // all live unless the file says otherwise
    index->capacity_ = layout.count;
    return index;
}

void HnswIndex::finish_restore(const SavedLayout& layout) {
    count_ = layout.count;
    check_layout(layout);
    check_levels_and_upper_links(layout);
    build_label_map(layout);
    check_level0();
    check_vectors();
    collect_free_space();
    links_.collect_free_blocks(count_);
    start_serving(layout);
}

std::unique_ptr<HnswIndex> HnswIndex::map_sections(const IndexParams& params, const SavedLayout& layout,
                                                   const SavedSections& sections) {
    if (layout.count > kMaxElements) throw FormatError("descriptor", "count exceeds the maximum index size");
    auto index = std::make_unique<HnswIndex>(params);
    index->store_.borrow(layout.count, sections.vectors, sections.row_scalars);
    index->links_.map(layout.count, sections.level0_links, sections.upper_offsets, sections.levels,
                      sections.upper_links, layout.upper_blocks);
    index->ids_ = AlignedArray<std::int64_t>::copy_of(sections.ids, layout.count);
    if (sections.states != nullptr) {
        index->states_ = AlignedArray<std::uint8_t>::copy_of(sections.states, layout.count);
    } else {
        index->states_ = AlignedArray<std::uint8_t>(layout.count);
        if (layout.count > 0) std::memset(index->states_.data(), 0, layout.count);
    }
    index->count_ = layout.count;
    index->capacity_ = layout.count;
    index->read_only_ = true;
    index->check_layout(layout);
    index->check_levels_and_upper_links(layout);
    index->build_label_map(layout);
    index->collect_free_space();
    index->start_serving(layout);
    return index;
}

void HnswIndex::start_serving(const SavedLayout& layout) {
    level_rng_.discard(layout.count);  // continue the level sequence where the saved index stopped
    if (layout.count > 0)
        entry_.store(pack_entry(static_cast<std::uint32_t>(layout.entry_point), layout.max_level));
}

void HnswIndex::count_states(std::size_t* removed, std::size_t* free) const {
    *removed = *free = 0;
    for (std::size_t node = 0; node < count_; ++node) {
        const std::uint8_t state = states_[node];
        if (state == static_cast<std::uint8_t>(SlotState::kRemoved)) {
            ++*removed;
        } else if (state == static_cast<std::uint8_t>(SlotState::kFree)) {
            ++*free;
        } else if (state != static_cast<std::uint8_t>(SlotState::kLive)) {
            throw FormatError("slot_states", "slot " + at(node) + " has state " + std::to_string(state) +
                                                 ", not 0 (live), 1 (removed) or 2 (free)");
        }
    }
}

void HnswIndex::collect_free_space() {
    std::size_t removed, free;
    count_states(&removed, &free);
    removed_ = removed;
    free_slots_.clear();
    free_slots_.reserve(free);
    for (std::size_t slot = count_; slot-- > 0;)  // descending: the lowest is handed out first
        if (states_[slot] == static_cast<std::uint8_t>(SlotState::kFree)) free_slots_.push_back(static_cast<std::uint32_t>(slot));
}

// Invariants 1-3 and 16 of FORMAT.md: the descriptor's graph fields, the slot states.
void HnswIndex::check_layout(const SavedLayout& layout) const {
    const std::size_t n = count_;
    std::size_t removed, free;
    count_states(&removed, &free);
    if (n == 0 && layout.max_id < -1) throw FormatError("descriptor", "an empty index must have max_id -1 or more");
    if (n == free) {  // no node in the graph: empty, or every slot free
        if (layout.max_level != -1 || layout.entry_point != -1)
            throw FormatError("descriptor", "an index without nodes in its graph must have max_level -1 and entry_point -1");
        return;
    }
    if (layout.max_level < 0 || layout.max_level > kMaxLevel)
        throw FormatError("descriptor", "max_level " + std::to_string(layout.max_level) + " is outside [0, " +
                                            std::to_string(kMaxLevel) + "]");
    if (layout.entry_point < 0 || static_cast<std::size_t>(layout.entry_point) >= n)
        throw FormatError("descriptor", "entry_point " + std::to_string(layout.entry_point) + " is not a slot < " + at(n));
    if (states_[static_cast<std::size_t>(layout.entry_point)] == static_cast<std::uint8_t>(SlotState::kFree))
        throw FormatError("slot_states", "the entry point is a free slot");
    if (links_.level(static_cast<std::uint32_t>(layout.entry_point)) != layout.max_level)
        throw FormatError("levels", "the entry point is not on max_level");
}

// Invariants 4-9 of FORMAT.md: levels, upper blocks and upper links.
void HnswIndex::check_levels_and_upper_links(const SavedLayout& layout) const {
    const std::size_t n = count_;
    const std::size_t max_upper = links_.max_links(1);
    std::vector<bool> block_used(layout.upper_blocks, false);
    for (std::size_t node = 0; node < n; ++node) {
        const auto slot = static_cast<std::uint32_t>(node);
        const int level = links_.level(slot);
        const std::uint32_t first = links_.first_block(slot);
        if (states_[node] == static_cast<std::uint8_t>(SlotState::kFree)) {  // out of the graph
            if (level != 0 || first != LinkStore::kNoBlock)
                throw FormatError("levels", "free slot " + at(node) + " has level " + std::to_string(level) +
                                                " or upper blocks; it must have level 0 and none");
            continue;
        }
        if (level > layout.max_level)
            throw FormatError("levels", "node " + at(node) + " has level " + std::to_string(level) +
                                            " above max_level " + std::to_string(layout.max_level));
        if (level == 0) {
            if (first != LinkStore::kNoBlock)
                throw FormatError("upper_offsets", "node " + at(node) + " is on level 0 only but has upper blocks");
            continue;
        }
        if (first == LinkStore::kNoBlock || static_cast<std::size_t>(first) + level > layout.upper_blocks)
            throw FormatError("upper_offsets", "node " + at(node) + " has blocks outside the upper link table");
        for (int l = 1; l <= level; ++l) {
            const std::size_t b = first + static_cast<std::size_t>(l - 1);
            if (block_used[b])
                throw FormatError("upper_offsets", "node " + at(node) + " shares an upper block with another node");
            block_used[b] = true;
            const std::uint32_t* list = links_.block(b);
            if (list[0] > max_upper)
                throw FormatError("upper_links", "block " + at(b) + " has " + std::to_string(list[0]) +
                                                     " links, more than M = " + std::to_string(max_upper));
            for (std::uint32_t j = 1; j <= list[0]; ++j) {
                if (list[j] >= n)
                    throw FormatError("upper_links", "block " + at(b) + " links to node " + std::to_string(list[j]) +
                                                         ", not below count " + at(n));
                if (states_[list[j]] == static_cast<std::uint8_t>(SlotState::kFree))
                    throw FormatError("upper_links", "block " + at(b) + " links to free slot " + std::to_string(list[j]));
                if (links_.level(list[j]) < l)
                    throw FormatError("upper_links", "node " + at(node) + " links on level " + std::to_string(l) +
                                                         " to node " + std::to_string(list[j]) + ", whose top level is " +
                                                         std::to_string(links_.level(list[j])));
            }
        }
    }
    // Blocks no node owns are free (freed by removals, reused by later adds):
    // all zero, so a file is a pure function of the index.
    const std::size_t block_words = max_upper + 1;
    for (std::size_t b = 0; b < layout.upper_blocks; ++b) {
        if (block_used[b]) continue;
        const std::uint32_t* list = links_.block(b);
        if (std::any_of(list, list + block_words, [](std::uint32_t word) { return word != 0; }))
            throw FormatError("upper_links", "block " + at(b) + " belongs to no node but is not all zero");
    }
}

// Invariants 10-11 and 17 of FORMAT.md, building the id map on the way.
void HnswIndex::build_label_map(const SavedLayout& layout) {
    max_id_ = layout.max_id;
    const std::size_t n = count_;
    if (n == 0) return;
    slots_.reserve(n, ids_.data());
    std::int64_t max_id = kMissingId;
    for (std::size_t node = 0; node < n; ++node) {
        const std::int64_t id = ids_[node];
        const bool live = is_live(static_cast<std::uint32_t>(node));
        check_id_of_slot(node, id, live, layout.has_states);
        if (!live) continue;
        if (slots_.find(id, ids_.data()) != LabelMap::kAbsent)
            throw FormatError("ids", "id " + std::to_string(id) + " appears twice");
        slots_.insert(id, static_cast<std::uint32_t>(node));
        max_id = std::max(max_id, id);
    }
    if (layout.max_id < max_id) throw FormatError("descriptor", "max_id is below the largest id in the ids section");
}

// Invariants 10-11 and 17 of FORMAT.md on a built id map.
void HnswIndex::check_label_map() const {
    std::size_t live = 0;
    for (std::size_t node = 0; node < count_; ++node) {
        const std::int64_t id = ids_[node];
        const bool is_live_slot = is_live(static_cast<std::uint32_t>(node));
        check_id_of_slot(node, id, is_live_slot, true);
        if (!is_live_slot) continue;
        ++live;
        if (slots_.find(id, ids_.data()) != node) throw FormatError("ids", "id " + std::to_string(id) + " appears twice");
        if (id > max_id_) throw FormatError("descriptor", "max_id is below the largest id in the ids section");
    }
    if (live != slots_.size()) throw FormatError("ids", "the id map holds ids of slots that are not live");
}

// Invariant 12 of FORMAT.md.
void HnswIndex::check_level0() const {
    const std::size_t max_links = links_.max_links(0);
    const std::size_t words = 1 + max_links;
    for (std::size_t node = 0; node < count_; ++node) {
        const std::uint32_t* list = links_.list(static_cast<std::uint32_t>(node), 0);
        const bool free = states_[node] == static_cast<std::uint8_t>(SlotState::kFree);
        if (free && std::any_of(list, list + words, [](std::uint32_t word) { return word != 0; }))
            throw FormatError("level0_links", "free slot " + at(node) + " has a list that is not all zero");
        if (list[0] > max_links)
            throw FormatError("level0_links", "node " + at(node) + " has " + std::to_string(list[0]) +
                                                  " links, more than 2M = " + std::to_string(max_links));
        for (std::uint32_t j = 1; j <= list[0]; ++j)
            if (list[j] >= count_)
                throw FormatError("level0_links", "node " + at(node) + " links to node " + std::to_string(list[j]) +
                                                      ", not below count " + at(count_));
            else if (states_[list[j]] == static_cast<std::uint8_t>(SlotState::kFree))
                throw FormatError("level0_links", "node " + at(node) + " links to free slot " + std::to_string(list[j]));
    }
}

// Invariants 13-15 of FORMAT.md.
void HnswIndex::check_vectors() const {
    // Row scalars are derived data: a wrong one (with a correct checksum)
    // would silently skew distances, so each must match its row (up to the
    // rounding of another machine's kernels).
    constexpr double kScalarTolerance = 1e-5;
    const std::size_t element = VectorStore::element_bytes(store_.storage());
    const std::size_t used_bytes = params_.dim * element;
    std::vector<float> widened(params_.dim);
    const auto all_zero = [](const std::uint8_t* from, const std::uint8_t* to) {
        return std::all_of(from, to, [](std::uint8_t byte) { return byte == 0; });
    };
    for (std::size_t node = 0; node < count_; ++node) {
        const auto* bytes = static_cast<const std::uint8_t*>(store_.rows_data()) + node * store_.row_bytes();
        if (states_[node] == static_cast<std::uint8_t>(SlotState::kFree)) {  // invariants 13 and 15
            if (!all_zero(bytes, bytes + store_.row_bytes()) || (store_.with_scalar() && store_.scalar(node) != 0.0f))
                throw FormatError("vectors", "free slot " + at(node) + " holds a vector (or row scalar); it must be all zero");
            continue;
        }
        const float* row = stored_vector(static_cast<std::uint32_t>(node), widened.data());
        try {
            check_rows(row, 1, "vectors");  // the same rules as add()
        } catch (const InvalidVectorError& e) {
            throw FormatError("vectors", "row " + at(node) + ": " + e.what());
        }
        if (!all_zero(bytes + used_bytes, bytes + store_.row_bytes()))
            throw FormatError("vectors", "row " + at(node) + " has non-zero padding after its " +
                                             std::to_string(params_.dim) + " values");
        if (!space_.uses_row_scalar()) continue;
        const double expected = space_.row_scalar(row);
        // SNR's scalar is a mean, which may be ~0: measure it against the row's size.
        const double size = params_.metric == MetricKind::kSnr
                                ? std::sqrt(space_.squared_norm(row) / static_cast<double>(params_.dim))
                                : std::abs(expected);
        if (!(std::abs(store_.scalar(node) - expected) <= kScalarTolerance * size))
            throw FormatError(row_scalar_section(params_.metric), "row " + at(node) + " has a value that does not match its vector");
    }
}

void HnswIndex::verify() const {
    std::unique_lock<std::shared_mutex> no_adds(mutations_);
    GrowthLock::Shared lock(growth_);
    const SavedLayout now = layout();
    std::size_t removed, free;
    count_states(&removed, &free);
    if (removed != removed_ || free != free_slots_.size())
        throw FormatError("slot_states", "the counts of removed and free slots disagree with the states");
    check_layout(now);
    check_levels_and_upper_links(now);
    check_label_map();
    check_level0();
    check_vectors();
}

}  // namespace vsearch
