// The Redis links of the process: one shared link per (worker, cluster, backend, login,
// database, protocol), found by the sessions of that worker, and the command table each
// Redis cluster's servers describe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/asio.h"
#include "pools/redis/server_link.h"
#include "routing/redis_commands.h"

namespace plexi::pools::redis {

class LinkRegistry {
 public:
  // The link of `worker` (the executor of the calling session) to `target`, made on first
  // use. Called on that worker.
  std::shared_ptr<ServerLink> shared_link(const asio::any_io_executor& worker,
                                          const std::string& cluster, const std::string& backend,
                                          const LinkTarget& target);

  // The command table of a cluster: the built-in one until a server's COMMAND reply has
  // been read.
  std::shared_ptr<const routing::CommandTable> commands(const std::string& cluster) const;
  // True for the one caller that should ask a server for the cluster's command table.
  bool claim_command_table(const std::string& cluster);
  // The table read from a server; null: the attempt failed, and the next caller may try.
  void set_commands(const std::string& cluster, std::shared_ptr<const routing::CommandTable> table);

  // Forgets the links for which `stale(cluster, backend, target)` holds (a reload dropped or
  // moved their backend): the next session makes new ones, and each old one closes when the
  // last session using it lets go of it.
  void drop_links(const std::function<bool(const std::string& cluster, const std::string& backend,
                                            const LinkTarget& target)>& stale);

  // Closes every link (shutdown), each on its own worker.
  void close_all();

 private:
  struct Key {
    const void* worker = nullptr;
    std::string cluster, backend, host, user, password;
    int port = 0, database = 0, protocol = 2;
    auto operator<=>(const Key&) const = default;
  };
  mutable std::mutex mutex_;
  std::map<Key, std::shared_ptr<ServerLink>> links_;
  std::map<std::string, std::shared_ptr<const routing::CommandTable>> commands_;
  std::set<std::string> loading_;
};

}  // namespace plexi::pools::redis
