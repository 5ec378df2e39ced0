// Native worker threads for batch calls: a shared counter hands out items, the
// first exception any worker throws is rethrown to the caller after all join.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "limits.h"

namespace vsearch {

class WorkQueue {
public:
    explicit WorkQueue(std::size_t count) : count_(count) {}
    bool pop(std::size_t* item) {
        const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed);
        if (i >= count_) return false;
        *item = i;
        return true;
    }

private:
    std::atomic<std::size_t> next_{0};
    std::size_t count_;
};

// The machine's cores, read once: std::thread::hardware_concurrency() reads a
// file under /sys on Linux, which cost one-query calls ~8 us each.
inline std::size_t core_count() {
    static const std::size_t cores = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    return cores;
}

// Number of threads for a batch of `items`: 0 means one per core.
inline std::size_t worker_count(std::size_t requested, std::size_t items) {
    if (requested > kMaxThreads)
        throw std::invalid_argument("threads must be at most " + std::to_string(kMaxThreads));
    if (items <= 1) return 1;
    return std::min(requested == 0 ? core_count() : requested, items);
}

// Runs body(worker_index) on `workers` threads. While they run, the calling
// thread calls `monitor` (if given) every `interval`. One worker and no
// monitor runs inline, so single queries pay no thread start-up. Should the
// system refuse a thread, the calling thread runs that worker's body itself
// (without the monitor): work that was started is always finished.
inline void run_workers(std::size_t workers, const std::function<void(std::size_t)>& body,
                        const std::function<void()>& monitor = nullptr,
                        std::chrono::milliseconds interval = std::chrono::milliseconds(100)) {
    if (workers == 1 && !monitor) {
        body(0);
        return;
    }
    std::mutex mutex;
    std::condition_variable all_done;
    std::size_t running = workers;
    std::exception_ptr first_error;
    std::vector<std::thread> threads;
    threads.reserve(workers);
    auto run = [&](std::size_t w) {
        std::exception_ptr error;
        try {
            body(w);
        } catch (...) {
            error = std::current_exception();
        }
        std::lock_guard<std::mutex> lock(mutex);
        if (error && !first_error) first_error = error;
        if (--running == 0) all_done.notify_all();
    };
    std::size_t refused_from = workers;
    for (std::size_t w = 0; w < workers; ++w) {
        try {
            threads.emplace_back(run, w);
        } catch (const std::system_error&) {
            refused_from = w;
            break;
        }
    }
    for (std::size_t w = refused_from; w < workers; ++w) run(w);
    if (monitor) {
        std::unique_lock<std::mutex> lock(mutex);
        while (!all_done.wait_for(lock, interval, [&] { return running == 0; })) {
            lock.unlock();
            monitor();
            lock.lock();
        }
    }
    for (auto& t : threads) t.join();
    if (first_error) std::rethrow_exception(first_error);
}

}  // namespace vsearch
