// "Have I seen this node in this search?" without clearing per query: each
// search bumps an epoch and a node counts as visited when its tag equals it.
// Each searching thread has its own (in its pooled SearchContext).
#pragma once

#include <cstdint>
#include <cstring>

#include "../storage/aligned_array.h"

namespace vsearch {

class VisitedSet {
public:
    // Room for nodes [0, size), so that reset(size) cannot allocate.
    void reserve(std::size_t size) {
        if (tags_.size() >= size) return;
        tags_ = AlignedArray<std::uint16_t>(size);
        std::memset(tags_.data(), 0, tags_.bytes());
        epoch_ = 0;
    }

    // Starts a new search over nodes [0, size).
    void reset(std::size_t size) {
        reserve(size);
        if (++epoch_ == 0) {  // wrapped: old tags could collide, clear once
            std::memset(tags_.data(), 0, tags_.bytes());
            epoch_ = 1;
        }
    }
    // Marks `node`; returns true if it was already marked in this search.
    bool test_and_set(std::uint32_t node) {
        if (tags_[node] == epoch_) return true;
        tags_[node] = epoch_;
        return false;
    }
    void prefetch(std::uint32_t node) const { __builtin_prefetch(tags_.data() + node); }
    std::size_t bytes() const { return tags_.bytes(); }

private:
    AlignedArray<std::uint16_t> tags_;
    std::uint16_t epoch_ = 0;
};

}  // namespace vsearch
