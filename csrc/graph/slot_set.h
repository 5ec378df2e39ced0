// A set of slots as both a bitmap (membership in O(1) while walking the
// graph) and a list (the slots to scan for an exact search). Clearing costs
// what was added, so one set serves many queries of a batch.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace vsearch {

class SlotSet {
public:
    // An empty set over slots [0, slots).
    void reset(std::size_t slots) {
        words_.assign((slots + kWordBits - 1) / kWordBits, 0);
        list_.clear();
    }
    void add(std::uint32_t slot) {
        std::uint64_t& word = words_[slot / kWordBits];
        const std::uint64_t bit = std::uint64_t{1} << (slot % kWordBits);
        if (word & bit) return;
        word |= bit;
        list_.push_back(slot);
    }
    // Empties the set in time proportional to its size.
    void clear() {
        for (const std::uint32_t slot : list_) words_[slot / kWordBits] = 0;
        list_.clear();
    }
    // Slot order: an exact scan then reads the vectors in memory order.
    void sort() { std::sort(list_.begin(), list_.end()); }

    bool contains(std::uint32_t slot) const { return (words_[slot / kWordBits] >> (slot % kWordBits)) & 1; }
    const std::uint64_t* words() const { return words_.data(); }
    const std::vector<std::uint32_t>& slots() const { return list_; }
    std::size_t size() const { return list_.size(); }

private:
    static constexpr std::size_t kWordBits = 64;
    std::vector<std::uint64_t> words_;
    std::vector<std::uint32_t> list_;
};

}  // namespace vsearch
