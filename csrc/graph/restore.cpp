// Saving and restoring an index: the views a writer needs and the checks a
// reader must make before trusting a file (see vsearch/FORMAT.md).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "atomic_word.h"
#include "hnsw_index.h"

namespace vsearch {

namespace {

std::string at(std::size_t index) { return std::to_string(index); }

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
    return s;
}

std::unique_ptr<HnswIndex> HnswIndex::allocate_restore(const IndexParams& params, const SavedLayout& layout) {
    if (layout.count > kMaxElements) throw FormatError("descriptor", "count exceeds the maximum index size");
    auto index = std::make_unique<HnswIndex>(params);
    index->store_.reserve(layout.count, 0);
    index->links_.allocate_exact(layout.count, layout.upper_blocks);
    index->ids_ = AlignedArray<std::int64_t>(layout.count);
    index->capacity_ = layout.count;
    return index;
}

void HnswIndex::finish_restore(const SavedLayout& layout) {
    count_ = layout.count;
    validate_small_sections(layout);
    validate_level0();
    validate_vectors();
    start_serving(layout);
}

std::unique_ptr<HnswIndex> HnswIndex::map_sections(const IndexParams& params, const SavedLayout& layout,
                                                   const SavedSections& sections) {
    if (layout.count > kMaxElements) throw FormatError("descriptor", "count exceeds the maximum index size");
    auto index = std::make_unique<HnswIndex>(params);
    index->store_.borrow(layout.count, sections.vectors, sections.row_scalars);
    index->links_.borrow(layout.count, sections.level0_links, sections.upper_offsets, sections.levels,
                         sections.upper_links, layout.upper_blocks);
    index->ids_ = AlignedArray<std::int64_t>::borrow(sections.ids, layout.count);
    index->count_ = layout.count;
    index->capacity_ = layout.count;
    index->read_only_ = true;
    index->validate_small_sections(layout);
    index->start_serving(layout);
    return index;
}

void HnswIndex::start_serving(const SavedLayout& layout) {
    level_rng_.discard(layout.count);  // continue the level sequence where the saved index stopped
    if (layout.count > 0)
        entry_.store(pack_entry(static_cast<std::uint32_t>(layout.entry_point), layout.max_level));
}

void HnswIndex::validate_small_sections(const SavedLayout& layout) {
    const std::size_t n = layout.count;
    if (n == 0) {
        if (layout.max_level != -1 || layout.entry_point != -1 || layout.upper_blocks != 0 || layout.max_id < -1)
            throw FormatError("descriptor", "an empty index must have max_level -1, entry_point -1, no upper blocks");
        max_id_ = layout.max_id;
        return;
    }
    if (layout.max_level < 0 || layout.max_level > kMaxLevel)
        throw FormatError("descriptor", "max_level " + std::to_string(layout.max_level) + " is outside [0, " +
                                            std::to_string(kMaxLevel) + "]");
    if (layout.entry_point < 0 || static_cast<std::size_t>(layout.entry_point) >= n)
        throw FormatError("descriptor", "entry_point " + std::to_string(layout.entry_point) + " is not a slot < " + at(n));
    if (links_.level(static_cast<std::uint32_t>(layout.entry_point)) != layout.max_level)
        throw FormatError("levels", "the entry point is not on max_level");

    // Levels, and upper blocks: each node with level L owns blocks
    // [first, first + L), inside the table and shared with no other node.
    std::vector<bool> block_used(layout.upper_blocks, false);
    for (std::size_t node = 0; node < n; ++node) {
        const auto slot = static_cast<std::uint32_t>(node);
        const int level = links_.level(slot);
        if (level > layout.max_level)
            throw FormatError("levels", "node " + at(node) + " has level " + std::to_string(level) +
                                            " above max_level " + std::to_string(layout.max_level));
        const std::uint32_t first = links_.first_block(slot);
        if (level == 0) {
            if (first != LinkStore::kNoBlock)
                throw FormatError("upper_offsets", "node " + at(node) + " is on level 0 only but has upper blocks");
            continue;
        }
        if (first == LinkStore::kNoBlock || static_cast<std::size_t>(first) + level > layout.upper_blocks)
            throw FormatError("upper_offsets", "node " + at(node) + " has blocks outside the upper link table");
        for (int l = 0; l < level; ++l) {
            if (block_used[first + l])
                throw FormatError("upper_offsets", "node " + at(node) + " shares an upper block with another node");
            block_used[first + l] = true;
        }
    }
    const std::size_t max_upper = links_.max_links(1);
    for (std::size_t b = 0; b < layout.upper_blocks; ++b) {
        const std::uint32_t* list = links_.block(b);
        if (list[0] > max_upper)
            throw FormatError("upper_links", "block " + at(b) + " has " + std::to_string(list[0]) +
                                                 " links, more than M = " + std::to_string(max_upper));
        for (std::uint32_t j = 1; j <= list[0]; ++j)
            if (list[j] >= n)
                throw FormatError("upper_links", "block " + at(b) + " links to node " + std::to_string(list[j]) +
                                                     ", not below count " + at(n));
    }

    slots_.reserve(n, ids_.data());
    std::int64_t max_id = ids_[0];
    for (std::size_t node = 0; node < n; ++node) {
        const std::int64_t id = ids_[node];
        if (slots_.find(id, ids_.data()) != LabelMap::kAbsent)
            throw FormatError("ids", "id " + std::to_string(id) + " appears twice");
        slots_.insert(id, static_cast<std::uint32_t>(node));
        max_id = std::max(max_id, id);
    }
    if (layout.max_id < max_id) throw FormatError("descriptor", "max_id is below the largest id in the ids section");
    max_id_ = layout.max_id;
}

void HnswIndex::validate_level0() const {
    const std::size_t max_links = links_.max_links(0);
    for (std::size_t node = 0; node < count_; ++node) {
        const std::uint32_t* list = links_.list(static_cast<std::uint32_t>(node), 0);
        if (list[0] > max_links)
            throw FormatError("level0_links", "node " + at(node) + " has " + std::to_string(list[0]) +
                                                  " links, more than 2M = " + std::to_string(max_links));
        for (std::uint32_t j = 1; j <= list[0]; ++j)
            if (list[j] >= count_)
                throw FormatError("level0_links", "node " + at(node) + " links to node " + std::to_string(list[j]) +
                                                      ", not below count " + at(count_));
    }
}

void HnswIndex::validate_vectors() const {
    // Row scalars are derived data: a wrong one (with a correct checksum)
    // would silently skew distances, so each must match its row (up to the
    // rounding of another machine's kernels).
    constexpr double kScalarTolerance = 1e-5;
    for (std::size_t node = 0; node < count_; ++node) {
        const float* row = store_.row(node);
        try {
            check_rows(row, 1, "vectors");  // the same rules as add()
        } catch (const InvalidVectorError& e) {
            throw FormatError("vectors", "row " + at(node) + ": " + e.what());
        }
        if (!space_.uses_row_scalar()) continue;
        const double expected = space_.row_scalar(row);
        // SNR's scalar is a mean, which may be ~0: measure it against the row's size.
        const double size = params_.metric == MetricKind::kSnr
                                ? std::sqrt(space_.squared_norm(row) / static_cast<double>(params_.dim))
                                : std::abs(expected);
        if (!(std::abs(store_.scalar(node) - expected) <= kScalarTolerance * size))
            throw FormatError(row_scalar_section(), "row " + at(node) + " has a value that does not match its vector");
    }
}

void HnswIndex::verify() const {
    GrowthLock::Shared lock(growth_);
    validate_level0();
    validate_vectors();
}

}  // namespace vsearch
