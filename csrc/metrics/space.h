// A metric bound to a dimension and a kernel table: the one place that turns
// kernel outputs into the distances users see (smaller is closer).
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include "kernels.h"

namespace vsearch {

enum class MetricKind { kL2, kInnerProduct, kCosine };

// Throws std::invalid_argument for an unknown name.
MetricKind metric_from_name(const std::string& name);
std::string metric_name(MetricKind kind);

class Space {
public:
    Space(MetricKind kind, std::size_t dim, SimdLevel level)
        : kind_(kind), dim_(dim), kernels_(kernels_for(level)) {}

    MetricKind kind() const { return kind_; }
    std::size_t dim() const { return dim_; }
    SimdLevel level() const { return kernels_.level; }

    // Cosine keeps the user's vector and a per-vector scale (1/|x|), so that
    // get() returns exactly what was added; other metrics need no scale.
    bool uses_scale() const { return kind_ == MetricKind::kCosine; }
    float scale_of(const float* v) const {
        if (!uses_scale()) return 1.0f;
        return static_cast<float>(1.0 / std::sqrt(squared_norm(v)));
    }

    // With the SIMD kernel: fast, and exact enough for every vector that
    // passes the range check below (float32 overflows only above it).
    double squared_norm(const float* v) const { return static_cast<double>(kernels_.dot(v, v, dim_)); }

    // Vectors outside this range of squared norms make float32 distances
    // overflow (|x - y|^2 <= 2|x|^2 + 2|y|^2 must stay finite) or, for cosine,
    // lose their direction to underflow.
    double max_squared_norm() const { return kMaxSquaredNorm; }
    double min_squared_norm() const { return uses_scale() ? kMinCosineSquaredNorm : 0.0; }

    float distance(const float* a, float a_scale, const float* b, float b_scale) const {
        switch (kind_) {
            case MetricKind::kL2: return kernels_.l2sq(a, b, dim_);
            case MetricKind::kInnerProduct: return 1.0f - kernels_.dot(a, b, dim_);
            case MetricKind::kCosine: return 1.0f - kernels_.dot(a, b, dim_) * a_scale * b_scale;
        }
        return 0.0f;
    }

private:
    static constexpr double kMaxSquaredNorm = 3.4028234663852886e38 / 4;  // FLT_MAX / 4
    static constexpr double kMinCosineSquaredNorm = 1e-30;

    MetricKind kind_;
    std::size_t dim_;
    const KernelTable& kernels_;
};

}  // namespace vsearch
