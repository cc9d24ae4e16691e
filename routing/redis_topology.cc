#include "routing/redis_topology.h"

#include <algorithm>

namespace plexi::routing {

std::shared_ptr<const RedisTopology> RedisTopology::build(const config::Cluster& cluster,
                                                          std::string& error) {
  auto topology = std::make_shared<RedisTopology>();
  for (std::size_t i = 0; i < cluster.backends.size(); ++i) {
    const auto& backend = cluster.backends[i];
    if (backend.role == config::Role::kCache) continue;
    auto shard = std::find_if(topology->shards_.begin(), topology->shards_.end(),
                              [&](const Shard& s) { return s.name == backend.shard; });
    if (shard == topology->shards_.end()) {
      topology->shards_.push_back({backend.shard, {}});
      shard = topology->shards_.end() - 1;
    }
    shard->backends.push_back(static_cast<int>(i));
  }
  if (topology->shards_.size() <= 1) return topology;
  auto hash = hash_function_from_name(cluster.sharding.hash);
  if (!hash) {
    error = "unknown hash '" + cluster.sharding.hash + "'";
    return nullptr;
  }
  std::vector<KetamaRing::Server> servers;
  for (const auto& shard : topology->shards_) {
    // A shard weighs what its primary weighs.
    std::uint32_t weight = 1;
    for (int index : shard.backends) {
      const auto& backend = cluster.backends[static_cast<std::size_t>(index)];
      if (backend.role == config::Role::kPrimary)
        weight = static_cast<std::uint32_t>(backend.weight);
    }
    servers.push_back({shard.name, weight});
  }
  topology->ring_.emplace(std::move(servers), *hash);
  topology->hash_tag_ = cluster.sharding.hash_tag;
  return topology;
}

std::size_t RedisTopology::shard_for(std::string_view key) const {
  if (!ring_) return 0;
  if (!hash_tag_.empty()) key = hash_tag_part(key, hash_tag_);
  return ring_->server_for(key);
}

}  // namespace plexi::routing
