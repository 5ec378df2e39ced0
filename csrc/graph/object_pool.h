// Per-thread scratch objects reused across calls: once a thread's object has
// grown to the index's size, a search allocates nothing. take() leases an
// idle object (a new one when none is idle); the lease gives it back.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace vsearch {

// T has bytes(): what it holds, for memory accounting.
template <class T>
class ObjectPool {
public:
    class Lease {
    public:
        Lease(ObjectPool* pool, std::unique_ptr<T> item) : pool_(pool), item_(std::move(item)) {}
        Lease(Lease&& other) noexcept = default;  // the moved-from lease holds nothing to give back
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        Lease& operator=(Lease&&) = delete;
        ~Lease() {
            if (item_) pool_->give_back(std::move(item_));
        }
        T& operator*() const { return *item_; }
        T* operator->() const { return item_.get(); }

    private:
        ObjectPool* pool_;
        std::unique_ptr<T> item_;
    };

    // An idle object, or a new T(args...).
    template <class... Args>
    Lease take(Args&&... args) {
        std::unique_ptr<T> item;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!idle_.empty()) {
                item = std::move(idle_.back());
                idle_.pop_back();
            }
        }
        if (!item) item = std::make_unique<T>(std::forward<Args>(args)...);
        return Lease(this, std::move(item));
    }

    // Drops the idle objects (sized for a larger index); leased ones stay.
    void clear() {
        std::lock_guard<std::mutex> lock(mutex_);
        idle_.clear();
    }
    std::size_t bytes() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t total = 0;
        for (const auto& item : idle_) total += item->bytes();
        return total;
    }

private:
    void give_back(std::unique_ptr<T> item) {
        std::lock_guard<std::mutex> lock(mutex_);
        idle_.push_back(std::move(item));
    }

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<T>> idle_;
};

}  // namespace vsearch
