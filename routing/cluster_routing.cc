// Per-cluster routing state: rules compiled once per config snapshot.
#include "routing/cluster_routing.h"

namespace plexi::routing {

ClusterRouting::ClusterRouting(const config::Cluster& cluster)
    : classifier_(cluster.volatile_functions) {
  for (const auto& rule : cluster.rules) {
    CompiledRule compiled{&rule, std::nullopt, std::nullopt, {}};
    if (!rule.match.empty()) {
      // Validated when the config was loaded, so this does not throw.
      compiled.pattern.emplace(rule.match, std::regex::ECMAScript | std::regex::optimize);
    } else if (auto digest = parse_digest(rule.match_fingerprint)) {
      compiled.digest = digest;
    } else {
      compiled.shape = shape_statement(rule.match_fingerprint).text;
    }
    rules_.push_back(std::move(compiled));
  }
}

std::optional<RuleMatch> ClusterRouting::match(std::string_view sql, std::string_view shape,
                                               std::uint64_t digest) const {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const auto& compiled = rules_[i];
    bool matched = compiled.pattern  ? std::regex_search(sql.begin(), sql.end(), *compiled.pattern)
                   : compiled.digest ? *compiled.digest == digest
                                     : compiled.shape == shape;
    if (matched) return RuleMatch{static_cast<int>(i), compiled.rule};
  }
  return std::nullopt;
}

std::shared_ptr<ClusterRouting> RoutingTable::cluster(
    const std::shared_ptr<const config::Config>& config, const config::Cluster& cluster) {
  std::lock_guard lock(mutex_);
  auto& entry = clusters_[cluster.name];
  if (!entry.routing || entry.config.lock() != config) {
    entry.config = config;
    entry.routing = std::make_shared<ClusterRouting>(cluster);
  }
  return entry.routing;
}

}  // namespace plexi::routing
