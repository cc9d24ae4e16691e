// The names Redis 7 uses in COMMAND for command flags, key spec flags, ACL categories and
// tips, and the bits they stand for here.
#include "routing/redis_commands_names.h"

#include <array>
#include <span>
#include <utility>

namespace plexi::routing::redis_names {
namespace {

struct Named {
  std::string_view name;
  std::uint32_t bit;
};

constexpr auto kCommandFlags = std::to_array<Named>({
    {"write", command_flag::kWrite},
    {"readonly", command_flag::kReadonly},
    {"denyoom", command_flag::kDenyOom},
    {"module", command_flag::kModule},
    {"admin", command_flag::kAdmin},
    {"pubsub", command_flag::kPubSub},
    {"noscript", command_flag::kNoScript},
    {"blocking", command_flag::kBlocking},
    {"loading", command_flag::kLoading},
    {"stale", command_flag::kStale},
    {"skip_monitor", command_flag::kSkipMonitor},
    {"skip_slowlog", command_flag::kSkipSlowlog},
    {"asking", command_flag::kAsking},
    {"fast", command_flag::kFast},
    {"no_auth", command_flag::kNoAuth},
    {"may_replicate", command_flag::kMayReplicate},
    {"no_mandatory_keys", command_flag::kNoMandatoryKeys},
    {"no_async_loading", command_flag::kNoAsyncLoading},
    {"no_multi", command_flag::kNoMulti},
    {"movablekeys", command_flag::kMovableKeys},
    {"allow_busy", command_flag::kAllowBusy},
    {"module_no_cluster", command_flag::kModuleNoCluster},
});

constexpr auto kKeyFlags = std::to_array<Named>({
    {"RO", key_flag::kRO},
    {"RW", key_flag::kRW},
    {"OW", key_flag::kOW},
    {"RM", key_flag::kRM},
    {"access", key_flag::kAccess},
    {"update", key_flag::kUpdate},
    {"insert", key_flag::kInsert},
    {"delete", key_flag::kDelete},
    {"not_key", key_flag::kNotKey},
    {"incomplete", key_flag::kIncomplete},
    {"variable_flags", key_flag::kVariableFlags},
});

constexpr auto kAclCategories = std::to_array<Named>({
    {"keyspace", acl_category::kKeyspace},
    {"read", acl_category::kRead},
    {"write", acl_category::kWrite},
    {"set", acl_category::kSet},
    {"sortedset", acl_category::kSortedSet},
    {"list", acl_category::kList},
    {"hash", acl_category::kHash},
    {"string", acl_category::kString},
    {"bitmap", acl_category::kBitmap},
    {"hyperloglog", acl_category::kHyperLogLog},
    {"geo", acl_category::kGeo},
    {"stream", acl_category::kStream},
    {"pubsub", acl_category::kPubSub},
    {"admin", acl_category::kAdmin},
    {"fast", acl_category::kFast},
    {"slow", acl_category::kSlow},
    {"blocking", acl_category::kBlocking},
    {"dangerous", acl_category::kDangerous},
    {"connection", acl_category::kConnection},
    {"transaction", acl_category::kTransaction},
    {"scripting", acl_category::kScripting},
});

constexpr auto kRequestPolicies = std::to_array<std::pair<std::string_view, RequestPolicy>>({
    {"all_nodes", RequestPolicy::kAllNodes},
    {"all_shards", RequestPolicy::kAllShards},
    {"multi_shard", RequestPolicy::kMultiShard},
    {"special", RequestPolicy::kSpecial},
});

constexpr auto kResponsePolicies = std::to_array<std::pair<std::string_view, ResponsePolicy>>({
    {"one_succeeded", ResponsePolicy::kOneSucceeded},
    {"all_succeeded", ResponsePolicy::kAllSucceeded},
    {"agg_logical_and", ResponsePolicy::kAggLogicalAnd},
    {"agg_logical_or", ResponsePolicy::kAggLogicalOr},
    {"agg_min", ResponsePolicy::kAggMin},
    {"agg_max", ResponsePolicy::kAggMax},
    {"agg_sum", ResponsePolicy::kAggSum},
    {"special", ResponsePolicy::kSpecial},
});

template <typename Table>
auto lookup(const Table& table, std::string_view name, decltype(table[0].second) otherwise) {
  for (const auto& [known, value] : table) {
    if (known == name) return value;
  }
  return otherwise;
}

std::uint32_t bit_of(std::span<const Named> table, std::string_view name) {
  for (const Named& named : table) {
    if (named.name == name) return named.bit;
  }
  return 0;
}

}  // namespace

std::uint32_t command_flag(std::string_view name) { return bit_of(kCommandFlags, name); }

std::uint32_t key_flag(std::string_view name) { return bit_of(kKeyFlags, name); }

std::uint32_t acl_category(std::string_view name) {
  if (name.starts_with('@')) name.remove_prefix(1);
  return bit_of(kAclCategories, name);
}

void apply_tip(std::string_view tip, CommandInfo& command) {
  constexpr std::string_view kRequest = "request_policy:";
  constexpr std::string_view kResponse = "response_policy:";
  if (tip.starts_with(kRequest)) {
    tip.remove_prefix(kRequest.size());
    command.request_policy = lookup(kRequestPolicies, tip, command.request_policy);
  } else if (tip.starts_with(kResponse)) {
    tip.remove_prefix(kResponse.size());
    command.response_policy = lookup(kResponsePolicies, tip, command.response_policy);
  }
}

KeySpec::Begin begin_search(std::string_view type) {
  if (type == "index") return KeySpec::Begin::kIndex;
  if (type == "keyword") return KeySpec::Begin::kKeyword;
  return KeySpec::Begin::kUnknown;
}

KeySpec::Find find_keys(std::string_view type) {
  if (type == "range") return KeySpec::Find::kRange;
  if (type == "keynum") return KeySpec::Find::kKeynum;
  return KeySpec::Find::kUnknown;
}

}  // namespace plexi::routing::redis_names
