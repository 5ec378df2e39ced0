// The reader/writer rule for growth: searches and inserts share the index;
// reserving room (which may reallocate every array) needs it alone.
//
// std::shared_mutex on glibc prefers readers, so a steady stream of searches
// could starve an add forever. A gate mutex taken by both sides on the way in
// makes a waiting writer block new readers until it has had its turn.
#pragma once

#include <mutex>
#include <shared_mutex>

namespace vsearch {

class GrowthLock {
public:
    class Shared {
    public:
        explicit Shared(GrowthLock& lock) : lock_(lock) {
            std::lock_guard<std::mutex> gate(lock_.gate_);
            lock_.rw_.lock_shared();
        }
        ~Shared() { lock_.rw_.unlock_shared(); }
        Shared(const Shared&) = delete;
        Shared& operator=(const Shared&) = delete;

    private:
        GrowthLock& lock_;
    };

    class Exclusive {
    public:
        explicit Exclusive(GrowthLock& lock) : lock_(lock) {
            std::lock_guard<std::mutex> gate(lock_.gate_);
            lock_.rw_.lock();
        }
        ~Exclusive() { lock_.rw_.unlock(); }
        Exclusive(const Exclusive&) = delete;
        Exclusive& operator=(const Exclusive&) = delete;

    private:
        GrowthLock& lock_;
    };

private:
    std::mutex gate_;
    std::shared_mutex rw_;
};

}  // namespace vsearch
