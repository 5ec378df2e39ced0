// AVX-512F kernels. Only this file is compiled for AVX-512 (via the target
// pragma); the tail is handled with a masked load instead of a scalar loop.
#include "kernels.h"

#include <cstring>

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

// Sixteen row elements as floats; the tail's `remaining` (< 16), zeros after.
inline __m512 load(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load(const Half* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline __m512 load_tail(const float* p, std::size_t remaining) {
    return _mm512_maskz_loadu_ps(tail_mask(remaining), p);
}
inline __m512 load_tail(const Half* p, std::size_t remaining) {
    // A masked 16-bit load needs AVX-512BW: copy the tail instead (it never reads past the row).
    Half tail[kWidth] = {};
    std::memcpy(tail, p, remaining * sizeof(Half));
    return load(tail);
}

template <class Row>
float l2sq_avx512(const float* a, const Row* b, std::size_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), load(b + i));
        const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + kWidth), load(b + i + kWidth));
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
        acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    }
    if (i + kWidth <= n) {
        const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), load(b + i));
        acc0 = _mm512_fmadd_ps(d, d, acc0);
        i += kWidth;
    }
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), load_tail(b + i, n - i));
        acc1 = _mm512_fmadd_ps(d, d, acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

template <class Row>
float dot_avx512(const float* a, const Row* b, std::size_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + kWidth), load(b + i + kWidth), acc1);
    }
    if (i + kWidth <= n) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load(b + i), acc0);
        i += kWidth;
    }
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), load_tail(b + i, n - i), acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

template <class Row>
float l2sq_shifted_avx512(const float* a, const Row* b, float shift, std::size_t n) {
    const __m512 s = _mm512_set1_ps(shift);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 2 * kWidth <= n; i += 2 * kWidth) {
        const __m512 d0 = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(a + i), load(b + i)), s);
        const __m512 d1 =
            _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(a + i + kWidth), load(b + i + kWidth)), s);
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
        acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    }
    if (i + kWidth <= n) {
        const __m512 d = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(a + i), load(b + i)), s);
        acc0 = _mm512_fmadd_ps(d, d, acc0);
        i += kWidth;
    }
    if (i < n) {
        // Masked-off lanes must contribute 0, not shift^2: subtract under the mask.
        const __mmask16 m = tail_mask(n - i);
        const __m512 diff = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), load_tail(b + i, n - i));
        const __m512 d = _mm512_maskz_sub_ps(m, diff, s);
        acc1 = _mm512_fmadd_ps(d, d, acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void widen_avx512(const Half* in, float* out, std::size_t n) {
    std::size_t i = 0;
    for (; i + kWidth <= n; i += kWidth) _mm512_storeu_ps(out + i, load(in + i));
    if (i < n) _mm512_mask_storeu_ps(out + i, tail_mask(n - i), load_tail(in + i, n - i));
}

template <class Row>
RowKernels<Row> avx512_row_kernels() {
    return {&l2sq_avx512<Row>, &dot_avx512<Row>, &l2sq_shifted_avx512<Row>};
}

}  // namespace

KernelTable avx512_kernels() {
    return {SimdLevel::kAvx512, avx512_row_kernels<float>(), avx512_row_kernels<Half>(), &widen_avx512};
}

}  // namespace vsearch

#pragma GCC pop_options
#endif
