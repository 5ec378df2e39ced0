// CRC-32C (Castagnoli), the checksum of every section of the index file.
// Uses the SSE4.2 instruction when the CPU has it, a table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vsearch {

// Continues a CRC: crc32c(b, crc32c(a)) == crc32c(a + b). Start with 0.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);

std::uint32_t crc32c_portable(const void* data, std::size_t size, std::uint32_t crc);
#if defined(__x86_64__) || defined(_M_X64)
std::uint32_t crc32c_sse42(const void* data, std::size_t size, std::uint32_t crc);
#endif

}  // namespace vsearch
