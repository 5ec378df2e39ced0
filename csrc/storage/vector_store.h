// Float32 rows, each starting on a cache line, plus one float per row that
// the metric may use (cosine keeps 1/|x| there). Grows by explicit reserve;
// callers serialise growth against readers.
#pragma once

#include <cstddef>
#include <cstring>

#include "aligned_array.h"

namespace vsearch {

class VectorStore {
public:
    VectorStore(std::size_t dim, bool with_scale)
        : dim_(dim), stride_(padded_stride(dim)), with_scale_(with_scale) {}

    // Floats per stored row: rows start on cache lines.
    static std::size_t padded_stride(std::size_t dim) {
        constexpr std::size_t kFloatsPerLine = kCacheLine / sizeof(float);
        return (dim + kFloatsPerLine - 1) / kFloatsPerLine * kFloatsPerLine;
    }

    std::size_t dim() const { return dim_; }
    std::size_t capacity() const { return capacity_; }

    void reserve(std::size_t capacity, std::size_t used) {
        if (capacity <= capacity_) return;
        AlignedArray<float> rows = rows_.grown(capacity * stride_, used * stride_);
        AlignedArray<float> scales = with_scale_ ? scales_.grown(capacity, used) : AlignedArray<float>();
        rows_.swap(rows);
        scales_.swap(scales);
        capacity_ = capacity;
    }

    void set(std::size_t slot, const float* v, float scale) {
        float* row = rows_.data() + slot * stride_;
        std::memcpy(row, v, dim_ * sizeof(float));
        std::memset(row + dim_, 0, (stride_ - dim_) * sizeof(float));
        if (with_scale_) scales_[slot] = scale;
    }

    // Views of saved rows (and scales) for `count` vectors; the caller keeps
    // the memory alive.
    void borrow(std::size_t count, const float* rows, const float* scales) {
        rows_ = AlignedArray<float>::borrow(rows, count * stride_);
        scales_ = with_scale_ ? AlignedArray<float>::borrow(scales, count) : AlignedArray<float>();
        capacity_ = count;
    }
    std::size_t stride() const { return stride_; }
    bool with_scale() const { return with_scale_; }
    const float* rows_data() const { return rows_.data(); }
    const float* scales_data() const { return scales_.data(); }

    const float* row(std::size_t slot) const { return rows_.data() + slot * stride_; }
    float scale(std::size_t slot) const { return with_scale_ ? scales_[slot] : 1.0f; }
    std::size_t row_bytes() const { return stride_ * sizeof(float); }

    // Asks the cache for the first `max_bytes` of a row (and its scale).
    void prefetch(std::size_t slot, std::size_t max_bytes) const {
        const char* row = reinterpret_cast<const char*>(this->row(slot));
        const std::size_t bytes = row_bytes() < max_bytes ? row_bytes() : max_bytes;
        for (std::size_t offset = 0; offset < bytes; offset += kCacheLine) __builtin_prefetch(row + offset);
        if (with_scale_) __builtin_prefetch(scales_.data() + slot);
    }
    std::size_t bytes() const { return rows_.bytes() + scales_.bytes(); }

private:
    std::size_t dim_;
    std::size_t stride_;
    bool with_scale_;
    std::size_t capacity_ = 0;
    AlignedArray<float> rows_;
    AlignedArray<float> scales_;
};

}  // namespace vsearch
