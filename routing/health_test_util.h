// Builders shared by the health tests: clusters of named backends and check results.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

#include "config/config.h"
#include "routing/backend_health.h"

namespace plexi::routing::testing {

inline config::Cluster make_cluster(
    std::initializer_list<std::pair<const char*, config::Role>> backends, int fall = 3,
    int rise = 2, config::Duration max_lag = config::Duration(0)) {
  config::Cluster cluster;
  cluster.name = "appdb";
  cluster.health.fall = fall;
  cluster.health.rise = rise;
  cluster.health.max_replication_lag = max_lag;
  std::uint16_t port = 5432;
  for (const auto& [name, role] : backends) {
    config::Backend b;
    b.name = name;
    b.role = role;
    b.port = port++;
    b.username = "monitor";
    cluster.backends.push_back(b);
  }
  return cluster;
}

inline CheckResult primary_result(Lsn lsn = 0x1000) {
  CheckResult r;
  r.ok = true;
  r.in_recovery = false;
  r.wal_lsn = lsn;
  r.at = WallClock::now();
  return r;
}

inline CheckResult replica_result(Lsn replay = 0x1000, std::optional<Lsn> receive = 0x1000,
                                  std::optional<double> age = 0) {
  CheckResult r;
  r.ok = true;
  r.in_recovery = true;
  r.wal_lsn = replay;
  r.receive_lsn = receive;
  r.replay_age_seconds = age;
  r.at = WallClock::now();
  return r;
}

inline CheckResult failed_result(std::string error = "connection refused") {
  CheckResult r;
  r.ok = false;
  r.error = std::move(error);
  r.at = WallClock::now();
  return r;
}

}  // namespace plexi::routing::testing
