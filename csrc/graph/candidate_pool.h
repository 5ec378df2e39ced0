// The search frontier of HNSW's SEARCH-LAYER as one sorted array.
//
// The paper keeps two heaps (candidates C and results W, |W| <= ef) and stops
// when the nearest candidate is farther than the farthest result. Every
// candidate that can still be expanded is inside W, so a single array sorted
// by distance, holding W with an "expanded" bit per entry and a cursor at the
// nearest unexpanded entry, gives the same visits with less work per step.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace vsearch {

struct Neighbor {
    float distance;
    std::uint32_t id;
};

// Nearest first; ties by node, so that orders are deterministic.
inline bool closer_first(const Neighbor& a, const Neighbor& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
}
inline bool same_node(const Neighbor& a, const Neighbor& b) { return a.id == b.id; }

class CandidatePool {
public:
    // Node ids are below 2^31 (the index enforces it): the top bit marks
    // entries already expanded.
    static constexpr std::uint32_t kExpandedBit = 1u << 31;

    // Room for a pool of `capacity`, so that reset(capacity) cannot allocate.
    void reserve(std::size_t capacity) {
        if (items_.size() < capacity + 1) items_.resize(capacity + 1);
    }

    void reset(std::size_t capacity) {
        reserve(capacity);
        capacity_ = capacity;
        size_ = 0;
        cursor_ = 0;
    }

    std::size_t size() const { return size_; }
    bool full() const { return size_ == capacity_; }
    // Distance a new node must beat to enter (infinite while not full).
    float bound() const { return full() ? items_[size_ - 1].distance : kNoBound; }

    // Inserts unless full and not closer than the current worst.
    void insert(float distance, std::uint32_t id) {
        if (full() && !(distance < items_[size_ - 1].distance)) return;
        std::size_t pos = size_;
        // Binary search for the first entry farther than `distance`.
        std::size_t lo = 0, hi = size_;
        while (lo < hi) {
            const std::size_t mid = (lo + hi) / 2;
            if (items_[mid].distance <= distance) lo = mid + 1; else hi = mid;
        }
        pos = lo;
        const std::size_t moved = (size_ == capacity_ ? size_ - 1 : size_) - pos;
        std::copy_backward(items_.begin() + pos, items_.begin() + pos + moved, items_.begin() + pos + moved + 1);
        items_[pos] = {distance, id};
        if (size_ < capacity_) ++size_;
        if (pos < cursor_) cursor_ = pos;
    }

    bool has_unexpanded() const { return cursor_ < size_; }

    // The nearest unexpanded node, marked expanded.
    std::uint32_t pop() {
        const std::uint32_t id = items_[cursor_].id;
        items_[cursor_].id |= kExpandedBit;
        while (cursor_ < size_ && (items_[cursor_].id & kExpandedBit)) ++cursor_;
        return id;
    }
    // The next node pop() will return, for prefetching.
    bool peek(std::uint32_t* id) const {
        if (cursor_ >= size_) return false;
        *id = items_[cursor_].id;
        return true;
    }

    Neighbor at(std::size_t i) const { return {items_[i].distance, items_[i].id & ~kExpandedBit}; }

private:
    static constexpr float kNoBound = __builtin_huge_valf();
    std::vector<Neighbor> items_;
    std::size_t capacity_ = 0;
    std::size_t size_ = 0;
    std::size_t cursor_ = 0;
};

}  // namespace vsearch
