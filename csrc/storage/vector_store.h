// Float32 rows, each starting on a cache line, plus one float per row that
// the metric derives from it (Space::row_scalar). Grows by explicit reserve;
// callers serialise growth against readers.
#pragma once

#include <cstddef>
#include <cstring>

#include "aligned_array.h"

namespace vsearch {

class VectorStore {
public:
    VectorStore(std::size_t dim, bool with_scalar)
        : dim_(dim), stride_(padded_stride(dim)), with_scalar_(with_scalar) {}

    // Floats per stored row: rows start on cache lines.
    static std::size_t padded_stride(std::size_t dim) {
        constexpr std::size_t kFloatsPerLine = kCacheLine / sizeof(float);
        return (dim + kFloatsPerLine - 1) / kFloatsPerLine * kFloatsPerLine;
    }

    void reserve(std::size_t capacity, std::size_t used) {
        if (capacity <= capacity_) return;
        AlignedArray<float> rows = rows_.grown(capacity * stride_, used * stride_);
        AlignedArray<float> scalars = with_scalar_ ? scalars_.grown(capacity, used) : AlignedArray<float>();
        rows_.swap(rows);
        scalars_.swap(scalars);
        capacity_ = capacity;
    }

    void set(std::size_t slot, const float* v, float scalar) {
        float* row = rows_.data() + slot * stride_;
        std::memcpy(row, v, dim_ * sizeof(float));
        std::memset(row + dim_, 0, (stride_ - dim_) * sizeof(float));
        if (with_scalar_) scalars_[slot] = scalar;
    }

    // Zeroes a slot that no longer holds a vector (saved files stay a pure
    // function of the index).
    void clear(std::size_t slot) {
        std::memset(rows_.data() + slot * stride_, 0, stride_ * sizeof(float));
        if (with_scalar_) scalars_[slot] = 0.0f;
    }

    // Views of saved rows (and per-row scalars) for `count` vectors; the caller keeps
    // the memory alive.
    void borrow(std::size_t count, const float* rows, const float* scalars) {
        rows_ = AlignedArray<float>::borrow(rows, count * stride_);
        scalars_ = with_scalar_ ? AlignedArray<float>::borrow(scalars, count) : AlignedArray<float>();
        capacity_ = count;
    }
    std::size_t stride() const { return stride_; }
    // Bytes one slot takes: its row and, with a scalar, that float.
    std::size_t slot_bytes() const { return stride_ * sizeof(float) + (with_scalar_ ? sizeof(float) : 0); }
    bool with_scalar() const { return with_scalar_; }
    const float* rows_data() const { return rows_.data(); }
    const float* scalars_data() const { return scalars_.data(); }

    const float* row(std::size_t slot) const { return rows_.data() + slot * stride_; }
    float scalar(std::size_t slot) const { return with_scalar_ ? scalars_[slot] : 1.0f; }
    std::size_t row_bytes() const { return stride_ * sizeof(float); }

    // Asks the cache for the first `max_bytes` of a row (and its scalar).
    void prefetch(std::size_t slot, std::size_t max_bytes) const {
        const char* row = reinterpret_cast<const char*>(this->row(slot));
        const std::size_t bytes = row_bytes() < max_bytes ? row_bytes() : max_bytes;
        for (std::size_t offset = 0; offset < bytes; offset += kCacheLine) __builtin_prefetch(row + offset);
        if (with_scalar_) __builtin_prefetch(scalars_.data() + slot);
    }
    std::size_t bytes() const { return rows_.bytes() + scalars_.bytes(); }

private:
    std::size_t dim_;
    std::size_t stride_;
    bool with_scalar_;
    std::size_t capacity_ = 0;
    AlignedArray<float> rows_;
    AlignedArray<float> scalars_;
};

}  // namespace vsearch
