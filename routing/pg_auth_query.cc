// auth_query lookups through libpq on a connection kept as auth_user, and the cache of the
// secrets they find.
#include "routing/pg_auth_query.h"

#include <algorithm>

namespace plexi::routing {

std::optional<AuthQuerySettings> auth_query_settings(const config::Cluster& cluster,
                                                     const config::Backend& backend) {
  const auto& auth = cluster.auth;
  if (!auth.enabled()) return std::nullopt;
  PgCheckSettings login{backend.host,
                        backend.port,
                        auth.database.empty() ? backend.database : auth.database,
                        auth.user,
                        auth.password,
                        std::string(config::to_string(backend.tls)),
                        backend.tls_ca_file,
                        cluster.health.timeout};
  return AuthQuerySettings{std::move(login), auth.query};
}

PgAuthQuery::PgAuthQuery(asio::any_io_executor executor, AuthQuerySettings settings)
    : PgCheck(executor, settings.login), executor_(executor), settings_(std::move(settings)) {}

awaitable<std::optional<AuthSecret>> PgAuthQuery::lookup(std::string user, std::string& error) {
  user_ = std::move(user);
  answer_ = {};
  CheckResult result = co_await run();
  if (!result.ok) {
    error = result.error;
    co_return std::nullopt;
  }
  co_return answer_;
}

awaitable<bool> PgAuthQuery::attempt(CheckResult& result) {
  bool connected = co_await ensure_connected(result.error);
  if (!connected) co_return false;
  bool answered = co_await exchange(
      [this](PGconn* conn) {
        const char* values[] = {user_.c_str()};
        return PQsendQueryParams(conn, settings_.query.c_str(), 1, nullptr, values, nullptr,
                                 nullptr, 0);
      },
      [this, &result](const PGresult* answer) {
        if (PQresultStatus(answer) != PGRES_TUPLES_OK) {
          result.error = one_line(PQresultErrorMessage(answer));
        } else if (PQnfields(answer) != 2) {
          result.error = "auth_query must return two columns (name, secret), returned " +
                         std::to_string(PQnfields(answer));
        } else {
          result.ok = true;
          answer_.found = PQntuples(answer) > 0;
          if (answer_.found && !PQgetisnull(answer, 0, 1)) answer_.secret = PQgetvalue(answer, 0, 1);
        }
      },
      result.error);
  co_return answered && result.ok;
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
  auto lookup = asio::co_spawn(connection->executor(), connection->lookup(user, lookup_error),
                               use_awaitable);
  auto found = co_await std::move(lookup);
  if (!found) {
    error = lookup_error;
    co_return std::nullopt;
  }
  give_back(std::move(connection));
  if (ttl.count() > 0) cache_.put(cluster.name, user, *found);
  co_return found;
}

std::shared_ptr<PgAuthQuery> AuthQueries::take(const AuthQuerySettings& settings) {
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
  return std::make_shared<PgAuthQuery>(asio::make_strand(executor_), settings);
}

void AuthQueries::give_back(std::shared_ptr<PgAuthQuery> connection) {
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
