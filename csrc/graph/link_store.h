// Adjacency lists of every node on every level it lives on.
//
// Level 0 is one flat array with a fixed-size list per node ([count, ids...],
// up to 2*M ids). Upper levels are rarer (a fraction 1/M of nodes reach level
// 1), so they live in a side array of blocks ([count, ids...], up to M ids)
// that a node indexes with its first block number. A freed node's blocks go
// to a free list by run length and are reused by a node of the same level.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "../storage/aligned_array.h"
#include "limits.h"

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

    // Upper blocks that new nodes of `levels` need beyond the free runs that
    // fit them (what to reserve_upper before their init_node calls).
    std::size_t new_blocks_for(const std::vector<int>& levels) const {
        std::array<std::size_t, kMaxLevel + 1> free_runs{};
        for (std::size_t length = 1; length <= kMaxLevel; ++length) free_runs[length] = free_runs_[length].size();
        std::size_t blocks = 0;
        for (int level : levels) {
            if (level == 0) continue;
            if (free_runs[level] > 0)
                --free_runs[level];
            else
                blocks += static_cast<std::size_t>(level);
        }
        return blocks;
    }

    // Gives a reserved slot empty lists on levels 0..level (its upper blocks
    // from a free run of that length, or reserved by reserve_upper).
    void init_node(std::uint32_t node, int level) {
        levels_[node] = static_cast<std::uint8_t>(level);
        locks_[node] = 0;
        // Zero whole lists, not just counts: saved files are then a pure
        // function of the graph, byte for byte.
        std::memset(level0_.data() + node * level0_stride_, 0, level0_stride_ * sizeof(std::uint32_t));
        first_block_[node] = kNoBlock;
        if (level == 0) return;
        std::vector<std::uint32_t>& runs = free_runs_[level];
        std::size_t block;
        if (!runs.empty()) {
            block = runs.back();  // freed blocks are already zero
            runs.pop_back();
        } else {
            block = upper_blocks_;
            std::memset(upper_.data() + block * upper_stride_, 0, level * upper_stride_ * sizeof(std::uint32_t));
            upper_blocks_ += level;
        }
        first_block_[node] = static_cast<std::uint32_t>(block);
    }

    // Room in the free lists for the blocks of nodes of these levels, so that
    // release_node cannot allocate.
    void reserve_release(const std::vector<int>& levels) {
        std::array<std::size_t, kMaxLevel + 1> more{};
        for (int level : levels) ++more[level];
        for (std::size_t length = 1; length <= kMaxLevel; ++length)
            free_runs_[length].reserve(free_runs_[length].size() + more[length]);
    }

    // Takes a node out of the graph: level 0, no lists, its upper blocks
    // zeroed and free for a later node of the same level.
    void release_node(std::uint32_t node) {
        const int level = levels_[node];
        if (level > 0) {
            const std::uint32_t block = first_block_[node];
            std::memset(upper_.data() + block * upper_stride_, 0, level * upper_stride_ * sizeof(std::uint32_t));
            free_runs_[level].push_back(block);
        }
        levels_[node] = 0;
        first_block_[node] = kNoBlock;
        std::memset(level0_.data() + node * level0_stride_, 0, level0_stride_ * sizeof(std::uint32_t));
    }

    // After a restore: the blocks no node among the first `count` owns are
    // free (a saved index does not record run lengths: each is one block,
    // reusable by a level-1 node, by far the most common upper level).
    void collect_free_blocks(std::size_t count) {
        std::vector<bool> owned(upper_blocks_, false);
        for (std::size_t node = 0; node < count; ++node)
            for (int l = 0; l < levels_[node]; ++l) owned[first_block_[node] + static_cast<std::size_t>(l)] = true;
        for (auto& runs : free_runs_) runs.clear();
        for (std::size_t block = 0; block < upper_blocks_; ++block)
            if (!owned[block]) free_runs_[1].push_back(static_cast<std::uint32_t>(block));
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
    // Bytes of upper blocks allocated beyond those in use: never used yet or
    // freed (0 for a borrowed or copied exact store).
    std::size_t spare_upper_bytes() const {
        std::size_t free_blocks = 0;
        for (std::size_t length = 1; length <= kMaxLevel; ++length) free_blocks += length * free_runs_[length].size();
        const std::size_t block_bytes = upper_stride_ * sizeof(std::uint32_t);
        const std::size_t used = upper_blocks_ * block_bytes;
        return (upper_.bytes() > used ? upper_.bytes() - used : 0) + free_blocks * block_bytes;
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
    // Free upper blocks: free_runs_[L] holds the first blocks of free runs of L blocks.
    std::array<std::vector<std::uint32_t>, kMaxLevel + 1> free_runs_;
};

}  // namespace vsearch
