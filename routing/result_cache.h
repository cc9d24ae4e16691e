// The result cache: answers of read statements kept in a cluster's `role: cache` Redis
// backend, shared by every plexiproxy that uses that Redis, and invalidated when a write
// through any of them reaches a table the answer read.
//
// An entry is one Redis string under a key hashed from what decides the answer (cluster,
// user, database, statement text, parameters, the session settings that change results).
// Its value is the answer exactly as the client received it, after the generations of the
// tables the statement reads: one counter per (cluster, table) in Redis, raised by every
// write to the table. A lookup reads the entry and the current generations in one MGET; an
// entry stored under older generations is a miss. So a write invalidates every entry of
// its tables with one INCR each, and the TTL bounds what the proxy cannot see (writes made
// without it, tables written by functions).
//
// Redis is never a point of failure: a lookup that fails or takes longer than
// cache.timeout sends the statement to the database, and the proxy then leaves Redis
// alone for cache.retry_interval.
#pragma once

#include <hiredis/async.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/asio.h"
#include "config/config.h"
#include "routing/cache_entry.h"
#include "routing/view_catalog.h"

namespace plexi::routing {

// ---- the connection to the cache backend ----

struct CacheTarget {
  std::string host;  // an IP address, a name (resolved without blocking) or a Unix socket path
  std::uint16_t port = 6379;
  std::string username;  // empty: AUTH with the password alone (when there is one)
  std::string password;
  std::string database;  // a Redis database number; empty: no SELECT
  config::Duration connect_timeout{1000};
  auto operator<=>(const CacheTarget&) const = default;
};

// Invalidations that could not reach a Redis (it was away, or did not answer), shared by the
// connections of every worker to it: until one of them has had an INCR answered, every
// connection sends them ahead of its lookups, so no worker serves an entry they invalidate.
class UnsentInvalidations {
 public:
  static constexpr std::size_t kMaxKeys = 10000;  // beyond it, the TTL bounds what is missed

  void add(const std::string& key);
  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }
  std::vector<std::string> keys() const;
  void sent(const std::string& key);  // an INCR of it was answered

 private:
  mutable std::mutex mutex_;
  std::set<std::string> keys_;
  std::atomic<std::size_t> count_{0};
};

struct CacheLookup {
  enum class Status {
    kHit,          // `answer` holds the cached answer
    kMiss,         // store the answer under `generations`
    kUnavailable,  // Redis is known to be down: nothing was asked
    kFailed,       // Redis failed or did not answer in time
  };
  Status status = Status::kUnavailable;
  std::string entry;  // kHit: the entry, whose answer entry_answer() gives
  std::vector<std::int64_t> generations;
};

// One hiredis async connection to the cache backend, used by the sessions of one worker:
// commands are pipelined (each awaits its own reply), so clients never queue behind one
// another's lookups. Every call must be made on the worker's thread.
class CacheConnection : public std::enable_shared_from_this<CacheConnection> {
 public:
  // `log`: where losing and regaining Redis is said (may be null). `unsent`: shared with
  // the other workers' connections to the same Redis (null: this connection's own).
  CacheConnection(asio::any_io_executor worker, CacheTarget target,
                  std::shared_ptr<spdlog::logger> log,
                  std::shared_ptr<UnsentInvalidations> unsent = nullptr);
  ~CacheConnection();
  CacheConnection(const CacheConnection&) = delete;
  CacheConnection& operator=(const CacheConnection&) = delete;

  // The entry under `key` and the current generations of `generation_keys`, waiting at most
  // `timeout`. After a failure or a timeout the connection is closed and lookups answer
  // kUnavailable for `retry_interval`; the first lookup after it connects again.
  awaitable<CacheLookup> lookup(const std::string& key,
                                const std::vector<std::string>& generation_keys,
                                config::Duration timeout, config::Duration retry_interval);
  // SET key entry PX ttl; not waited for.
  void store(const std::string& key, const std::string& entry, config::Duration ttl);
  // INCR of each generation key, waiting (at most `timeout`) until Redis has raised them: a
  // client is told its write committed only once no plexiproxy serves what it changed. False
  // when Redis could not be reached or did not answer in time: the keys are then remembered
  // (up to a bound) and raised once it can, so entries this proxy saw written are not served
  // again when Redis comes back.
  awaitable<bool> invalidate_now(const std::vector<std::string>& generation_keys,
                                 config::Duration timeout, config::Duration retry_interval);

  // Closes the connection (shutdown); later calls reconnect.
  void close();

  bool connected() const { return context_ != nullptr && established_; }

 private:
  struct Request;
  static void on_connect(const redisAsyncContext* context, int status);
  static void on_auth(redisAsyncContext* context, void* reply, void* privdata);
  static void on_lookup_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void on_invalidate_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void on_last_invalidate_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void add_read(void* self);
  static void del_read(void* self);
  static void add_write(void* self);
  static void del_write(void* self);
  static void cleanup(void* self);

  // Connects when there is no connection and the retry interval is over. kUp: commands
  // can be sent (hiredis holds them until the connection is made); kLater: not now (the
  // retry interval, or the host's name being looked up); kFailed: the attempt just failed.
  enum class Connecting { kUp, kLater, kFailed };
  Connecting ensure_connected(config::Duration retry_interval);
  void fail(const std::string& why);
  void arm_read();
  void arm_write();
  void send(const std::vector<std::string>& args, redisCallbackFn* callback, void* privdata);
  // Sends the invalidations that could not reach Redis before, ahead of what follows.
  void flush_pending_invalidations();
  void remember_invalidation(const std::string& key) { unsent_->add(key); }
  // Looks the host's name up; the next call of ensure_connected() connects to what it found.
  void resolve();

  asio::any_io_executor worker_;
  CacheTarget target_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<UnsentInvalidations> unsent_;
  redisAsyncContext* context_ = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> socket_;  // does not own the descriptor
  asio::steady_timer connect_timer_;
  tcp::resolver resolver_;
  std::string address_;  // what the host name resolved to; empty: not looked up yet
  bool resolving_ = false;
  bool established_ = false;
  bool want_read_ = false, want_write_ = false;
  bool reading_ = false, writing_ = false;
  std::chrono::steady_clock::time_point retry_at_{};
  config::Duration retry_interval_{1000};
  bool failing_ = false;  // said so in the log; said again only after a lookup succeeded
  // Raised at every new connection, so handlers of an older one do nothing.
  std::uint64_t epoch_ = 0;
};

// The cache connections of the process: one per (worker, cache backend), made on first use.
class ResultCache {
 public:
  explicit ResultCache(std::shared_ptr<spdlog::logger> log = nullptr);

  // The connection of `worker` (the calling session's executor) to `backend`. Called on
  // that worker.
  std::shared_ptr<CacheConnection> connection(const asio::any_io_executor& worker,
                                              const config::Backend& backend);
  // Closes every connection. Only once the workers have stopped (shutdown): a connection is
  // otherwise touched on its worker's thread alone.
  void close_all();

  // The views of the clusters whose reads are cached (null: not followed, as in tests).
  void set_views(ViewCatalogs* views) { views_ = views; }
  ViewCatalogs* views() const { return views_; }

 private:
  std::shared_ptr<spdlog::logger> log_;
  ViewCatalogs* views_ = nullptr;
  std::mutex mutex_;
  std::map<CacheTarget, std::shared_ptr<UnsentInvalidations>> unsent_;
  std::map<std::pair<const void*, CacheTarget>, std::shared_ptr<CacheConnection>> connections_;
};

// The cache backend of a cluster (its backend with role: cache), or null.
const config::Backend* cache_backend(const config::Cluster& cluster);

}  // namespace plexi::routing
