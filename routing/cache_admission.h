// Which statement shapes are worth looking up in the result cache. A shape whose entries are
// invalidated before they are read again (its tables are written about as often as it is
// read), or whose parameters rarely repeat within the TTL, pays a lookup and a store for
// every statement and gains no hit: once a window of its lookups has had too few hits, it
// skips the cache for a while (counted as a bypass, routed as if it had no cache_ttl), then
// is tried again with a fresh window.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <unordered_map>

#include "config/config.h"

namespace plexi::routing {

class CacheAdmission {
 public:
  using Clock = std::chrono::steady_clock;

  struct Policy {
    std::uint32_t window = 200;   // lookups judged together
    std::uint32_t min_hits = 10;  // fewer hits than this in a window: the shape rests
    Clock::duration rest = std::chrono::seconds(10);
    std::size_t max_shapes = 4096;  // shapes remembered; past it, all are forgotten
  };
  // The config's cache.admission_* settings; a window of 0 admits every shape.
  static Policy policy_of(const config::Cache& settings);

  CacheAdmission() = default;
  explicit CacheAdmission(Policy policy) : policy_(policy) {}

  // A reload's new settings: shapes resting keep resting until their time is up; windows
  // in progress are judged by the new numbers.
  void set_policy(const Policy& policy) { policy_ = policy; }

  // Whether statements of `shape` (a digest) are looked up now.
  bool admits(std::uint64_t shape, Clock::time_point now);
  // The outcome of a lookup of `shape` that admits() allowed (errors and timeouts are not
  // outcomes: they say nothing of the shape).
  void record(std::uint64_t shape, bool hit, Clock::time_point now);

  std::size_t shapes() const { return shapes_.size(); }

 private:
  struct Shape {
    std::uint32_t lookups = 0;
    std::uint32_t hits = 0;
    Clock::time_point resting_until{};
  };

  Policy policy_;
  std::unordered_map<std::uint64_t, Shape> shapes_;
};

// What a shape is known by: its digest in its cluster.
std::uint64_t admission_shape(std::string_view cluster, std::uint64_t digest);

// The admission of the calling thread (each worker judges the shapes its sessions look up),
// following `settings`.
CacheAdmission& worker_cache_admission(const config::Cache& settings);

}  // namespace plexi::routing
