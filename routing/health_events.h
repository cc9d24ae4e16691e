// What changed between two snapshots of a cluster's health, in words for the log, and
// whether the change is a failover that runs the cluster's on_failover command.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "routing/backend_health.h"

namespace plexi::routing {

struct HealthEvent {
  bool warning = false;  // logged at warn (something got worse), else info
  std::string text;      // "cluster appdb: backend pg2 is down: ..."
};

// One event per backend that went up or down, changed its reported role or entered or left
// the read candidates for lag, and one for a change of write target or of the reason there
// is none. Empty when nothing a router cares about changed.
std::vector<HealthEvent> describe_changes(const ClusterHealth& before, const ClusterHealth& after);

// True when a backend's up/down state, reported role or read candidacy changed, or the
// write target or the reason for having none did: what on_change subscribers hear about.
bool significant_change(const ClusterHealth& before, const ClusterHealth& after);

struct Failover {
  std::string cluster;
  std::string from;  // the previous write target; empty when there was none since start
  std::string to;
};

// A failover is a new write target that differs from the last one the cluster had (before
// the first is found: its configured primary). The same write target coming back after an
// outage or a split brain is no failover. With no configured primary and none found yet,
// the first write target is a failover from nobody ("" as `from`) only once every backend
// has answered: before that it is discovery at start-up.
std::optional<Failover> failover_between(const ClusterHealth& before, const ClusterHealth& after);

}  // namespace plexi::routing
