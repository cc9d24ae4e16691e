// What routing keeps per cluster: the classifier (with the cluster's volatile functions),
// the compiled query rules and the router's balancing state, built from one config snapshot
// and shared by the sessions that logged in under it.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "routing/classifier.h"
#include "routing/router.h"

namespace plexi::routing {

struct RuleMatch {
  int index = -1;  // the rule's position in the cluster's list (for messages)
  const config::Rule* rule = nullptr;
};

class ClusterRouting {
 public:
  explicit ClusterRouting(const config::Cluster& cluster);

  Classifier& classifier() { return classifier_; }
  Router& router() { return router_; }
  bool has_rules() const { return !rules_.empty(); }
  // The first rule matching the statement (its text, or its shape and digest).
  std::optional<RuleMatch> match(std::string_view sql, std::string_view shape,
                                 std::uint64_t digest) const;

 private:
  struct CompiledRule {
    const config::Rule* rule;
    std::optional<std::regex> pattern;
    // match_fingerprint: a digest in hex, or a statement shaped as the classifier shapes
    // (so a rule may quote the statement itself).
    std::optional<std::uint64_t> digest;
    std::string shape;
  };
  Classifier classifier_;
  Router router_;
  std::vector<CompiledRule> rules_;
};

// The ClusterRouting of every cluster, for the config snapshot sessions log in under: a
// reload builds new ones on the next login (sessions keep the one they started with).
class RoutingTable {
 public:
  std::shared_ptr<ClusterRouting> cluster(const std::shared_ptr<const config::Config>& config,
                                          const config::Cluster& cluster);

 private:
  struct Entry {
    std::weak_ptr<const config::Config> config;
    std::shared_ptr<ClusterRouting> routing;
  };
  std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> clusters_;
};

}  // namespace plexi::routing
