// Chooses the backend for a request: the cluster's write target for writes, a healthy
// replica for reads (one that has replayed the client's last write, when read-your-writes
// asks for it), an analytics backend when a hint or rule asks for one; with fallbacks when
// none qualifies, and load balancing among the candidates. Protocol-neutral and pure: the
// caller describes the backends as the health monitor last saw them.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"

namespace plexi::routing {

// What a request needs.
enum class Want { kWrite, kRead, kAnalytics };

enum class Balancing { kRoundRobin, kLeastOutstanding, kWeighted };

// One backend as the router sees it, in the cluster's config order.
struct Candidate {
  config::Role role = config::Role::kPrimary;
  bool up = true;
  bool write_target = false;     // elected by the health monitor
  bool in_recovery = false;      // reports itself a standby (may serve reads)
  std::uint64_t replay_lsn = 0;  // standbys: WAL replayed so far; 0 when unknown
  std::chrono::milliseconds lag{0};
  int weight = 1;
  std::string_view zone;
};

struct Policy {
  Balancing balancing = Balancing::kRoundRobin;
  std::chrono::milliseconds max_replication_lag{0};  // 0: any lag is acceptable
  std::string_view local_zone;                       // candidates in this zone are preferred
};

struct Choice {
  int backend = -1;        // index into the cluster's backends; -1 with `error` set
  bool fell_back = false;  // a read sent to the write target for want of a replica
  std::string error;
};

// One per cluster, shared by its sessions on every worker.
class Router {
 public:
  // `min_lsn`: for reads, only standbys that replayed at least this far qualify (0: any).
  Choice choose(Want want, std::uint64_t min_lsn, std::span<const Candidate> backends,
                const Policy& policy);

  // Requests in flight per backend, for least_outstanding; the session that was given a
  // backend reports when its request is done.
  void started(int backend) { counter(backend).fetch_add(1, std::memory_order_relaxed); }
  void finished(int backend) { counter(backend).fetch_sub(1, std::memory_order_relaxed); }
  int outstanding(int backend) const {
    return outstanding_[static_cast<std::size_t>(backend) % kCounters].load(
        std::memory_order_relaxed);
  }

  // A no-write-target explanation from the health monitor, shown to clients whose writes
  // are refused.
  static constexpr std::string_view kNoWriteTarget = "no primary is available for writes";

 private:
  // Indexes past the array share counters: only a load heuristic, and clusters this large
  // are rare.
  static constexpr std::size_t kCounters = 64;
  std::atomic<int>& counter(int backend) {
    return outstanding_[static_cast<std::size_t>(backend) % kCounters];
  }
  int balance(std::span<const int> candidates, std::span<const Candidate> backends,
              const Policy& policy);

  std::atomic<std::uint64_t> next_{0};
  std::array<std::atomic<int>, kCounters> outstanding_{};
};

}  // namespace plexi::routing
