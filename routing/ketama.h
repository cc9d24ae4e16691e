// Consistent hashing the way twemproxy (nutcracker) does it with `distribution: ketama`:
// the same key hashes and the same continuum, so a pool moved from twemproxy to plexiproxy
// finds every key on the server that already holds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexi::routing {

// twemproxy's `hash:` functions, each returning its 32 bits exactly as nutcracker 0.5.0
// computes them, quirks included: fnv1a_64 keeps only 32 bits of state, crc16 lets its
// register grow past 16 bits, crc32 is libmemcached's 15-bit variant, and bytes above 0x7f
// are sign-extended where twemproxy reads them as char.
enum class HashFunction : std::uint8_t {
  kOneAtATime,
  kMd5,
  kCrc16,
  kCrc32,
  kCrc32a,
  kFnv1_64,
  kFnv1a_64,  // twemproxy's default
  kFnv1_32,
  kFnv1a_32,
  kHsieh,
  kMurmur,
  kJenkins,
};

// By the name twemproxy's configuration uses ("fnv1a_64", "md5", ...).
std::optional<HashFunction> hash_function_from_name(std::string_view name);
std::string_view hash_function_name(HashFunction function);

std::uint32_t hash_key(HashFunction function, std::string_view key);

// The part of `key` a pool with `hash_tag: "{}"` hashes: what stands between the first
// tag[0] and the next tag[1] after it, when that is not empty; otherwise the whole key.
// An empty tag (no hash_tag) also gives the whole key. Only tag[0] and tag[1] count, as in
// twemproxy.
std::string_view hash_tag_part(std::string_view key, std::string_view tag);

class KetamaRing {
 public:
  struct Server {
    // The text the points are hashed from: the `name` of twemproxy's `servers:` line when
    // it has one, otherwise default_name(host, port). (twemproxy formats "name-i" into 86
    // bytes but hashes the untruncated length: names past 80 bytes do not agree with it.)
    std::string name;
    std::uint32_t weight = 1;  // 0 counts as 1
  };

  // twemproxy's default server name: "host:port", or the host alone on port 11211 (kept by
  // twemproxy for libmemcached's sake).
  static std::string default_name(std::string_view host, std::uint16_t port);

  // Every server gets 160 points scaled by its share of the total weight (twemproxy's
  // arithmetic, in single precision, so that the counts agree to the point), four points
  // per MD5 digest of "name-i". `servers` may be empty: server_for then returns 0.
  KetamaRing(std::vector<Server> servers, HashFunction hash);

  // The index into `servers` of the server that holds `key` (hash tags applied by the
  // caller through hash_tag_part). Like twemproxy: a pool of one server takes every key,
  // and an empty key hashes to 0.
  std::size_t server_for(std::string_view key) const;

  // Each server's fraction of the 32-bit hash space: what share of uniformly hashed keys it
  // takes. 160 points a server leave these some percent off even (as in twemproxy).
  std::vector<double> shares() const;

  std::size_t point_count() const { return points_.size(); }
  std::size_t server_count() const { return servers_.size(); }
  HashFunction hash() const { return hash_; }

 private:
  struct Point {
    std::uint32_t value;
    std::uint32_t server;
  };

  std::vector<Server> servers_;
  HashFunction hash_;
  std::vector<Point> points_;  // by value
};

}  // namespace plexi::routing
