// Distance kernels: one table of plain functions per instruction-set level.
//
// Each level lives in its own translation unit compiled for that ISA only
// (scalar.cpp, avx2.cpp, avx512.cpp); dispatch.cpp picks one at run time.
// Kernels accept any alignment and any length, including 0.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace vsearch {

enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

using PairKernel = float (*)(const float* a, const float* b, std::size_t n);
using ShiftedKernel = float (*)(const float* a, const float* b, float shift, std::size_t n);

struct KernelTable {
    SimdLevel level;
    PairKernel l2sq;             // sum (a_i - b_i)^2
    PairKernel dot;              // sum a_i * b_i
    ShiftedKernel l2sq_shifted;  // sum (a_i - b_i - shift)^2: squared L2 of mean-centred vectors (SNR)
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
