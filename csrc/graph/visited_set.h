// "Have I seen this node in this search?" without clearing per query: each
// search bumps an epoch and a node counts as visited when its tag equals it.
// A pool hands one set to each searching thread and takes it back after.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

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

class VisitedPool {
public:
    class Lease {
    public:
        Lease(VisitedPool& pool, std::unique_ptr<VisitedSet> set) : pool_(pool), set_(std::move(set)) {}
        ~Lease() { pool_.give_back(std::move(set_)); }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        VisitedSet& operator*() { return *set_; }
        VisitedSet* operator->() { return set_.get(); }

    private:
        VisitedPool& pool_;
        std::unique_ptr<VisitedSet> set_;
    };

    Lease take() {
        std::unique_ptr<VisitedSet> set;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!free_.empty()) {
                set = std::move(free_.back());
                free_.pop_back();
            }
        }
        if (!set) set = std::make_unique<VisitedSet>();
        return Lease(*this, std::move(set));
    }

    // Drops the idle sets (sized for a larger index); sets on lease stay.
    void clear() {
        std::lock_guard<std::mutex> lock(mutex_);
        free_.clear();
    }
    std::size_t bytes() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t total = 0;
        for (const auto& set : free_) total += set->bytes();
        return total;
    }

private:
    void give_back(std::unique_ptr<VisitedSet> set) {
        std::lock_guard<std::mutex> lock(mutex_);
        free_.push_back(std::move(set));
    }

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<VisitedSet>> free_;
};

}  // namespace vsearch
