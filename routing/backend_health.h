// The health decisions, with no sockets: each backend's state from its check results (fall and
// rise), and for each cluster the write target, the read candidates and split brain.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace plexi::routing {

using Lsn = std::uint64_t;  // a PostgreSQL WAL position ("16/B374D848" is 0x16'B374D848)
using WallClock = std::chrono::system_clock;

// What one check of one backend found.
struct CheckResult {
  bool ok = false;
  std::string error;         // why it failed, when !ok
  bool in_recovery = false;  // pg_is_in_recovery(): the server is a replica
  // The server's WAL position: written (primary) or replayed (replica).
  Lsn wal_lsn = 0;
  // Replica: the last WAL position received from its primary; none without streaming.
  std::optional<Lsn> receive_lsn;
  // Replica: seconds since the last transaction it replayed was committed on the primary;
  // none when it has replayed no transaction since it started.
  std::optional<double> replay_age_seconds;
  WallClock::time_point at;
};

enum class BackendState {
  kUnknown,  // no check has finished yet; not routable
  kUp,
  kDown,
  // Never checked (no check exists for its type yet, or no credentials to log in with):
  // taken as up in its configured role, which is what routing without a monitor does.
  kUnchecked,
};
std::string_view to_string(BackendState state);

// One backend in a cluster's snapshot.
struct BackendHealth {
  std::string name;
  config::Role role = config::Role::kPrimary;  // as configured
  std::string shard;  // a Redis cluster's shard (config); empty: the cluster is one shard
  // Takes the writes: the cluster's write target, or in a sharded cluster its shard's.
  bool takes_writes = false;
  BackendState state = BackendState::kUnknown;
  bool up = false;  // kUp or kUnchecked
  // The last successful check found it not in recovery (unchecked: configured as primary).
  bool actual_primary = false;
  // May serve reads sent to replicas: up, in recovery, role primary or replica, and within
  // max_replication_lag. The write target is not one; the router falls back to it.
  bool read_candidate = false;
  // The WAL position its reads see (replayed; on a primary, written) and the newest one it
  // has (received; on a primary, written). A client whose write committed at LSN x can read
  // its write on a backend whose replay_lsn >= x.
  Lsn replay_lsn = 0;
  Lsn current_lsn = 0;
  // How far replay is behind the primary; 0 when everything received is replayed. None
  // when WAL waits to be replayed but no transaction was replayed since the replica started,
  // so there is no commit time to measure from: such a replica counts as over any
  // max_replication_lag.
  std::optional<std::chrono::milliseconds> lag{0};
  std::string last_error;              // the most recent failure, kept after recovery
  WallClock::time_point checked_at{};  // the last result, good or bad; epoch: never
  int failures_in_a_row = 0;
  int successes_in_a_row = 0;
};

// An immutable picture of one cluster; a new one is published after every check result.
struct ClusterHealth {
  std::string cluster;
  std::vector<BackendHealth> backends;  // in the config's order
  // Index into backends; -1: writes are refused. A cluster of several shards has none: each
  // shard's backend that takes writes says so itself (BackendHealth::takes_writes).
  int write_target = -1;
  std::string no_write_target_reason;   // why there is none (empty when there is one)
  // The most recent write target, kept while there is none: the "old" side of a failover.
  // Until one is found it is the configured primary, so a primary that is slow to answer
  // at start-up is no failover, and a replica promoted while it was down is one.
  std::string last_write_target;
  bool had_write_target = false;  // some backend has taken writes since start
  std::uint64_t generation = 0;   // grows by one with every snapshot of this cluster

  const BackendHealth* writer() const {
    return write_target >= 0 ? &backends[static_cast<std::size_t>(write_target)] : nullptr;
  }
  // Every backend has reported at least once (or is unchecked).
  bool settled() const;
  int index_of(std::string_view backend) const;  // -1 when absent
};

// Keeps one cluster's state and applies check results to it. Not thread-safe: the monitor
// owns it on one strand and publishes the snapshots it returns.
//
// fall and rise follow HAProxy, except at the start: a backend's first result decides at
// once (up after one success, down after one failure), so routing starts within one check
// instead of waiting `rise` intervals; afterwards `fall` failures in a row mark an up
// backend down and `rise` successes in a row mark a down one up. Its reported role changes
// with every successful check, without waiting for rise.
class ClusterTracker {
 public:
  // `checked[i]` false: backend i gets no checks and stays kUnchecked. `previous`, on
  // reload, is the tracker this one replaces: backends with the same name, type, host and
  // port keep their state, and generation, last_write_target and had_write_target carry
  // on.
  ClusterTracker(const config::Cluster& cluster, const std::vector<bool>& checked,
                 const ClusterTracker* previous = nullptr);

  // Applies a result for backend `index` and returns the new snapshot.
  std::shared_ptr<const ClusterHealth> record(std::size_t index, const CheckResult& result);
  std::shared_ptr<const ClusterHealth> snapshot() const { return current_; }

 private:
  void publish(ClusterHealth next);

  config::Health settings_;
  std::vector<std::string> addresses_;  // type, host and port of each backend
  std::shared_ptr<const ClusterHealth> current_;
};

// Applies one check result to one backend (the fall/rise rules above); the cluster-wide
// fields (read_candidate) are set by elect().
void apply_check(BackendHealth& backend, const CheckResult& result, const config::Health& health);

// Sets every backend's read_candidate and the cluster's write target: the single up backend
// of role primary or replica that reports itself not in recovery. Two or more such backends
// are split brain: no write target until all but one step down. Analytics and cache
// backends never take part.
void elect(ClusterHealth& cluster, const config::Health& health);

}  // namespace plexi::routing
