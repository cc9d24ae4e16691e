// Pool lookup and creation; server connections are opened on the process's I/O executor.
#include "pools/registry.h"

namespace plexi::pools {

namespace {

// Where a backend is and how the proxy logs in there: a pool made for one target must not
// serve another.
std::string target_of(const config::Backend& backend) {
  std::string target;
  for (const std::string* part : {&backend.host, &backend.database, &backend.username,
                                  &backend.password, &backend.tls_ca_file, &backend.path}) {
    target.append(*part).append(1, '\0');
  }
  target.append(std::to_string(backend.port)).append(1, '\0');
  target.append(std::to_string(static_cast<int>(backend.type))).append(1, '\0');
  target.append(std::to_string(static_cast<int>(backend.tls)));
  return target;
}

// A client's credentials, which its pool's new connections log in with from then on: after
// a password changed on the server, the first client to log in with the new one (through
// auth_query) lets new connections open.
bool brings_credentials(const pg::ServerAddress& address) {
  return !address.password.empty() || address.scram_keys.has_value();
}
bool brings_credentials(const mysql::ServerAddress& address) {
  return !address.password.empty() || !address.password_sha1.empty();
}

}  // namespace

const config::Backend* Registry::current_backend(const PoolKey& key,
                                                 const std::string& target) const {
  const config::Cluster* cluster = latest_->find_cluster(key.cluster);
  if (!cluster) return nullptr;
  for (const auto& backend : cluster->backends) {
    if (backend.name == key.backend) return target_of(backend) == target ? &backend : nullptr;
  }
  return nullptr;
}

template <class Pool, class Address, class Connect>
std::shared_ptr<Pool> Registry::pool_in(Pools<Pool, Address>& pools, const PoolKey& key,
                                        const Address& address, const config::Backend& backend,
                                        Connect connect) {
  std::lock_guard lock(mutex_);
  std::string target = target_of(backend);
  const config::Backend* current = latest_ ? current_backend(key, target) : &backend;
  auto make = [&] {
    auto login = std::make_shared<Login<Address>>();
    login->address = address;
    auto pool = std::make_shared<Pool>(
        key.to_string(), current ? current->pool : backend.pool,
        [login, connect](std::string& error) -> awaitable<std::unique_ptr<typename Pool::ConnectionType>> {
          // A named copy: GCC 12 mishandles temporaries inside a co_await expression.
          Address latest = login->current();
          co_return co_await connect(latest, error);
        });
    return Entry<Pool, Address>{std::move(pool), std::move(login), std::move(target)};
  };
  if (!current) {
    // A session still on an older snapshot: its own pool, closing what it gives back.
    auto stale = make();
    stale.pool->retire();
    return stale.pool;
  }
  auto& entry = pools[key];
  if (!entry.pool) {
    entry = make();
  } else if (brings_credentials(address)) {
    entry.login->update(address);
  }
  return entry.pool;
}

std::shared_ptr<pg::ServerPool> Registry::postgres_pool(const PoolKey& key,
                                                        const pg::ServerAddress& address,
                                                        const config::Backend& backend) {
  return pool_in(postgres_, key, address, backend,
                 [](const pg::ServerAddress& to, std::string& error) {
                   return pg::ServerConnection::connect(to, error);
                 });
}

std::shared_ptr<mysql::ServerPool> Registry::mysql_pool(const PoolKey& key,
                                                        const mysql::ServerAddress& address,
                                                        const config::Backend& backend) {
  return pool_in(mysql_, key, address, backend,
                 [](const mysql::ServerAddress& to, std::string& error) {
                   return mysql::ServerConnection::connect(to, error);
                 });
}

template <class Pool, class Address>
std::vector<std::shared_ptr<Pool>> Registry::retire_stale(Pools<Pool, Address>& pools) {
  std::vector<std::shared_ptr<Pool>> retired;
  for (auto it = pools.begin(); it != pools.end();) {
    auto& entry = it->second;
    if (const config::Backend* backend = current_backend(it->first, entry.target)) {
      entry.pool->update_settings(backend->pool);
      ++it;
      continue;
    }
    entry.pool->retire();
    retired.push_back(std::move(entry.pool));
    it = pools.erase(it);
  }
  return retired;
}

std::vector<std::string> Registry::reconfigure(std::shared_ptr<const config::Config> latest) {
  std::vector<std::shared_ptr<pg::ServerPool>> retired_postgres;
  std::vector<std::shared_ptr<mysql::ServerPool>> retired_mysql;
  {
    std::lock_guard lock(mutex_);
    latest_ = latest;
    retired_postgres = retire_stale(postgres_);
    retired_mysql = retire_stale(mysql_);
  }
  std::vector<std::string> retired;
  for (const auto& pool : retired_postgres) retired.push_back(pool->name());
  for (const auto& pool : retired_mysql) retired.push_back(pool->name());
  mysql_links_.retire(retired_mysql);
  redis_links_.drop_links([&latest](const std::string& cluster, const std::string& backend,
                                    const redis::LinkTarget& target) {
    const config::Cluster* found = latest->find_cluster(cluster);
    if (!found) return true;
    for (const auto& b : found->backends) {
      if (b.name != backend) continue;
      return b.host != target.host || b.port != target.port || b.username != target.user ||
             b.password != target.password;
    }
    return true;
  });
  return retired;
}

sqlite::Database* Registry::sqlite_database(const std::string& path, std::string& error) {
  std::lock_guard lock(mutex_);
  auto& database = sqlite_[path];
  if (!database) database = sqlite::Database::open(path, sqlite_threads_, error);
  if (!database) sqlite_.erase(path);
  auto it = sqlite_.find(path);
  return it == sqlite_.end() ? nullptr : it->second.get();
}

std::vector<std::pair<PoolKey, std::shared_ptr<pg::ServerPool>>> Registry::postgres_pools() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<PoolKey, std::shared_ptr<pg::ServerPool>>> all;
  for (const auto& [key, entry] : postgres_) all.emplace_back(key, entry.pool);
  return all;
}

std::vector<std::pair<PoolKey, std::shared_ptr<mysql::ServerPool>>> Registry::mysql_pools() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<PoolKey, std::shared_ptr<mysql::ServerPool>>> all;
  for (const auto& [key, entry] : mysql_) all.emplace_back(key, entry.pool);
  return all;
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
