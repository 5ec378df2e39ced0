// The k nearest (distance, id) pairs of a scan, ranked by distance and then
// by the smaller id, so that an exact result is the same on every run,
// thread count and slot order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace vsearch {

struct Ranked {
    float distance;
    std::int64_t id;
};

inline bool ranks_before(const Ranked& a, const Ranked& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
}

class TopK {
public:
    // Starts a scan that keeps the best `k` (room reserved now).
    void reset(std::size_t k) {
        k_ = k;
        heap_.clear();
        heap_.reserve(k);
    }
    void offer(float distance, std::int64_t id) {
        if (std::isnan(distance)) return;  // a custom metric's NaN ranks nowhere
        const Ranked candidate{distance, id};
        if (heap_.size() < k_) {
            heap_.push_back(candidate);
            std::push_heap(heap_.begin(), heap_.end(), ranks_before);
        } else if (k_ > 0 && ranks_before(candidate, heap_.front())) {
            std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
            heap_.back() = candidate;
            std::push_heap(heap_.begin(), heap_.end(), ranks_before);
        }
    }
    // Ends the scan: the kept pairs, best first.
    const std::vector<Ranked>& sorted() {
        std::sort_heap(heap_.begin(), heap_.end(), ranks_before);
        return heap_;
    }

private:
    std::size_t k_ = 0;
    std::vector<Ranked> heap_;  // a max-heap under ranks_before: the worst kept on top
};

}  // namespace vsearch
