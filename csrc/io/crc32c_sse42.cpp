// CRC-32C with the SSE4.2 crc32 instruction, 8 bytes per step. Only this file
// is compiled for SSE4.2.
#include "crc32c.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cstring>

#pragma GCC push_options
#pragma GCC target("sse4.2")
#include <nmmintrin.h>

namespace vsearch {

std::uint32_t crc32c_sse42(const void* data, std::size_t size, std::uint32_t crc) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    std::uint64_t c = ~crc;
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, bytes + i, sizeof(word));
        c = _mm_crc32_u64(c, word);
    }
    auto c32 = static_cast<std::uint32_t>(c);
    for (; i < size; ++i) c32 = _mm_crc32_u8(c32, bytes[i]);
    return ~c32;
}

}  // namespace vsearch

#pragma GCC pop_options
#endif
