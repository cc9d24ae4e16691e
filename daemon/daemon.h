// The process: the network workers, the listeners, signals (reload on SIGHUP, draining
// shutdown on SIGTERM/SIGINT), the current config snapshot and the registries every session
// shares.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/asio.h"
#include "common/client_registry.h"
#include "config/config.h"
#include "daemon/admin_console.h"
#include "daemon/admin_http.h"
#include "daemon/audit_log.h"
#include "daemon/metrics.h"
#include "daemon/service_manager.h"
#include "daemon/takeover.h"
#include "daemon/tls_context.h"
#include "daemon/workers.h"
#include "pools/registry.h"
#include "protocol/pg/session.h"
#include "routing/auth_query.h"
#include "routing/cluster_routing.h"
#include "routing/health_monitor.h"
#include "routing/query_digests.h"
#include "routing/result_cache.h"
#include "routing/traffic_control.h"

namespace plexi {

struct DaemonOptions {
  std::optional<std::string> config_path;  // none: the embedded default
  std::string data_dir = ".";
  config::LoadOptions load;  // for reloads too
  // --takeover: take the listeners over from the running process whose control socket this
  // is (empty: the config's upgrade.socket), instead of binding them.
  std::optional<std::string> takeover;
  // How this process was started, to start its successor the same way on SIGUSR2.
  std::string executable;
  std::vector<std::string> arguments;  // argv[1]...
};

class Daemon : public admin::Console {
 public:
  Daemon(DaemonOptions options, std::shared_ptr<const config::Config> config);
  ~Daemon() override;

  // Binds the listeners and serves until shutdown. Returns the process exit code.
  int run();

  std::shared_ptr<const config::Config> config() const;

  // The admin console (admin.cc).
  awaitable<admin::Reply> execute(const admin::Command& command) override;

 private:
  // A listen address as an endpoint (host names resolved); logs why not.
  std::optional<tcp::endpoint> resolve(const config::Endpoint& endpoint);
  bool open_listeners();
  bool open_admin_http(const config::Config& config);
  // /status: the SHOW tables as JSON; with queries, the digests too (admin.cc).
  std::string status_json(bool queries) const;
  // /readyz: empty when ready, else why not.
  std::string unready_reason() const;
  awaitable<void> handle_signals();
  // Binary upgrade (daemon/takeover.h): the control socket, the listeners it hands over, and
  // the successor SIGUSR2 starts.
  std::string upgrade_socket_path() const;
  // Spawns the accept loops open_listeners() made.
  void start_accepting();
  // With --takeover: once ready (first health checks done, at most kReadyWait), starts
  // accepting and tells the old process to drain.
  awaitable<void> complete_takeover();
  static constexpr std::chrono::seconds kReadyWait{10};
  bool open_upgrade_socket();
  std::vector<takeover::Listener> listeners_to_hand_over() const;
  void start_successor();
  awaitable<void> watch_successor(pid_t pid);
  // After a handover: waits until the clients the acceptors took just before they closed
  // have logged in, then sets shutting_down_ and gives idle clients kFirstRequestGrace to
  // send a request (it runs to its end) before the drain closes them.
  awaitable<void> let_accepted_clients_start();
  static constexpr std::chrono::milliseconds kFirstRequestGrace{2000};
  // Idle clients handed to the process that took over (common/client_handover.h): sent from
  // the queue sessions put themselves in, and adopted on the other side.
  awaitable<void> send_handed_clients();
  awaitable<void> receive_handed_clients(int connection, int old_pid);
  void adopt_client(HandedClient client);
  // Once a second: idle server connections past their time, clients past client_idle_timeout.
  awaitable<void> housekeeping();
  // kSignal: SIGTERM, SIGINT or SHUTDOWN. kHandedOver: another process serves the
  // listeners now (it told systemd it is the main process, so no STOPPING=1).
  enum class Stop { kSignal, kHandedOver };
  awaitable<void> shutdown(Stop why = Stop::kSignal);
  // What the service manager is told (service_status.cc): the status line every few seconds
  // when it changed, and the watchdog's pings while the control thread and every worker run.
  ServiceCounts service_counts() const;
  awaitable<void> report_status();
  awaitable<void> feed_watchdog();
  // Loads the config file again; the errors that made it keep the old one (none: reloaded).
  std::vector<std::string> reload();

  // What SHOW answers with, and /status (admin.cc).
  admin::Table pools_table() const;
  admin::Table clients_table() const;
  admin::Table servers_table() const;
  admin::Table stats_table() const;
  admin::Table backends_table() const;
  admin::Table queries_table() const;
  admin::Table config_table() const;
  int transactions_running(const std::string& cluster) const;
  // The state gauges of /metrics, computed when scraped.
  void collect_pool_metrics(std::vector<prometheus::MetricFamily>& families) const;
  void collect_backend_metrics(std::vector<prometheus::MetricFamily>& families) const;

  DaemonOptions options_;
  // Destroyed first (in ~Daemon), while everything its suspended sessions refer to lives.
  Workers workers_;
  mutable std::mutex config_mutex_;
  std::shared_ptr<const config::Config> config_;
  std::atomic<std::uint64_t> config_generation_{0};  // raised by each reload, after config_
  std::shared_ptr<spdlog::logger> log_;
  ServiceManager service_;

  metrics::Metrics metrics_;
  pools::Registry pools_;
  routing::RoutingTable routing_;
  mutable ClientRegistry client_registry_;
  routing::TrafficControl traffic_;
  routing::QueryDigests digests_;
  routing::ResultCache result_cache_;
  // Reset in ~Daemon before the workers: its connections live on the main worker's strands.
  std::unique_ptr<routing::AuthQueries> auth_queries_;
  std::mutex reload_mutex_;  // one reload at a time (SIGHUP and RELOAD)
  // The audit log of the current config (null when it has none); replaced on reload.
  std::shared_ptr<AuditLog> audit_log() const;
  bool open_audit_log(const config::Config& config, std::string& error);
  mutable std::mutex audit_mutex_;
  std::shared_ptr<AuditLog> audit_;
  config::Logging audit_settings_;  // what audit_ was opened with
  // The TLS context of clients' handshakes (null: tls.client disable), replaced on reload
  // when the tls section or its files changed; sessions keep the one they started with.
  std::shared_ptr<asio::ssl::context> client_tls() const;
  // Makes the context `config` asks for, when it differs from the current one; false with
  // `error` set when its files cannot be used. The new context is kept in pending_tls_
  // until commit_client_tls() swaps it in.
  bool prepare_client_tls(const config::Config& config, std::string& error);
  mutable std::mutex tls_mutex_;
  std::shared_ptr<asio::ssl::context> client_tls_;
  std::string client_tls_fingerprint_;
  struct PendingTls {
    std::shared_ptr<asio::ssl::context> context;
    std::string fingerprint;
  };
  std::optional<PendingTls> pending_tls_;  // guarded by reload_mutex_ (or start-up)
  void commit_client_tls();
  std::atomic<int> clients_{0};
  UserConnections user_connections_;
  std::atomic<bool> stopping_{false};       // shutdown() began
  std::atomic<bool> shutting_down_{false};  // sessions drain
  pg::SessionEnvironment pg_environment_;
  pg::SessionEnvironment mysql_environment_;
  pg::SessionEnvironment redis_environment_;
  struct Listening {
    std::string kind;  // "postgres", "mysql" or "redis", as the takeover names them
    std::unique_ptr<tcp::acceptor> acceptor;
  };
  std::vector<Listening> acceptors_;
  std::vector<awaitable<void>> accept_loops_;   // made by open_listeners(), until started
  std::optional<takeover::Handover> handover_;  // from --takeover, until confirmed
  std::unique_ptr<takeover::Server> upgrade_server_;
  std::string upgrade_socket_;     // the path upgrade_server_ serves
  pid_t successor_ = 0;            // started by SIGUSR2 and not yet exited (control thread only)
  HandoverQueue client_handover_;  // open while clients are handed to the successor
  // The connection to the process that took over, while clients go to it (control thread).
  std::optional<asio::local::stream_protocol::socket> successor_link_;
  std::size_t clients_handed_ = 0;
  std::unique_ptr<AdminHttpServer> admin_http_;
  std::atomic<bool> serving_{false};  // listeners open
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  std::optional<asio::signal_set> signals_;
  // Reset in ~Daemon before the workers: its strand must not outlive their io_contexts.
  std::unique_ptr<routing::HealthMonitor> health_;
  std::unique_ptr<routing::ViewCatalogs> views_;  // of the clusters whose reads are cached
  int exit_code_ = 0;
};

}  // namespace plexi
