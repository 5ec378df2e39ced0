// AVX2 + FMA kernels (and F16C, which widens half rows). Only this file is
// compiled for AVX2 (via the target pragma), so the rest of the library runs
// on any x86-64 CPU.
#include "kernels.h"

#include "../storage/half.h"

#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#include <immintrin.h>

namespace vsearch {
namespace {

constexpr std::size_t kWidth = 8;  // floats per __m256

// Eight row elements as floats.
inline __m256 load(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load(const Half* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline float widen(float x) { return x; }
inline float widen(Half x) { return half_to_float(x); }

inline float horizontal_sum(__m256 v) {
    const __m128 lo = _mm256_castps256_ps128(v);
    const __m128 hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

template <class Row>
float l2sq_avx2(const float* a, const Row* b, std::size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), load(b + i));
        const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + kWidth), load(b + i + kWidth));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    if (i + kWidth <= n) {
        const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), load(b + i));
        acc0 = _mm256_fmadd_ps(d, d, acc0);
        i += kWidth;
    }
    float sum = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) {
        const float d = a[i] - widen(b[i]);
        sum += d * d;
    }
    return sum;
}

template <class Row>
float dot_avx2(const float* a, const Row* b, std::size_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + kWidth), load(b + i + kWidth), acc1);
    }
    if (i + kWidth <= n) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load(b + i), acc0);
        i += kWidth;
    }
    float sum = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) sum += a[i] * widen(b[i]);
    return sum;
}

template <class Row>
float l2sq_shifted_avx2(const float* a, const Row* b, float shift, std::size_t n) {
    const __m256 s = _mm256_set1_ps(shift);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        const __m256 d0 = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(a + i), load(b + i)), s);
        const __m256 d1 =
            _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(a + i + kWidth), load(b + i + kWidth)), s);
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    }
    if (i + kWidth <= n) {
        const __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(a + i), load(b + i)), s);
        acc0 = _mm256_fmadd_ps(d, d, acc0);
        i += kWidth;
    }
    float sum = horizontal_sum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) {
        const float d = a[i] - widen(b[i]) - shift;
        sum += d * d;
    }
    return sum;
}

void widen_avx2(const Half* in, float* out, std::size_t n) {
    std::size_t i = 0;
    for (; i + kWidth <= n; i += kWidth) _mm256_storeu_ps(out + i, load(in + i));
    for (; i < n; ++i) out[i] = half_to_float(in[i]);
}

template <class Row>
RowKernels<Row> avx2_row_kernels() {
    return {&l2sq_avx2<Row>, &dot_avx2<Row>, &l2sq_shifted_avx2<Row>};
}

}  // namespace

KernelTable avx2_kernels() {
    return {SimdLevel::kAvx2, avx2_row_kernels<float>(), avx2_row_kernels<Half>(), &widen_avx2};
}

}  // namespace vsearch

#pragma GCC pop_options
#endif
