// Start-up, signals, reload and the draining shutdown of the daemon.
#include "daemon/daemon.h"

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <thread>

#include "common/socket_io.h"
#include "daemon/logging.h"
#include "protocol/mysql/session.h"
#include "protocol/resp/session.h"

namespace plexi {
namespace {

// The same environment for another protocol's sessions, which log under their own name.
pg::SessionEnvironment with_logger(const pg::SessionEnvironment& environment,
                                   std::shared_ptr<spdlog::logger> log) {
  pg::SessionEnvironment copy = environment;
  copy.log = std::move(log);
  return copy;
}

std::size_t worker_threads(const config::Config& config) {
  if (config.threads > 0) return static_cast<std::size_t>(config.threads);
  // Half the cores: the proxy's clients or servers usually run beside it, and each worker
  // that sleeps and wakes per event costs more than it gains when cores are scarce (on 2
  // cores, one worker gave 1.3x the pgbench TPS of two). Odyssey's "auto" is the same.
  return std::max(1u, std::thread::hardware_concurrency() / 2);
}

void gauge(prometheus::MetricFamily& family, std::vector<prometheus::ClientMetric::Label> labels,
           double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

// What the listeners of `config` are: a name for each ("listen.postgres", "redis cluster
// cache") and its address. The Redis clusters are named since each has a listener of its
// own (the shared listen.redis one, or its listen: address).
std::map<std::string, std::string> listeners_of(const config::Config& config) {
  std::map<std::string, std::string> listeners;
  auto add = [&](const std::string& name, const std::optional<config::Endpoint>& endpoint) {
    if (endpoint) listeners[name] = endpoint->to_string();
  };
  add("listen.postgres", config.listen.postgres);
  add("listen.mysql", config.listen.mysql);
  add("listen.admin", config.listen.admin);
  for (const auto& [name, cluster] : config.clusters) {
    if (cluster.protocol != config::Protocol::kRedis) continue;
    add("redis cluster " + name, cluster.listen ? cluster.listen : config.listen.redis);
  }
  return listeners;
}

// The listener differences between two configs, one line each ("listen.mysql:
// 127.0.0.1:6033 -> 127.0.0.1:6034", "redis cluster cache: none -> 127.0.0.1:6381").
std::vector<std::string> listener_changes(const config::Config& before,
                                          const config::Config& after) {
  auto old_listeners = listeners_of(before);
  auto new_listeners = listeners_of(after);
  std::map<std::string, std::pair<std::string, std::string>> changes;
  for (const auto& [name, address] : old_listeners) changes[name].first = address;
  for (const auto& [name, address] : new_listeners) changes[name].second = address;
  std::vector<std::string> lines;
  for (const auto& [name, addresses] : changes) {
    if (addresses.first == addresses.second) continue;
    lines.push_back(name + ": " + (addresses.first.empty() ? "none" : addresses.first) + " -> " +
                    (addresses.second.empty() ? "none" : addresses.second));
  }
  return lines;
}

}  // namespace

Daemon::Daemon(DaemonOptions options, std::shared_ptr<const config::Config> config)
    : options_(std::move(options)),
      workers_(worker_threads(*config)),
      config_(std::move(config)),
      log_(component_logger("daemon")),
      pools_(std::max<std::size_t>(4, worker_threads(*config_) * 2)),
      digests_(config_->digest.max_entries),
      result_cache_(component_logger("cache")),
      auth_queries_(std::make_unique<routing::AuthQueries>(workers_.main().get_executor())),
      pg_environment_{[this] { return this->config(); },
                      pools_,
                      client_registry_,
                      clients_,
                      shutting_down_,
                      [this] { return workers_.next(); },
                      routing_,
                      [this](std::string_view cluster) { return health_->cluster(cluster); },
                      component_logger("pg"),
                      metrics_,
                      this,
                      traffic_,
                      [this] { return audit_log(); },
                      &digests_,
                      &result_cache_,
                      auth_queries_.get()},
      mysql_environment_(with_logger(pg_environment_, component_logger("mysql"))),
      redis_environment_(with_logger(pg_environment_, component_logger("redis"))),
      signals_(std::in_place, workers_.main(), SIGINT, SIGTERM, SIGHUP),
      health_(std::make_unique<routing::HealthMonitor>(workers_.main(), config_,
                                                       component_logger("health"))),
      views_(std::make_unique<routing::ViewCatalogs>(workers_.main(), component_logger("cache"))) {
  result_cache_.set_views(views_.get());
  signals_->add(SIGUSR2);  // start a successor that takes over (daemon/upgrade.cc)
  for (auto* environment : {&pg_environment_, &mysql_environment_, &redis_environment_}) {
    environment->tls = [this] { return client_tls(); };
    environment->user_connections = &user_connections_;
    environment->config_generation = &config_generation_;
    environment->handover = &client_handover_;
  }
  metrics_.set_enabled(config_->metrics.enabled);
  metrics_.add_collector([this](auto& families) { collect_pool_metrics(families); });
  metrics_.add_collector([this](auto& families) { collect_backend_metrics(families); });
}

Daemon::~Daemon() {
  if (admin_http_) admin_http_->stop();
  upgrade_server_.reset();
  signals_.reset();
  acceptors_.clear();
  pools_.close_all();
  result_cache_.close_all();
  result_cache_.set_views(nullptr);
  views_.reset();
  health_.reset();
  auth_queries_.reset();
  // Sessions cut off at the shutdown deadline are still suspended in the workers; they are
  // destroyed here, giving their server connections back to pools that close them.
  workers_.destroy();
}

std::shared_ptr<const config::Config> Daemon::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

std::optional<tcp::endpoint> Daemon::resolve(const config::Endpoint& endpoint) {
  error_code ec;
  auto address = asio::ip::make_address(endpoint.host, ec);
  if (ec) {
    tcp::resolver resolver(workers_.main());
    auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
    if (ec || results.empty()) {
      log_->critical("cannot resolve listen address {}: {}", endpoint.to_string(), ec.message());
      return std::nullopt;
    }
    address = results.begin()->endpoint().address();
  }
  return tcp::endpoint(address, endpoint.port);
}

bool Daemon::open_listeners() {
  auto config = this->config();
  auto open = [&](const config::Endpoint& endpoint, std::string_view protocol) -> tcp::acceptor* {
    auto resolved = resolve(endpoint);
    if (!resolved) return nullptr;
    tcp::endpoint local = *resolved;
    error_code ec;
    auto acceptor = std::make_unique<tcp::acceptor>(workers_.main());
    // A listener handed over keeps its accept queue: nobody waiting in it is lost.
    int inherited = handover_ ? handover_->take(protocol, local) : -1;
    if (inherited >= 0) {
      acceptor->assign(local.protocol(), inherited, ec);
      if (ec) ::close(inherited);
    } else {
      acceptor->open(local.protocol(), ec);
      if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acceptor->bind(local, ec);
      if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      log_->critical("cannot listen on {} ({}): {}", endpoint.to_string(), protocol, ec.message());
      return nullptr;
    }
    log_->info("listening on {} ({}{})", endpoint.to_string(), protocol,
               inherited >= 0 ? ", handed over" : "");
    acceptors_.push_back({std::string(protocol), std::move(acceptor)});
    return acceptors_.back().acceptor.get();
  };
  if (config->listen.postgres) {
    auto* acceptor = open(*config->listen.postgres, "postgres");
    if (!acceptor) return false;
    accept_loops_.push_back(pg::accept_clients(*acceptor, pg_environment_));
  }
  if (config->listen.mysql) {
    auto* acceptor = open(*config->listen.mysql, "mysql");
    if (!acceptor) return false;
    accept_loops_.push_back(mysql::accept_clients(*acceptor, mysql_environment_));
  }
  // A Redis client names no database: each listener serves one Redis cluster, the shared
  // one the cluster without a listen: address of its own.
  for (const auto& [name, cluster] : config->clusters) {
    if (cluster.protocol != config::Protocol::kRedis) continue;
    const config::Endpoint* endpoint =
        cluster.listen ? &*cluster.listen
                       : (config->listen.redis ? &*config->listen.redis : nullptr);
    if (!endpoint) continue;
    auto* acceptor = open(*endpoint, "redis");
    if (!acceptor) return false;
    accept_loops_.push_back(resp::accept_clients(*acceptor, redis_environment_, name));
  }
  return true;
}

int Daemon::run() {
  auto config = this->config();
  log_->info("plexiproxy {} starting with {} ({} worker threads)", PLEXI_VERSION, config->source,
             worker_threads(*config));
  std::string audit_error;
  if (!open_audit_log(*config, audit_error)) {
    log_->critical("cannot open the audit log: {}", audit_error);
    return 1;
  }
  std::string tls_error;
  if (!prepare_client_tls(*config, tls_error)) {
    log_->critical("cannot set up TLS for clients: {}", tls_error);
    return 1;
  }
  commit_client_tls();
  if (options_.takeover) {
    std::string path = options_.takeover->empty() ? upgrade_socket_path() : *options_.takeover;
    std::string error;
    handover_ = takeover::Handover::request(path, std::chrono::seconds(10), error);
    if (!handover_) {
      log_->critical("cannot take over the listeners through {}: {}", path, error);
      return 1;
    }
    log_->info("received {} listeners from process {}", handover_->size(), handover_->old_pid());
  }
  // On any failure before the handover is confirmed, the Handover closes its connection and
  // the old process keeps serving.
  if (!open_listeners()) return 1;
  if (!open_admin_http(*config)) return 1;
  if (!open_upgrade_socket()) return 1;
  serving_ = true;
  health_->on_change(
      [this](const routing::ClusterHealth& before, const routing::ClusterHealth& after) {
        // Idle connections to a backend that went down are dead or soon will be.
        for (std::size_t i = 0; i < after.backends.size(); ++i) {
          const auto& now = after.backends[i];
          int was = before.index_of(now.name);
          bool was_up = was >= 0 && before.backends[static_cast<std::size_t>(was)].up;
          if (was_up && !now.up) pools_.close_idle(after.cluster, now.name);
        }
        if (const auto* writer = after.writer();
            writer && before.had_write_target && writer->name != before.last_write_target) {
          metrics_.failover(after.cluster);
        }
      });
  health_->start();
  views_->configure(*config);
  asio::co_spawn(workers_.main(), handle_signals(), asio::detached);
  asio::co_spawn(workers_.main(), housekeeping(), asio::detached);
  asio::co_spawn(workers_.main(), report_status(), asio::detached);
  asio::co_spawn(workers_.main(), feed_watchdog(), asio::detached);
  if (handover_) {
    asio::co_spawn(workers_.main(), complete_takeover(), asio::detached);
  } else {
    start_accepting();
    service_.ready(service_status(service_counts()));
  }
  workers_.run();
  log_->info("plexiproxy stopped");
  return exit_code_;
}

awaitable<void> Daemon::handle_signals() {
  while (true) {
    error_code ec;
    int signal = co_await signals_->async_wait(asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    if (signal == SIGHUP) {
      reload();
      continue;
    }
    if (signal == SIGUSR2) {
      start_successor();
      continue;
    }
    log_->info("received {}, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
    co_await shutdown();
    co_return;
  }
}

void Daemon::start_accepting() {
  for (auto& loop : accept_loops_) asio::co_spawn(workers_.main(), std::move(loop), asio::detached);
  accept_loops_.clear();
}

awaitable<void> Daemon::complete_takeover() {
  // The old process serves until this one is ready: a client accepted here before the first
  // health checks would find no backend to go to.
  auto deadline = std::chrono::steady_clock::now() + kReadyWait;
  asio::steady_timer timer(workers_.main());
  while (!unready_reason().empty() && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(50));
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  if (std::string why = unready_reason(); !why.empty()) {
    log_->warn("taking over although not ready: {}", why);
  }
  start_accepting();
  int old_pid = handover_->old_pid();
  std::string error;
  if (!handover_->confirm(error)) {
    log_->critical("cannot tell process {} this one serves: {}", old_pid, error);
    exit_code_ = 1;
    co_await shutdown();
    co_return;
  }
  int connection = handover_->release_connection();
  handover_.reset();
  log_->info("took over the listeners from process {}, which now drains", old_pid);
  // systemd follows this process from now on (the unit needs NotifyAccess=all).
  service_.took_over(service_status(service_counts()));
  if (connection >= 0) co_await receive_handed_clients(connection, old_pid);
}

bool Daemon::open_admin_http(const config::Config& config) {
  if (!config.listen.admin) return true;
  const auto& endpoint = *config.listen.admin;
  auto local = resolve(endpoint);
  if (!local) return false;
  admin_http_ = std::make_unique<AdminHttpServer>(workers_.main().get_executor());
  using Access = AdminHttpServer::Access;
  admin_http_->route(
      "/metrics",
      [this](const HttpRequest&) {
        HttpReply reply;
        reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
        reply.body = metrics_.scrape();
        return reply;
      },
      Access::kToken);
  admin_http_->route(
      "/healthz",
      [](const HttpRequest&) {
        return HttpReply{200, {}, "ok\n", {}};
      },
      Access::kOpen);
  admin_http_->route(
      "/readyz",
      [this](const HttpRequest&) {
        std::string why = unready_reason();
        if (why.empty()) return HttpReply{200, {}, "ready\n", {}};
        return HttpReply{503, {}, "not ready: " + why + "\n", {}};
      },
      Access::kOpen);
  admin_http_->route(
      "/status",
      [this](const HttpRequest& request) {
        HttpReply reply;
        reply.content_type = "application/json";
        auto queries = request.param("queries");
        reply.body = status_json(queries && *queries != "0" && *queries != "false");
        return reply;
      },
      Access::kToken);
  admin_http_->set_bearer_token(config.admin.token);
  std::string error;
  int inherited = handover_ ? handover_->take("admin", *local) : -1;
  bool listening =
      inherited >= 0 ? admin_http_->adopt(inherited, error) : admin_http_->listen(*local, error);
  if (!listening) {
    log_->critical("cannot listen on {} (admin): {}", endpoint.to_string(), error);
    return false;
  }
  if (!local->address().is_loopback() && config.admin.token.empty()) {
    log_->warn(
        "admin listener {} is not on loopback and has no admin.token: /metrics and "
        "/status are open to anyone who reaches it",
        endpoint.to_string());
  }
  admin_http_->start();
  log_->info("listening on {} (admin{}: /metrics /healthz /readyz /status)", endpoint.to_string(),
             inherited >= 0 ? ", handed over" : "");
  return true;
}

std::vector<std::string> Daemon::reload() {
  std::lock_guard reloading(reload_mutex_);
  service_.reloading();
  std::vector<std::string> errors;
  if (!options_.config_path) {
    log_->info("reload: running on the embedded default, nothing to reload");
    service_.ready(service_status(service_counts()));
    return errors;
  }
  auto result =
      config::load_config_file(*options_.config_path, config::process_environment(), options_.load);
  if (!result.config) {
    for (const auto& error : result.errors) {
      log_->error("reload rejected: {}", error.to_string());
      errors.push_back(error.to_string());
    }
    if (errors.empty()) errors.push_back(*options_.config_path + ": cannot be loaded");
    log_->error("reload rejected: keeping the configuration loaded before");
    metrics_.config_reload(false);
  } else if (std::string tls_error; !prepare_client_tls(*result.config, tls_error)) {
    errors.push_back(tls_error);
    log_->error("reload rejected: cannot set up TLS for clients: {}", tls_error);
    metrics_.config_reload(false);
  } else if (std::string audit_error; !open_audit_log(*result.config, audit_error)) {
    errors.push_back("log.audit.file: " + audit_error);
    log_->error("reload rejected: cannot open the audit log: {}", audit_error);
    metrics_.config_reload(false);
  } else {
    commit_client_tls();
    configure_logging(result.config->log);
    metrics_.set_enabled(result.config->metrics.enabled);
    digests_.set_max_entries(result.config->digest.max_entries);
    if (admin_http_) admin_http_->set_bearer_token(result.config->admin.token);
    metrics_.config_reload(true);
    auto before = config();
    for (const auto& change : listener_changes(*before, *result.config)) {
      log_->warn(
          "reload: listeners are not changed by a reload, {} needs a restart or a binary "
          "upgrade; the listeners open stay as they are",
          change);
    }
    // The pools learn the new backends before any session can see them (sessions seeing
    // the old config meanwhile get retired pools for the backends it drops).
    for (const auto& retired : pools_.reconfigure(result.config)) {
      log_->info("reload: pool {} retired: its connections close as they are released", retired);
    }
    {
      std::lock_guard lock(config_mutex_);
      config_ = result.config;
    }
    // After the swap: a session that sees the new generation finds the new config.
    config_generation_.fetch_add(1, std::memory_order_release);
    log_->info("configuration reloaded from {}", *options_.config_path);
    health_->reconfigure(result.config);
    views_->configure(*result.config);
  }
  service_.ready(service_status(service_counts()));
  return errors;
}

std::shared_ptr<asio::ssl::context> Daemon::client_tls() const {
  std::lock_guard lock(tls_mutex_);
  return client_tls_;
}

bool Daemon::prepare_client_tls(const config::Config& config, std::string& error) {
  pending_tls_.reset();
  std::string fingerprint = client_tls_fingerprint(config);
  {
    std::lock_guard lock(tls_mutex_);
    if (fingerprint == client_tls_fingerprint_ && (client_tls_ || fingerprint.empty())) return true;
  }
  auto context = make_client_tls_context(config, error);
  if (!context && !error.empty()) return false;
  pending_tls_ = PendingTls{std::move(context), std::move(fingerprint)};
  return true;
}

void Daemon::commit_client_tls() {
  if (!pending_tls_) return;
  std::lock_guard lock(tls_mutex_);
  if (pending_tls_->context && client_tls_) {
    log_->info("TLS certificate for clients reloaded: new connections use it");
  }
  client_tls_ = std::move(pending_tls_->context);
  client_tls_fingerprint_ = std::move(pending_tls_->fingerprint);
  pending_tls_.reset();
}

std::shared_ptr<AuditLog> Daemon::audit_log() const {
  std::lock_guard lock(audit_mutex_);
  return audit_;
}

// A config whose audit file is the current one's keeps the log (and its queue) as it is.
bool Daemon::open_audit_log(const config::Config& config, std::string& error) {
  const auto& wanted = config.log;
  std::lock_guard lock(audit_mutex_);
  if (wanted.audit.file.empty()) {
    audit_.reset();
    return true;
  }
  if (audit_ && audit_->file() == wanted.audit.file &&
      audit_settings_.audit.max_size == wanted.audit.max_size &&
      audit_settings_.audit.max_files == wanted.audit.max_files &&
      audit_settings_.statements == wanted.statements) {
    return true;
  }
  std::shared_ptr<AuditLog> opened = AuditLog::open(wanted, error);
  if (!opened) return false;
  audit_ = std::move(opened);
  audit_settings_ = wanted;
  return true;
}

awaitable<void> Daemon::housekeeping() {
  constexpr int kTrimAfterClientsGone = 1000;
  int clients_at_peak = 0;
  int clients_last_tick = 0;
  asio::steady_timer timer(workers_.main());
  while (!shutting_down_.load()) {
    timer.expires_after(std::chrono::seconds(1));
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    pools_.prune(workers_.next());
    // Thousands of clients gone at once (a burst of logins that timed out, a failover
    // reconnect storm) leave their memory free but kept by malloc's per-thread arenas.
    // Trimmed once they have stopped leaving: a trim in the middle of the fall returns only
    // the pages no remaining client shares, and what the rest free afterwards would stay.
    int clients = clients_.load();
    clients_at_peak = std::max(clients_at_peak, clients);
    bool stopped_falling = clients >= clients_last_tick;
    if (clients_at_peak - clients >= kTrimAfterClientsGone && stopped_falling) {
      malloc_trim(0);
      clients_at_peak = clients;
    }
    clients_last_tick = clients;
    auto idle_timeout = config()->limits.client_idle_timeout;
    if (idle_timeout.count() > 0) {
      for (const auto& [id, client] : client_registry_.clients()) client->expire_idle(idle_timeout);
    }
  }
}

void Daemon::collect_pool_metrics(std::vector<prometheus::MetricFamily>& families) const {
  struct Occupancy {
    int idle = 0, active = 0, pinned = 0, shared = 0, waiting = 0, capacity = 0;
  };
  std::map<std::string, Occupancy> backends;  // a backend's pools: one per user and database
  pools_.for_each_pool([&](const pools::PoolKey& key, const auto& pool) {
    auto stats = pool.stats();
    auto& occupancy = backends[key.backend];
    occupancy.idle += stats.idle;
    occupancy.active += stats.active - stats.pinned - stats.shared;
    occupancy.pinned += stats.pinned;
    occupancy.shared += stats.shared;
    occupancy.waiting += stats.waiting;
    occupancy.capacity += stats.capacity;
  });
  auto connections = metrics::Metrics::gauge_family("plexiproxy_server_connections");
  auto size = metrics::Metrics::gauge_family("plexiproxy_pool_size");
  auto waiting = metrics::Metrics::gauge_family("plexiproxy_pool_waiting_clients");
  for (const auto& [backend, o] : backends) {
    for (auto [state, count] : {std::pair{"idle", o.idle},
                                {"active", o.active},
                                {"pinned", o.pinned},
                                {"shared", o.shared}}) {
      gauge(connections, {{"backend", backend}, {"state", state}}, count);
    }
    gauge(size, {{"backend", backend}}, o.capacity);
    gauge(waiting, {{"backend", backend}}, o.waiting);
  }
  families.push_back(std::move(connections));
  families.push_back(std::move(size));
  families.push_back(std::move(waiting));
}

void Daemon::collect_backend_metrics(std::vector<prometheus::MetricFamily>& families) const {
  auto up = metrics::Metrics::gauge_family("plexiproxy_backend_up");
  auto primary = metrics::Metrics::gauge_family("plexiproxy_backend_is_primary");
  auto lag = metrics::Metrics::gauge_family("plexiproxy_replication_lag_seconds");
  auto writable = metrics::Metrics::gauge_family("plexiproxy_cluster_write_target_available");
  for (const auto& [name, cluster] : config()->clusters) {
    auto health = health_ ? health_->cluster(name) : nullptr;
    if (!health) continue;
    gauge(writable, {{"cluster", name}},
          health->writer() || (health->had_write_target && health->no_write_target_reason.empty())
              ? 1
              : 0);
    for (std::size_t i = 0; i < health->backends.size(); ++i) {
      const auto& backend = health->backends[i];
      std::vector<prometheus::ClientMetric::Label> labels = {{"backend", backend.name},
                                                             {"cluster", name}};
      gauge(up, labels, backend.up ? 1 : 0);
      gauge(primary, labels, backend.takes_writes ? 1 : 0);
      if (backend.up && !backend.actual_primary && backend.lag) {
        gauge(lag, labels, std::chrono::duration<double>(*backend.lag).count());
      }
    }
  }
  families.push_back(std::move(up));
  families.push_back(std::move(primary));
  families.push_back(std::move(lag));
  families.push_back(std::move(writable));
}

// Stops accepting, lets open transactions finish up to shutdown_timeout, then stops.
awaitable<void> Daemon::shutdown(Stop why) {
  if (stopping_.exchange(true)) co_return;  // SHUTDOWN and a signal, or two signals
  serving_ = false;
  if (why == Stop::kSignal) {
    shutting_down_ = true;
    service_.stopping(service_status(service_counts()));
  }
  if (upgrade_server_) upgrade_server_->close();
  health_->stop();
  views_->stop();
  // After a handover the listening sockets stay open in the new process: closing ours only
  // stops this one accepting from their queues.
  for (auto& listening : acceptors_) {
    error_code ignored;
    listening.acceptor->close(ignored);
  }
  if (why == Stop::kHandedOver) {
    if (admin_http_) admin_http_->stop_listening();
    co_await let_accepted_clients_start();
  }
  client_registry_.drain_all();
  auto deadline = std::chrono::steady_clock::now() + config()->limits.shutdown_timeout;
  asio::steady_timer timer(workers_.main());
  // Clients handed over are sent as they come: each waits, unserved, until it is.
  auto round = successor_link_ ? std::chrono::milliseconds(5) : std::chrono::milliseconds(50);
  auto next_drain = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (clients_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(round);
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (successor_link_) co_await send_handed_clients();
    if (std::chrono::steady_clock::now() >= next_drain) {
      next_drain += std::chrono::milliseconds(50);
      client_registry_.drain_all();
    }
  }
  if (successor_link_) {
    client_handover_.close();
    co_await send_handed_clients();
    if (successor_link_) co_await takeover::send_end(*successor_link_);
    log_->info("handed {} idle clients to the new process", clients_handed_);
    successor_link_.reset();
  }
  if (clients_.load() > 0) {
    log_->warn("shutdown timeout: closing {} clients with transactions still open",
               clients_.load());
  }
  workers_.stop();
}

}  // namespace plexi
