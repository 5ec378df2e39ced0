// A metric bound to a dimension and a kernel table: the one place that turns
// kernel outputs into the distances users see (smaller is closer).
//
// Stored rows always hold the vectors exactly as added, plus one scalar per
// row that the metric derives from them (row_scalar). A vector used as the
// query of a distance is first prepared (prepare): normalised, centred or
// transformed as the metric needs, once, not per distance.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels.h"

namespace vsearch {

enum class MetricKind { kL2, kInnerProduct, kCosine, kSnr, kGssf, kCustom };
constexpr MetricKind kAllMetrics[] = {MetricKind::kL2,  MetricKind::kInnerProduct, MetricKind::kCosine,
                                      MetricKind::kSnr, MetricKind::kGssf,         MetricKind::kCustom};

// Throws std::invalid_argument for an unknown name.
MetricKind metric_from_name(const std::string& name);
std::string metric_name(MetricKind kind);

// The file sections (vsearch/FORMAT.md) that belong to a metric: the one
// holding its row scalars (nullptr for a metric without them) and GSSF's weights.
const char* row_scalar_section(MetricKind kind);
constexpr const char* kGssfWeightsSection = "gssf_weights";

// A user-compiled distance (a numba cfunc): float32(float32*, float32*, intp).
using CustomKernel = float (*)(const float* a, const float* b, std::intptr_t n);

// What some metrics need beyond their name.
struct MetricParams {
    // GSSF: S(x, y) = x^T A y for unit x, y with A = diag(diagonal) + blockdiag(blocks),
    // blocks of block_size x block_size (row-major, dim / block_size of them).
    std::vector<float> gssf_diagonal;
    std::vector<float> gssf_blocks;
    std::size_t gssf_block_size = 0;
    CustomKernel custom = nullptr;
};

// Why a vector is prepared: as a search query, or as a node of the graph
// being built (GSSF builds with the symmetric part of A).
enum class Side { kSearch, kBuild };

struct Prepared {
    const float* vector;  // what the kernel reads: the input or a transform of it in scratch
    float scalar;         // cosine: 1/|q|; SNR: mean(q)
    float factor;         // SNR: 1/|q - mean(q)|^2, applied to finished distances
};

class Space {
public:
    // Throws std::invalid_argument for inconsistent parameters.
    Space(MetricKind kind, std::size_t dim, SimdLevel level, const MetricParams& params = {});


    // The per-row scalar: 1/|x| for cosine and GSSF, mean(x) for SNR.
    bool uses_row_scalar() const { return row_scalar_section(kind_) != nullptr; }
    float row_scalar(const float* v) const;

    // Floats of scratch prepare() may write (0 when it never transforms).
    std::size_t scratch_size() const { return kind_ == MetricKind::kGssf ? dim_ : 0; }
    Prepared prepare(const float* v, Side side, float* scratch) const;

    // Distance from a prepared vector to a stored row (float32, or halves for
    // storage float16). For SNR this is the
    // squared L2 of the centred vectors: finish() divides by |q~|^2, which
    // does not change the ranking, so the graph works on it directly.
    template <class Row>
    float distance(const Prepared& q, const Row* row, float row_scalar) const {
        const RowKernels<Row>& k = row_kernels<Row>();
        switch (kind_) {
            case MetricKind::kL2: return k.l2sq(q.vector, row, dim_);
            case MetricKind::kInnerProduct: return 1.0f - k.dot(q.vector, row, dim_);
            case MetricKind::kCosine: return 1.0f - k.dot(q.vector, row, dim_) * q.scalar * row_scalar;
            case MetricKind::kSnr: return k.l2sq_shifted(q.vector, row, q.scalar - row_scalar, dim_);
            case MetricKind::kGssf: return 1.0f - k.dot(q.vector, row, dim_) * row_scalar;
            case MetricKind::kCustom:
                // A custom kernel reads float32 rows only (the index refuses other storage for it).
                if constexpr (std::is_same_v<Row, float>) return params_.custom(q.vector, row, static_cast<std::intptr_t>(dim_));
                break;
        }
        return std::numeric_limits<float>::quiet_NaN();
    }
    float finish(const Prepared& q, float distance) const {
        return kind_ == MetricKind::kSnr ? distance * q.factor : distance;
    }

    // A stored row of halves as floats, with the SIMD level's conversion.
    void widen(const Half* row, float* out) const { kernels_.widen(row, out, dim_); }

    // One-off distance between two raw vectors (tests, reference checks).
    float pair_distance(const float* a, const float* b) const;

    // Squared norm with the SIMD kernel: exact enough for every vector that
    // passes the range checks (float32 overflows only above them).
    double squared_norm(const float* v) const { return static_cast<double>(kernels_.f32.dot(v, v, dim_)); }
    // Squared norm of v - mean(v) (SNR's variance times dim).
    double centred_squared_norm(const float* v) const;

    // Vectors outside this range of squared norms make float32 distances
    // overflow (|x - y|^2 <= 2|x|^2 + 2|y|^2 must stay finite) or, for the
    // metrics that normalise, lose their direction to underflow.
    double max_squared_norm() const { return kMaxSquaredNorm; }
    double min_squared_norm() const { return normalises() ? kMinNormalisedSquaredNorm : 0.0; }
    bool normalises() const { return kind_ == MetricKind::kCosine || kind_ == MetricKind::kGssf; }

private:
    template <class Row>
    const RowKernels<Row>& row_kernels() const {
        if constexpr (std::is_same_v<Row, float>) return kernels_.f32; else return kernels_.f16;
    }

    static constexpr double kMaxSquaredNorm = 3.4028234663852886e38 / 4;  // FLT_MAX / 4
    static constexpr double kMinNormalisedSquaredNorm = 1e-30;

    // y = diag(d) x + blockdiag(B) x, blocks row-major.
    void gssf_transform(const float* x, float inverse_norm, const std::vector<float>& blocks, float* y) const;

    MetricKind kind_;
    std::size_t dim_;
    const KernelTable& kernels_;
    MetricParams params_;
    std::vector<float> gssf_blocks_transposed_;  // A^T's blocks: search queries
    std::vector<float> gssf_blocks_symmetric_;   // (A + A^T)/2's blocks: building
};

}  // namespace vsearch
