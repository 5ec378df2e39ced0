// Vector rows, each starting on a cache line, stored as float32 or as IEEE
// halves (storage float16: half the bytes per distance), plus one float per
// row that the metric derives from the vector as stored (Space::row_scalar).
// Grows by explicit reserve; callers serialise growth against readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "aligned_array.h"
#include "half.h"

namespace vsearch {

// How rows are stored. The values are the file format's (vsearch/FORMAT.md).
enum class Storage : std::uint8_t { kFloat32 = 0, kFloat16 = 1 };

class VectorStore {
public:
    VectorStore(std::size_t dim, Storage storage, bool with_scalar)
        : dim_(dim),
          storage_(storage),
          stride_(padded_stride(dim, storage)),
          row_bytes_(stride_ * element_bytes(storage)),
          with_scalar_(with_scalar) {}

    static std::size_t element_bytes(Storage storage) {
        return storage == Storage::kFloat16 ? sizeof(Half) : sizeof(float);
    }
    // Elements per stored row: rows start on cache lines.
    static std::size_t padded_stride(std::size_t dim, Storage storage) {
        const std::size_t per_line = kCacheLine / element_bytes(storage);
        return (dim + per_line - 1) / per_line * per_line;
    }

    void reserve(std::size_t capacity, std::size_t used) {
        if (capacity <= capacity_) return;
        AlignedArray<std::uint8_t> rows = rows_.grown(capacity * row_bytes_, used * row_bytes_);
        AlignedArray<float> scalars = with_scalar_ ? scalars_.grown(capacity, used) : AlignedArray<float>();
        rows_.swap(rows);
        scalars_.swap(scalars);
        capacity_ = capacity;
    }

    // Stores `v` (rounded to halves for float16) and returns the vector as
    // stored, as float32: `v` itself, or its halves widened into `widened`
    // (dim floats). Its row scalar is set apart (set_scalar), from that vector.
    const float* set(std::size_t slot, const float* v, float* widened) {
        std::uint8_t* row = rows_.data() + slot * row_bytes_;
        std::memset(row, 0, row_bytes_);
        if (storage_ == Storage::kFloat32) {
            std::memcpy(row, v, dim_ * sizeof(float));
            return v;
        }
        Half* halves = reinterpret_cast<Half*>(row);
        for (std::size_t j = 0; j < dim_; ++j) {
            halves[j] = float_to_half(v[j]);
            widened[j] = half_to_float(halves[j]);
        }
        return widened;
    }
    void set_scalar(std::size_t slot, float scalar) {
        if (with_scalar_) scalars_[slot] = scalar;
    }
    // Slot `from_slot` of `from` (same dim and storage) into `slot`, as stored.
    void copy_slot(const VectorStore& from, std::size_t from_slot, std::size_t slot) {
        std::memcpy(rows_.data() + slot * row_bytes_, from.row_start(from_slot), row_bytes_);
        set_scalar(slot, from.scalar(from_slot));
    }

    // Zeroes a slot that no longer holds a vector (saved files stay a pure
    // function of the index).
    void clear(std::size_t slot) {
        std::memset(rows_.data() + slot * row_bytes_, 0, row_bytes_);
        if (with_scalar_) scalars_[slot] = 0.0f;
    }

    // Views of saved rows (and per-row scalars) for `count` vectors; the caller keeps
    // the memory alive.
    void borrow(std::size_t count, const void* rows, const float* scalars) {
        rows_ = AlignedArray<std::uint8_t>::borrow(static_cast<const std::uint8_t*>(rows), count * row_bytes_);
        scalars_ = with_scalar_ ? AlignedArray<float>::borrow(scalars, count) : AlignedArray<float>();
        capacity_ = count;
    }
    Storage storage() const { return storage_; }
    std::size_t stride() const { return stride_; }  // elements per row
    // Bytes one slot takes: its row and, with a scalar, that float.
    std::size_t slot_bytes() const { return row_bytes_ + (with_scalar_ ? sizeof(float) : 0); }
    bool with_scalar() const { return with_scalar_; }
    const void* rows_data() const { return rows_.data(); }
    const float* scalars_data() const { return scalars_.data(); }

    // A row as its element type: float for float32, Half for float16.
    template <class Row>
    const Row* row(std::size_t slot) const {
        return reinterpret_cast<const Row*>(row_start(slot));
    }
    // Whether two slots hold the same vector, as stored.
    bool same_rows(std::size_t a, std::size_t b) const {
        return std::memcmp(row_start(a), row_start(b), dim_ * element_bytes(storage_)) == 0;
    }
    float scalar(std::size_t slot) const { return with_scalar_ ? scalars_[slot] : 1.0f; }
    std::size_t row_bytes() const { return row_bytes_; }

    // Asks the cache for the first `max_bytes` of a row (and its scalar).
    void prefetch(std::size_t slot, std::size_t max_bytes) const {
        const char* row = reinterpret_cast<const char*>(row_start(slot));
        const std::size_t bytes = row_bytes_ < max_bytes ? row_bytes_ : max_bytes;
        for (std::size_t offset = 0; offset < bytes; offset += kCacheLine) __builtin_prefetch(row + offset);
        if (with_scalar_) __builtin_prefetch(scalars_.data() + slot);
    }
    std::size_t bytes() const { return rows_.bytes() + scalars_.bytes(); }

private:
    const std::uint8_t* row_start(std::size_t slot) const { return rows_.data() + slot * row_bytes_; }

    std::size_t dim_;
    Storage storage_;
    std::size_t stride_;
    std::size_t row_bytes_;
    bool with_scalar_;
    std::size_t capacity_ = 0;
    AlignedArray<std::uint8_t> rows_;
    AlignedArray<float> scalars_;
};

}  // namespace vsearch
