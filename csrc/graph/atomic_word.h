// Relaxed atomic access to plain words in shared arrays.
//
// Link lists are read by searchers without locks while an inserter may
// rewrite them. Every word read is a valid node id (a torn list is merely
// stale), and relaxed atomics make that race well defined at no cost on
// x86-64 and AArch64 (plain loads and stores).
#pragma once

#include <cstdint>

namespace vsearch {

inline std::uint32_t load_relaxed(const std::uint32_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
inline void store_relaxed(std::uint32_t* p, std::uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

// A one-byte spin lock per node: a std::mutex is 40 bytes, more than half a
// node's level-0 links, and link-list critical sections are a few hundred ns.
class SpinLockGuard {
public:
    explicit SpinLockGuard(std::uint8_t* flag) : flag_(flag) {
        while (__atomic_exchange_n(flag_, 1, __ATOMIC_ACQUIRE) != 0) {
            while (__atomic_load_n(flag_, __ATOMIC_RELAXED) != 0) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
            }
        }
    }
    ~SpinLockGuard() { __atomic_store_n(flag_, 0, __ATOMIC_RELEASE); }
    SpinLockGuard(const SpinLockGuard&) = delete;
    SpinLockGuard& operator=(const SpinLockGuard&) = delete;

private:
    std::uint8_t* flag_;
};

}  // namespace vsearch
