// Checks every backend of every cluster on a timer, keeps each cluster's health snapshot for
// the router, logs what changes, and runs on_failover when a cluster's write target moves.
#pragma once

#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <string_view>

#include "common/asio.h"
#include "config/config.h"
#include "routing/backend_health.h"

namespace plexi::routing {

namespace detail {
struct MonitorCore;
}

// PostgreSQL backends are checked with libpq (see pg_check.h), MySQL and MariaDB ones with
// libmariadb (see mysql_check.h), the Redis backends of Redis clusters with hiredis (see
// redis_check.h). Backends of other types, SQL backends with no user to log in as and Redis
// backends with TLS are kUnchecked: up in their configured role. Every cluster has a
// snapshot, whatever its protocol.
//
// All checks of one monitor run on one strand of the io_context; snapshots are read from
// any thread. The monitor must be destroyed before its io_context.
class HealthMonitor {
 public:
  using ChangeCallback =
      std::function<void(const ClusterHealth& before, const ClusterHealth& after)>;

  // Snapshots exist from here on, with every checked backend kUnknown; checks start with
  // start().
  HealthMonitor(asio::io_context& io, std::shared_ptr<const config::Config> config,
                std::shared_ptr<spdlog::logger> log);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  void start();
  // Takes a reloaded config: new clusters and backends get checks, removed ones lose theirs,
  // a backend whose address, credentials, interval or timeout changed is checked afresh.
  // Backends at the same name and address keep their state. Safe from any thread.
  void reconfigure(std::shared_ptr<const config::Config> config);
  // Ends every check soon; their connections are closed. Safe from any thread.
  void stop();

  // The latest snapshot of a cluster, or null for a name the config does not have. Cheap
  // (a mutex and a shared_ptr copy) and safe from any thread.
  std::shared_ptr<const ClusterHealth> cluster(std::string_view name) const;

  // Called on the monitor's strand after a snapshot that significant_change() says differs
  // from the one before: a backend up or down, a role or read candidacy change, a new write
  // target or a new reason for having none. Register before start().
  void on_change(ChangeCallback callback);

 private:
  std::shared_ptr<detail::MonitorCore> core_;
};

}  // namespace plexi::routing
