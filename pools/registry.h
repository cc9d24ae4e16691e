// Every pool of the process, found by (cluster, backend, user, database), and the SQLite
// databases the executor serves. Pools outlive config reloads that keep their backend.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/asio.h"
#include "config/config.h"
#include "pools/mysql/server_pool.h"
#include "pools/mysql/shared_link.h"
#include "pools/pg/server_pool.h"
#include "pools/redis/link_registry.h"
#include "pools/sqlite/executor.h"

namespace plexi::pools {

struct PoolKey {
  std::string cluster;
  std::string backend;
  std::string user;
  std::string database;
  // What else server connections of the pool must share (MySQL: the capability flags and
  // character set they log in with, which shape the packets a client reads).
  std::string variant{};
  auto operator<=>(const PoolKey&) const = default;
  std::string to_string() const {
    std::string text = cluster + "/" + backend + "/" + user + "/" + database;
    if (!variant.empty()) text += " (" + variant + ")";
    return text;
  }
};

class Registry {
 public:
  explicit Registry(std::size_t sqlite_threads) : sqlite_threads_(sqlite_threads) {}

  // The pool for `key` (a client of `backend` in some config snapshot), created on first
  // use; the connections it opens from then on log in with the latest `address`. Its
  // settings are those of the latest config given to reconfigure(). A caller whose snapshot
  // is older than that and names a backend the latest config dropped or moved gets a pool
  // of its own, already retired, that no other session shares.
  std::shared_ptr<pg::ServerPool> postgres_pool(const PoolKey& key,
                                                const pg::ServerAddress& address,
                                                const config::Backend& backend);

  // As postgres_pool(): after a password changed on the server, the first client to log in
  // with the new one lets new connections open.
  std::shared_ptr<mysql::ServerPool> mysql_pool(const PoolKey& key,
                                                const mysql::ServerAddress& address,
                                                const config::Backend& backend);

  // A reload: every pool takes its backend's settings from `latest` (a larger pool lets
  // waiting sessions connect at once); the pools and Redis links of backends it dropped, or
  // whose address, database or login it changed, are retired: their idle connections
  // close, the others as their sessions give them back, and the next session makes a new
  // pool. Returns the retired pools' names.
  std::vector<std::string> reconfigure(std::shared_ptr<const config::Config> latest);

  // The Redis links of every worker.
  redis::LinkRegistry& redis_links() { return redis_links_; }
  // The MySQL connections shared by the autocommit reads of each worker's clients.
  mysql::SharedLinks& mysql_links() { return mysql_links_; }

  // The executor database for `path`, opened on first use; null with `error` on failure.
  sqlite::Database* sqlite_database(const std::string& path, std::string& error);

  // Every PostgreSQL pool with its key (for metrics and the admin console).
  std::vector<std::pair<PoolKey, std::shared_ptr<pg::ServerPool>>> postgres_pools() const;
  std::vector<std::pair<PoolKey, std::shared_ptr<mysql::ServerPool>>> mysql_pools() const;

  // Calls `visit(key, pool)` with every pool of every protocol, outside the registry's lock.
  template <class Visit>
  void for_each_pool(Visit visit) const {
    auto postgres = postgres_pools();
    auto mysql = mysql_pools();
    for (auto& [key, pool] : postgres) visit(key, *pool);
    for (auto& [key, pool] : mysql) visit(key, *pool);
  }

  // Closes idle connections past their timeouts and opens connections up to min_idle (on
  // `executor`); called by the daemon's janitor.
  void prune(const asio::any_io_executor& executor);
  // Closes the idle connections of every pool of one backend (it went down).
  void close_idle(std::string_view cluster, std::string_view backend);
  // Closes every server connection, now and as sessions give them back (shutdown).
  void close_all();

 private:
  std::size_t sqlite_threads_;
  mutable std::mutex mutex_;
  // What a pool's new connections log in with, updated by every postgres_pool() or
  // mysql_pool() that brings credentials.
  template <class Address>
  struct Login {
    std::mutex mutex;
    Address address;

    Address current() {
      std::lock_guard lock(mutex);
      return address;
    }
    void update(const Address& latest) {
      std::lock_guard lock(mutex);
      address = latest;
    }
  };
  template <class Pool, class Address>
  struct Entry {
    std::shared_ptr<Pool> pool;
    std::shared_ptr<Login<Address>> login;
    std::string target;  // where the backend was when the pool was made (target_of())
  };
  template <class Pool, class Address>
  using Pools = std::map<PoolKey, Entry<Pool, Address>>;

  // The pool of `key` in `pools`, made with `connect(address)` when missing.
  template <class Pool, class Address, class Connect>
  std::shared_ptr<Pool> pool_in(Pools<Pool, Address>& pools, const PoolKey& key,
                                const Address& address, const config::Backend& backend,
                                Connect connect);
  // Updates the settings of the pools whose backend the latest config has where it was;
  // retires and forgets the others, and returns them.
  template <class Pool, class Address>
  std::vector<std::shared_ptr<Pool>> retire_stale(Pools<Pool, Address>& pools);
  // The latest config's backend `key` names, when it is still where `target` says.
  const config::Backend* current_backend(const PoolKey& key, const std::string& target) const;

  std::shared_ptr<const config::Config> latest_;  // null until reconfigure(): all current
  Pools<pg::ServerPool, pg::ServerAddress> postgres_;
  Pools<mysql::ServerPool, mysql::ServerAddress> mysql_;
  std::map<std::string, std::unique_ptr<sqlite::Database>> sqlite_;
  redis::LinkRegistry redis_links_;
  mysql::SharedLinks mysql_links_;
};

}  // namespace plexi::pools
