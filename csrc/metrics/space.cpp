#include "space.h"

#include <stdexcept>

namespace vsearch {

MetricKind metric_from_name(const std::string& name) {
    std::string known;
    for (MetricKind kind : kAllMetrics) {
        if (metric_name(kind) == name) return kind;
        known += (known.empty() ? "" : ", ") + metric_name(kind);
    }
    throw std::invalid_argument("unknown metric '" + name + "': expected one of " + known);
}

const char* row_scalar_section(MetricKind kind) {
    switch (kind) {
        case MetricKind::kCosine:
        case MetricKind::kGssf: return "scales";  // 1/|x|
        case MetricKind::kSnr: return "means";
        default: return nullptr;
    }
}

std::string metric_name(MetricKind kind) {
    switch (kind) {
        case MetricKind::kInnerProduct: return "ip";
        case MetricKind::kCosine: return "cosine";
        case MetricKind::kSnr: return "snr";
        case MetricKind::kGssf: return "gssf";
        case MetricKind::kCustom: return "custom";
        case MetricKind::kL2: break;
    }
    return "l2";
}

Space::Space(MetricKind kind, std::size_t dim, SimdLevel level, const MetricParams& params)
    : kind_(kind), dim_(dim), kernels_(kernels_for(level)), params_(params) {
    if (kind_ == MetricKind::kCustom && params_.custom == nullptr)
        throw std::invalid_argument("a custom metric needs its compiled distance function");
    if (kind_ != MetricKind::kGssf) return;
    const std::size_t b = params_.gssf_block_size;
    if (b == 0 || dim_ % b != 0) throw std::invalid_argument("gssf block_size must divide dim");
    if (params_.gssf_diagonal.size() != dim_ || params_.gssf_blocks.size() != dim_ * b)
        throw std::invalid_argument("gssf needs dim diagonal weights and dim/block_size blocks of block_size^2");
    gssf_blocks_transposed_.resize(params_.gssf_blocks.size());
    gssf_blocks_symmetric_.resize(params_.gssf_blocks.size());
    for (std::size_t k = 0; k < dim_ / b; ++k) {
        const float* block = params_.gssf_blocks.data() + k * b * b;
        for (std::size_t i = 0; i < b; ++i) {
            for (std::size_t j = 0; j < b; ++j) {
                gssf_blocks_transposed_[k * b * b + i * b + j] = block[j * b + i];
                gssf_blocks_symmetric_[k * b * b + i * b + j] = 0.5f * (block[i * b + j] + block[j * b + i]);
            }
        }
    }
}

double Space::centred_squared_norm(const float* v) const {
    const double mean = row_scalar(v);
    double sum = 0.0;
    for (std::size_t i = 0; i < dim_; ++i) {
        const double d = v[i] - mean;
        sum += d * d;
    }
    return sum;
}

float Space::row_scalar(const float* v) const {
    switch (kind_) {
        case MetricKind::kCosine:
        case MetricKind::kGssf: return static_cast<float>(1.0 / std::sqrt(squared_norm(v)));
        case MetricKind::kSnr: {
            double sum = 0.0;
            for (std::size_t i = 0; i < dim_; ++i) sum += v[i];
            return static_cast<float>(sum / static_cast<double>(dim_));
        }
        default: return 0.0f;
    }
}

void Space::gssf_transform(const float* x, float inverse_norm, const std::vector<float>& blocks, float* y) const {
    const std::size_t b = params_.gssf_block_size;
    const float* diagonal = params_.gssf_diagonal.data();
    for (std::size_t start = 0; start < dim_; start += b) {
        const float* block = blocks.data() + start * b;  // block k starts at k*b*b = start*b
        for (std::size_t i = 0; i < b; ++i) {
            float sum = diagonal[start + i] * x[start + i];
            const float* row = block + i * b;
            for (std::size_t j = 0; j < b; ++j) sum += row[j] * x[start + j];
            y[start + i] = sum * inverse_norm;
        }
    }
}

Prepared Space::prepare(const float* v, Side side, float* scratch) const {
    switch (kind_) {
        case MetricKind::kCosine: return {v, row_scalar(v), 1.0f};
        case MetricKind::kSnr: return {v, row_scalar(v), static_cast<float>(1.0 / centred_squared_norm(v))};
        case MetricKind::kGssf:
            gssf_transform(v, row_scalar(v), side == Side::kSearch ? gssf_blocks_transposed_ : gssf_blocks_symmetric_,
                           scratch);
            return {scratch, 1.0f, 1.0f};
        default: return {v, 0.0f, 1.0f};
    }
}

float Space::pair_distance(const float* a, const float* b) const {
    std::vector<float> scratch(scratch_size());
    const Prepared q = prepare(a, Side::kSearch, scratch.data());
    return finish(q, distance(q, b, row_scalar(b)));
}

}  // namespace vsearch
