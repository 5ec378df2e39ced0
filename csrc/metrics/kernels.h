// Distance kernels: one table of plain functions per instruction-set level.
//
// Each level lives in its own translation unit compiled for that ISA only
// (scalar.cpp, avx2.cpp, avx512.cpp); dispatch.cpp picks one at run time.
// Kernels accept any alignment and any length, including 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../storage/half.h"

namespace vsearch {

enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// `a` is a float32 vector (a query, prepared); `b` a stored row, float32 or
// IEEE half (storage float16, widened in the kernel).
template <class Row>
using PairKernelOf = float (*)(const float* a, const Row* b, std::size_t n);
template <class Row>
using ShiftedKernelOf = float (*)(const float* a, const Row* b, float shift, std::size_t n);
using PairKernel = PairKernelOf<float>;
using ShiftedKernel = ShiftedKernelOf<float>;

// The three kernels for rows of one element type.
template <class Row>
struct RowKernels {
    PairKernelOf<Row> l2sq;             // sum (a_i - b_i)^2
    PairKernelOf<Row> dot;              // sum a_i * b_i
    ShiftedKernelOf<Row> l2sq_shifted;  // sum (a_i - b_i - shift)^2: squared L2 of mean-centred vectors (SNR)
};

// Widens n halves to floats (a stored half row used as the query of distances).
using WidenKernel = void (*)(const Half* in, float* out, std::size_t n);

struct KernelTable {
    SimdLevel level;
    RowKernels<float> f32;
    RowKernels<Half> f16;
    WidenKernel widen;
};

KernelTable scalar_kernels();
#if defined(__x86_64__) || defined(_M_X64)
KernelTable avx2_kernels();
KernelTable avx512_kernels();
#endif

// Levels the running CPU (and OS) support, lowest first.
std::vector<SimdLevel> supported_levels();

// Best supported level, lowered by VSEARCH_SIMD=scalar|avx2|avx512 if set.
// Resolved once per process; the result never changes afterwards.
SimdLevel active_level();

const KernelTable& kernels_for(SimdLevel level);
std::string level_name(SimdLevel level);
// Throws std::invalid_argument for an unknown name.
SimdLevel level_from_name(const std::string& name);

}  // namespace vsearch
