// A Redis cluster's shards as the router sees them: which backends make up each shard (a
// primary and its replicas), and the hash ring that places a key on a shard. A cluster
// without shard: keys is one shard of all its backends.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "routing/ketama.h"

namespace plexi::routing {

class RedisTopology {
 public:
  // Null with `error` when the cluster's sharding settings name no known hash.
  static std::shared_ptr<const RedisTopology> build(const config::Cluster& cluster,
                                                    std::string& error);

  std::size_t shards() const { return shards_.size(); }
  bool sharded() const { return shards_.size() > 1; }
  const std::string& shard_name(std::size_t shard) const { return shards_[shard].name; }
  // Indexes into the cluster's backends.
  std::span<const int> backends(std::size_t shard) const { return shards_[shard].backends; }
  // The shard `key` lives on (the hash tag's part of it when the cluster has a tag).
  std::size_t shard_for(std::string_view key) const;

 private:
  struct Shard {
    std::string name;
    std::vector<int> backends;
  };
  std::vector<Shard> shards_;
  std::string hash_tag_;
  std::optional<KetamaRing> ring_;
};

}  // namespace plexi::routing
