// Open-addressing hash map from user ids (int64) to internal slots (uint32).
// Linear probing over a power-of-two table; no erase, so no tombstones.
#pragma once

#include <cstdint>
#include <limits>

#include "../storage/aligned_array.h"

namespace vsearch {

class LabelMap {
public:
    static constexpr std::uint32_t kAbsent = std::numeric_limits<std::uint32_t>::max();

    std::size_t size() const { return size_; }
    std::size_t bytes() const { return keys_.bytes() + slots_.bytes(); }

    std::uint32_t find(std::int64_t key) const {
        if (size_ == 0) return kAbsent;
        for (std::size_t i = home(key);; i = (i + 1) & mask()) {
            const std::uint32_t slot = slots_[i];
            if (slot == kAbsent) return kAbsent;
            if (keys_[i] == key) return slot;
        }
    }

    // Makes room for `count` keys in total, so that inserts cannot fail.
    void reserve(std::size_t count) {
        if (count * kMaxLoadDen <= slots_.size() * kMaxLoadNum) return;
        std::size_t table = slots_.size() == 0 ? kMinTable : slots_.size();
        while (count * kMaxLoadDen > table * kMaxLoadNum) table *= 2;
        rehash(table);
    }

    // The key must be absent and room reserved.
    void insert(std::int64_t key, std::uint32_t slot) {
        std::size_t i = home(key);
        while (slots_[i] != kAbsent) i = (i + 1) & mask();
        keys_[i] = key;
        slots_[i] = slot;
        ++size_;
    }

private:
    // Keep the table at most 3/4 full: probes stay short, memory stays small.
    static constexpr std::size_t kMaxLoadNum = 3;
    static constexpr std::size_t kMaxLoadDen = 4;
    static constexpr std::size_t kMinTable = 64;

    std::size_t mask() const { return slots_.size() - 1; }
    std::size_t home(std::int64_t key) const {
        // splitmix64 finaliser: sequential ids spread over the whole table.
        std::uint64_t x = static_cast<std::uint64_t>(key);
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return static_cast<std::size_t>(x) & mask();
    }

    void rehash(std::size_t table) {
        AlignedArray<std::int64_t> old_keys(table);
        AlignedArray<std::uint32_t> old_slots(table);
        old_keys.swap(keys_);
        old_slots.swap(slots_);
        for (std::size_t i = 0; i < table; ++i) slots_[i] = kAbsent;
        size_ = 0;
        for (std::size_t i = 0; i < old_slots.size(); ++i)
            if (old_slots[i] != kAbsent) insert(old_keys[i], old_slots[i]);
    }

    AlignedArray<std::int64_t> keys_;
    AlignedArray<std::uint32_t> slots_;
    std::size_t size_ = 0;
};

}  // namespace vsearch
