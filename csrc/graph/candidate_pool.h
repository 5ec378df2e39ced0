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
    std::size_t bytes() const { return items_.capacity() * sizeof(items_[0]); }
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
    // ... and its distance.
    bool next_distance(float* distance) const {
        if (cursor_ >= size_) return false;
        *distance = items_[cursor_].distance;
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

// The beam of a search whose results must pass a test (live, and the
// user's filter): every node is walked, but only passing ones become
// results. The passing nodes fill a CandidatePool of `capacity`; the others
// wait in a heap (nearest on top) until expanded, as long as they are nearer
// than the farthest result. While fewer than `capacity` pass, every node
// reached is kept, so the walk widens until enough pass or the graph is
// exhausted. When most nodes pass, this costs what CandidatePool costs;
// when few pass, the heap absorbs the many others in O(log n) each.
class FilteredBeam {
public:
    // Room for `capacity` results and as many others (more are allocated as needed).
    void reserve(std::size_t capacity) {
        results_.reserve(capacity);
        others_.reserve(capacity);
    }

    // A beam of `capacity` 0 must not be walked (it would never fill).
    void reset(std::size_t capacity) {
        results_.reset(capacity);
        others_.clear();
    }

    // Distance a node must beat to be walked (infinite while not full).
    float bound() const { return results_.bound(); }

    // A node reached at `distance` (below bound()): to be expanded, and a
    // result if it `passes`.
    void insert(float distance, std::uint32_t id, bool passes) {
        if (passes) {
            results_.insert(distance, id);
            return;
        }
        others_.push_back({distance, id});
        std::push_heap(others_.begin(), others_.end(), farther_first);
    }

    // Whether a node nearer than the farthest result is left to expand.
    bool has_unexpanded() const { return results_.has_unexpanded() || other_ahead(); }
    // The nearest node left to expand.
    std::uint32_t pop() {
        if (!takes_other()) return results_.pop();
        std::pop_heap(others_.begin(), others_.end(), farther_first);
        const std::uint32_t id = others_.back().id;
        others_.pop_back();
        return id;
    }
    bool peek(std::uint32_t* id) const {
        if (takes_other()) {
            *id = others_.front().id;
            return true;
        }
        return results_.peek(id);
    }

    // The results, nearest first.
    std::size_t size() const { return results_.size(); }
    std::size_t bytes() const { return results_.bytes() + others_.capacity() * sizeof(Neighbor); }
    Neighbor at(std::size_t i) const { return results_.at(i); }

private:
    static bool farther_first(const Neighbor& a, const Neighbor& b) { return closer_first(b, a); }
    bool other_ahead() const { return !others_.empty() && others_.front().distance < bound(); }
    // Whether the next node to expand is the nearest of the others.
    bool takes_other() const {
        if (!other_ahead()) return false;
        float next;
        return !results_.next_distance(&next) || others_.front().distance < next;
    }

    CandidatePool results_;
    std::vector<Neighbor> others_;  // a heap under farther_first: the nearest on top
};

}  // namespace vsearch
