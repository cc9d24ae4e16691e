// MD5 (RFC 1321) for the ketama continuum and twemproxy's md5 key hash: a small local one,
// since OpenSSL's EVP interface allocates and takes locks on each digest.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace plexi::routing {

std::array<std::uint8_t, 16> md5_digest(std::string_view data);

// Bytes 4*word .. 4*word+3 of a digest as a little-endian number: a ketama point.
constexpr std::uint32_t digest_word(const std::array<std::uint8_t, 16>& digest, int word) {
  const int at = 4 * word;
  return static_cast<std::uint32_t>(digest[at]) | static_cast<std::uint32_t>(digest[at + 1]) << 8 |
         static_cast<std::uint32_t>(digest[at + 2]) << 16 |
         static_cast<std::uint32_t>(digest[at + 3]) << 24;
}

}  // namespace plexi::routing
