// Adjacency lists of every node on every level it lives on.
//
// Level 0 is one flat array with a fixed-size list per node ([count, ids...],
// up to 2*M ids). Upper levels are rarer (a fraction 1/M of nodes reach level
// 1), so they live in a side array of blocks ([count, ids...], up to M ids)
// that a node indexes with its first block number.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "../storage/aligned_array.h"

namespace vsearch {

class LinkStore {
public:
    explicit LinkStore(std::size_t M)
        : max_upper_(M), max_level0_(2 * M), level0_stride_(1 + 2 * M), upper_stride_(1 + M) {}

    std::size_t max_links(int level) const { return level == 0 ? max_level0_ : max_upper_; }

    void reserve(std::size_t capacity, std::size_t used) {
        if (capacity <= capacity_) return;
        AlignedArray<std::uint32_t> level0 = level0_.grown(capacity * level0_stride_, used * level0_stride_);
        AlignedArray<std::uint32_t> first_block = first_block_.grown(capacity, used);
        AlignedArray<std::uint8_t> levels = levels_.grown(capacity, used);
        AlignedArray<std::uint8_t> locks = locks_.grown(capacity, used);
        level0_.swap(level0);
        first_block_.swap(first_block);
        levels_.swap(levels);
        locks_.swap(locks);
        capacity_ = capacity;
    }

    // Room for `more` upper blocks beyond those in use, so that init_node
    // cannot allocate; `grow(current, needed)` picks the new size in blocks.
    // Throws std::length_error past 32-bit block numbers.
    template <typename Growth>
    void reserve_upper(std::size_t more, Growth grow) {
        if (upper_blocks_ + more >= kNoBlock) throw std::length_error("too many upper-level nodes for 32-bit link offsets");
        const std::size_t blocks = upper_.size() / upper_stride_;
        if (upper_blocks_ + more > blocks)
            upper_ = upper_.grown(grow(blocks, upper_blocks_ + more) * upper_stride_, upper_blocks_ * upper_stride_);
    }

    // Gives a reserved slot empty lists on levels 0..level (its upper blocks
    // reserved by reserve_upper).
    void init_node(std::uint32_t node, int level) {
        levels_[node] = static_cast<std::uint8_t>(level);
        locks_[node] = 0;
        // Zero whole lists, not just counts: saved files are then a pure
        // function of the graph, byte for byte.
        std::memset(level0_.data() + node * level0_stride_, 0, level0_stride_ * sizeof(std::uint32_t));
        first_block_[node] = kNoBlock;
        if (level == 0) return;
        const std::size_t block = upper_blocks_;
        std::memset(upper_.data() + block * upper_stride_, 0, level * upper_stride_ * sizeof(std::uint32_t));
        first_block_[node] = static_cast<std::uint32_t>(block);
        upper_blocks_ += level;
    }

    // A read-only store over saved sections (see vsearch/FORMAT.md) for
    // `count` nodes. Level-0 links stay in the caller's memory (large; the
    // caller keeps it alive and searches bounds-check them); levels, first
    // blocks and upper links are copied (small), so the checks made on them
    // at load hold for as long as the store lives.
    void map(std::size_t count, const std::uint32_t* level0, const std::uint32_t* first_block,
             const std::uint8_t* levels, const std::uint32_t* upper, std::size_t upper_blocks) {
        level0_ = AlignedArray<std::uint32_t>::borrow(level0, count * level0_stride_);
        first_block_ = AlignedArray<std::uint32_t>::copy_of(first_block, count);
        levels_ = AlignedArray<std::uint8_t>::copy_of(levels, count);
        upper_ = AlignedArray<std::uint32_t>::copy_of(upper, upper_blocks * upper_stride_);
        upper_blocks_ = upper_blocks;
        capacity_ = count;  // no locks: a mapped (read-only) index never changes
    }

    // Room for exactly `count` nodes and `upper_blocks` blocks, to be filled
    // from a saved index.
    void allocate_exact(std::size_t count, std::size_t upper_blocks) {
        reserve(count, 0);
        upper_ = AlignedArray<std::uint32_t>(upper_blocks * upper_stride_);
        upper_blocks_ = upper_blocks;
        if (count > 0) std::memset(locks_.data(), 0, count);
    }

    std::size_t upper_blocks() const { return upper_blocks_; }
    const std::uint32_t* level0_data() const { return level0_.data(); }
    const std::uint32_t* first_block_data() const { return first_block_.data(); }
    const std::uint8_t* levels_data() const { return levels_.data(); }
    const std::uint32_t* upper_data() const { return upper_.data(); }
    std::uint32_t first_block(std::uint32_t node) const { return first_block_[node]; }
    const std::uint32_t* block(std::size_t index) const { return upper_.data() + index * upper_stride_; }

    int level(std::uint32_t node) const { return levels_[node]; }
    std::uint8_t* lock_flag(std::uint32_t node) { return &locks_[node]; }

    // [count, id_0, ..., id_{max_links(level)-1}]
    std::uint32_t* list(std::uint32_t node, int level) {
        if (level == 0) return level0_.data() + node * level0_stride_;
        return upper_.data() + (first_block_[node] + static_cast<std::size_t>(level - 1)) * upper_stride_;
    }
    const std::uint32_t* list(std::uint32_t node, int level) const {
        return const_cast<LinkStore*>(this)->list(node, level);
    }

    std::size_t bytes() const {
        return level0_.bytes() + first_block_.bytes() + levels_.bytes() + locks_.bytes() + upper_.bytes();
    }
    // Bytes one node slot takes (its level-0 list, first block, level and lock).
    std::size_t slot_bytes() const {
        return level0_stride_ * sizeof(std::uint32_t) + sizeof(std::uint32_t) + 2 * sizeof(std::uint8_t);
    }
    // Bytes of upper blocks allocated beyond those in use (0 for a borrowed or copied exact store).
    std::size_t spare_upper_bytes() const {
        const std::size_t used = upper_blocks_ * upper_stride_ * sizeof(std::uint32_t);
        return upper_.bytes() > used ? upper_.bytes() - used : 0;
    }

    static constexpr std::uint32_t kNoBlock = 0xffffffffu;

private:
    std::size_t max_upper_, max_level0_, level0_stride_, upper_stride_;
    std::size_t capacity_ = 0;
    AlignedArray<std::uint32_t> level0_;
    AlignedArray<std::uint32_t> first_block_;
    AlignedArray<std::uint8_t> levels_;
    AlignedArray<std::uint8_t> locks_;
    AlignedArray<std::uint32_t> upper_;
    std::size_t upper_blocks_ = 0;
};

}  // namespace vsearch
