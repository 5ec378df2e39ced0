// Adjacency lists of every node on every level it lives on.
//
// Level 0 is one flat array with a fixed-size list per node ([count, ids...],
// up to 2*M ids). Upper levels are rarer (a fraction 1/M of nodes reach level
// 1), so they live in a side array of blocks ([count, ids...], up to M ids)
// that a node indexes with its first block number.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

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

    // Gives a reserved slot empty lists on levels 0..level.
    void init_node(std::uint32_t node, int level) {
        levels_[node] = static_cast<std::uint8_t>(level);
        locks_[node] = 0;
        level0_[node * level0_stride_] = 0;
        first_block_[node] = kNoBlock;
        if (level == 0) return;
        const std::size_t block = upper_.size() / upper_stride_;
        if (block + level >= kNoBlock) throw std::length_error("too many upper-level nodes for 32-bit link offsets");
        first_block_[node] = static_cast<std::uint32_t>(block);
        upper_.resize(upper_.size() + static_cast<std::size_t>(level) * upper_stride_, 0);
    }

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
        return level0_.bytes() + first_block_.bytes() + levels_.bytes() + locks_.bytes() +
               upper_.capacity() * sizeof(std::uint32_t);
    }

private:
    static constexpr std::uint32_t kNoBlock = 0xffffffffu;

    std::size_t max_upper_, max_level0_, level0_stride_, upper_stride_;
    std::size_t capacity_ = 0;
    AlignedArray<std::uint32_t> level0_;
    AlignedArray<std::uint32_t> first_block_;
    AlignedArray<std::uint8_t> levels_;
    AlignedArray<std::uint8_t> locks_;
    std::vector<std::uint32_t> upper_;
};

}  // namespace vsearch
