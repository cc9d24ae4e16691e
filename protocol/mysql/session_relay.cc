// The MySQL relay: each command of a logged-in client is forwarded to a pooled server
// connection chosen per transaction by the router, and the server's packets are relayed
// back as they arrive. A connection returns to its pool when the server reports no open
// transaction and the session holds nothing that cannot move (see MysqlPin); the schema,
// tracked settings and prepared statements follow the client to whichever server it gets.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>

#include "common/socket_io.h"
#include "pools/mysql/server_pool.h"
#include "pools/mysql/shared_link.h"
#include "protocol/mysql/response.h"
#include "protocol/mysql/session.h"
#include "protocol/mysql/session_cache.h"
#include "routing/backend_choice.h"
#include "routing/cluster_routing.h"
#include "routing/mysql_statement.h"
#include "routing/query_digests.h"
#include "routing/result_cache.h"

namespace plexi::mysql {
namespace {

using routing::MysqlPin;
using routing::Want;

// The shape of `sql`, for the rules, the cache's admission and the digests. Statements repeat
// their text exactly: the last one shaped on this thread is kept, so a statement is shaped
// once however many of them ask.
const routing::StatementShape& shape_of(std::string_view sql) {
  thread_local routing::StatementShape shape;
  thread_local std::string shaped;
  if (sql != shaped) {
    routing::shape_mysql_statement(sql, shape);
    shaped = sql;
  }
  return shape;
}

// What the client's capabilities change in the packets a server sends, so the pool's
// connections must share them.
constexpr std::uint32_t kRelayedCapabilities =
    cap::kFoundRows | cap::kIgnoreSpace | cap::kMultiStatements | cap::kMultiResults |
    cap::kPsMultiResults | cap::kSessionTrack | cap::kDeprecateEof | cap::kNoSchema | cap::kOdbc;

// Reads from a server take up to this much at once; a buffer up to kKeptServerBuffer stays
// with the connection between requests.
constexpr std::size_t kServerReadChunk = 32 * 1024;
constexpr std::size_t kKeptServerBuffer = 256 * 1024;
// Output to the client goes out at the end of a response, or sooner past this size.
constexpr std::size_t kFlushBytes = 64 * 1024;
// After an insert that generated an id, the connection stays for this many more
// statements, so that SELECT LAST_INSERT_ID() reads it where it was made (as ProxySQL's
// auto_increment_delay_multiplex does).
constexpr int kAutoIncrementHold = 5;

using error::kNoBackend;

std::uint64_t gtid_sequence(std::string_view gtid) {
  // "domain-server-sequence"; several domains are comma-separated: the highest sequence.
  std::uint64_t best = 0;
  while (!gtid.empty()) {
    auto comma = gtid.find(',');
    auto one = gtid.substr(0, comma);
    auto dash = one.rfind('-');
    if (dash != std::string_view::npos) {
      std::uint64_t value = 0;
      for (char c : one.substr(dash + 1)) {
        if (c < '0' || c > '9') break;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
      }
      best = std::max(best, value);
    }
    if (comma == std::string_view::npos) break;
    gtid.remove_prefix(comma + 1);
  }
  return best;
}

class Relay : public HandoverSource {
 public:
  explicit Relay(Session& session)
      : s_(session),
        log_(*session.env().log),
        cluster_(&session.cluster()),
        mode_(session.config_user() && session.config_user()->pool_mode
                  ? *session.config_user()->pool_mode
                  : session.cluster().pool_mode),
        cache_(session) {
    cache_.set_cluster(*cluster_);
    if (cluster_->backends.size() > 1) {
      routing_ = s_.env().routing.cluster(s_.config_snapshot(), *cluster_);
    }
    pools_.resize(cluster_->backends.size());
    addresses_.resize(cluster_->backends.size());
    multi_statements_ = (s_.capabilities() & cap::kMultiStatements) != 0;
  }

  awaitable<void> run();
  // Takes up the state a client was handed over with (before run()).
  void restore(const HandedSession& state);
  bool can_hand_over() const override;
  void write_handover_state(HandedSession& state) const override;

 private:
  struct Intent {
    bool read = false;
    std::optional<config::Role> role;
    bool hinted = false;
    int blocked_by = -1;
    // The hint's cache_ttl, or the matching rule's (0: never cached).
    std::optional<config::Duration> cache_ttl;
    // The hint names tables the statement changes unseen (routing::hinted_invalidations).
    bool invalidates = false;
  };
  // A statement the client prepared, under the id the proxy gave it.
  struct ClientStatement {
    std::string sql;
    Intent intent;
    std::uint16_t parameters = 0;
    std::uint16_t columns = 0;
    // The parameter types of the last execution that sent them (2 bytes each): an execution
    // on a server that has not seen them must carry them.
    std::string types;
    std::vector<ByteVector> long_data;  // COM_STMT_SEND_LONG_DATA payloads, for the next run
    bool shareable = false;             // its executions may run on a shared link
  };

  // --- commands ---
  awaitable<bool> query(ByteVector& payload);
  awaitable<bool> init_db(ByteVector& payload);
  awaitable<bool> prepare(ByteVector& payload);
  awaitable<bool> execute(ByteVector& payload);
  awaitable<bool> fetch(ByteVector& payload);
  awaitable<bool> reset_statement(ByteVector& payload);
  awaitable<bool> reset_connection();
  // Forgets the client's session state (COM_RESET_CONNECTION, COM_CHANGE_USER); a server
  // connection holding some of it is closed.
  void reset_state();
  awaitable<bool> set_option(ByteVector& payload);
  awaitable<bool> forward_anywhere(ByteVector& payload, ResponseTracker::Shape shape);
  void record_long_data(ByteVector& payload);
  void close_statement(ByteVector& payload);

  // --- routing ---
  Intent intent_of(std::string_view sql, const routing::MysqlStatement& analysis) const;
  int choose(const Intent& intent, std::string& error, int avoid = -1);
  std::shared_ptr<ServerPool> pool_for(int backend);
  // Gets a server connection for `intent` unless one is attached; false when the client was
  // answered with an error instead (the session goes on) or `fatal_` is set.
  awaitable<bool> ensure_server(const Intent& intent);
  awaitable<bool> sync_session_state();
  // Waits while the cluster is paused, then follows a reload made meanwhile (PAUSE,
  // RELOAD, RESUME moves paused clients to the new backends).
  awaitable<bool> wait_while_paused();
  // A client that holds no server waits out a PAUSE before its cache lookup too: a paused
  // cluster answers nothing, from the cache or not. False when the session must end.
  awaitable<bool> wait_before_lookup();
  // Between transactions: the next one runs under the latest config, when a reload
  // happened (its backends, rules and pool mode; see Session::follow_reload()).
  void follow_reload();
  void release();
  void discard_server();
  // The session is done with its server: released, or closed when it holds the session's
  // state.
  void let_go_of_server();
  // Records a statement the attached server prepared; closes the one it replaces or evicts.
  awaitable<void> remember_on_server(const std::string& sql, const PrepareOk& ok);
  // Requests to the attached server, framed (each at sequence 0) into one reused buffer.
  void queue_to_server(Bytes payload);
  awaitable<bool> flush_to_server(std::string& error);
  bool releasable() const {
    return server_ && mode_ != config::PoolMode::kSession && pin_ == MysqlPin::kNone &&
           !(server_->status() & status::kInTrans) && !cursor_open_ && hold_ == 0;
  }
  void set_pin(MysqlPin pin);

  // --- shared links ---
  // A statement that reads and leaves nothing on its server.
  static bool shareable(const routing::MysqlStatement& analysis);
  // The session holds nothing a shared connection cannot have (links are kept per
  // settings), and is in no transaction.
  bool session_shareable() const {
    return !server_ && cluster_->pipeline_reads && mode_ != config::PoolMode::kSession &&
           pin_ == MysqlPin::kNone && !cursor_open_ && hold_ == 0 &&
           !(s_.status_flags() & status::kInTrans) && (s_.status_flags() & status::kAutocommit);
  }
  // A shared link to the backend chosen for `intent`, or null: the statement takes a
  // connection of its own.
  std::shared_ptr<SharedLink> shared_link(const Intent& intent);
  // Sends `command` on `link` and relays its response. False when the session must end or
  // the client was told of an error.
  awaitable<bool> relay_shared(SharedLink& link, Bytes command, ResponseTracker::Shape shape,
                               Exchange& exchange);
  enum class Shared { kNotShared, kDone, kFailed };
  awaitable<Shared> execute_shared(SharedLink& link, ClientStatement& statement,
                                   ByteVector& payload);

  // --- relaying ---
  // Sends the command to the attached server and relays its response. With `rewrite_id`,
  // the statement id of a prepare's OK becomes the proxy's. False when the session must end.
  awaitable<bool> relay(Bytes command, ResponseTracker::Shape shape, ResponseTracker& tracker,
                        std::uint32_t rewrite_id = 0);
  // A statement prepared on the attached server (prepared now if it is not), or null when
  // the server refused it (the client has been told).
  awaitable<ServerStatement*> prepared_on_server(ClientStatement& statement);
  awaitable<bool> server_lost(const std::string& error, bool answered_anything);
  // Tells the client that no server connection could be had, for `error`.
  void refuse_connect(const std::string& error);

  void start_statement() {
    if (s_.env().metrics.enabled() || digesting()) started_at_ = pools::Clock::now();
  }
  void finish_statement(std::string_view sql, const ResponseTracker& tracker);
  // The series statements served by `backend` as `role` count in: looked up again only when
  // they change, so a statement touches no lock.
  const metrics::StatementSeries& series_for(const config::Backend* backend, config::Role role);

  // --- the result cache ---
  // Nothing the client holds ties it to a server or a transaction: its reads may be
  // answered from the cache.
  bool cache_allows() const {
    return !server_ && pin_ == MysqlPin::kNone && !cursor_open_ && hold_ == 0 &&
           !(s_.status_flags() & status::kInTrans) && (s_.status_flags() & status::kAutocommit);
  }
  CacheKeyParts cache_key_parts() const {
    return {cluster_->name,
            s_.user(),
            s_.schema(),
            &settings_,
            s_.capabilities() & kRelayedCapabilities,
            s_.collation(),
            multi_statements_};
  }
  // A statement answered from the cache, in the digests and statement counts.
  void count_cache_hit(std::string_view sql);
  // Where a statement the cache missed goes: where writes go, unless a rule or hint says.
  Intent where_misses_go(Intent intent);
  bool digesting() const { return s_.env().digests && s_.config().digest.enabled; }

  Session& s_;
  spdlog::logger& log_;
  const config::Cluster* cluster_;  // moved to a new snapshot by follow_reload()
  config::PoolMode mode_;
  RelayCache cache_;
  std::shared_ptr<routing::ClusterRouting> routing_;
  std::vector<std::shared_ptr<ServerPool>> pools_;  // by backend index, opened on first use
  std::vector<std::shared_ptr<const ServerAddress>> addresses_;  // what each pool logs in as
  prometheus::Histogram* pool_wait_ = nullptr;
  ServerPool::Lease server_;
  ByteVector to_server_;
  ByteVector shared_command_;
  // The shared statement this session waits for, read by its cancel action.
  struct SharedRunning {
    std::weak_ptr<SharedLink> link;
    const Exchange* exchange = nullptr;
    std::shared_ptr<const ServerAddress> address;
  };
  std::shared_ptr<SharedRunning> shared_running_;
  SharedLink::SessionState shared_state_;  // reused: the link's state this session needs
  int backend_index_ = 0;
  const config::Backend* backend_ = nullptr;
  bool cycle_writes_ = false;
  bool fatal_ = false;  // the session is over (the client was told, or is gone)

  SessionSettings settings_;  // what the client SET, replayed on each server it gets
  bool multi_statements_ = true;
  MysqlPin pin_ = MysqlPin::kNone;
  ServerPool* pinned_in_ = nullptr;
  bool cursor_open_ = false;
  int hold_ = 0;
  std::uint64_t written_gtid_ = 0;
  pools::Clock::time_point wrote_at_{};
  bool wrote_in_cycle_ = false;

  std::unordered_map<std::uint32_t, ClientStatement> statements_;
  std::uint32_t next_statement_id_ = 1;

  pools::Clock::time_point started_at_{};
  const metrics::StatementSeries* series_ = nullptr;
  const config::Backend* series_backend_ = nullptr;
  config::Role series_role_ = config::Role::kPrimary;
};

// ---------------------------------------------------------------- routing

Relay::Intent Relay::intent_of(std::string_view sql,
                               const routing::MysqlStatement& analysis) const {
  Intent intent;
  intent.read = analysis.read;
  intent.cache_ttl = routing::hinted_cache_ttl(analysis.hint);
  intent.invalidates = analysis.hint.value("invalidate").has_value();
  if (analysis.hint.role) {
    intent.role = analysis.hint.role;
    intent.hinted = true;
  }
  // A hint's role beats the rules; a rule may still give the statement its cache_ttl.
  if (routing_ && routing_->has_rules() && (!intent.hinted || !intent.cache_ttl)) {
    const routing::StatementShape& shape = shape_of(sql);
    if (auto match = routing_->match(sql, shape.text, shape.digest)) {
      if (!intent.hinted && match->rule->block) {
        intent.blocked_by = match->index;
      } else if (!intent.hinted && match->rule->role) {
        intent.role = match->rule->role;
      }
      if (!intent.cache_ttl && !match->rule->block) intent.cache_ttl = match->rule->cache_ttl;
    }
  }
  return intent;
}

int Relay::choose(const Intent& intent, std::string& error, int avoid) {
  if (!routing_) {
    cycle_writes_ = !intent.read;
    return 0;
  }
  Want want = intent.read ? Want::kRead : Want::kWrite;
  if (intent.role) want = routing::want_of(*intent.role);
  bool writes = want == Want::kWrite && !intent.read;
  std::uint64_t min_lsn = 0;
  if (want == Want::kRead) {
    switch (cluster_->read_your_writes) {
      case config::ReadYourWrites::kLsn:
        min_lsn = written_gtid_;
        break;
      case config::ReadYourWrites::kWindow:
        if (pools::Clock::now() - wrote_at_ < cluster_->read_your_writes_window) {
          want = Want::kWrite;
        }
        break;
      case config::ReadYourWrites::kOff:
        break;
    }
  }
  auto health = s_.env().health ? s_.env().health(cluster_->name) : nullptr;
  auto choice = routing::choose_backend(routing_->router(), s_.config(), *cluster_, health.get(),
                                        s_.env().traffic, {want, min_lsn, avoid});
  if (choice.backend < 0) {
    error = choice.error;
    return -1;
  }
  cycle_writes_ = writes;
  return choice.backend;
}

std::shared_ptr<ServerPool> Relay::pool_for(int index) {
  auto& pool = pools_[static_cast<std::size_t>(index)];
  if (pool) return pool;
  const config::Backend& backend = cluster_->backends[static_cast<std::size_t>(index)];
  auto address = std::make_shared<ServerAddress>();
  address->host = backend.host;
  address->port = backend.port;
  address->database = backend.database;
  address->user = backend.username.empty() ? s_.user() : backend.username;
  address->password = backend.username.empty() ? s_.password() : backend.password;
  if (backend.username.empty()) address->password_sha1 = s_.password_sha1();
  address->capabilities = s_.capabilities() & kRelayedCapabilities;
  address->collation = s_.collation();
  address->connect_timeout = backend.pool.connect_timeout;
  address->tls = pools::tls_target(backend);
  char variant[48];
  std::snprintf(variant, sizeof(variant), "flags %x, collation %u", address->capabilities,
                static_cast<unsigned>(address->collation));
  pools::PoolKey key{cluster_->name, backend.name, address->user, backend.database, variant};
  pool = s_.env().pools.mysql_pool(key, *address, backend);
  addresses_[static_cast<std::size_t>(index)] = std::move(address);
  return pool;
}

awaitable<bool> Relay::wait_while_paused() {
  if (!s_.env().traffic.paused(cluster_->name)) co_return true;
  bool resumed =
      co_await pg::wait_while_paused(s_.socket().get_executor(), s_.env().traffic, cluster_->name,
                                     [this] { return s_.draining() || !s_.socket().is_open(); });
  if (resumed) follow_reload();
  co_return resumed;
}

awaitable<bool> Relay::wait_before_lookup() {
  if (!cache_allows()) co_return true;
  co_return co_await wait_while_paused();
}

void Relay::follow_reload() {
  std::string last_backend = backend_ ? backend_->name : std::string();
  if (!s_.follow_reload()) return;
  cluster_ = &s_.cluster();
  cache_.set_cluster(*cluster_);
  mode_ = s_.config_user() && s_.config_user()->pool_mode ? *s_.config_user()->pool_mode
                                                          : cluster_->pool_mode;
  routing_.reset();
  if (cluster_->backends.size() > 1)
    routing_ = s_.env().routing.cluster(s_.config_snapshot(), *cluster_);
  pools_.assign(cluster_->backends.size(), nullptr);
  addresses_.assign(cluster_->backends.size(), nullptr);
  backend_index_ = routing::configured_primary(*cluster_);
  for (std::size_t i = 0; i < cluster_->backends.size(); ++i) {
    if (cluster_->backends[i].name == last_backend) backend_index_ = static_cast<int>(i);
  }
  if (backend_) backend_ = &cluster_->backends[static_cast<std::size_t>(backend_index_)];
  series_ = nullptr;
  series_backend_ = nullptr;
  // Prepared statements were classified under the old rules.
  for (auto& [id, statement] : statements_) {
    statement.intent = intent_of(statement.sql, routing::analyze_mysql(statement.sql));
  }
}

awaitable<bool> Relay::ensure_server(const Intent& intent) {
  if (server_) co_return true;
  if (intent.blocked_by >= 0) {
    s_.env().metrics.error(metrics::Error::kRefusedByRule);
    s_.send_error(error::kOptionPreventsStatement, "HY000",
                  "statement refused by plexiproxy rule " + std::to_string(intent.blocked_by + 1) +
                      " of cluster " + cluster_->name);
    co_return false;
  }
  bool go_on = co_await wait_while_paused();
  if (!go_on) {
    fatal_ = true;
    co_return false;
  }
  std::string error;
  int backend = choose(intent, error);
  if (backend < 0) {
    s_.env().metrics.error(metrics::Error::kNoWriteTarget);
    s_.send_error(kNoBackend, "HY000", "plexiproxy: " + error);
    co_return false;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    backend_index_ = backend;
    backend_ = &cluster_->backends[static_cast<std::size_t>(backend)];
    auto pool = pool_for(backend);
    bool timed = s_.env().metrics.enabled();
    auto asked_at = timed ? pools::Clock::now() : pools::Clock::time_point{};
    server_ = co_await pool->acquire(error);
    if (server_) {
      if (timed) {
        if (!pool_wait_) pool_wait_ = &s_.env().metrics.pool_wait(cluster_->name);
        pool_wait_->Observe(std::chrono::duration<double>(pools::Clock::now() - asked_at).count());
      }
      break;
    }
    if (error == "query_wait_timeout") {
      s_.env().metrics.error(metrics::Error::kPoolTimeout);
      s_.send_error(kNoBackend, "HY000",
                    "plexiproxy: query_wait_timeout: no server connection became free in time");
      co_return false;
    }
    s_.env().metrics.error(metrics::Error::kBackendConnect);
    log_.warn("cannot connect to backend {} ({}:{}): {}", backend_->name, backend_->host,
              backend_->port, error);
    // Nothing reached the server yet: another backend may take the request.
    std::string other_error;
    int other = routing_ ? choose(intent, other_error, backend) : -1;
    if (other < 0 || other == backend) break;
    backend = other;
  }
  if (!server_) {
    refuse_connect(error);
    co_return false;
  }
  if (routing_) routing_->router().started(backend_index_);
  server_->set_busy(true);
  server_->move_to(s_.socket().get_executor());
  s_.set_server_thread(Session::ServerThread{addresses_[static_cast<std::size_t>(backend_index_)],
                                             server_->thread_id()},
                       backend_);
  wrote_in_cycle_ = false;
  bool synced = co_await sync_session_state();
  co_return synced;
}

// Brings the server's session to the client's: schema, settings, the multi-statement
// option. Usually nothing to do: the connection last served a client with the same state.
awaitable<bool> Relay::sync_session_state() {
  std::string error;
  const std::string& schema = s_.schema().empty() ? backend_->database : s_.schema();
  if (!schema.empty() && server_->schema() != schema) {
    bool changed = co_await server_->run_command(Command::kInitDb, schema, error);
    if (!changed) {
      if (server_->broken()) co_return co_await server_lost(error, false);
      s_.send_error(error::kBadDatabase, "42000", error);
      release();
      co_return false;
    }
    server_->schema() = schema;
  }
  auto& applied = server_->settings();
  if (applied != settings_) {
    // Settings the server has and the client has not go back to the server's defaults;
    // then the client's are applied in their order, all in one statement.
    std::string sql;
    auto add = [&sql](std::string_view assignment) {
      sql += sql.empty() ? "SET " : ", ";
      sql += assignment;
    };
    for (const auto& [key, value] : applied.items()) {
      if (settings_.contains(key)) continue;
      if (key == "names") {
        if (!server_->default_names().empty()) add(server_->default_names());
      } else if (key == "transaction_isolation") {
        add(server_->mariadb() ? "@@session.tx_isolation = DEFAULT"
                               : "@@session.transaction_isolation = DEFAULT");
      } else if (key == "transaction_read_only") {
        add(server_->mariadb() ? "@@session.tx_read_only = DEFAULT"
                               : "@@session.transaction_read_only = DEFAULT");
      } else {
        add("@@session." + key + " = DEFAULT");
      }
    }
    for (const auto& [key, value] : settings_.items()) add(value);
    if (!sql.empty()) {
      bool set = co_await server_->run(sql, error);
      if (!set) {
        if (server_->broken()) co_return co_await server_lost(error, false);
        log_.warn("cluster {}: replaying session settings failed: {}", cluster_->name, error);
        s_.send_error(1105, "HY000", "plexiproxy: cannot restore session settings: " + error);
        discard_server();
        co_return false;
      }
    }
    applied = settings_;
  }
  if (server_->multi_statements() != multi_statements_) {
    std::string option(2, '\0');
    option[0] = multi_statements_ ? 0 : 1;
    bool set = co_await server_->run_command(Command::kSetOption, option, error);
    if (!set) co_return co_await server_lost(error, false);
    server_->multi_statements() = multi_statements_;
  }
  co_return true;
}

void Relay::release() {
  if (!server_) return;
  if (routing_) routing_->router().finished(backend_index_);
  if (pinned_in_) {
    pinned_in_->add_pinned(-1);
    pinned_in_ = nullptr;
  }
  server_->set_busy(false);
  s_.set_server_thread(std::nullopt, nullptr);
  server_.reset();
}

void Relay::discard_server() {
  if (!server_) return;
  server_->mark_broken();
  release();
}

void Relay::set_pin(MysqlPin pin) {
  if (pin == MysqlPin::kNone || pin_ != MysqlPin::kNone) return;
  pin_ = pin;
  auto reason = routing::to_string(pin);
  s_.env().metrics.pinned(reason);
  s_.show_pin(std::string(reason));
  if (server_ && server_.pool()) {
    pinned_in_ = static_cast<ServerPool*>(server_.pool());
    pinned_in_->add_pinned(1);
  }
}

// ---------------------------------------------------------------- shared links

bool Relay::shareable(const routing::MysqlStatement& analysis) {
  return analysis.read && !analysis.multiple &&
         analysis.transaction == routing::TransactionControl::kNone && analysis.settings.empty() &&
         !analysis.use_database && analysis.pin == MysqlPin::kNone && !analysis.kill_id &&
         !analysis.load_data_local && !analysis.implicit_commit;
}

std::shared_ptr<SharedLink> Relay::shared_link(const Intent& intent) {
  std::string error;
  int backend = choose(intent, error);
  if (backend < 0) return nullptr;  // the usual path tells the client
  const config::Backend& chosen = cluster_->backends[static_cast<std::size_t>(backend)];
  // Links are logged in to the backend's database; a client elsewhere uses the pool.
  if (!s_.schema().empty() && s_.schema() != chosen.database) return nullptr;
  shared_state_.schema = chosen.database;
  shared_state_.multi_statements = multi_statements_;
  if (shared_state_.settings != settings_) shared_state_.settings = settings_;
  auto link = s_.env().pools.mysql_links().pick(s_.socket().get_executor(), pool_for(backend),
                                                chosen.pool.pool_size, shared_state_);
  if (!link) return nullptr;
  backend_index_ = backend;
  backend_ = &chosen;
  return link;
}

awaitable<bool> Relay::relay_shared(SharedLink& link, Bytes command, ResponseTracker::Shape shape,
                                    Exchange& exchange) {
  if (routing_) routing_->router().started(backend_index_);
  link.send(command, shape, exchange);
  if (!shared_running_) {
    // Installed once per session: KILL QUERY from another client stops a shared statement
    // only while the server runs it (the link's thread serves other clients before and
    // after), which the action checks on this session's worker, where the link lives.
    shared_running_ = std::make_shared<SharedRunning>();
    s_.set_cancel_action([running = shared_running_, executor = s_.socket().get_executor()] {
      asio::post(executor, [running] {
        auto on = running->link.lock();
        if (on && running->exchange && on->running(running->exchange)) {
          asio::co_spawn(on->executor(), kill_query(*running->address, on->thread_id()),
                         asio::detached);
        }
      });
    });
  }
  shared_running_->link = link.weak_from_this();
  shared_running_->exchange = &exchange;
  const auto& address = addresses_[static_cast<std::size_t>(backend_index_)];
  if (shared_running_->address != address) shared_running_->address = address;
  ByteVector& client = s_.output();
  bool answered = false;
  bool received = false;
  for (;;) {
    co_await exchange.ready.wait();
    if (!exchange.discard && !exchange.response.empty()) {
      received = true;
      client.insert(client.end(), exchange.response.begin(), exchange.response.end());
      if (cache_.capturing()) cache_.capture(exchange.response);
    }
    exchange.response.clear();
    if (exchange.complete || !exchange.error.empty()) break;
    if (!exchange.discard && !client.empty()) {
      answered = true;
      bool flushed = co_await s_.flush();
      // The rest of the response is dropped as it comes: the link goes on for the others.
      if (!flushed) exchange.discard = true;
    }
    link.chunk_taken();
  }
  shared_running_->exchange = nullptr;
  if (routing_) routing_->router().finished(backend_index_);
  if (exchange.discard) {
    fatal_ = true;
    co_return false;
  }
  if (!exchange.complete) co_return co_await server_lost(exchange.error, answered || received);
  s_.sequence() = exchange.next_sequence;
  if (exchange.tracker.saw_status()) {
    std::uint16_t& flags = s_.status_flags();
    flags = static_cast<std::uint16_t>(
        (flags & ~(status::kInTrans | status::kAutocommit)) |
        (exchange.tracker.status() & (status::kInTrans | status::kAutocommit)));
  }
  co_return true;
}

awaitable<Relay::Shared> Relay::execute_shared(SharedLink& link, ClientStatement& statement,
                                               ByteVector& payload) {
  const ServerStatement* prepared = link.statement(statement.sql);
  if (!prepared) {
    // Prepared on the link the first time; the answer stays with the proxy.
    Exchange preparing(s_.socket().get_executor());
    preparing.discard = true;
    shared_command_.clear();
    shared_command_.push_back(std::byte(static_cast<std::uint8_t>(Command::kStmtPrepare)));
    append_text(shared_command_, statement.sql);
    link.send(shared_command_, ResponseTracker::Shape::kPrepare, preparing);
    while (!preparing.complete && preparing.error.empty()) co_await preparing.ready.wait();
    const auto& ok = preparing.tracker.prepare_ok();
    if (!preparing.complete || !ok) co_return Shared::kNotShared;
    prepared = link.adopt_statement(statement.sql, *ok);
    if (!prepared) co_return Shared::kNotShared;
  }
  // Executions of the statement by other clients may have bound other parameter types:
  // each one here carries its own.
  shared_command_.assign(payload.begin(), payload.end());
  if (statement.parameters > 0) {
    std::size_t flag_at = 10 + (statement.parameters + 7) / 8;
    std::size_t types_size = 2u * statement.parameters;
    if (payload.size() <= flag_at) co_return Shared::kNotShared;
    if (payload[flag_at] != std::byte{0}) {
      if (payload.size() < flag_at + 1 + types_size) co_return Shared::kNotShared;
      statement.types.assign(as_chars(Bytes(payload).subspan(flag_at + 1, types_size)));
    } else if (statement.types.size() == types_size) {
      shared_command_.resize(flag_at);
      shared_command_.push_back(std::byte{1});
      append_text(shared_command_, statement.types);
      shared_command_.insert(shared_command_.end(),
                             payload.begin() + static_cast<std::ptrdiff_t>(flag_at) + 1,
                             payload.end());
    } else {
      co_return Shared::kNotShared;
    }
  }
  set_statement_id(shared_command_, prepared->id);
  start_statement();
  Exchange exchange(s_.socket().get_executor());
  bool relayed =
      co_await relay_shared(link, shared_command_, ResponseTracker::Shape::kResultSets, exchange);
  if (!relayed) co_return Shared::kFailed;
  finish_statement(statement.sql, exchange.tracker);
  cache_.finish(exchange.tracker);
  co_return Shared::kDone;
}

// ---------------------------------------------------------------- relaying

void Relay::refuse_connect(const std::string& error) {
  if (error.find(kHashOnlyLogin) != std::string::npos) {
    // The account's plugin is not one the proxy can log in with on the client's behalf:
    // the client's login is what fails, as a server would say.
    s_.send_error(error::kAccessDenied, "28000", "plexiproxy: " + error);
    return;
  }
  s_.send_error(kNoBackend, "HY000", "plexiproxy: cannot connect to server: " + error);
}

awaitable<bool> Relay::server_lost(const std::string& error, bool answered_anything) {
  if (error.find(kHashOnlyLogin) != std::string::npos) {
    // A shared link that could not log in: nothing was sent yet.
    log_.warn("cluster {}: cannot log in to backend {}: {}", cluster_->name,
              backend_ ? backend_->name : "?", error);
    s_.env().metrics.error(metrics::Error::kBackendConnect);
    refuse_connect(error);
    co_return false;
  }
  s_.env().metrics.error(metrics::Error::kBackendLost);
  log_.warn("cluster {}: lost the connection to backend {}: {}", cluster_->name,
            backend_ ? backend_->name : "?", error);
  bool had_state = pin_ != MysqlPin::kNone || (server_ && (server_->status() & status::kInTrans));
  discard_server();
  if (answered_anything || had_state) {
    // The client holds part of an answer, or a transaction or session state that is gone:
    // it cannot go on as if nothing happened.
    co_await s_.fatal(error::kConnectionLost, "HY000",
                      "Lost connection to backend server during query: " + error);
    fatal_ = true;
    co_return false;
  }
  s_.send_error(error::kConnectionLost, "HY000",
                "Lost connection to backend server during query: " + error);
  co_return false;
}

awaitable<bool> Relay::relay(Bytes command, ResponseTracker::Shape shape, ResponseTracker& tracker,
                             std::uint32_t rewrite_id) {
  queue_to_server(command);
  std::string write_error;
  bool sent = co_await flush_to_server(write_error);
  if (!sent) co_return co_await server_lost(write_error, false);

  error_code ec;
  tracker.start(shape, server_->capabilities());
  ReadBuffer& input = server_->input();
  ByteVector& client = s_.output();
  bool answered = false;
  bool first = true;
  while (!tracker.done()) {
    auto packet = next_packet(input.readable());
    if (!packet) {
      if (client.size() > 0 && input.empty()) {
        // Pass on what is complete while the server works on the rest.
        answered = true;
        bool flushed = co_await s_.flush();
        if (!flushed) {
          discard_server();
          fatal_ = true;
          co_return false;
        }
      }
      std::size_t received = co_await read_some(server_->socket(), input, ec, kServerReadChunk);
      if (received == 0) {
        co_return co_await server_lost(ec ? ec.message() : "the server closed the connection",
                                       answered || !client.empty());
      }
      continue;
    }
    std::size_t start = client.size();
    auto raw = input.readable().first(packet->size());
    client.insert(client.end(), raw.begin(), raw.end());
    if (first && rewrite_id != 0 && shape == ResponseTracker::Shape::kPrepare &&
        packet->payload.size() >= 5 && packet->payload[0] == std::byte{0}) {
      set_statement_id(std::span<std::byte>(client.data() + start + kHeaderSize, 5), rewrite_id);
    }
    if (cache_.capturing()) cache_.capture(raw);
    first = false;
    tracker.feed(packet->payload);
    // The client's sequence continues the server's.
    s_.sequence() = static_cast<std::uint8_t>(packet->sequence + 1);
    input.consume(packet->size());
    if (tracker.wants_local_file()) {
      // Never asked for: the proxy does not offer LOCAL INFILE to servers.
      co_return co_await server_lost("the server asked for a local file", true);
    }
    if (client.size() >= kFlushBytes) {
      answered = true;
      bool flushed = co_await s_.flush();
      if (!flushed) {
        discard_server();
        fatal_ = true;
        co_return false;
      }
    }
  }
  server_->set_status(tracker.saw_status() ? tracker.status() : server_->status());
  std::uint16_t& flags = s_.status_flags();
  flags =
      static_cast<std::uint16_t>((flags & ~(status::kInTrans | status::kAutocommit)) |
                                 (server_->status() & (status::kInTrans | status::kAutocommit)));
  // A large result leaves a large buffer; the usual one stays, so that each request does
  // not allocate it again.
  input.shrink_if_idle(kKeptServerBuffer);
  co_return true;
}

awaitable<ServerStatement*> Relay::prepared_on_server(ClientStatement& statement) {
  if (auto* known = server_->statement(statement.sql)) co_return known;
  ByteVector command;
  command.push_back(std::byte(static_cast<std::uint8_t>(Command::kStmtPrepare)));
  append_text(command, statement.sql);
  queue_to_server(command);
  std::string write_error;
  bool sent = co_await flush_to_server(write_error);
  if (!sent) {
    co_await server_lost(write_error, false);
    co_return nullptr;
  }
  error_code ec;
  ResponseTracker tracker(ResponseTracker::Shape::kPrepare, server_->capabilities());
  ReadBuffer& input = server_->input();
  std::optional<Err> refused;
  while (!tracker.done()) {
    auto packet = next_packet(input.readable());
    if (!packet) {
      std::size_t received = co_await read_some(server_->socket(), input, ec, 16384);
      if (received == 0) {
        co_await server_lost(ec ? ec.message() : "the server closed the connection", false);
        co_return nullptr;
      }
      continue;
    }
    if (is_err(packet->payload)) refused = decode_err(packet->payload);
    tracker.feed(packet->payload);
    input.consume(packet->size());
  }
  if (!tracker.prepare_ok()) {
    // The statement prepared once elsewhere does not prepare here (a schema differs).
    Err err = refused.value_or(Err{1105, "HY000", "the server refused the statement"});
    s_.send_error(err.code, err.sqlstate, err.message);
    co_return nullptr;
  }
  co_await remember_on_server(statement.sql, *tracker.prepare_ok());
  co_return server_->statement(statement.sql);
}

awaitable<void> Relay::remember_on_server(const std::string& sql, const PrepareOk& ok) {
  std::uint32_t replaced =
      server_->remember_statement(sql, {ok.statement_id, ok.parameters, ok.columns, false});
  if (replaced == 0) co_return;
  ByteVector close;
  close.push_back(std::byte(static_cast<std::uint8_t>(Command::kStmtClose)));
  append_u32le(close, replaced);
  queue_to_server(close);
  std::string ignored;
  // No answer comes; a failed write shows at the next request on this connection.
  co_await flush_to_server(ignored);
}

void Relay::queue_to_server(Bytes payload) {
  std::uint8_t sequence = 0;
  append_packet(to_server_, sequence, payload);
}

awaitable<bool> Relay::flush_to_server(std::string& error) {
  error_code ec;
  bool sent = co_await write_all(server_->socket(), to_server_, ec);
  to_server_.clear();
  if (!sent) error = ec.message();
  co_return sent;
}

void Relay::finish_statement(std::string_view sql, const ResponseTracker& tracker) {
  if (started_at_ == pools::Clock::time_point{} || !backend_) return;
  auto elapsed =
      std::chrono::duration_cast<std::chrono::nanoseconds>(pools::Clock::now() - started_at_);
  started_at_ = {};
  config::Role role = cycle_writes_ ? config::Role::kPrimary : backend_->role;
  if (digesting()) {
    const routing::StatementShape& shape = shape_of(sql);
    routing::DigestSample sample;
    sample.cluster = cluster_->name;
    sample.user = s_.user();
    sample.digest = shape.digest;
    sample.shape = shape.text;
    // No statement to normalise later: libpg_query's normal form is PostgreSQL's; the shape,
    // with `?` for literals, is MySQL's digest text.
    sample.elapsed = elapsed;
    sample.rows = tracker.rows() > 0 ? static_cast<std::int64_t>(tracker.rows())
                                     : static_cast<std::int64_t>(tracker.affected_rows());
    sample.backend = backend_->name;
    sample.error = tracker.failed();
    sample.cache_miss = cache_.outcome() == RelayCache::Outcome::kMiss;
    s_.env().digests->record(sample);
  }
  if (!s_.env().metrics.enabled()) return;
  series_for(backend_, role).record(elapsed);
}

const metrics::StatementSeries& Relay::series_for(const config::Backend* backend,
                                                  config::Role role) {
  if (!series_ || series_backend_ != backend || series_role_ != role) {
    series_ = &s_.env().metrics.statements("mysql", cluster_->name, backend->name,
                                           config::to_string(role));
    series_backend_ = backend;
    series_role_ = role;
  }
  return *series_;
}

void Relay::count_cache_hit(std::string_view sql) {
  const config::Backend* cache_backend = cache_.backend();
  bool timed = s_.env().metrics.enabled() || digesting();
  if (!timed || !cache_backend) return;
  auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now() - cache_.served_since());
  if (digesting()) {
    const routing::StatementShape& shape = shape_of(sql);
    routing::DigestSample sample;
    sample.cluster = cluster_->name;
    sample.user = s_.user();
    sample.digest = shape.digest;
    sample.shape = shape.text;
    sample.elapsed = elapsed;
    sample.rows = static_cast<std::int64_t>(cache_.served_rows());
    sample.backend = cache_backend->name;
    sample.cache_hit = true;
    s_.env().digests->record(sample);
  }
  if (s_.env().metrics.enabled()) series_for(cache_backend, config::Role::kCache).record(elapsed);
}

Relay::Intent Relay::where_misses_go(Intent intent) {
  if (!cache_.capturing() || intent.role || !routing_) return intent;
  // A read the cache missed is answered where writes go: a replica may not have replayed a
  // write whose invalidation is already done, and its answer would be stored as current.
  // With no write target it goes to a replica as usual, and is not stored.
  Intent where_writes_go = intent;
  where_writes_go.role = config::Role::kPrimary;
  std::string error;
  if (choose(where_writes_go, error) < 0) {
    cache_.drop_capture();
    return intent;
  }
  return where_writes_go;
}

// ---------------------------------------------------------------- commands

awaitable<bool> Relay::query(ByteVector& payload) {
  std::string_view sql = as_chars(Bytes(payload).subspan(1));
  auto analysis = routing::analyze_mysql(sql);
  if (analysis.kill_id) {
    std::uint16_t code = 0;
    std::string message;
    if (s_.kill_client(*analysis.kill_id, analysis.kill_query, code, message)) {
      s_.send_ok();
    } else {
      s_.send_error(code, "HY000", message);
    }
    co_return true;
  }
  if (analysis.load_data_local) {
    s_.send_error(error::kNotAllowed, "42000",
                  "LOAD DATA LOCAL INFILE is not supported through plexiproxy; load the file "
                  "on the server, or with INSERT statements");
    co_return true;
  }
  Intent intent = intent_of(sql, analysis);
  if (!server_ && routing_ && analysis.transaction == routing::TransactionControl::kBegin &&
      analysis.read_only) {
    intent.read = true;
  }
  if (intent.cache_ttl && intent.cache_ttl->count() > 0 && intent.blocked_by < 0 &&
      cache_.enabled()) {
    bool go_on = co_await wait_before_lookup();
    if (!go_on) {
      fatal_ = true;
      co_return false;
    }
    bool answered = false;
    if (cache_.enabled()) {  // a reload during the pause may have taken the cache away
      const std::uint64_t digest = shape_of(sql).digest;
      answered = co_await cache_.serve(sql, analysis, digest, *intent.cache_ttl, cache_allows(),
                                       cache_key_parts());
    }
    if (answered) {
      count_cache_hit(sql);
      co_return true;
    }
    intent = where_misses_go(intent);
  }
  // Its tables are invalidated when its transaction ends, even if the server goes away
  // before it answers: the write may have been done.
  if (!analysis.read || intent.invalidates) cache_.wrote(sql);
  if (intent.blocked_by < 0 && session_shareable() && shareable(analysis)) {
    bool go_on = co_await wait_while_paused();
    if (!go_on) {
      fatal_ = true;
      co_return false;
    }
    if (auto link = shared_link(intent)) {
      start_statement();
      Exchange exchange(s_.socket().get_executor());
      bool relayed =
          co_await relay_shared(*link, payload, ResponseTracker::Shape::kResultSets, exchange);
      if (!relayed) co_return !fatal_;
      finish_statement(sql, exchange.tracker);
      cache_.finish(exchange.tracker);
      co_return true;
    }
  }
  bool attached = co_await ensure_server(intent);
  if (!attached) co_return !fatal_;
  // A pin is taken before the statement runs: whatever it leaves on this server stays
  // reachable even if it fails halfway.
  set_pin(analysis.pin);
  start_statement();
  ResponseTracker tracker;
  bool relayed = co_await relay(payload, ResponseTracker::Shape::kResultSets, tracker);
  if (!relayed) co_return !fatal_;
  finish_statement(sql, tracker);
  cache_.finish(tracker);
  if (!tracker.failed()) {
    for (auto& setting : analysis.settings) {
      settings_.set(setting.key, setting.sql);
      server_->settings().set(setting.key, setting.sql);
    }
    if (analysis.use_database) {
      s_.schema() = *analysis.use_database;
      server_->schema() = *analysis.use_database;
    }
  }
  if (!intent.read) wrote_in_cycle_ = true;
  if (tracker.last_insert_id() != 0) hold_ = kAutoIncrementHold + 1;
  co_return true;
}

awaitable<bool> Relay::init_db(ByteVector& payload) {
  std::string schema(as_chars(Bytes(payload).subspan(1)));
  Intent intent;
  intent.read = true;
  bool attached = co_await ensure_server(intent);
  if (!attached) co_return !fatal_;
  ResponseTracker tracker;
  bool relayed = co_await relay(payload, ResponseTracker::Shape::kOnePacket, tracker);
  if (!relayed) co_return !fatal_;
  if (!tracker.failed()) {
    s_.schema() = schema;
    server_->schema() = schema;
  }
  co_return true;
}

awaitable<bool> Relay::prepare(ByteVector& payload) {
  std::string sql(as_chars(Bytes(payload).subspan(1)));
  auto analysis = routing::analyze_mysql(sql);
  Intent intent = intent_of(sql, analysis);
  bool attached = co_await ensure_server(intent);
  if (!attached) co_return !fatal_;
  std::uint32_t id = next_statement_id_++;
  if (next_statement_id_ == 0) next_statement_id_ = 1;
  ResponseTracker tracker;
  bool relayed = co_await relay(payload, ResponseTracker::Shape::kPrepare, tracker, id);
  if (!relayed) co_return !fatal_;
  if (auto ok = tracker.prepare_ok()) {
    ClientStatement statement;
    statement.sql = std::move(sql);
    statement.intent = intent;
    statement.parameters = ok->parameters;
    statement.columns = ok->columns;
    statement.shareable = shareable(analysis);
    co_await remember_on_server(statement.sql, *ok);
    statements_.emplace(id, std::move(statement));
  }
  co_return true;
}

awaitable<bool> Relay::execute(ByteVector& payload) {
  std::uint32_t id = statement_id_of(payload);
  auto it = statements_.find(id);
  if (it == statements_.end() || payload.size() < 10) {
    s_.send_error(error::kUnknownStatement, "HY000",
                  "Unknown prepared statement handler (" + std::to_string(id) +
                      ") given to mysqld_stmt_execute");
    co_return true;
  }
  ClientStatement& statement = it->second;
  Intent intent = statement.intent;
  if (intent.cache_ttl && intent.cache_ttl->count() > 0 && intent.blocked_by < 0 &&
      cache_.enabled()) {
    // Without a cursor or long data, the parameters are all in the payload.
    std::string parameters;
    bool whole = payload[5] == std::byte{0} && statement.long_data.empty() &&
                 execution_parameters(payload, statement.parameters, statement.types, parameters);
    auto analysis = routing::analyze_mysql(statement.sql);
    bool go_on = co_await wait_before_lookup();
    if (!go_on) {
      fatal_ = true;
      co_return false;
    }
    bool answered = false;
    if (cache_.enabled()) {
      const std::uint64_t digest = shape_of(statement.sql).digest;
      answered = co_await cache_.serve(statement.sql, analysis, digest, *intent.cache_ttl,
                                       whole && cache_allows(), cache_key_parts(), &parameters);
    }
    if (answered) {
      count_cache_hit(statement.sql);
      co_return true;
    }
    intent = where_misses_go(intent);
  }
  if (statement.shareable && intent.blocked_by < 0 && payload[5] == std::byte{0} &&
      statement.long_data.empty() && session_shareable()) {
    bool go_on = co_await wait_while_paused();
    if (!go_on) {
      fatal_ = true;
      co_return false;
    }
    if (auto link = shared_link(intent)) {
      Shared outcome = co_await execute_shared(*link, statement, payload);
      if (outcome == Shared::kDone) co_return true;
      if (outcome == Shared::kFailed) co_return !fatal_;
    }
  }
  bool attached = co_await ensure_server(intent);
  if (!attached) co_return !fatal_;
  ServerStatement* prepared = co_await prepared_on_server(statement);
  if (!prepared) co_return !fatal_;
  std::uint32_t server_id = prepared->id;

  // Parameter types: kept from the execution that sent them; added when this server has
  // not seen them.
  ByteVector rewritten;
  if (statement.parameters > 0) {
    std::size_t bitmap = (statement.parameters + 7) / 8;
    std::size_t flag_at = 10 + bitmap;
    std::size_t types_size = 2u * statement.parameters;
    if (payload.size() > flag_at) {
      bool bound = payload[flag_at] != std::byte{0};
      if (bound && payload.size() >= flag_at + 1 + types_size) {
        statement.types.assign(as_chars(Bytes(payload).subspan(flag_at + 1, types_size)));
        prepared->types_sent = true;
      } else if (!bound && !prepared->types_sent && statement.types.size() == types_size) {
        rewritten.reserve(payload.size() + types_size);
        rewritten.assign(payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(flag_at));
        rewritten.push_back(std::byte{1});
        append_text(rewritten, statement.types);
        rewritten.insert(rewritten.end(),
                         payload.begin() + static_cast<std::ptrdiff_t>(flag_at) + 1, payload.end());
        prepared->types_sent = true;
      }
    }
  }
  // Long data sent for this execution goes to the server now, under its id.
  if (!statement.long_data.empty()) {
    for (auto& piece : statement.long_data) {
      set_statement_id(piece, server_id);
      queue_to_server(piece);
    }
    statement.long_data.clear();
    std::string write_error;
    bool sent = co_await flush_to_server(write_error);
    if (!sent) {
      co_await server_lost(write_error, false);
      co_return !fatal_;
    }
  }
  ByteVector& command = rewritten.empty() ? payload : rewritten;
  set_statement_id(command, server_id);
  if (!statement.intent.read || statement.intent.invalidates) cache_.wrote(statement.sql);
  std::uint8_t cursor_flags = std::to_integer<std::uint8_t>(payload[5]);

  start_statement();
  ResponseTracker tracker;
  bool relayed = co_await relay(command, ResponseTracker::Shape::kResultSets, tracker);
  if (!relayed) co_return !fatal_;
  finish_statement(statement.sql, tracker);
  cache_.finish(tracker);
  if (cursor_flags != 0 && (tracker.status() & status::kCursorExists)) cursor_open_ = true;
  if (!statement.intent.read) wrote_in_cycle_ = true;
  if (tracker.last_insert_id() != 0) hold_ = kAutoIncrementHold + 1;
  co_return true;
}

awaitable<bool> Relay::fetch(ByteVector& payload) {
  std::uint32_t id = statement_id_of(payload);
  auto it = statements_.find(id);
  ServerStatement* prepared = (it != statements_.end() && server_ && cursor_open_)
                                  ? server_->statement(it->second.sql)
                                  : nullptr;
  if (!prepared) {
    s_.send_error(error::kUnknownStatement, "HY000",
                  "The statement (" + std::to_string(id) + ") has no open cursor");
    co_return true;
  }
  set_statement_id(payload, prepared->id);
  ResponseTracker tracker;
  bool relayed = co_await relay(payload, ResponseTracker::Shape::kRows, tracker);
  if (!relayed) co_return !fatal_;
  if (tracker.failed() || (tracker.status() & status::kLastRowSent) ||
      !(tracker.status() & status::kCursorExists)) {
    cursor_open_ = false;
  }
  co_return true;
}

void Relay::record_long_data(ByteVector& payload) {
  auto it = statements_.find(statement_id_of(payload));
  if (it == statements_.end()) return;  // no answer is sent; the execution will fail
  it->second.long_data.push_back(std::move(payload));
}

void Relay::close_statement(ByteVector& payload) {
  // The server's statement stays prepared on its connection for the next client that
  // prepares the same text (closed when the connection has too many).
  statements_.erase(statement_id_of(payload));
}

awaitable<bool> Relay::reset_statement(ByteVector& payload) {
  auto it = statements_.find(statement_id_of(payload));
  if (it == statements_.end()) {
    s_.send_error(error::kUnknownStatement, "HY000", "Unknown prepared statement handler");
    co_return true;
  }
  it->second.long_data.clear();
  if (cursor_open_ && server_) {
    if (auto* prepared = server_->statement(it->second.sql)) {
      set_statement_id(payload, prepared->id);
      ResponseTracker tracker;
      bool relayed = co_await relay(payload, ResponseTracker::Shape::kOnePacket, tracker);
      cursor_open_ = false;
      co_return relayed || !fatal_;
    }
  }
  s_.send_ok();
  co_return true;
}

void Relay::let_go_of_server() {
  if (!server_) return;
  if (pin_ != MysqlPin::kNone || (server_->status() & status::kInTrans) || cursor_open_) {
    // State the client leaves on its server (locks, variables, a transaction) goes with the
    // connection.
    discard_server();
  } else {
    release();
  }
}

void Relay::reset_state() {
  let_go_of_server();
  pin_ = MysqlPin::kNone;
  s_.show_pin({});
  settings_.clear();
  statements_.clear();
  cursor_open_ = false;
  hold_ = 0;
  multi_statements_ = (s_.capabilities() & cap::kMultiStatements) != 0;
  s_.status_flags() = status::kAutocommit;
}

awaitable<bool> Relay::reset_connection() {
  reset_state();
  s_.send_ok();
  co_return true;
}

awaitable<bool> Relay::set_option(ByteVector& payload) {
  if (payload.size() < 3) {
    s_.send_error(error::kUnknownCommand, "08S01", "Unknown command");
    co_return true;
  }
  multi_statements_ = payload[1] == std::byte{0};
  s_.send_eof();
  co_return true;
}

awaitable<bool> Relay::forward_anywhere(ByteVector& payload, ResponseTracker::Shape shape) {
  Intent intent;
  intent.read = true;
  bool attached = co_await ensure_server(intent);
  if (!attached) co_return !fatal_;
  ResponseTracker tracker;
  bool relayed = co_await relay(payload, shape, tracker);
  co_return relayed || !fatal_;
}

bool Relay::can_hand_over() const {
  if (server_ || fatal_ || mode_ == config::PoolMode::kSession || pin_ != MysqlPin::kNone ||
      cursor_open_ || hold_ > 0 || (s_.status_flags() & status::kInTrans)) {
    return false;
  }
  return std::all_of(statements_.begin(), statements_.end(),
                     [](const auto& entry) { return entry.second.long_data.empty(); });
}

void Relay::write_handover_state(HandedSession& state) const {
  state.settings = settings_.items();
  state.multi_statements = multi_statements_;
  state.written_gtid = written_gtid_;
  for (const auto& [id, statement] : statements_) {
    state.statements.push_back(
        {id, statement.sql, statement.parameters, statement.columns, statement.types});
  }
  state.next_statement_id = next_statement_id_;
}

void Relay::restore(const HandedSession& state) {
  for (const auto& [key, sql] : state.settings) settings_.set(key, sql);
  multi_statements_ = state.multi_statements;
  written_gtid_ = state.written_gtid;
  for (const auto& handed : state.statements) {
    auto analysis = routing::analyze_mysql(handed.sql);
    ClientStatement statement;
    statement.sql = handed.sql;
    statement.intent = intent_of(handed.sql, analysis);
    statement.parameters = handed.parameters;
    statement.columns = handed.columns;
    statement.types = handed.types;
    statement.shareable = shareable(analysis);
    statements_.emplace(handed.id, std::move(statement));
  }
  next_statement_id_ = state.next_statement_id;
}

awaitable<void> Relay::run() {
  s_.set_handover_source(this);
  ByteVector payload;
  while (!fatal_) {
    s_.set_phase(server_ ? Phase::kActive : Phase::kIdle);
    if (!server_ && s_.draining()) {
      // Between commands: to the new process of an upgrade, or ended as at shutdown.
      if (!s_.hand_over()) {
        co_await s_.fatal(error::kServerShutdown, "08S01", "Server shutdown in progress");
      }
      break;
    }
    bool got = co_await s_.read_command(payload);
    if (!got) {
      if (s_.handing_over() && !s_.hand_over()) {
        co_await s_.fatal(error::kServerShutdown, "08S01", "Server shutdown in progress");
      }
      break;
    }
    s_.set_phase(Phase::kActive);
    if (!server_) follow_reload();
    cache_.drop_capture();
    auto command = static_cast<Command>(std::to_integer<std::uint8_t>(payload[0]));
    bool go_on = true;
    switch (command) {
      case Command::kQuit:
        go_on = false;
        break;
      case Command::kPing:
        s_.send_ok();
        break;
      case Command::kQuery:
        go_on = co_await query(payload);
        break;
      case Command::kInitDb:
        go_on = co_await init_db(payload);
        break;
      case Command::kStmtPrepare:
        go_on = co_await prepare(payload);
        break;
      case Command::kStmtExecute:
        go_on = co_await execute(payload);
        break;
      case Command::kStmtFetch:
        go_on = co_await fetch(payload);
        break;
      case Command::kStmtSendLongData:
        record_long_data(payload);
        continue;  // no answer
      case Command::kStmtClose:
        close_statement(payload);
        continue;  // no answer
      case Command::kStmtReset:
        go_on = co_await reset_statement(payload);
        break;
      case Command::kFieldList:
        go_on = co_await forward_anywhere(payload, ResponseTracker::Shape::kFieldList);
        break;
      case Command::kStatistics:
        go_on = co_await forward_anywhere(payload, ResponseTracker::Shape::kOnePacket);
        break;
      case Command::kResetConnection:
        go_on = co_await reset_connection();
        break;
      case Command::kSetOption:
        go_on = co_await set_option(payload);
        break;
      case Command::kChangeUser: {
        bool changed = co_await s_.change_user(payload);
        if (changed) {
          // The new user's session starts clean, on its own pools.
          reset_state();
          for (auto& pool : pools_) pool.reset();
          for (auto& address : addresses_) address.reset();
        }
        go_on = changed;
        break;
      }
      case Command::kProcessKill: {
        std::uint16_t code = 0;
        std::string message;
        std::uint64_t id = payload.size() >= 5 ? statement_id_of(payload) : 0;
        if (s_.kill_client(id, false, code, message)) {
          s_.send_ok();
        } else {
          s_.send_error(code, "HY000", message);
        }
        break;
      }
      default:
        s_.send_error(error::kUnknownCommand, "08S01", "Unknown command");
        break;
    }
    if (hold_ > 0) --hold_;
    if (server_ && releasable()) {
      if (wrote_in_cycle_ && cycle_writes_) {
        wrote_at_ = pools::Clock::now();
        if (cluster_->read_your_writes == config::ReadYourWrites::kLsn && server_->mariadb()) {
          std::vector<TextRow> rows;
          std::string error;
          bool asked = co_await server_->run("SELECT @@last_gtid", error, &rows);
          if (asked && !rows.empty() && !rows[0].empty() && rows[0][0]) {
            written_gtid_ = std::max(written_gtid_, gtid_sequence(*rows[0][0]));
          }
        }
      }
      release();
    }
    // Before the client hears of the commit: its next read finds the new generations.
    if (!(s_.status_flags() & status::kInTrans)) co_await cache_.transaction_ended();
    bool flushed = co_await s_.flush();
    if (!flushed || !go_on) break;
  }
  s_.set_handover_source(nullptr);
  let_go_of_server();
  // Whatever it wrote, committed or not.
  co_await cache_.transaction_ended();
}

}  // namespace

awaitable<void> run_relay(Session& session) {
  Relay relay(session);
  co_await relay.run();
}

awaitable<void> resume_relay(Session& session, const HandedSession& state) {
  Relay relay(session);
  relay.restore(state);
  co_await relay.run();
}

}  // namespace plexi::mysql
