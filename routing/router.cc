// Backend choice: candidates by role and health, then zone preference, then balancing.
#include "routing/router.h"

#include <vector>

namespace plexi::routing {
namespace {

bool readable(const Candidate& backend, std::uint64_t min_lsn, const Policy& policy) {
  if (!backend.up || backend.write_target || !backend.in_recovery) return false;
  if (backend.role == config::Role::kAnalytics || backend.role == config::Role::kCache) {
    return false;
  }
  if (policy.max_replication_lag.count() > 0 && backend.lag > policy.max_replication_lag) {
    return false;
  }
  return min_lsn == 0 || backend.replay_lsn >= min_lsn;
}

int write_target(std::span<const Candidate> backends) {
  for (std::size_t i = 0; i < backends.size(); ++i) {
    if (backends[i].up && backends[i].write_target) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

Choice Router::choose(Want want, std::uint64_t min_lsn, std::span<const Candidate> backends,
                      const Policy& policy) {
  Choice choice;
  std::vector<int> candidates;
  if (want == Want::kAnalytics) {
    for (std::size_t i = 0; i < backends.size(); ++i) {
      const auto& backend = backends[i];
      bool lag_ok = policy.max_replication_lag.count() == 0 || !backend.in_recovery ||
                    backend.lag <= policy.max_replication_lag;
      if (backend.up && backend.role == config::Role::kAnalytics && lag_ok) {
        candidates.push_back(static_cast<int>(i));
      }
    }
    if (candidates.empty()) want = Want::kRead;
  }
  if (want == Want::kRead) {
    for (std::size_t i = 0; i < backends.size(); ++i) {
      if (readable(backends[i], min_lsn, policy)) candidates.push_back(static_cast<int>(i));
    }
    if (candidates.empty()) {
      choice.fell_back = true;
      want = Want::kWrite;
    }
  }
  if (want == Want::kWrite) {
    choice.backend = write_target(backends);
    if (choice.backend < 0) choice.error = std::string(kNoWriteTarget);
    return choice;
  }
  choice.backend = balance(candidates, backends, policy);
  return choice;
}

int Router::balance(std::span<const int> candidates, std::span<const Candidate> backends,
                    const Policy& policy) {
  std::vector<int> near;
  if (!policy.local_zone.empty()) {
    for (int index : candidates) {
      if (backends[static_cast<std::size_t>(index)].zone == policy.local_zone) {
        near.push_back(index);
      }
    }
    if (!near.empty()) candidates = near;
  }
  std::uint64_t turn = next_.fetch_add(1, std::memory_order_relaxed);
  switch (policy.balancing) {
    case Balancing::kRoundRobin:
      break;
    case Balancing::kLeastOutstanding: {
      // Fewest requests in flight; ties rotate, so an idle cluster still spreads its load.
      int best = -1;
      int best_load = 0;
      for (std::size_t k = 0; k < candidates.size(); ++k) {
        int index = candidates[(turn + k) % candidates.size()];
        int load = outstanding(index);
        if (best < 0 || load < best_load) {
          best = index;
          best_load = load;
        }
      }
      return best;
    }
    case Balancing::kWeighted: {
      std::uint64_t total = 0;
      for (int index : candidates) {
        total += static_cast<std::uint64_t>(backends[static_cast<std::size_t>(index)].weight);
      }
      if (total == 0) break;
      std::uint64_t point = turn % total;
      for (int index : candidates) {
        auto weight = static_cast<std::uint64_t>(backends[static_cast<std::size_t>(index)].weight);
        if (point < weight) return index;
        point -= weight;
      }
      break;
    }
  }
  return candidates[turn % candidates.size()];
}

}  // namespace plexi::routing
