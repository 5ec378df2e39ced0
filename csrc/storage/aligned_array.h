// A fixed-size, 64-byte aligned array of trivially copyable values, either
// owned or borrowed (a view of memory someone else keeps alive, e.g. a
// memory-mapped file). Owned memory is not touched on allocation, so unused
// capacity costs no resident memory until it is written.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace vsearch {

constexpr std::size_t kCacheLine = 64;

template <typename T>
class AlignedArray {
    static_assert(std::is_trivially_copyable<T>::value, "raw storage only");

public:
    AlignedArray() = default;
    explicit AlignedArray(std::size_t size) : size_(size) {
        if (size == 0) return;
        const std::size_t bytes = (size * sizeof(T) + kCacheLine - 1) / kCacheLine * kCacheLine;
        data_ = static_cast<T*>(std::aligned_alloc(kCacheLine, bytes));
        if (data_ == nullptr) throw std::bad_alloc();
    }
    ~AlignedArray() {
        if (owned_) std::free(data_);
    }
    static AlignedArray borrow(const T* data, std::size_t size) {
        AlignedArray view;
        view.data_ = const_cast<T*>(data);  // borrowed views are only read
        view.size_ = size;
        view.owned_ = false;
        return view;
    }
    // An owned copy of `size` elements at `data`.
    static AlignedArray copy_of(const T* data, std::size_t size) {
        AlignedArray copy(size);
        if (size > 0) std::memcpy(copy.data_, data, size * sizeof(T));
        return copy;
    }
    AlignedArray(AlignedArray&& other) noexcept { swap(other); }
    AlignedArray& operator=(AlignedArray&& other) noexcept {
        AlignedArray(std::move(other)).swap(*this);
        return *this;
    }
    AlignedArray(const AlignedArray&) = delete;
    AlignedArray& operator=(const AlignedArray&) = delete;

    void swap(AlignedArray& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        std::swap(owned_, other.owned_);
    }

    // A new (owned) array of `size` elements holding the first `keep` of this one.
    AlignedArray grown(std::size_t size, std::size_t keep) const {
        AlignedArray bigger(size);
        if (keep > 0) std::memcpy(bigger.data_, data_, keep * sizeof(T));
        return bigger;
    }

    T* data() { return data_; }
    const T* data() const { return data_; }
    T& operator[](std::size_t i) { return data_[i]; }
    const T& operator[](std::size_t i) const { return data_[i]; }
    std::size_t size() const { return size_; }
    // Bytes this array allocated itself (a borrowed view costs none).
    std::size_t bytes() const { return owned_ ? size_ * sizeof(T) : 0; }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
    bool owned_ = true;
};

}  // namespace vsearch
