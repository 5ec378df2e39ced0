// Portable kernels: the reference and the fallback on any CPU.
#include "kernels.h"

#include "../storage/half.h"

namespace vsearch {
namespace {

// Four independent accumulators let the compiler pipeline the loop and keep
// the float32 rounding error close to the SIMD versions' on long vectors.
constexpr std::size_t kLanes = 4;

inline float widen(float x) { return x; }
inline float widen(Half x) { return half_to_float(x); }

template <class Row>
float l2sq_scalar(const float* a, const Row* b, std::size_t n) {
    float acc[kLanes] = {0.f, 0.f, 0.f, 0.f};
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        for (std::size_t j = 0; j < kLanes; ++j) {
            const float d = a[i + j] - widen(b[i + j]);
            acc[j] += d * d;
        }
    }
    for (; i < n; ++i) {
        const float d = a[i] - widen(b[i]);
        acc[0] += d * d;
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

template <class Row>
float dot_scalar(const float* a, const Row* b, std::size_t n) {
    float acc[kLanes] = {0.f, 0.f, 0.f, 0.f};
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        for (std::size_t j = 0; j < kLanes; ++j) acc[j] += a[i + j] * widen(b[i + j]);
    }
    for (; i < n; ++i) acc[0] += a[i] * widen(b[i]);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

template <class Row>
float l2sq_shifted_scalar(const float* a, const Row* b, float shift, std::size_t n) {
    float acc[kLanes] = {0.f, 0.f, 0.f, 0.f};
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        for (std::size_t j = 0; j < kLanes; ++j) {
            const float d = a[i + j] - widen(b[i + j]) - shift;
            acc[j] += d * d;
        }
    }
    for (; i < n; ++i) {
        const float d = a[i] - widen(b[i]) - shift;
        acc[0] += d * d;
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

void widen_scalar(const Half* in, float* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float(in[i]);
}

template <class Row>
RowKernels<Row> scalar_row_kernels() {
    return {&l2sq_scalar<Row>, &dot_scalar<Row>, &l2sq_shifted_scalar<Row>};
}

}  // namespace

KernelTable scalar_kernels() {
    return {SimdLevel::kScalar, scalar_row_kernels<float>(), scalar_row_kernels<Half>(), &widen_scalar};
}

}  // namespace vsearch
