// A cluster's backends as the router sees them — the health monitor's latest view where it
// has one, the configured roles where it has not checked yet, DISABLE BACKEND applied — and
// the router's choice among them. Shared by every protocol's relay.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "config/config.h"
#include "routing/backend_health.h"
#include "routing/router.h"
#include "routing/traffic_control.h"

namespace plexi::routing {

Want want_of(config::Role role);
Balancing balancing_of(config::LoadBalancing value);

// Sized for ordinary clusters without allocating; larger ones are cut at the array's size.
struct BackendStates {
  std::array<Candidate, 32> items;
  std::size_t size = 0;
  std::string no_write_target_reason;
  std::span<const Candidate> view() const { return {items.data(), size}; }
};

// The index of the cluster's first configured primary, else 0.
int configured_primary(const config::Cluster& cluster);

// Where the cluster's writes go now: the monitor's writer, else the first configured
// primary, else the first backend (auth_query runs there).
const config::Backend& write_target(const config::Cluster& cluster, const ClusterHealth* health);

// Unchecked backends (and all of them before the first check) take their configured role,
// so start-up does not refuse writes.
BackendStates backend_states(const config::Cluster& cluster, const ClusterHealth* health);

struct ChoiceRequest {
  Want want = Want::kWrite;
  std::uint64_t min_lsn = 0;  // reads: only replicas that replayed this far
  int avoid = -1;             // a backend that just failed, left out of this choice
  // A shard of a Redis cluster: only these backends, and the write target is the one of
  // them that is primary (each shard has its own). Empty: the whole cluster.
  std::span<const int> among{};
};

// The router's choice for `request` in `cluster`; on failure the error says why, with the
// health monitor's reason for having no write target.
Choice choose_backend(Router& router, const config::Config& config, const config::Cluster& cluster,
                      const ClusterHealth* health, const TrafficControl& traffic,
                      const ChoiceRequest& request);

}  // namespace plexi::routing
