// Turns two health snapshots into log lines and failover decisions.
#include "routing/health_events.h"

#include <fmt/format.h>

namespace plexi::routing {
namespace {

std::string lag_text(const std::optional<std::chrono::milliseconds>& lag) {
  if (!lag) return "unknown";
  return fmt::format("{:.1f}s", static_cast<double>(lag->count()) / 1000.0);
}

std::string what_it_is(const BackendHealth& b) {
  if (b.role == config::Role::kAnalytics || b.role == config::Role::kCache) {
    return std::string(config::to_string(b.role));
  }
  if (b.actual_primary) return "primary";
  return "replica, lag " + lag_text(b.lag);
}

const BackendHealth* find(const ClusterHealth& cluster, const std::string& name) {
  const int i = cluster.index_of(name);
  return i >= 0 ? &cluster.backends[static_cast<std::size_t>(i)] : nullptr;
}

void backend_events(const ClusterHealth& cluster, const BackendHealth& was,
                    const BackendHealth& now, std::vector<HealthEvent>& out) {
  const std::string who = fmt::format("cluster {}: backend {}", cluster.cluster, now.name);
  if (was.up != now.up ||
      (was.state == BackendState::kUnknown && now.state == BackendState::kDown)) {
    if (now.up) {
      out.push_back({false, fmt::format("{} is up ({})", who, what_it_is(now))});
    } else if (now.state == BackendState::kDown) {
      out.push_back({true, fmt::format("{} is down: {}", who, now.last_error)});
    }
    return;
  }
  if (!now.up) return;
  if (was.actual_primary != now.actual_primary) {
    out.push_back({now.role == config::Role::kPrimary && !now.actual_primary,
                   fmt::format("{} now reports itself {}", who,
                               now.actual_primary ? "primary" : "in recovery (a replica)")});
    return;
  }
  if (was.read_candidate != now.read_candidate && !now.actual_primary) {
    if (now.read_candidate) {
      out.push_back({false, fmt::format("{} caught up (lag {}): it serves reads again", who,
                                        lag_text(now.lag))});
    } else if (now.lag) {
      out.push_back({true, fmt::format("{} lags {} behind, over max_replication_lag: no reads "
                                       "until it catches up",
                                       who, lag_text(now.lag))});
    } else {
      out.push_back({true, fmt::format("{} is behind by an unknown time (no transaction "
                                       "replayed since it started): no reads until it catches up",
                                       who)});
    }
  }
}

std::string target_name(const ClusterHealth& cluster) {
  const auto* w = cluster.writer();
  return w ? w->name : std::string();
}

}  // namespace

std::vector<HealthEvent> describe_changes(const ClusterHealth& before, const ClusterHealth& after) {
  std::vector<HealthEvent> out;
  for (const auto& now : after.backends) {
    if (const auto* was = find(before, now.name)) backend_events(after, *was, now, out);
  }
  const std::string old_target = target_name(before);
  const std::string new_target = target_name(after);
  const std::string prefix = "cluster " + after.cluster + ": ";
  if (!new_target.empty()) {
    if (new_target == old_target) return out;
    const std::string& last = old_target.empty() ? before.last_write_target : old_target;
    if (last.empty() || (!before.had_write_target && last == new_target)) {
      out.push_back({false, prefix + "write target is " + new_target});
    } else if (last == new_target) {
      out.push_back({false, prefix + "write target " + new_target + " is back"});
    } else {
      out.push_back({false, prefix + "write target " + last + " -> " + new_target});
    }
  } else if (!old_target.empty() || before.no_write_target_reason != after.no_write_target_reason) {
    // Before every backend has answered there is often no write target; that is no news.
    if (after.settled() || !old_target.empty()) {
      out.push_back({true, prefix + after.no_write_target_reason});
    }
  }
  return out;
}

bool significant_change(const ClusterHealth& before, const ClusterHealth& after) {
  if (before.write_target != after.write_target ||
      before.no_write_target_reason != after.no_write_target_reason ||
      before.backends.size() != after.backends.size()) {
    return true;
  }
  for (std::size_t i = 0; i < after.backends.size(); ++i) {
    const auto& was = before.backends[i];
    const auto& now = after.backends[i];
    if (was.name != now.name || was.state != now.state || was.up != now.up ||
        was.actual_primary != now.actual_primary || was.read_candidate != now.read_candidate) {
      return true;
    }
  }
  return false;
}

std::optional<Failover> failover_between(const ClusterHealth& before, const ClusterHealth& after) {
  const std::string new_target = target_name(after);
  if (new_target.empty()) return std::nullopt;
  const std::string old_target = target_name(before);
  if (new_target == old_target) return std::nullopt;
  const std::string& last = old_target.empty() ? before.last_write_target : old_target;
  if (last == new_target) return std::nullopt;
  if (last.empty() && !before.settled()) return std::nullopt;  // discovery at start
  return Failover{after.cluster, last, new_target};
}

}  // namespace plexi::routing
