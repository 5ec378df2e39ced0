// Portable kernels: the reference and the fallback on any CPU.
#include "kernels.h"

namespace vsearch {
namespace {

// Four independent accumulators let the compiler pipeline the loop and keep
// the float32 rounding error close to the SIMD versions' on long vectors.
constexpr std::size_t kLanes = 4;

float l2sq_scalar(const float* a, const float* b, std::size_t n) {
    float acc[kLanes] = {0.f, 0.f, 0.f, 0.f};
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        for (std::size_t j = 0; j < kLanes; ++j) {
            const float d = a[i + j] - b[i + j];
            acc[j] += d * d;
        }
    }
    for (; i < n; ++i) {
        const float d = a[i] - b[i];
        acc[0] += d * d;
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

float dot_scalar(const float* a, const float* b, std::size_t n) {
    float acc[kLanes] = {0.f, 0.f, 0.f, 0.f};
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        for (std::size_t j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
    }
    for (; i < n; ++i) acc[0] += a[i] * b[i];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

float l2sq_shifted_scalar(const float* a, const float* b, float shift, std::size_t n) {
    float acc[kLanes] = {0.f, 0.f, 0.f, 0.f};
    std::size_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        for (std::size_t j = 0; j < kLanes; ++j) {
            const float d = a[i + j] - b[i + j] - shift;
            acc[j] += d * d;
        }
    }
    for (; i < n; ++i) {
        const float d = a[i] - b[i] - shift;
        acc[0] += d * d;
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

}  // namespace

KernelTable scalar_kernels() { return {SimdLevel::kScalar, &l2sq_scalar, &dot_scalar, &l2sq_shifted_scalar}; }

}  // namespace vsearch
