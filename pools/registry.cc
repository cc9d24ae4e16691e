// Pool lookup and creation; server connections are opened on the process's I/O executor.
#include "pools/registry.h"

namespace plexi::pools {

std::shared_ptr<pg::ServerPool> Registry::postgres_pool(const PoolKey& key,
                                                        const pg::ServerAddress& address,
                                                        const config::PoolSettings& settings) {
  std::lock_guard lock(mutex_);
  auto& pool = postgres_[key];
  auto& login = postgres_logins_[key];
  if (!pool) {
    login = std::make_shared<Login<pg::ServerAddress>>();
    login->address = address;
    pool = std::make_shared<pg::ServerPool>(
        key.to_string(), settings,
        [login](std::string& error) -> awaitable<std::unique_ptr<pg::ServerConnection>> {
          // A named copy: GCC 12 mishandles temporaries inside a co_await expression.
          pg::ServerAddress current = login->current();
          co_return co_await pg::ServerConnection::connect(current, error);
        });
  } else {
    pool->update_settings(settings);
    // The latest client's credentials: after a password changed on the server, the first
    // client to log in with the new one (through auth_query) lets new connections open.
    if (!address.password.empty() || address.scram_keys) login->update(address);
  }
  return pool;
}

sqlite::Database* Registry::sqlite_database(const std::string& path, std::string& error) {
  std::lock_guard lock(mutex_);
  auto& database = sqlite_[path];
  if (!database) database = sqlite::Database::open(path, sqlite_threads_, error);
  if (!database) sqlite_.erase(path);
  auto it = sqlite_.find(path);
  return it == sqlite_.end() ? nullptr : it->second.get();
}

std::shared_ptr<mysql::ServerPool> Registry::mysql_pool(const PoolKey& key,
                                                        const mysql::ServerAddress& address,
                                                        const config::PoolSettings& settings) {
  std::lock_guard lock(mutex_);
  auto& pool = mysql_[key];
  auto& login = mysql_logins_[key];
  if (!pool) {
    login = std::make_shared<Login<mysql::ServerAddress>>();
    login->address = address;
    pool = std::make_shared<mysql::ServerPool>(
        key.to_string(), settings,
        [login](std::string& error) -> awaitable<std::unique_ptr<mysql::ServerConnection>> {
          // A named copy: GCC 12 mishandles temporaries inside a co_await expression.
          mysql::ServerAddress current = login->current();
          co_return co_await mysql::ServerConnection::connect(current, error);
        });
  } else {
    pool->update_settings(settings);
    if (!address.password.empty() || !address.password_sha1.empty()) login->update(address);
  }
  return pool;
}

std::vector<std::pair<PoolKey, std::shared_ptr<pg::ServerPool>>> Registry::postgres_pools() const {
  std::lock_guard lock(mutex_);
  return {postgres_.begin(), postgres_.end()};
}

std::vector<std::pair<PoolKey, std::shared_ptr<mysql::ServerPool>>> Registry::mysql_pools() const {
  std::lock_guard lock(mutex_);
  return {mysql_.begin(), mysql_.end()};
}

void Registry::prune(const asio::any_io_executor& executor) {
  for_each_pool([&](const PoolKey&, auto& pool) {
    pool.prune();
    pool.replenish(executor);
  });
}

void Registry::close_idle(std::string_view cluster, std::string_view backend) {
  for_each_pool([&](const PoolKey& key, auto& pool) {
    if (key.cluster == cluster && key.backend == backend) pool.close_idle();
  });
}

void Registry::close_all() {
  for_each_pool([](const PoolKey&, auto& pool) { pool.close_all(); });
  redis_links_.close_all();
  mysql_links_.close_all();
}

}  // namespace plexi::pools
