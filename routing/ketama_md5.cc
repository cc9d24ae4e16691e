// MD5 as RFC 1321 defines it: 64-byte blocks, four rounds of sixteen steps.
#include "routing/ketama_md5.h"

#include <bit>
#include <cstddef>

namespace plexi::routing {
namespace {

// floor(|sin(i + 1)| * 2^32)
constexpr std::uint32_t kSine[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

// The left rotation of each step: four per round, repeated four times.
constexpr int kShift[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

struct State {
  std::uint32_t a = 0x67452301, b = 0xefcdab89, c = 0x98badcfe, d = 0x10325476;

  void block(const std::uint8_t* bytes) {
    std::uint32_t words[16];
    for (int i = 0; i < 16; ++i) {
      words[i] = static_cast<std::uint32_t>(bytes[4 * i]) |
                 static_cast<std::uint32_t>(bytes[4 * i + 1]) << 8 |
                 static_cast<std::uint32_t>(bytes[4 * i + 2]) << 16 |
                 static_cast<std::uint32_t>(bytes[4 * i + 3]) << 24;
    }
    std::uint32_t x = a, y = b, z = c, w = d;
    for (int step = 0; step < 64; ++step) {
      const int round = step / 16;
      std::uint32_t mixed;
      int word;
      switch (round) {
        case 0:
          mixed = (y & z) | (~y & w);
          word = step;
          break;
        case 1:
          mixed = (w & y) | (~w & z);
          word = (5 * step + 1) % 16;
          break;
        case 2:
          mixed = y ^ z ^ w;
          word = (3 * step + 5) % 16;
          break;
        default:
          mixed = z ^ (y | ~w);
          word = (7 * step) % 16;
          break;
      }
      mixed += x + kSine[step] + words[word];
      x = w;
      w = z;
      z = y;
      y += std::rotl(mixed, kShift[round][step % 4]);
    }
    a += x;
    b += y;
    c += z;
    d += w;
  }
};

}  // namespace

std::array<std::uint8_t, 16> md5_digest(std::string_view data) {
  State state;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(data.data());
  std::size_t whole = data.size() / 64;
  for (std::size_t i = 0; i < whole; ++i) state.block(bytes + 64 * i);

  // The rest, 0x80, zeros up to 56 bytes into a block, then the bit length (little-endian).
  std::uint8_t tail[128] = {};
  const std::size_t rest = data.size() % 64;
  for (std::size_t i = 0; i < rest; ++i) tail[i] = bytes[64 * whole + i];
  tail[rest] = 0x80;
  const std::size_t tail_size = rest < 56 ? 64 : 128;
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_size - 8 + i] = static_cast<std::uint8_t>(bits >> (8 * i));
  state.block(tail);
  if (tail_size == 128) state.block(tail + 64);

  std::array<std::uint8_t, 16> digest;
  const std::uint32_t words[4] = {state.a, state.b, state.c, state.d};
  for (int i = 0; i < 16; ++i) digest[i] = static_cast<std::uint8_t>(words[i / 4] >> (8 * (i % 4)));
  return digest;
}

}  // namespace plexi::routing
