// twemproxy's key hashes, bit for bit. Where twemproxy reads a key byte through a (signed)
// char, bytes above 0x7f enter sign-extended; `widened` below does the same on purpose.
#include <array>
#include <bit>
#include <cstddef>

#include "routing/ketama.h"
#include "routing/ketama_md5.h"

namespace plexi::routing {
namespace {

using Bytes = std::string_view;

constexpr std::uint32_t byte_at(Bytes key, std::size_t i) {
  return static_cast<unsigned char>(key[i]);
}

// A key byte as twemproxy's `(uint32_t)key[i]` sees it on x86: char is signed there.
constexpr std::uint32_t widened(Bytes key, std::size_t i) {
  return static_cast<std::uint32_t>(static_cast<std::int32_t>(static_cast<signed char>(key[i])));
}

// CRC tables, built at compile time from their polynomials.
constexpr std::array<std::uint32_t, 256> reflected_crc32_table(std::uint32_t polynomial) {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ polynomial : crc >> 1;
    table[i] = crc;
  }
  return table;
}

constexpr std::array<std::uint16_t, 256> crc16_table(std::uint16_t polynomial) {
  std::array<std::uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    unsigned crc = i << 8;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000) ? (crc << 1) ^ polynomial : crc << 1;
    table[i] = static_cast<std::uint16_t>(crc);
  }
  return table;
}

constexpr auto kCrc16 = crc16_table(0x1021);                // XMODEM's, as Redis Cluster's
constexpr auto kCrc32 = reflected_crc32_table(0xEDB88320);  // ISO-HDLC, zlib's
static_assert(kCrc16[1] == 0x1021 && kCrc32[1] == 0x77073096);

std::uint32_t one_at_a_time(Bytes key) {
  std::uint32_t hash = 0;
  for (std::size_t i = 0; i < key.size(); ++i) {
    hash += widened(key, i);
    hash += hash << 10;
    hash ^= hash >> 6;
  }
  hash += hash << 3;
  hash ^= hash >> 11;
  hash += hash << 15;
  return hash;
}

// CRC-16/XMODEM kept in 32 bits: twemproxy 0.5.0 never masks the register to 16, so the
// bits shifted past 16 stay in the hash (its low 16 bits are the CRC itself).
std::uint32_t crc16(Bytes key) {
  std::uint32_t crc = 0;
  for (std::size_t i = 0; i < key.size(); ++i) {
    crc = (crc << 8) ^ kCrc16[((crc >> 8) ^ byte_at(key, i)) & 0xff];
  }
  return crc;
}

std::uint32_t crc32_state(Bytes key) {
  std::uint32_t crc = ~0u;
  for (std::size_t i = 0; i < key.size(); ++i) {
    crc = (crc >> 8) ^ kCrc32[(crc ^ byte_at(key, i)) & 0xff];
  }
  return crc;
}

// libmemcached's: bits 16 to 30 of the CRC only.
std::uint32_t crc32(Bytes key) { return ((~crc32_state(key)) >> 16) & 0x7fff; }

std::uint32_t crc32a(Bytes key) { return ~crc32_state(key); }

constexpr std::uint64_t kFnv64Basis = 0xcbf29ce484222325ull;
constexpr std::uint64_t kFnv64Prime = 0x100000001b3ull;
constexpr std::uint32_t kFnv32Basis = 2166136261u;
constexpr std::uint32_t kFnv32Prime = 16777619u;

std::uint32_t fnv1_64(Bytes key) {
  std::uint64_t hash = kFnv64Basis;
  for (std::size_t i = 0; i < key.size(); ++i) {
    hash *= kFnv64Prime;
    hash ^= static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<signed char>(key[i])));
  }
  return static_cast<std::uint32_t>(hash);
}

// twemproxy's fnv1a_64 runs in 32 bits: the low halves of the 64-bit basis and prime.
std::uint32_t fnv1a_64(Bytes key) {
  auto hash = static_cast<std::uint32_t>(kFnv64Basis);
  for (std::size_t i = 0; i < key.size(); ++i) {
    hash ^= widened(key, i);
    hash *= static_cast<std::uint32_t>(kFnv64Prime);
  }
  return hash;
}

std::uint32_t fnv1_32(Bytes key) {
  std::uint32_t hash = kFnv32Basis;
  for (std::size_t i = 0; i < key.size(); ++i) {
    hash *= kFnv32Prime;
    hash ^= widened(key, i);
  }
  return hash;
}

std::uint32_t fnv1a_32(Bytes key) {
  std::uint32_t hash = kFnv32Basis;
  for (std::size_t i = 0; i < key.size(); ++i) {
    hash ^= widened(key, i);
    hash *= kFnv32Prime;
  }
  return hash;
}

constexpr std::uint32_t two_bytes(Bytes key, std::size_t at) {
  return byte_at(key, at) | byte_at(key, at + 1) << 8;
}

// Paul Hsieh's SuperFastHash.
std::uint32_t hsieh(Bytes key) {
  if (key.empty()) return 0;
  std::uint32_t hash = 0;
  std::size_t at = 0;
  for (std::size_t blocks = key.size() / 4; blocks > 0; --blocks, at += 4) {
    hash += two_bytes(key, at);
    const std::uint32_t next = (two_bytes(key, at + 2) << 11) ^ hash;
    hash = (hash << 16) ^ next;
    hash += hash >> 11;
  }
  switch (key.size() % 4) {
    case 3:
      hash += two_bytes(key, at);
      hash ^= hash << 16;
      hash ^= widened(key, at + 2) << 18;
      hash += hash >> 11;
      break;
    case 2:
      hash += two_bytes(key, at);
      hash ^= hash << 11;
      hash += hash >> 17;
      break;
    case 1:
      hash += byte_at(key, at);
      hash ^= hash << 10;
      hash += hash >> 1;
      break;
    default:
      break;
  }
  hash ^= hash << 3;
  hash += hash >> 5;
  hash ^= hash << 4;
  hash += hash >> 17;
  hash ^= hash << 25;
  hash += hash >> 6;
  return hash;
}

constexpr std::uint32_t little_endian_word(Bytes key, std::size_t at) {
  return byte_at(key, at) | byte_at(key, at + 1) << 8 | byte_at(key, at + 2) << 16 |
         byte_at(key, at + 3) << 24;
}

// MurmurHash2, seeded with the key's length as twemproxy seeds it.
std::uint32_t murmur(Bytes key) {
  constexpr std::uint32_t kMultiplier = 0x5bd1e995;
  const auto length = static_cast<std::uint32_t>(key.size());
  std::uint32_t hash = (0xdeadbeef * length) ^ length;
  std::size_t at = 0;
  for (; key.size() - at >= 4; at += 4) {
    std::uint32_t word = little_endian_word(key, at);
    word *= kMultiplier;
    word ^= word >> 24;
    word *= kMultiplier;
    hash *= kMultiplier;
    hash ^= word;
  }
  const std::size_t rest = key.size() - at;
  if (rest > 0) {
    if (rest == 3) hash ^= byte_at(key, at + 2) << 16;
    if (rest >= 2) hash ^= byte_at(key, at + 1) << 8;
    hash ^= byte_at(key, at);
    hash *= kMultiplier;
  }
  hash ^= hash >> 13;
  hash *= kMultiplier;
  hash ^= hash >> 15;
  return hash;
}

// Bob Jenkins' lookup3 (hashlittle) with initial value 13; read byte by byte, which gives
// what its aligned word reads give on a little-endian machine.
struct Lookup3 {
  std::uint32_t a, b, c;

  void mix() {
    a -= c, a ^= std::rotl(c, 4), c += b;
    b -= a, b ^= std::rotl(a, 6), a += c;
    c -= b, c ^= std::rotl(b, 8), b += a;
    a -= c, a ^= std::rotl(c, 16), c += b;
    b -= a, b ^= std::rotl(a, 19), a += c;
    c -= b, c ^= std::rotl(b, 4), b += a;
  }

  void final() {
    c ^= b, c -= std::rotl(b, 14);
    a ^= c, a -= std::rotl(c, 11);
    b ^= a, b -= std::rotl(a, 25);
    c ^= b, c -= std::rotl(b, 16);
    a ^= c, a -= std::rotl(c, 4);
    b ^= a, b -= std::rotl(a, 14);
    c ^= b, c -= std::rotl(b, 24);
  }
};

std::uint32_t jenkins(Bytes key) {
  const std::uint32_t start = 0xdeadbeef + static_cast<std::uint32_t>(key.size()) + 13;
  Lookup3 state{start, start, start};
  std::size_t at = 0;
  for (; key.size() - at > 12; at += 12) {
    state.a += little_endian_word(key, at);
    state.b += little_endian_word(key, at + 4);
    state.c += little_endian_word(key, at + 8);
    state.mix();
  }
  const std::size_t rest = key.size() - at;
  if (rest == 0) return state.c;  // only for the empty key: 12 bytes stay for the last block
  std::uint32_t* words[3] = {&state.a, &state.b, &state.c};
  for (std::size_t i = 0; i < rest; ++i) {
    *words[i / 4] += byte_at(key, at + i) << (8 * (i % 4));
  }
  state.final();
  return state.c;
}

std::uint32_t md5(Bytes key) { return digest_word(md5_digest(key), 0); }

struct Function {
  std::string_view name;
  std::uint32_t (*hash)(Bytes key);
};

// In HashFunction's order.
constexpr Function kFunctions[] = {
    {"one_at_a_time", one_at_a_time},
    {"md5", md5},
    {"crc16", crc16},
    {"crc32", crc32},
    {"crc32a", crc32a},
    {"fnv1_64", fnv1_64},
    {"fnv1a_64", fnv1a_64},
    {"fnv1_32", fnv1_32},
    {"fnv1a_32", fnv1a_32},
    {"hsieh", hsieh},
    {"murmur", murmur},
    {"jenkins", jenkins},
};
static_assert(std::size(kFunctions) == static_cast<std::size_t>(HashFunction::kJenkins) + 1);

}  // namespace

std::optional<HashFunction> hash_function_from_name(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kFunctions); ++i) {
    if (kFunctions[i].name == name) return static_cast<HashFunction>(i);
  }
  return std::nullopt;
}

std::string_view hash_function_name(HashFunction function) {
  return kFunctions[static_cast<std::size_t>(function)].name;
}

std::uint32_t hash_key(HashFunction function, std::string_view key) {
  return kFunctions[static_cast<std::size_t>(function)].hash(key);
}

}  // namespace plexi::routing
