// IEEE 754 binary16 ("half") conversions, portable: storing vectors as halves
// (storage float16) and the scalar kernels' reads. The SIMD kernels widen
// halves with F16C / AVX-512 instead.
#pragma once

#include <cstdint>
#include <cstring>

namespace vsearch {

using Half = std::uint16_t;  // the bits of one IEEE 754 binary16

// The largest finite half; a vector stored as halves must stay within it.
constexpr float kHalfMax = 65504.0f;

inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1fu;
    std::uint32_t mantissa = h & 0x3ffu;
    std::uint32_t bits;
    if (exponent == 0x1fu) {
        bits = sign | 0x7f800000u | (mantissa << 13);  // inf or NaN
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);  // rebias 15 -> 127
    } else if (mantissa == 0) {
        bits = sign;  // signed zero
    } else {
        // Subnormal half: normalise it (a float holds it as a normal number).
        std::uint32_t shift = 0;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            ++shift;
        }
        bits = sign | ((113u - shift) << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
}

// Rounds to the nearest half, ties to even; beyond kHalfMax (after rounding) gives inf.
inline std::uint16_t float_to_half(float f) {
    std::uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    const std::uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude >= 0x7f800000u)  // inf or NaN (NaN keeps a mantissa bit)
        return static_cast<std::uint16_t>(sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0u));
    if (magnitude >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds past kHalfMax
    if (magnitude < 0x38800000u) {
        // Below the smallest normal half (2^-14): a subnormal half or zero.
        if (magnitude < 0x33000000u) return sign;  // below half the smallest subnormal (2^-25): zero
        const std::uint32_t exponent = magnitude >> 23;
        const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
        const std::uint32_t shift = 126u - exponent;  // value = mantissa * 2^(exponent - 150), half = h * 2^-24
        const std::uint32_t kept = mantissa >> shift;
        const std::uint32_t rest = mantissa & ((1u << shift) - 1u);
        const std::uint32_t halfway = 1u << (shift - 1);
        const std::uint32_t rounded = kept + (rest > halfway || (rest == halfway && (kept & 1u)) ? 1u : 0u);
        return static_cast<std::uint16_t>(sign | rounded);
    }
    // Normal: rebias the exponent, keep 10 mantissa bits, round the 13 dropped.
    const std::uint32_t rebiased = magnitude - 0x38000000u;  // exponent 127 -> 15
    const std::uint32_t kept = rebiased >> 13;
    const std::uint32_t rest = rebiased & 0x1fffu;
    const std::uint32_t rounded = kept + (rest > 0x1000u || (rest == 0x1000u && (kept & 1u)) ? 1u : 0u);
    return static_cast<std::uint16_t>(sign | rounded);
}

}  // namespace vsearch
