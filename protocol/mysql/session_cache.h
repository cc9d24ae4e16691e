// The MySQL relay's use of the result cache (routing/result_cache.h): a COM_QUERY a rule or
// hint gives a cache_ttl, arriving while the client holds no server and no transaction, is
// looked up in the cluster's cache backend before any server is taken. A hit is answered from
// there; a miss goes on as usual, its answer captured as the client receives it and stored
// once complete. Writes raise the generations of the tables they touch when their
// transaction is over.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "common/asio.h"
#include "common/bytes.h"
#include "config/config.h"
#include "pools/mysql/server_connection.h"
#include "protocol/mysql/response.h"
#include "routing/mysql_statement.h"
#include "routing/result_cache.h"

namespace plexi::mysql {

class Session;

// Whether a statement's answer may be served again to anyone with the same key: every
// statement a query (SELECT, TABLE, VALUES) with no locking clause, INTO, volatile function,
// system schema, setting, pin or transaction control, nor an `invalidate=` hint (it writes).
// `schema`: the client's current schema, where unqualified names are looked up.
bool cacheable_query(const routing::MysqlStatement& analysis, const routing::MysqlTables& tables,
                     std::string_view schema);

// What, besides the statement's text, decides the answer's rows and packets.
struct CacheKeyParts {
  std::string_view cluster;
  std::string_view user;
  std::string_view schema;
  const SessionSettings* settings = nullptr;  // those that change results go in the key
  std::uint32_t capabilities = 0;             // those that shape the packets
  std::uint8_t collation = 0;                 // the connection's character set
  bool multi_statements = true;
};
// `execution`: for a COM_STMT_EXECUTE of `sql`, its parameters (execution_parameters()).
std::string query_cache_key(const CacheKeyParts& parts, std::string_view sql,
                            const std::string* execution = nullptr);

// What decides the answer to a COM_STMT_EXECUTE of a statement with `parameters`
// parameters, besides its text: the NULL bitmap, the parameter types (sent with it, or
// `known_types` from an earlier execution) and the values, in one string. False when the
// payload does not hold them.
bool execution_parameters(Bytes payload, std::uint16_t parameters, std::string_view known_types,
                          std::string& out);

class RelayCache {
 public:
  enum class Outcome { kNone, kHit, kMiss, kBypass, kError };

  explicit RelayCache(Session& session) : s_(session) {}
  // The cluster the session serves now (at the start, and after a reload moved it).
  void set_cluster(const config::Cluster& cluster);
  // The cluster has a cache backend and the process a cache.
  bool enabled() const { return cache_ != nullptr && backend_ != nullptr; }
  const config::Backend* backend() const { return backend_; }

  // A COM_QUERY, or with `execution` a COM_STMT_EXECUTE of `sql` with those parameters,
  // that a rule or hint gives `ttl` (> 0). `session_allows`: the client holds no server,
  // transaction, pin or cursor. True when the answer, from the cache, is queued to the
  // client; otherwise the statement goes to a server, and on a miss capture() and finish()
  // store its answer. `digest`: of the statement's shape, by which the worker's
  // CacheAdmission judges whether looking it up pays.
  awaitable<bool> serve(std::string_view sql, const routing::MysqlStatement& analysis,
                        std::uint64_t digest, config::Duration ttl, bool session_allows,
                        const CacheKeyParts& key, const std::string* execution = nullptr);
  // What became of the last statement serve() saw (kNone after finish()).
  Outcome outcome() const { return outcome_; }
  // Rows of the answer served by the last hit, and when serve() was called.
  std::uint64_t served_rows() const { return served_rows_; }
  std::chrono::steady_clock::time_point served_since() const { return started_; }

  bool capturing() const { return capturing_; }
  // Bytes relayed to the client as part of the captured answer.
  void capture(Bytes bytes);
  // The captured answer was relayed whole: stored when it completed without error, has no
  // more results to come, reported no session state change and fits max_result_bytes.
  void finish(const ResponseTracker& tracker);
  // Ends a capture that finish() did not (the statement failed on its way).
  void drop_capture();

  // A statement that may write ran: the tables it writes, and those its hint names
  // (routing::hinted_invalidations), are invalidated when its transaction ends.
  void wrote(std::string_view sql);
  // Between transactions: the tables written since the last call are invalidated, waiting
  // (at most cache.timeout) for Redis to have raised them, so the client hears that its
  // transaction is over only when no plexiproxy serves what it changed.
  awaitable<void> transaction_ended();

 private:
  routing::CacheConnection& connection();

  Session& s_;
  routing::ResultCache* cache_ = nullptr;
  const config::Backend* backend_ = nullptr;
  std::string cluster_;
  std::shared_ptr<routing::CacheConnection> connection_;
  Outcome outcome_ = Outcome::kNone;
  std::uint64_t served_rows_ = 0;
  std::chrono::steady_clock::time_point started_{};
  // The miss being captured.
  bool capturing_ = false;
  ByteVector answer_;
  std::string key_;
  std::vector<std::int64_t> generations_;
  config::Duration ttl_{0};
  std::set<std::string> written_;  // generation keys, until the transaction ends
};

}  // namespace plexi::mysql
