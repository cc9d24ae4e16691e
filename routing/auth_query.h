// auth_query, whatever the cluster's protocol: a user the config does not list is looked up
// on the cluster's write target as the cluster's auth_user, and the secret found is cached
// per (cluster, user) for auth_query_cache_ttl. The lookups themselves speak each server's
// protocol (pg_auth_query.h through libpq, mysql_auth_query.h through libmariadb).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/asio.h"
#include "config/config.h"
#include "routing/backend_check.h"

namespace plexi::routing {

// What a lookup found.
struct AuthSecret {
  bool found = false;  // the query returned a row for the user
  // Its second column: "SCRAM-SHA-256$...", "md5..." (PostgreSQL), "*" + 40 hex digits
  // (MySQL's mysql_native_password), or empty (NULL).
  std::string secret;
};

// Where a lookup logs in and what it runs. Two equal settings share connections.
struct AuthQuerySettings {
  config::Protocol protocol = config::Protocol::kPostgres;
  CheckLogin login;  // auth_user on the write target
  std::string query;

  bool operator==(const AuthQuerySettings&) const = default;
};

// The settings for `cluster`'s lookups on its backend `backend`; none when the cluster has
// no auth_user.
std::optional<AuthQuerySettings> auth_query_settings(const config::Cluster& cluster,
                                                     const config::Backend& backend);

// One connection as auth_user, kept between lookups; one lookup at a time, on its strand.
class AuthLookup {
 public:
  virtual ~AuthLookup() = default;

  const AuthQuerySettings& settings() const { return settings_; }
  // Where lookup() must run.
  const asio::any_io_executor& strand() const { return strand_; }
  // Runs the query for `user`; nullopt with `error` when the server could not answer.
  virtual awaitable<std::optional<AuthSecret>> lookup(std::string user, std::string& error) = 0;

 protected:
  AuthLookup(asio::any_io_executor strand, AuthQuerySettings settings)
      : strand_(std::move(strand)), settings_(std::move(settings)) {}

 private:
  asio::any_io_executor strand_;
  AuthQuerySettings settings_;
};

// A lookup on a health check's kind of connection: `Check` (PgCheck, MysqlCheck) gives the
// kept connection, its timeout and its retry of a stale one; a subclass's attempt() runs
// settings().query for user_ and fills answer_.
template <class Check>
class CheckedAuthLookup : public Check, public AuthLookup {
 public:
  awaitable<std::optional<AuthSecret>> lookup(std::string user, std::string& error) override {
    user_ = std::move(user);
    answer_ = {};
    CheckResult result = co_await this->run();
    if (!result.ok) {
      error = result.error;
      co_return std::nullopt;
    }
    co_return answer_;
  }

 protected:
  template <class... CheckArguments>
  CheckedAuthLookup(asio::any_io_executor strand, AuthQuerySettings settings,
                    CheckArguments&&... check)
      : Check(strand, std::forward<CheckArguments>(check)...),
        AuthLookup(strand, std::move(settings)) {}

  std::string user_;   // of the lookup in progress
  AuthSecret answer_;  // what it found
};

// The secrets found, per (cluster, user), each kept for its cluster's cache_ttl. Separate
// from the lookups so the expiry can be tested with a clock of the test's own.
class AuthSecretCache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit AuthSecretCache(std::function<Clock::time_point()> now = Clock::now)
      : now_(std::move(now)) {}

  std::optional<AuthSecret> get(const std::string& cluster, const std::string& user,
                                config::Duration ttl) const;
  void put(const std::string& cluster, const std::string& user, AuthSecret secret);

 private:
  // A client inventing user names must not grow the cache without bound.
  static constexpr std::size_t kMaxEntries = 10000;
  struct Entry {
    AuthSecret secret;
    Clock::time_point at;
  };
  std::function<Clock::time_point()> now_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Entry> entries_;
};

// Every cluster's lookups: the cache, then a connection from a small idle list (one is
// opened when none is free), of the cluster's protocol. Safe from any worker.
class AuthQueries {
 public:
  // Connections run on strands of `executor` (the daemon's main worker).
  explicit AuthQueries(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  // The secret of `user` in `cluster`, looked up on `backend` (the write target) unless
  // cached. nullopt with `error` when the lookup failed.
  awaitable<std::optional<AuthSecret>> find(const config::Cluster& cluster,
                                            const config::Backend& backend,
                                            const std::string& user, std::string& error);

  // Closes the idle connections (shutdown).
  void close();

 private:
  static constexpr std::size_t kMaxIdle = 2;  // per settings
  // In all: connections of settings a reload replaced are dropped beyond it, oldest first.
  static constexpr std::size_t kMaxIdleTotal = 8;
  std::shared_ptr<AuthLookup> take(const AuthQuerySettings& settings);
  void give_back(std::shared_ptr<AuthLookup> connection);

  asio::any_io_executor executor_;
  AuthSecretCache cache_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<AuthLookup>> idle_;
};

}  // namespace plexi::routing
