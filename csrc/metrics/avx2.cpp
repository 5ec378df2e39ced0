// AVX2 + FMA kernels. Only this file is compiled for AVX2 (via the target
// pragma), so the rest of the library runs on any x86-64 CPU.
#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include <immintrin.h>

namespace vsearch {
namespace {

constexpr std::size_t kWidth = 8;  // floats per __m256

inline float horizontal_sum(__m256 v) {
    const __m128 lo = _mm256_castps256_ps128(v);
    const __m128 hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

float l2sq_avx2(const float* a, const float* b, std::size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + kWidth), _mm256_loadu_ps(b + i + kWidth));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    if (i + kWidth <= n) {
        const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        acc0 = _mm256_fmadd_ps(d, d, acc0);
        i += kWidth;
    }
    float sum = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) {
        const float d = a[i] - b[i];
        sum += d * d;
    }
    return sum;
}

float dot_avx2(const float* a, const float* b, std::size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + kWidth), _mm256_loadu_ps(b + i + kWidth), acc1);
    }
    if (i + kWidth <= n) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        i += kWidth;
    }
    float sum = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

float l2sq_shifted_avx2(const float* a, const float* b, float shift, std::size_t n) {
    const __m256 s = _mm256_set1_ps(shift);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        const __m256 d0 = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)), s);
        const __m256 d1 =
            _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(a + i + kWidth), _mm256_loadu_ps(b + i + kWidth)), s);
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    if (i + kWidth <= n) {
        const __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)), s);
        acc0 = _mm256_fmadd_ps(d, d, acc0);
        i += kWidth;
    }
    float sum = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) {
        const float d = a[i] - b[i] - shift;
        sum += d * d;
    }
    return sum;
}

}  // namespace

KernelTable avx2_kernels() { return {SimdLevel::kAvx2, &l2sq_avx2, &dot_avx2, &l2sq_shifted_avx2}; }

}  // namespace vsearch

#pragma GCC pop_options
#endif
