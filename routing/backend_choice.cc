#include "routing/backend_choice.h"

#include <algorithm>
#include <chrono>

namespace plexi::routing {

Want want_of(config::Role role) {
  switch (role) {
    case config::Role::kPrimary:
      return Want::kWrite;
    case config::Role::kAnalytics:
      return Want::kAnalytics;
    case config::Role::kReplica:
    case config::Role::kCache:
      break;
  }
  return Want::kRead;
}

Balancing balancing_of(config::LoadBalancing value) {
  switch (value) {
    case config::LoadBalancing::kLeastOutstanding:
      return Balancing::kLeastOutstanding;
    case config::LoadBalancing::kWeighted:
      return Balancing::kWeighted;
    case config::LoadBalancing::kRoundRobin:
      break;
  }
  return Balancing::kRoundRobin;
}

int configured_primary(const config::Cluster& cluster) {
  for (std::size_t i = 0; i < cluster.backends.size(); ++i) {
    if (cluster.backends[i].role == config::Role::kPrimary) return static_cast<int>(i);
  }
  return 0;
}

const config::Backend& write_target(const config::Cluster& cluster, const ClusterHealth* health) {
  if (const auto* writer = health ? health->writer() : nullptr) {
    for (const auto& backend : cluster.backends) {
      if (backend.name == writer->name) return backend;
    }
  }
  for (const auto& backend : cluster.backends) {
    if (backend.role == config::Role::kPrimary) return backend;
  }
  return cluster.backends.front();
}

BackendStates backend_states(const config::Cluster& cluster, const ClusterHealth* health) {
  BackendStates states;
  states.size = std::min(cluster.backends.size(), states.items.size());
  bool no_writer_yet = !health || (health->write_target < 0 && !health->had_write_target &&
                                   health->no_write_target_reason.empty());
  for (std::size_t i = 0; i < states.size; ++i) {
    const auto& backend = cluster.backends[i];
    auto& state = states.items[i];
    state.role = backend.role;
    state.weight = backend.weight;
    state.zone = backend.zone;
    // The monitor's view is matched by name: across a reload it may be of the config before
    // or after the caller's, with backends added or removed.
    int checked = -1;
    if (health) {
      checked = i < health->backends.size() && health->backends[i].name == backend.name
                    ? static_cast<int>(i)
                    : health->index_of(backend.name);
    }
    const BackendHealth* seen =
        checked >= 0 ? &health->backends[static_cast<std::size_t>(checked)] : nullptr;
    bool known = seen && (seen->state == BackendState::kUp || seen->state == BackendState::kDown);
    if (!known) {
      state.up = true;
      state.in_recovery = backend.role != config::Role::kPrimary;
      state.write_target = backend.role == config::Role::kPrimary &&
                           (no_writer_yet || (checked >= 0 && health->write_target == checked));
      continue;
    }
    state.up = seen->up;
    state.write_target = health->write_target == checked;
    state.in_recovery = !seen->actual_primary;
    state.replay_lsn = seen->replay_lsn;
    state.lag = seen->lag.value_or(std::chrono::milliseconds::max());
  }
  if (health) states.no_write_target_reason = health->no_write_target_reason;
  return states;
}

Choice choose_backend(Router& router, const config::Config& config, const config::Cluster& cluster,
                      const ClusterHealth* health, const TrafficControl& traffic,
                      const ChoiceRequest& request) {
  BackendStates states = backend_states(cluster, health);
  if (request.avoid >= 0 && static_cast<std::size_t>(request.avoid) < states.size) {
    states.items[static_cast<std::size_t>(request.avoid)].up = false;
  }
  if (!request.among.empty()) {
    // One shard of several: the others' backends are out, and the write target is elected
    // within the shard (the cluster-wide election sees one primary per shard).
    std::array<bool, 32> inside{};
    for (int index : request.among) {
      if (index >= 0 && static_cast<std::size_t>(index) < inside.size()) inside[index] = true;
    }
    int claimant = -1;
    int claimants = 0;
    for (std::size_t i = 0; i < states.size; ++i) {
      auto& state = states.items[i];
      if (!inside[i]) state.up = false;
      state.write_target = false;
      if (inside[i] && state.up && !state.in_recovery && state.role != config::Role::kAnalytics) {
        claimant = static_cast<int>(i);
        ++claimants;
      }
    }
    if (claimants == 1) {
      states.items[static_cast<std::size_t>(claimant)].write_target = true;
      states.no_write_target_reason.clear();
    } else {
      states.no_write_target_reason = claimants == 0
                                          ? "no backend of the shard is an available primary"
                                          : "several backends of the shard claim to be primary";
    }
  }
  if (traffic.any_disabled()) {
    // DISABLE BACKEND: no new transactions; the running ones finish where they are.
    for (std::size_t i = 0; i < states.size; ++i) {
      if (traffic.disabled(cluster.name, cluster.backends[i].name)) states.items[i].up = false;
    }
  }
  Policy policy;
  policy.balancing = balancing_of(cluster.load_balancing);
  policy.max_replication_lag = cluster.health.max_replication_lag;
  policy.local_zone = config.zone;
  auto choice = router.choose(request.want, request.min_lsn, states.view(), policy);
  if (choice.backend < 0 && !states.no_write_target_reason.empty()) {
    choice.error += " (" + states.no_write_target_reason + ")";
  }
  return choice;
}

}  // namespace plexi::routing
