#include "pools/redis/link_registry.h"

namespace plexi::pools::redis {

std::shared_ptr<ServerLink> LinkRegistry::shared_link(const asio::any_io_executor& worker,
                                                      const std::string& cluster,
                                                      const std::string& backend,
                                                      const LinkTarget& target) {
  Key key{&asio::query(worker, asio::execution::context),
          cluster,
          backend,
          target.host,
          target.user,
          target.password,
          target.port,
          target.database,
          target.protocol};
  std::lock_guard lock(mutex_);
  auto& link = links_[key];
  if (!link) link = std::make_shared<ServerLink>(worker, target);
  return link;
}

std::shared_ptr<const routing::CommandTable> LinkRegistry::commands(
    const std::string& cluster) const {
  {
    std::lock_guard lock(mutex_);
    auto found = commands_.find(cluster);
    if (found != commands_.end()) return found->second;
  }
  // The built-in table lives as long as the process.
  return {std::shared_ptr<const routing::CommandTable>(), &routing::CommandTable::builtin()};
}

bool LinkRegistry::claim_command_table(const std::string& cluster) {
  std::lock_guard lock(mutex_);
  if (commands_.count(cluster) != 0) return false;
  return loading_.insert(cluster).second;
}

void LinkRegistry::set_commands(const std::string& cluster,
                                std::shared_ptr<const routing::CommandTable> table) {
  std::lock_guard lock(mutex_);
  loading_.erase(cluster);
  if (table) commands_[cluster] = std::move(table);
}

void LinkRegistry::drop_links(
    const std::function<bool(const std::string&, const std::string&, const LinkTarget&)>& stale) {
  std::vector<std::shared_ptr<ServerLink>> dropped;
  std::unique_lock lock(mutex_);
  for (auto it = links_.begin(); it != links_.end();) {
    const Key& key = it->first;
    LinkTarget target;
    target.host = key.host;
    target.port = static_cast<std::uint16_t>(key.port);
    target.user = key.user;
    target.password = key.password;
    target.database = key.database;
    target.protocol = key.protocol;
    if (stale(key.cluster, key.backend, target)) {
      dropped.push_back(std::move(it->second));
      it = links_.erase(it);
    } else {
      ++it;
    }
  }
  lock.unlock();
  // The registry's reference goes on the link's own worker: when it is the last, the link
  // is destroyed there, beside its I/O.
  for (auto& link : dropped) {
    auto executor = link->executor();
    asio::post(executor, [link = std::move(link)]() mutable { link.reset(); });
  }
}

void LinkRegistry::close_all() {
  std::map<Key, std::shared_ptr<ServerLink>> links;
  {
    std::lock_guard lock(mutex_);
    links.swap(links_);
  }
  for (auto& [key, link] : links) {
    auto executor = link->executor();
    asio::post(executor, [link] { link->close("plexiproxy is shutting down"); });
  }
}

}  // namespace plexi::pools::redis
