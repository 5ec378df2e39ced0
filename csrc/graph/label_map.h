// Hash index from user ids (int64) to internal slots (uint32).
//
// The table holds only slots: the id of a slot is read from the index's ids
// array, which exists anyway. That is 4 bytes per table entry instead of 12
// (or ~40 for std::unordered_map), and it is what makes building the map
// cheap when a saved index is loaded. Linear probing over a power-of-two
// table, kept at most 3/4 full; erase shifts the entries after it back
// (Knuth's algorithm R), so the table never holds deleted markers.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

#include "../storage/aligned_array.h"

namespace vsearch {

class LabelMap {
public:
    static constexpr std::uint32_t kAbsent = std::numeric_limits<std::uint32_t>::max();

    std::size_t size() const { return size_; }
    std::size_t bytes() const { return table_.bytes(); }

    // `ids` maps every slot in the table to its id.
    std::uint32_t find(std::int64_t key, const std::int64_t* ids) const {
        if (size_ == 0) return kAbsent;
        for (std::size_t i = home(key);; i = (i + 1) & mask()) {
            const std::uint32_t slot = table_[i];
            if (slot == kAbsent || ids[slot] == key) return slot;
        }
    }

    // Makes room for `count` keys in total, so that inserts cannot fail.
    void reserve(std::size_t count, const std::int64_t* ids) {
        if (count * kMaxLoadDen <= table_.size() * kMaxLoadNum) return;
        std::size_t size = table_.size() == 0 ? kMinTable : table_.size();
        while (count * kMaxLoadDen > size * kMaxLoadNum) size *= 2;
        AlignedArray<std::uint32_t> old(size);
        old.swap(table_);
        std::memset(table_.data(), 0xff, table_.size() * sizeof(std::uint32_t));  // all kAbsent
        size_ = 0;
        for (std::size_t i = 0; i < old.size(); ++i)
            if (old[i] != kAbsent) insert(ids[old[i]], old[i]);
    }

    // The key (ids[slot]) must be absent and room reserved.
    void insert(std::int64_t key, std::uint32_t slot) {
        std::size_t i = home(key);
        while (table_[i] != kAbsent) i = (i + 1) & mask();
        table_[i] = slot;
        ++size_;
    }

    // Removes the key held by `slot` (which the table must hold); ids[slot]
    // must still be that key, and every other slot in the table its own.
    void erase(std::uint32_t slot, const std::int64_t* ids) {
        std::size_t hole = home(ids[slot]);
        while (table_[hole] != slot) hole = (hole + 1) & mask();
        // Move back every later entry of the probe run whose home does not lie
        // cyclically in (hole, i]: it would no longer be found past the hole.
        for (std::size_t i = (hole + 1) & mask(); table_[i] != kAbsent; i = (i + 1) & mask()) {
            const std::size_t h = home(ids[table_[i]]);
            const bool reachable = hole <= i ? (hole < h && h <= i) : (hole < h || h <= i);
            if (reachable) continue;
            table_[hole] = table_[i];
            hole = i;
        }
        table_[hole] = kAbsent;
        --size_;
    }

private:
    static constexpr std::size_t kMaxLoadNum = 3;
    static constexpr std::size_t kMaxLoadDen = 4;
    static constexpr std::size_t kMinTable = 64;

    std::size_t mask() const { return table_.size() - 1; }
    std::size_t home(std::int64_t key) const {
        // splitmix64 finaliser: sequential ids spread over the whole table.
        std::uint64_t x = static_cast<std::uint64_t>(key);
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return static_cast<std::size_t>(x) & mask();
    }

    AlignedArray<std::uint32_t> table_;
    std::size_t size_ = 0;
};

}  // namespace vsearch
