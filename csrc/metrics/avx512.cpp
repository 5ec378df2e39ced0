// AVX-512F kernels. Only this file is compiled for AVX-512 (via the target
// pragma); the tail is handled with a masked load instead of a scalar loop.
#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC push_options
#pragma GCC target("avx512f")
#include <immintrin.h>

namespace vsearch {
namespace {

constexpr std::size_t kWidth = 16;  // floats per __m512

inline __mmask16 tail_mask(std::size_t remaining) {
    return static_cast<__mmask16>((1u << remaining) - 1u);
}

float l2sq_avx512(const float* a, const float* b, std::size_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + kWidth), _mm512_loadu_ps(b + i + kWidth));
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
        acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    }
    if (i + kWidth <= n) {
        const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        acc0 = _mm512_fmadd_ps(d, d, acc0);
        i += kWidth;
    }
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        acc1 = _mm512_fmadd_ps(d, d, acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_avx512(const float* a, const float* b, std::size_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + kWidth), _mm512_loadu_ps(b + i + kWidth), acc1);
    }
    if (i + kWidth <= n) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        i += kWidth;
    }
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float l2sq_shifted_avx512(const float* a, const float* b, float shift, std::size_t n) {
    const __m512 s = _mm512_set1_ps(shift);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        const __m512 d0 = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)), s);
        const __m512 d1 =
            _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(a + i + kWidth), _mm512_loadu_ps(b + i + kWidth)), s);
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
        acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    }
    if (i + kWidth <= n) {
        const __m512 d = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)), s);
        acc0 = _mm512_fmadd_ps(d, d, acc0);
        i += kWidth;
    }
    if (i < n) {
        // Masked-off lanes must contribute 0, not shift^2: subtract under the mask.
        const __mmask16 m = tail_mask(n - i);
        const __m512 diff = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        const __m512 d = _mm512_maskz_sub_ps(m, diff, s);
        acc1 = _mm512_fmadd_ps(d, d, acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

}  // namespace

KernelTable avx512_kernels() { return {SimdLevel::kAvx512, &l2sq_avx512, &dot_avx512, &l2sq_shifted_avx512}; }

}  // namespace vsearch

#pragma GCC pop_options
#endif
