// The frontend session: one client of the PostgreSQL listener, from its first packet to its
// last, as one coroutine — startup, authentication, then relay to a server pool or answers
// from the SQLite executor.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/asio.h"
#include "common/bytes.h"
#include "common/client_handover.h"
#include "common/client_registry.h"
#include "common/spin_lock.h"
#include "common/tls_stream.h"
#include "common/user_connections.h"
#include "config/access.h"
#include "config/config.h"
#include "daemon/admin_console.h"
#include "daemon/audit_log.h"
#include "daemon/metrics.h"
#include "pools/registry.h"
#include "pools/server_socket.h"
#include "protocol/pg/auth.h"
#include "protocol/pg/handover_state.h"
#include "protocol/pg/messages.h"
#include "protocol/pg/session_fronts.h"
#include "protocol/pg/statement.h"
#include "routing/backend_health.h"
#include "routing/cluster_routing.h"
#include "routing/query_digests.h"
#include "routing/traffic_control.h"

namespace spdlog {
class logger;
}
namespace plexi::routing {
class AuthQueries;
class ResultCache;
}

namespace plexi::pg {

// What a session needs from the process around it.
struct SessionEnvironment {
  std::function<std::shared_ptr<const config::Config>()> config;
  pools::Registry& pools;
  ClientRegistry& registry;   // logged-in clients, by cancel key
  std::atomic<int>& clients;  // connected clients, for max_client_conn
  const std::atomic<bool>& shutting_down;
  // The network worker a new client is served on.
  std::function<asio::any_io_executor()> worker;
  routing::RoutingTable& routing;
  // The health monitor's latest view of a cluster (null when it has none).
  std::function<std::shared_ptr<const routing::ClusterHealth>(std::string_view cluster)> health;
  std::shared_ptr<spdlog::logger> log;
  metrics::Metrics& metrics;
  admin::Console* admin = nullptr;   // the admin console's commands
  routing::TrafficControl& traffic;  // PAUSE and DISABLE BACKEND
  // The audit log, when log.audit.file is set (null otherwise, or after a reload removed it).
  std::function<std::shared_ptr<AuditLog>()> audit;
  routing::QueryDigests* digests = nullptr;
  // The result cache's connections (null: statements are never cached).
  routing::ResultCache* cache = nullptr;
  // auth_query lookups of users the config does not list (null: none are looked up).
  routing::AuthQueries* auth_queries = nullptr;
  // The TLS context of clients' handshakes; null when tls.client is disable. A session keeps
  // the one it started with: a reload with new certificates gives only later clients the
  // new one.
  std::function<std::shared_ptr<asio::ssl::context>()> tls = [] {
    return std::shared_ptr<asio::ssl::context>();
  };
  // Connected clients per user, for max_client_conn per user (null: not counted).
  UserConnections* user_connections = nullptr;
  // Raised by every reload once config() returns the new snapshot: one atomic load per
  // transaction tells a relay whether to look for a new config (null: it never changes).
  const std::atomic<std::uint64_t>* config_generation = nullptr;
  // During a binary upgrade: where idle clients go to be served by the new process (null, or
  // closed: they end as at shutdown).
  HandoverQueue* handover = nullptr;

  std::uint64_t generation() const {
    return config_generation ? config_generation->load(std::memory_order_acquire) : 0;
  }
  // True when a reload happened since `seen`, which it then brings up to date.
  bool reloaded_since(std::uint64_t& seen) const {
    std::uint64_t now = generation();
    if (now == seen) return false;
    seen = now;
    return true;
  }
};

// A client's connection: plain TCP that may turn into TLS.
using ClientStream = TlsStream<tcp::socket>;

// A record's first byte when it is a TLS handshake (a ClientHello): what tells a client that
// starts with TLS from one that starts in clear.
inline constexpr std::byte kTlsHandshakeRecord{0x16};

// Runs the server side of a TLS handshake on a client's stream with `context`, and counts
// it for `protocol` (postgres, mysql, redis). `already_read`: the client's bytes read off
// the socket already, which open the handshake. False when the handshake failed (logged).
awaitable<bool> accept_tls(ClientStream& stream, asio::ssl::context& context,
                           SessionEnvironment& environment, std::string_view protocol,
                           Bytes already_read = {});

// Where a session is; shown by the admin console.
enum class Phase { kStartup, kAuthentication, kIdle, kActive, kClosing };
std::string_view to_string(Phase phase);

class Relay;
struct RelayDeleter {
  void operator()(Relay* relay) const;
};

class Session : public Client, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, SessionEnvironment& environment);
  ~Session() override;

  awaitable<void> run();
  // Goes on serving a client handed over by the process this one took over from, as that
  // process left it between two transactions.
  awaitable<void> resume(HandedSession state);
  void cancel() override;
  void drain() override;
  ClientInfo describe() const override;
  std::string_view protocol() const override { return "postgres"; }
  bool logging_in() const override {
    return phase_ == Phase::kStartup || phase_ == Phase::kAuthentication;
  }
  void kill() override;
  void expire_idle(std::chrono::milliseconds timeout) override;

  Phase phase() const { return phase_; }

 private:
  friend class Relay;
  friend class SqliteFront;
  friend awaitable<bool> start_relay(Session&);
  friend awaitable<void> run_sqlite_front(Session&);
  friend awaitable<void> run_admin_console(Session&);

  // Counts the client and takes the process's current config: how run() and resume() begin.
  void open();
  // --- startup and authentication (session.cc) ---
  awaitable<bool> log_in();
  awaitable<bool> read_startup();
  // The access rules for this client of `cluster` ("plexiproxy": the admin console): false
  // when they refuse it (reported); else access_method_ is what they ask for.
  awaitable<bool> check_access(std::string_view cluster);
  // Counts the logged-in client against its user's max_client_conn; false when it is over
  // (reported).
  awaitable<bool> take_user_slot();
  awaitable<bool> authenticate();
  awaitable<bool> authenticate_scram(const std::string& secret);
  awaitable<bool> authenticate_md5(const std::string& secret);
  // A user the config does not list, with the secret the cluster's auth_query finds.
  awaitable<bool> authenticate_looked_up();
  // The same exchange as for a known user, failing whatever the client answers, so the
  // answer does not tell which user names exist.
  awaitable<bool> authenticate_unknown();
  // Where writes go now (the health monitor's write target, else the configured primary).
  const config::Backend& write_target() const;
  // Reads one typed message from the client into `frame`; false on EOF or a protocol error
  // (which has then been reported to the client).
  awaitable<bool> read_message(Frame& frame);
  awaitable<bool> flush();
  // Sends a FATAL error and ends the session.
  awaitable<void> fatal(std::string_view sqlstate, std::string_view message);
  void append_error(std::string_view sqlstate, std::string_view message);

  bool is_loopback() const;
  // Starts TLS for a client that asked with an SSLRequest or opened with a ClientHello
  // (`direct`: PostgreSQL 17's direct TLS, which must name ALPN "postgresql").
  awaitable<bool> start_tls(bool direct);
  // auth: cert: the client's verified certificate names this user.
  awaitable<bool> authenticate_cert();

  ClientStream socket_;
  SessionEnvironment& env_;
  std::shared_ptr<asio::ssl::context> tls_;  // null: TLS is off for this client
  // The TLS version in use ("TLSv1.3"), read by the admin console from another thread.
  std::atomic<const char*> tls_version_ = nullptr;
  std::shared_ptr<const config::Config> config_;
  std::uint64_t config_generation_ = 0;  // of config_ (see SessionEnvironment)
  // The snapshot config_user_ lives in, once a reload dropped the user: the session goes on
  // as that user until it ends.
  std::shared_ptr<const config::Config> user_config_;
  ReadBuffer input_;
  ByteVector output_;
  // True once shutdown began: the session ends at its next idle point.
  bool draining() const { return env_.shutting_down.load(); }
  // Sends a FATAL error and closes the client socket (the session's reads then end): at
  // shutdown, after client_idle_timeout.
  awaitable<void> end_with(std::string_view sqlstate, std::string message);
  // At shutdown; during a binary upgrade, a relay client between transactions is handed to
  // the new process instead (a busy one later, at its next idle point).
  awaitable<void> end_for_shutdown();
  enum class Handover { kDone, kLater, kNo };
  Handover try_hand_over();

  // Atomic because the admin console reads it from another thread.
  std::atomic<Phase> phase_ = Phase::kStartup;
  bool counted_ = false;
  prometheus::Gauge* clients_gauge_ = nullptr;  // this session's (protocol, cluster) count
  std::chrono::system_clock::time_point connected_at_ = std::chrono::system_clock::now();
  tcp::endpoint peer_;  // read once: the socket is not to be touched from other threads
  // When the client last sent anything, for client_idle_timeout.
  std::chrono::steady_clock::time_point last_request_ = std::chrono::steady_clock::now();
  config::AccessMethod access_method_ = config::AccessMethod::kPassword;
  UserConnections::Slot user_slot_;

  std::string user_;
  std::string database_;
  bool admin_console_ = false;  // logged in to database "plexiproxy"
  const config::Cluster* cluster_ = nullptr;
  const config::User* config_user_ = nullptr;  // null when trusted without a users section
  std::string client_password_;                // plain text, when the client sent one
  // SCRAM passthrough: the client's keys, when it proved itself against a SCRAM secret
  // the server stores too (from the config or auth_query).
  std::optional<ScramKeys> client_scram_keys_;
  std::vector<std::pair<std::string, std::string>> startup_settings_;
  std::optional<ClientRegistry::Key> cancel_key_;

  // Where a cancel request goes, guarded because cancel() runs on another thread: the
  // server connection the relay is using (set and cleared per transaction, so a plain value
  // rather than an allocated callback), or the executor front's own action.
  struct ServerCancelKey {
    pools::ServerEndpoint endpoint;
    std::int32_t pid = 0;
    std::int32_t secret = 0;
  };
  // `backend`: where the connection goes, shown by the admin console.
  void set_server_cancel_key(std::optional<ServerCancelKey> key,
                             const config::Backend* backend = nullptr) {
    std::lock_guard lock(cancel_lock_);
    server_cancel_key_ = std::move(key);
    attached_backend_ = backend;
  }
  void show_pin(PinReason reason) {
    std::lock_guard lock(cancel_lock_);
    shown_pin_ = reason;
  }
  mutable SpinLock cancel_lock_;  // held for a few stores, twice per transaction
  std::optional<ServerCancelKey> server_cancel_key_;
  std::function<void()> cancel_action_;
  // What the admin console shows of the server connection in use (guarded by cancel_lock_).
  const config::Backend* attached_backend_ = nullptr;
  PinReason shown_pin_ = PinReason::kNone;

  // The relay front, once logged in: it serves the client from socket readiness callbacks,
  // so an idle client holds no coroutine.
  std::unique_ptr<Relay, RelayDeleter> relay_;
};

// The completion handler of a session's top-level coroutines: logs what escaped them.
std::function<void(std::exception_ptr)> log_session_errors(std::shared_ptr<spdlog::logger> log);

void log_accept_failure(spdlog::logger& log, const boost::system::error_code& ec);

// A client's address as the access rules take it.
std::array<std::uint8_t, 16> access_address(const asio::ip::address& address);

// The access rules' verdict on `request`: null when they refuse it, which has then been
// counted and logged (with the rule's line); else the rule that lets it in, or the
// default rule (method password) when the config has no rules.
const config::AccessRule* admit(const config::Config& config, const config::AccessRequest& request,
                                SessionEnvironment& environment);

// The limit on `user`'s connected clients: its own max_client_conn, else the global one.
int user_client_limit(const config::Config& config, const config::User* user);

// Accepts on `acceptor` until it is closed; each client's socket goes to the next worker and
// `make(socket)` makes its session, whose run() is spawned there. Shared by every front.
template <class MakeSession>
awaitable<void> accept_sessions(tcp::acceptor& acceptor, SessionEnvironment& environment,
                                MakeSession make) {
  while (true) {
    boost::system::error_code ec;
    auto worker = environment.worker();
    tcp::socket socket(worker);
    co_await acceptor.async_accept(socket, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      log_accept_failure(*environment.log, ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    // The session is made on its worker's thread, so it and its coroutines come from that
    // thread's malloc arena and are freed where they were allocated; the acceptor's thread
    // keeps only the reactor's small per-socket records, which it reuses. After a burst of
    // clients has gone, their memory can then be given back whole.
    asio::post(worker, [socket = std::move(socket), make, worker, &environment]() mutable {
      auto session = make(std::move(socket));
      asio::co_spawn(
          worker, [session]() { return session->run(); }, log_session_errors(environment.log));
    });
  }
}

// Waits while `cluster` is paused (PAUSE ... RESUME), looking every 20 ms; false as soon
// as `over()` says the session is to end instead (shutdown, a closed socket). Shared by
// every front.
awaitable<bool> wait_while_paused(const asio::any_io_executor& executor,
                                  const routing::TrafficControl& traffic, std::string cluster,
                                  std::function<bool()> over);

// Accepts on `acceptor` until it is closed, running a Session for each client.
awaitable<void> accept_clients(tcp::acceptor& acceptor, SessionEnvironment& environment);

// Serves a client handed over in a binary upgrade (`state`: its HandedSession, encoded) on
// the worker `socket` belongs to.
void resume_client(tcp::socket socket, SessionEnvironment& environment, std::string_view state);

// Logs that a client handed over came with a state that does not decode (it is closed).
void log_unreadable_handover(SessionEnvironment& environment);

// What every front's resume_client() does with the state it decoded: `make(socket, state)`
// makes the session, whose resume(state) is spawned on the socket's worker. A state that did
// not decode is logged and the client closed. Shared by every front.
template <class HandedState, class MakeSession>
void resume_session(tcp::socket socket, SessionEnvironment& environment,
                    std::optional<HandedState> decoded, MakeSession make) {
  if (!decoded) {
    log_unreadable_handover(environment);
    return;
  }
  auto executor = socket.get_executor();
  auto session = make(std::move(socket), *decoded);
  asio::co_spawn(
      executor,
      [session, handed = std::move(*decoded)]() mutable {
        return session->resume(std::move(handed));
      },
      log_session_errors(environment.log));
}

}  // namespace plexi::pg
