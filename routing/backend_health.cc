// Fall and rise per backend, and the election of a cluster's write target.
#include "routing/backend_health.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace plexi::routing {
namespace {

using config::Role;

bool takes_part(Role role) { return role == Role::kPrimary || role == Role::kReplica; }

std::string address_of(const config::Backend& backend) {
  return std::string(config::to_string(backend.type)) + "://" + backend.host + ":" +
         std::to_string(backend.port);
}

std::optional<std::chrono::milliseconds> replica_lag(const CheckResult& result) {
  if (!result.in_recovery) return std::chrono::milliseconds(0);
  // The age of the last replayed transaction grows while the primary is idle; it is lag only
  // while WAL that was received still waits to be replayed.
  if (result.receive_lsn && *result.receive_lsn <= result.wal_lsn) {
    return std::chrono::milliseconds(0);
  }
  if (!result.replay_age_seconds) return std::nullopt;
  const double seconds = std::max(0.0, *result.replay_age_seconds);
  return std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000)));
}

// Why nobody may take writes when no backend claims to be primary.
std::string nobody_reason(const ClusterHealth& cluster) {
  std::string details;
  for (const auto& b : cluster.backends) {
    if (!takes_part(b.role)) continue;
    if (!details.empty()) details += ", ";
    details += b.name;
    switch (b.state) {
      case BackendState::kUnknown:
        details += " not checked yet";
        break;
      case BackendState::kDown:
        details += " down";
        break;
      default:
        details += " in recovery";
    }
  }
  if (details.empty()) return "no backend with role primary or replica: writes refused";
  return "no backend reports itself primary (" + details + "): writes refused";
}

std::string count_word(std::size_t n) {
  static const char* const kWords[] = {"no", "one", "two", "three", "four", "five"};
  return n < std::size(kWords) ? kWords[n] : std::to_string(n);
}

}  // namespace

std::string_view to_string(BackendState state) {
  switch (state) {
    case BackendState::kUnknown:
      return "unknown";
    case BackendState::kUp:
      return "up";
    case BackendState::kDown:
      return "down";
    case BackendState::kUnchecked:
      return "unchecked";
  }
  return "?";
}

bool ClusterHealth::settled() const {
  for (const auto& b : backends) {
    if (b.state == BackendState::kUnknown) return false;
  }
  return true;
}

int ClusterHealth::index_of(std::string_view backend) const {
  for (std::size_t i = 0; i < backends.size(); ++i) {
    if (backends[i].name == backend) return static_cast<int>(i);
  }
  return -1;
}

void apply_check(BackendHealth& b, const CheckResult& result, const config::Health& health) {
  if (b.state == BackendState::kUnchecked) return;
  b.checked_at = result.at;
  if (!result.ok) {
    b.last_error = result.error;
    b.successes_in_a_row = 0;
    ++b.failures_in_a_row;
    if (b.state == BackendState::kUnknown ||
        (b.state == BackendState::kUp && b.failures_in_a_row >= health.fall)) {
      b.state = BackendState::kDown;
    }
  } else {
    b.failures_in_a_row = 0;
    ++b.successes_in_a_row;
    if (b.state == BackendState::kUnknown ||
        (b.state == BackendState::kDown && b.successes_in_a_row >= health.rise)) {
      b.state = BackendState::kUp;
    }
    // The role and positions are facts of this check, whatever the state says.
    b.actual_primary = !result.in_recovery;
    b.replay_lsn = result.wal_lsn;
    b.current_lsn = result.in_recovery ? std::max(result.wal_lsn, result.receive_lsn.value_or(0))
                                       : result.wal_lsn;
    b.lag = replica_lag(result);
  }
  b.up = b.state == BackendState::kUp;
}

void elect(ClusterHealth& cluster, const config::Health& health) {
  std::vector<std::size_t> claimants;
  for (std::size_t i = 0; i < cluster.backends.size(); ++i) {
    auto& b = cluster.backends[i];
    if (b.state == BackendState::kUnchecked) {
      b.up = true;
      b.actual_primary = b.role == Role::kPrimary;
    }
    const bool lag_ok =
        health.max_replication_lag.count() == 0 || (b.lag && *b.lag <= health.max_replication_lag);
    b.read_candidate = b.up && takes_part(b.role) && !b.actual_primary && lag_ok;
    if (b.up && takes_part(b.role) && b.actual_primary) claimants.push_back(i);
  }
  cluster.write_target = -1;
  cluster.no_write_target_reason.clear();
  for (auto& b : cluster.backends) b.takes_writes = false;
  const bool sharded = std::any_of(cluster.backends.begin(), cluster.backends.end(),
                                   [](const BackendHealth& b) { return !b.shard.empty(); });
  if (sharded) {
    // One primary per shard: each shard elects its own, and the problems of all of them
    // are the cluster's reason.
    std::vector<std::string> shards;
    for (const auto& b : cluster.backends) {
      if (std::find(shards.begin(), shards.end(), b.shard) == shards.end())
        shards.push_back(b.shard);
    }
    for (const auto& shard : shards) {
      std::vector<std::size_t> mine;
      for (auto i : claimants) {
        if (cluster.backends[i].shard == shard) mine.push_back(i);
      }
      if (mine.size() == 1) {
        cluster.backends[mine.front()].takes_writes = true;
        continue;
      }
      if (!cluster.no_write_target_reason.empty()) cluster.no_write_target_reason += "; ";
      cluster.no_write_target_reason +=
          "shard " + shard + ": " +
          (mine.empty() ? std::string("no primary is up")
                        : count_word(mine.size()) + " backends claim to be primary");
    }
    cluster.had_write_target = true;
    return;
  }
  if (claimants.size() == 1) {
    cluster.write_target = static_cast<int>(claimants.front());
    cluster.backends[claimants.front()].takes_writes = true;
    cluster.last_write_target = cluster.backends[claimants.front()].name;
    cluster.had_write_target = true;
  } else if (claimants.empty()) {
    cluster.no_write_target_reason = nobody_reason(cluster);
  } else {
    std::string names;
    for (auto i : claimants) names += (names.empty() ? "" : ", ") + cluster.backends[i].name;
    cluster.no_write_target_reason = count_word(claimants.size()) +
                                     " backends claim to be primary (" + names +
                                     "): writes refused";
  }
}

ClusterTracker::ClusterTracker(const config::Cluster& cluster, const std::vector<bool>& checked,
                               const ClusterTracker* previous)
    : settings_(cluster.health) {
  ClusterHealth first;
  first.cluster = cluster.name;
  const ClusterHealth* before = previous ? previous->current_.get() : nullptr;
  for (std::size_t i = 0; i < cluster.backends.size(); ++i) {
    const auto& config = cluster.backends[i];
    addresses_.push_back(address_of(config));
    BackendHealth b;
    if (before) {
      // The same server under the same name keeps what was learnt about it.
      const int old = before->index_of(config.name);
      if (old >= 0 && previous->addresses_[static_cast<std::size_t>(old)] == addresses_.back()) {
        b = before->backends[static_cast<std::size_t>(old)];
      }
    }
    b.name = config.name;
    b.role = config.role;
    b.shard = config.shard;
    const bool is_checked = i < checked.size() && checked[i];
    if (!is_checked) {
      b = BackendHealth{};
      b.name = config.name;
      b.role = config.role;
      b.shard = config.shard;
      b.state = BackendState::kUnchecked;
    } else if (b.state == BackendState::kUnchecked) {
      b.state = BackendState::kUnknown;
      b.up = false;
    }
    first.backends.push_back(std::move(b));
  }
  if (before) {
    first.generation = before->generation;
    first.last_write_target = before->last_write_target;
    first.had_write_target = before->had_write_target;
  } else {
    for (const auto& backend : cluster.backends) {
      if (backend.role == Role::kPrimary) {
        first.last_write_target = backend.name;
        break;
      }
    }
  }
  publish(std::move(first));
}

std::shared_ptr<const ClusterHealth> ClusterTracker::record(std::size_t index,
                                                            const CheckResult& result) {
  ClusterHealth next = *current_;
  if (index < next.backends.size()) apply_check(next.backends[index], result, settings_);
  publish(std::move(next));
  return current_;
}

void ClusterTracker::publish(ClusterHealth next) {
  elect(next, settings_);
  ++next.generation;
  current_ = std::make_shared<const ClusterHealth>(std::move(next));
}

}  // namespace plexi::routing
