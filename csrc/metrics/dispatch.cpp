// Chooses the kernel table once per process from the CPU's features.
#include <cstdlib>
#include <stdexcept>

#include "kernels.h"

namespace vsearch {

std::vector<SimdLevel> supported_levels() {
    std::vector<SimdLevel> levels{SimdLevel::kScalar};
#if defined(__x86_64__) || defined(_M_X64)
    // libgcc's check includes the OS (XGETBV) support for the wider registers.
    __builtin_cpu_init();
    // F16C (half rows) shipped with every AVX2 CPU; it is required so that the level has every kernel.
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        levels.push_back(SimdLevel::kAvx2);
        if (__builtin_cpu_supports("avx512f")) levels.push_back(SimdLevel::kAvx512);
    }
#endif
    return levels;
}

std::string level_name(SimdLevel level) {
    switch (level) {
        case SimdLevel::kAvx2: return "avx2";
        case SimdLevel::kAvx512: return "avx512";
        case SimdLevel::kScalar: break;
    }
    return "scalar";
}

SimdLevel level_from_name(const std::string& name) {
    if (name == "scalar") return SimdLevel::kScalar;
    if (name == "avx2") return SimdLevel::kAvx2;
    if (name == "avx512") return SimdLevel::kAvx512;
    throw std::invalid_argument("unknown SIMD level '" + name + "': expected scalar, avx2 or avx512");
}

namespace {

SimdLevel resolve_active_level() {
    const SimdLevel best = supported_levels().back();
    const char* requested = std::getenv("VSEARCH_SIMD");
    if (requested == nullptr || *requested == '\0') return best;
    try {
        const SimdLevel wanted = level_from_name(requested);
        // The variable can only lower the level: a higher one would crash.
        return static_cast<int>(wanted) < static_cast<int>(best) ? wanted : best;
    } catch (const std::invalid_argument&) {
        return best;  // the Python package warns about the bad value
    }
}

}  // namespace

SimdLevel active_level() {
    static const SimdLevel level = resolve_active_level();
    return level;
}

const KernelTable& kernels_for(SimdLevel level) {
    static const KernelTable scalar = scalar_kernels();
#if defined(__x86_64__) || defined(_M_X64)
    static const KernelTable avx2 = avx2_kernels();
    static const KernelTable avx512 = avx512_kernels();
    for (SimdLevel supported : supported_levels()) {
        if (supported != level) continue;
        if (level == SimdLevel::kAvx512) return avx512;
        if (level == SimdLevel::kAvx2) return avx2;
        return scalar;
    }
    throw std::invalid_argument("SIMD level '" + level_name(level) + "' is not supported by this CPU");
#else
    if (level != SimdLevel::kScalar)
        throw std::invalid_argument("SIMD level '" + level_name(level) + "' is not supported by this CPU");
    return scalar;
#endif
}

}  // namespace vsearch
