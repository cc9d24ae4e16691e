// auth_query's cache and its connections as auth_user, for PostgreSQL and MySQL clusters.
#include "routing/auth_query.h"

#include <algorithm>

#include "routing/mysql_auth_query.h"
#include "routing/pg_auth_query.h"

namespace plexi::routing {

std::optional<AuthQuerySettings> auth_query_settings(const config::Cluster& cluster,
                                                     const config::Backend& backend) {
  const auto& auth = cluster.auth;
  if (!auth.enabled()) return std::nullopt;
  CheckLogin login{backend.host,
                   backend.port,
                   auth.database.empty() ? backend.database : auth.database,
                   auth.user,
                   auth.password,
                   backend.tls,
                   backend.tls_ca_file,
                   cluster.health.timeout};
  return AuthQuerySettings{cluster.protocol, std::move(login), auth.query};
}

std::optional<AuthSecret> AuthSecretCache::get(const std::string& cluster, const std::string& user,
                                               config::Duration ttl) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find({cluster, user});
  if (it == entries_.end() || now_() - it->second.at >= ttl) return std::nullopt;
  return it->second.secret;
}

void AuthSecretCache::put(const std::string& cluster, const std::string& user, AuthSecret secret) {
  std::lock_guard lock(mutex_);
  if (entries_.size() >= kMaxEntries && !entries_.count({cluster, user})) entries_.clear();
  entries_[{cluster, user}] = {std::move(secret), now_()};
}

awaitable<std::optional<AuthSecret>> AuthQueries::find(const config::Cluster& cluster,
                                                       const config::Backend& backend,
                                                       const std::string& user,
                                                       std::string& error) {
  const auto ttl = cluster.auth.cache_ttl;
  if (auto cached = cache_.get(cluster.name, user, ttl)) co_return cached;
  auto settings = auth_query_settings(cluster, backend);
  if (!settings) {
    error = "cluster " + cluster.name + " has no auth_user";
    co_return std::nullopt;
  }
  auto connection = take(*settings);
  // The connection's own strand runs the lookup; this coroutine waits on its worker. (A
  // named awaitable: GCC 12 destroys a lambda temporary of a co_await expression twice.)
  std::string lookup_error;
  auto lookup =
      asio::co_spawn(connection->strand(), connection->lookup(user, lookup_error), use_awaitable);
  auto found = co_await std::move(lookup);
  if (!found) {
    error = lookup_error;
    co_return std::nullopt;
  }
  give_back(std::move(connection));
  if (ttl.count() > 0) cache_.put(cluster.name, user, *found);
  co_return found;
}

std::shared_ptr<AuthLookup> AuthQueries::take(const AuthQuerySettings& settings) {
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(idle_.begin(), idle_.end(),
                           [&](const auto& c) { return c->settings() == settings; });
    if (it != idle_.end()) {
      auto connection = std::move(*it);
      idle_.erase(it);
      return connection;
    }
  }
  auto strand = asio::make_strand(executor_);
  if (settings.protocol == config::Protocol::kMysql) {
    return std::make_shared<MysqlAuthQuery>(strand, settings);
  }
  return std::make_shared<PgAuthQuery>(strand, settings);
}

void AuthQueries::give_back(std::shared_ptr<AuthLookup> connection) {
  std::lock_guard lock(mutex_);
  auto same = std::count_if(idle_.begin(), idle_.end(), [&](const auto& c) {
    return c->settings() == connection->settings();
  });
  if (static_cast<std::size_t>(same) >= kMaxIdle) return;
  if (idle_.size() >= kMaxIdleTotal) idle_.erase(idle_.begin());
  idle_.push_back(std::move(connection));
}

void AuthQueries::close() {
  std::lock_guard lock(mutex_);
  idle_.clear();
}

}  // namespace plexi::routing
